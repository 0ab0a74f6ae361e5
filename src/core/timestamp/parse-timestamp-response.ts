/**
 * Parses an RFC 3161 `TimeStampResp` (RFC 3161 §2.4.2) carrying a TimeStampToken: a CMS
 * SignedData (RFC 5652 §5) whose encapsulated content is a `TSTInfo` (RFC 3161 §2.4.2), signed by
 * one SignerInfo with signed attributes (contentType, messageDigest, ESS signing certificate,
 * RFC 2634 §5.4 / RFC 5816).
 *
 * Only the structure is read here, strictly (DER, expected versions and tags, one signer, each
 * signed attribute at most once with one value); `verifyTimestamp` decides whether to trust it.
 * The input is attacker-controlled; every problem is `AppError('INVALID_INPUT')`.
 */
import { AppError } from '../errors.ts';
import {
  DER_TAG,
  contextTag,
  expectTag,
  decodeBoolean,
  readChildren,
  readConstructed,
  parseDer,
  decodeGeneralizedTime,
  decodeInteger,
  decodeIntegerBytes,
  decodeOctetString,
  decodeOid,
  type DerElement,
} from '../asn1/der.ts';

/** Upper bound on a TimeStampResp (with embedded certificates). */
export const MAX_TIMESTAMP_RESPONSE_BYTES = 64 * 1024;

/** OIDs used by RFC 3161 tokens. */
export const TIMESTAMP_OID = {
  SIGNED_DATA: '1.2.840.113549.1.7.2',
  TST_INFO: '1.2.840.113549.1.9.16.1.4',
  CONTENT_TYPE: '1.2.840.113549.1.9.3',
  MESSAGE_DIGEST: '1.2.840.113549.1.9.4',
  SIGNING_CERTIFICATE: '1.2.840.113549.1.9.16.2.12',
  SIGNING_CERTIFICATE_V2: '1.2.840.113549.1.9.16.2.47',
} as const;

/** Digest algorithm OIDs by node:crypto name. */
export const DIGEST_OIDS: Readonly<Record<string, string>> = {
  '1.3.14.3.2.26': 'sha1',
  '2.16.840.1.101.3.4.2.1': 'sha256',
  '2.16.840.1.101.3.4.2.2': 'sha384',
  '2.16.840.1.101.3.4.2.3': 'sha512',
};

/** ESS signing-certificate reference to the signer's certificate. */
export interface EssCertId {
  /** node:crypto name of the hash over the whole certificate (`sha1` for ESSCertID v1). */
  readonly hashAlgorithm: string;
  readonly certHash: Uint8Array;
}

/** The parts of a TSTInfo a verifier uses. */
export interface TstInfo {
  readonly version: bigint;
  readonly policy: string;
  readonly messageImprint: { readonly hashAlgorithm: string; readonly hashedMessage: Uint8Array };
  readonly serialNumber: bigint;
  readonly genTime: Date;
  readonly nonce: bigint | undefined;
}

/** A parsed TimeStampResp. */
export interface TimestampResponse {
  /** PKIStatus: 0 granted. */
  readonly status: bigint;
  readonly tstInfo: TstInfo;
  /** DER of the TSTInfo, as hashed into the messageDigest attribute. */
  readonly tstInfoDer: Uint8Array;
  /** Certificates embedded in the token (DER), untrusted. */
  readonly certificates: readonly Uint8Array[];
  readonly signer: {
    /** DER of the issuer Name and contents octets of the serial number (IssuerAndSerialNumber). */
    readonly issuer: Uint8Array;
    readonly serialNumber: Uint8Array;
    /** dotted OID of the SignerInfo digestAlgorithm. */
    readonly digestAlgorithm: string;
    /** dotted OID of the SignerInfo signatureAlgorithm. */
    readonly signatureAlgorithm: string;
    readonly signature: Uint8Array;
    /** The `[0] IMPLICIT` signed attributes element; the signature covers it re-tagged as a SET. */
    readonly signedAttributes: DerElement;
    readonly contentType: string;
    readonly messageDigest: Uint8Array;
    readonly essCertId: EssCertId | undefined;
  };
}

/**
 * Parses a DER TimeStampResp.
 *
 * @param der - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when it is not strict DER, lacks a token, is not a CMS
 *   SignedData with exactly one IssuerAndSerialNumber signer and signed attributes, or its TSTInfo
 *   is malformed.
 */
export function parseTimestampResponse(der: Uint8Array): TimestampResponse {
  if (der.byteLength > MAX_TIMESTAMP_RESPONSE_BYTES) invalid('TimeStampResp is too large');
  const [statusInfo, token, ...extra] = readConstructed(
    parseDer(der),
    DER_TAG.SEQUENCE,
    'TimeStampResp',
  );
  if (extra.length > 0) invalid('TimeStampResp has extra fields');
  const [statusElement] = readConstructed(
    expectTag(statusInfo, DER_TAG.SEQUENCE, 'PKIStatusInfo'),
    DER_TAG.SEQUENCE,
    'PKIStatusInfo',
  );
  const status = decodeInteger(statusElement, 'PKIStatus');
  if (token === undefined) invalid('TimeStampResp carries no timeStampToken');

  const [contentType, wrapped, ...more] = readConstructed(token, DER_TAG.SEQUENCE, 'ContentInfo');
  if (more.length > 0) invalid('ContentInfo has extra fields');
  if (decodeOid(contentType, 'ContentInfo contentType') !== TIMESTAMP_OID.SIGNED_DATA) {
    invalid('timeStampToken is not a CMS SignedData');
  }
  const [signedDataElement, ...afterSignedData] = readConstructed(
    expectTag(wrapped, contextTag(0, true), 'ContentInfo content'),
    contextTag(0, true),
    'ContentInfo content',
  );
  if (afterSignedData.length > 0) invalid('ContentInfo content has extra elements');
  const fields = readConstructed(
    expectTag(signedDataElement, DER_TAG.SEQUENCE, 'SignedData'),
    DER_TAG.SEQUENCE,
    'SignedData',
  );
  const [versionElement, digestAlgorithms, encap, ...rest] = fields;
  const version = decodeInteger(versionElement, 'SignedData version');
  if (version !== 3n && version !== 1n) invalid('SignedData version must be 1 or 3');
  readConstructed(
    expectTag(digestAlgorithms, DER_TAG.SET, 'digestAlgorithms'),
    DER_TAG.SET,
    'digestAlgorithms',
  );
  const [eContentType, eContentWrapper, ...encapExtra] = readConstructed(
    expectTag(encap, DER_TAG.SEQUENCE, 'encapContentInfo'),
    DER_TAG.SEQUENCE,
    'encapContentInfo',
  );
  if (encapExtra.length > 0) invalid('encapContentInfo has extra fields');
  if (decodeOid(eContentType, 'eContentType') !== TIMESTAMP_OID.TST_INFO) {
    invalid('encapsulated content is not an id-ct-TSTInfo');
  }
  const [eContent, ...eContentExtra] = readConstructed(
    expectTag(eContentWrapper, contextTag(0, true), 'eContent'),
    contextTag(0, true),
    'eContent',
  );
  if (eContentExtra.length > 0) invalid('eContent has extra elements');
  const tstInfoDer = decodeOctetString(eContent, 'eContent');

  const certificates: Uint8Array[] = [];
  let index = 0;
  if (rest[index]?.tag === contextTag(0, true)) {
    for (const certificate of readChildren(rest[index] as DerElement)) {
      // CertificateChoices: only plain certificates are used; other choices are skipped.
      if (certificate.tag === DER_TAG.SEQUENCE) certificates.push(certificate.bytes);
    }
    index++;
  }
  if (rest[index]?.tag === contextTag(1, true)) index++;
  const signerInfos = readConstructed(
    expectTag(rest[index], DER_TAG.SET, 'signerInfos'),
    DER_TAG.SET,
    'signerInfos',
  );
  if (rest.length !== index + 1) invalid('SignedData has extra fields');
  if (signerInfos.length !== 1)
    invalid(`token must have exactly one SignerInfo, has ${signerInfos.length}`);

  return {
    status,
    tstInfo: parseTstInfo(tstInfoDer),
    tstInfoDer,
    certificates,
    signer: parseSignerInfo(signerInfos[0] as DerElement),
  };
}

function parseSignerInfo(element: DerElement): TimestampResponse['signer'] {
  const [
    versionElement,
    sid,
    digestAlgorithm,
    signedAttrs,
    signatureAlgorithm,
    signature,
    ...rest
  ] = readConstructed(element, DER_TAG.SEQUENCE, 'SignerInfo');
  if (decodeInteger(versionElement, 'SignerInfo version') !== 1n) {
    invalid('SignerInfo must identify its signer by IssuerAndSerialNumber (version 1)');
  }
  const [issuer, serial, ...sidExtra] = readConstructed(
    expectTag(sid, DER_TAG.SEQUENCE, 'SignerIdentifier'),
    DER_TAG.SEQUENCE,
    'IssuerAndSerialNumber',
  );
  if (sidExtra.length > 0) invalid('IssuerAndSerialNumber has extra fields');
  expectTag(issuer, DER_TAG.SEQUENCE, 'signer issuer');
  if (signedAttrs?.tag !== contextTag(0, true)) invalid('SignerInfo has no signed attributes');
  if (rest.length > 1 || (rest[0] !== undefined && rest[0].tag !== contextTag(1, true))) {
    invalid('SignerInfo has extra fields');
  }
  let contentType: string | undefined;
  let messageDigest: Uint8Array | undefined;
  let essCertId: EssCertId | undefined;
  const seen = new Set<string>();
  for (const attribute of readChildren(signedAttrs)) {
    const [typeElement, values, ...extra] = readConstructed(
      attribute,
      DER_TAG.SEQUENCE,
      'Attribute',
    );
    const type = decodeOid(typeElement, 'attribute type');
    if (extra.length > 0) invalid(`attribute ${type} has extra fields`);
    if (seen.has(type)) invalid(`signed attribute ${type} appears twice`);
    seen.add(type);
    const valueList = readConstructed(
      expectTag(values, DER_TAG.SET, 'attribute values'),
      DER_TAG.SET,
      'attribute values',
    );
    const isKnown = (Object.values(TIMESTAMP_OID) as string[]).includes(type);
    if (isKnown && valueList.length !== 1) invalid(`signed attribute ${type} must have one value`);
    const [value] = valueList;
    switch (type) {
      case TIMESTAMP_OID.CONTENT_TYPE:
        contentType = decodeOid(value, 'contentType attribute');
        break;
      case TIMESTAMP_OID.MESSAGE_DIGEST:
        messageDigest = decodeOctetString(value, 'messageDigest attribute');
        break;
      case TIMESTAMP_OID.SIGNING_CERTIFICATE:
        essCertId = readEssCertId(value, false);
        break;
      case TIMESTAMP_OID.SIGNING_CERTIFICATE_V2:
        if (essCertId !== undefined) invalid('both ESS signing-certificate attributes are present');
        essCertId = readEssCertId(value, true);
        break;
      default:
        break;
    }
  }
  if (contentType === undefined) invalid('signed attributes lack contentType');
  if (messageDigest === undefined) invalid('signed attributes lack messageDigest');
  return {
    issuer: (issuer as DerElement).bytes,
    serialNumber: decodeIntegerBytes(serial, 'signer serial number'),
    digestAlgorithm: readAlgorithm(digestAlgorithm, 'digestAlgorithm'),
    signatureAlgorithm: readAlgorithm(signatureAlgorithm, 'signatureAlgorithm'),
    signature: decodeOctetString(signature, 'signature'),
    signedAttributes: signedAttrs,
    contentType,
    messageDigest,
    essCertId,
  };
}

function readEssCertId(value: DerElement | undefined, v2: boolean): EssCertId {
  const what = v2 ? 'SigningCertificateV2' : 'SigningCertificate';
  const [certs] = readConstructed(expectTag(value, DER_TAG.SEQUENCE, what), DER_TAG.SEQUENCE, what);
  const [first] = readConstructed(
    expectTag(certs, DER_TAG.SEQUENCE, `${what} certs`),
    DER_TAG.SEQUENCE,
    `${what} certs`,
  );
  const parts = readConstructed(
    expectTag(first, DER_TAG.SEQUENCE, 'ESSCertID'),
    DER_TAG.SEQUENCE,
    'ESSCertID',
  );
  let hashAlgorithm = v2 ? 'sha256' : 'sha1';
  let next = 0;
  if (v2 && parts[0]?.tag === DER_TAG.SEQUENCE) {
    const oid = readAlgorithm(parts[0], 'ESSCertIDv2 hashAlgorithm');
    const name = DIGEST_OIDS[oid];
    if (name === undefined) invalid(`ESSCertIDv2 hash algorithm ${oid} is not supported`);
    hashAlgorithm = name;
    next = 1;
  }
  return { hashAlgorithm, certHash: decodeOctetString(parts[next], 'ESSCertID certHash') };
}

function parseTstInfo(der: Uint8Array): TstInfo {
  const fields = readConstructed(parseDer(der), DER_TAG.SEQUENCE, 'TSTInfo');
  const [versionElement, policy, imprint, serial, genTime, ...optional] = fields;
  const version = decodeInteger(versionElement, 'TSTInfo version');
  if (version !== 1n) invalid('TSTInfo version must be 1');
  const [algorithm, hashed, ...imprintExtra] = readConstructed(
    expectTag(imprint, DER_TAG.SEQUENCE, 'messageImprint'),
    DER_TAG.SEQUENCE,
    'messageImprint',
  );
  if (imprintExtra.length > 0) invalid('messageImprint has extra fields');
  const hashAlgorithm =
    DIGEST_OIDS[readAlgorithm(algorithm, 'messageImprint hashAlgorithm')] ?? 'unsupported';
  let nonce: bigint | undefined;
  let index = 0;
  if (optional[index]?.tag === DER_TAG.SEQUENCE) index++; // accuracy
  if (optional[index]?.tag === DER_TAG.BOOLEAN) {
    // DER: ordering DEFAULT FALSE is omitted when false.
    if (!decodeBoolean(optional[index], 'ordering')) invalid('TSTInfo encodes ordering FALSE');
    index++;
  }
  if (optional[index]?.tag === DER_TAG.INTEGER) {
    nonce = decodeInteger(optional[index], 'nonce');
    index++;
  }
  if (optional[index]?.tag === contextTag(0, true)) index++; // tsa
  if (optional[index]?.tag === contextTag(1, true)) index++; // extensions
  if (index !== optional.length) invalid('TSTInfo has unexpected fields');
  return {
    version,
    policy: decodeOid(policy, 'TSTInfo policy'),
    messageImprint: { hashAlgorithm, hashedMessage: decodeOctetString(hashed, 'hashedMessage') },
    serialNumber: decodeInteger(serial, 'TSTInfo serialNumber'),
    genTime: decodeGeneralizedTime(genTime, 'genTime', { fraction: true }),
    nonce,
  };
}

/** An AlgorithmIdentifier's OID; parameters must be absent or NULL (true of every hash and ECDSA/RSA PKCS#1 signature algorithm we accept). */
function readAlgorithm(element: DerElement | undefined, what: string): string {
  const [oid, parameters, ...extra] = readConstructed(
    expectTag(element, DER_TAG.SEQUENCE, what),
    DER_TAG.SEQUENCE,
    what,
  );
  if (extra.length > 0) invalid(`${what} has extra fields`);
  if (
    parameters !== undefined &&
    (parameters.tag !== DER_TAG.NULL || parameters.contents.byteLength !== 0)
  ) {
    invalid(`${what} has unexpected parameters`);
  }
  return decodeOid(oid, what);
}

function invalid(message: string): never {
  throw new AppError('INVALID_INPUT', `malformed timestamp: ${message}`);
}
