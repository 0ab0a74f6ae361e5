/**
 * X.509 certificates as verification reads them (RFC 5280): the fields and extensions that chain
 * building, Fulcio-style identity and SCT checks need, parsed from strict DER, with the exact
 * TBSCertificate bytes kept for signature and SCT verification.
 *
 * Signatures are checked by node:crypto (`X509Certificate.verify`); everything else is read here,
 * so what counts (criticality, SAN order, custom OIDs) is decided by this code, not by whichever
 * OpenSSL build is present.
 */
import { X509Certificate, type KeyObject } from 'node:crypto';
import { AppError } from '../errors.ts';
import {
  DER_TAG,
  contextTag,
  decodeUtf8,
  expectTag,
  decodeBitString,
  decodeBoolean,
  decodeCertificateTime,
  readChildren,
  readConstructed,
  parseDer,
  decodeInteger,
  decodeIntegerBytes,
  decodeOctetString,
  decodeOid,
  decodeString,
  type DerElement,
} from '../asn1/der.ts';

/** A certificate larger than this is not one we issue or verify. */
export const MAX_CERTIFICATE_BYTES = 64 * 1024;

/** Extension and EKU OIDs (RFC 5280 §4.2, Fulcio `docs/oid-info.md`, RFC 6962 §3.3). */
export const OID = {
  BASIC_CONSTRAINTS: '2.5.29.19',
  KEY_USAGE: '2.5.29.15',
  EXTENDED_KEY_USAGE: '2.5.29.37',
  SUBJECT_ALT_NAME: '2.5.29.17',
  SUBJECT_KEY_ID: '2.5.29.14',
  AUTHORITY_KEY_ID: '2.5.29.35',
  ANY_EXTENDED_KEY_USAGE: '2.5.29.37.0',
  CODE_SIGNING: '1.3.6.1.5.5.7.3.3',
  TIME_STAMPING: '1.3.6.1.5.5.7.3.8',
  /** Fulcio: OIDC issuer, raw bytes (deprecated form). */
  FULCIO_ISSUER_V1: '1.3.6.1.4.1.57264.1.1',
  /** Fulcio: OIDC issuer, DER UTF8String. */
  FULCIO_ISSUER_V2: '1.3.6.1.4.1.57264.1.8',
  /** Fulcio: OtherName SAN for identities that are neither URIs nor emails. */
  FULCIO_OTHERNAME_SAN: '1.3.6.1.4.1.57264.1.7',
  /** RFC 6962 §3.3: embedded SignedCertificateTimestampList. */
  SCT_LIST: '1.3.6.1.4.1.11129.2.4.2',
} as const;

/** Extensions whose semantics this verifier implements; any other critical extension is fatal. */
const HANDLED_CRITICAL = new Set<string>([
  OID.BASIC_CONSTRAINTS,
  OID.KEY_USAGE,
  OID.EXTENDED_KEY_USAGE,
  OID.SUBJECT_ALT_NAME,
  OID.SUBJECT_KEY_ID,
  OID.AUTHORITY_KEY_ID,
]);

/** One extension as encoded. */
export interface CertificateExtension {
  readonly oid: string;
  readonly critical: boolean;
  /** The contents of extnValue (the DER the extension's OCTET STRING wraps). */
  readonly value: Uint8Array;
  /** The whole Extension SEQUENCE, for removing it from a TBSCertificate (SCTs). */
  readonly element: DerElement;
}

/** A Subject Alternative Name entry. */
export type SubjectAlternativeName =
  | { readonly type: 'uri' | 'email' | 'dns'; readonly value: string }
  | { readonly type: 'otherName'; readonly oid: string; readonly value: string | undefined }
  | { readonly type: 'other'; readonly tag: number };

/** RFC 5280 §4.2.1.3 key usage bits this verifier looks at. */
export interface KeyUsage {
  readonly digitalSignature: boolean;
  readonly keyCertSign: boolean;
}

/** A parsed certificate. Everything in it is attacker-controlled until a chain check passes. */
export interface Certificate {
  readonly der: Uint8Array;
  /** The TBSCertificate element, exactly as signed. */
  readonly tbs: DerElement;
  /** Contents octets of the serial number INTEGER (compared byte for byte). */
  readonly serialNumber: Uint8Array;
  /** DER of the issuer Name. */
  readonly issuer: Uint8Array;
  /** DER of the subject Name. */
  readonly subject: Uint8Array;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER SubjectPublicKeyInfo. */
  readonly subjectPublicKeyInfo: Uint8Array;
  readonly publicKey: KeyObject;
  readonly extensions: readonly CertificateExtension[];
  /** basicConstraints cA (false when the extension is absent). */
  readonly isCa: boolean;
  /** basicConstraints pathLenConstraint, when present. */
  readonly pathLength: number | undefined;
  /** Undefined when the extension is absent. */
  readonly keyUsage: KeyUsage | undefined;
  /** Undefined when the extension is absent. */
  readonly extendedKeyUsage:
    { readonly oids: readonly string[]; readonly critical: boolean } | undefined;
  readonly subjectAlternativeNames: readonly SubjectAlternativeName[];
  readonly subjectKeyId: Uint8Array | undefined;
  readonly authorityKeyId: Uint8Array | undefined;
  /** OIDs of critical extensions this verifier does not implement (a chain check rejects them). */
  readonly unhandledCriticalExtensions: readonly string[];
  /** The node:crypto view, used for signature checks. */
  readonly x509: X509Certificate;
}

/**
 * Parses a DER certificate strictly.
 *
 * @param der - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when the bytes are not a strict-DER X.509 v3 (or v1)
 *   certificate, an extension appears twice or a known extension is malformed.
 */
export function parseCertificate(der: Uint8Array): Certificate {
  if (der.byteLength > MAX_CERTIFICATE_BYTES) invalid('certificate is too large');
  const [tbs, signatureAlgorithm, signatureValue, ...extra] = readConstructed(
    parseDer(der),
    DER_TAG.SEQUENCE,
    'certificate',
  );
  if (tbs === undefined || signatureAlgorithm === undefined || extra.length > 0) {
    invalid('certificate must have three fields');
  }
  expectTag(signatureAlgorithm, DER_TAG.SEQUENCE, 'signatureAlgorithm');
  decodeBitString(signatureValue, 'signatureValue');
  const fields = readConstructed(tbs, DER_TAG.SEQUENCE, 'tbsCertificate');
  let index = 0;
  let version = 0n;
  if (fields[0]?.tag === contextTag(0, true)) {
    const [inner, ...rest] = readChildren(fields[0]);
    if (rest.length > 0) invalid('version must hold one INTEGER');
    version = decodeInteger(inner, 'version');
    if (version !== 1n && version !== 2n) invalid('certificate version must be v2 or v3');
    index = 1;
  }
  const serialNumber = decodeIntegerBytes(fields[index], 'serialNumber');
  const innerAlgorithm = expectTag(fields[index + 1], DER_TAG.SEQUENCE, 'tbs signature');
  if (!equal(innerAlgorithm.bytes, signatureAlgorithm.bytes)) {
    invalid('tbs signature algorithm differs from the outer one');
  }
  const issuer = expectTag(fields[index + 2], DER_TAG.SEQUENCE, 'issuer');
  const [notBefore, notAfter, ...moreTimes] = readConstructed(
    expectTag(fields[index + 3], DER_TAG.SEQUENCE, 'validity'),
    DER_TAG.SEQUENCE,
    'validity',
  );
  if (moreTimes.length > 0) invalid('validity must have two times');
  const subject = expectTag(fields[index + 4], DER_TAG.SEQUENCE, 'subject');
  const spki = expectTag(fields[index + 5], DER_TAG.SEQUENCE, 'subjectPublicKeyInfo');
  let rest = fields.slice(index + 6);
  // issuerUniqueID [1] and subjectUniqueID [2] (RFC 5280: SHOULD NOT be generated) are skipped.
  rest = rest.filter((f) => f.tag !== contextTag(1, false) && f.tag !== contextTag(2, false));
  const extensions: CertificateExtension[] = [];
  if (rest.length > 0) {
    const [wrapper, ...after] = rest;
    if (after.length > 0 || wrapper?.tag !== contextTag(3, true)) {
      invalid('unexpected fields after subjectPublicKeyInfo');
    }
    if (version !== 2n) invalid('extensions need a v3 certificate');
    const [list, ...more] = readChildren(wrapper);
    if (more.length > 0) invalid('extensions wrapper must hold one SEQUENCE');
    const seen = new Set<string>();
    for (const element of readConstructed(
      expectTag(list, DER_TAG.SEQUENCE, 'extensions'),
      DER_TAG.SEQUENCE,
      'extensions',
    )) {
      const extension = parseExtension(element);
      if (seen.has(extension.oid)) invalid(`extension ${extension.oid} appears twice`);
      seen.add(extension.oid);
      extensions.push(extension);
    }
  }

  let x509: X509Certificate;
  try {
    x509 = new X509Certificate(Buffer.from(der));
  } catch (cause) {
    throw new AppError('INVALID_INPUT', 'certificate could not be parsed', { cause });
  }
  const find = (oid: string) => extensions.find((e) => e.oid === oid);
  const basic = parseBasicConstraints(find(OID.BASIC_CONSTRAINTS));
  const eku = find(OID.EXTENDED_KEY_USAGE);
  return {
    der,
    tbs,
    serialNumber,
    issuer: issuer.bytes,
    subject: subject.bytes,
    notBefore: decodeCertificateTime(notBefore, 'notBefore'),
    notAfter: decodeCertificateTime(notAfter, 'notAfter'),
    subjectPublicKeyInfo: spki.bytes,
    publicKey: x509.publicKey,
    extensions,
    isCa: basic.isCa,
    pathLength: basic.pathLength,
    keyUsage: parseKeyUsage(find(OID.KEY_USAGE)),
    extendedKeyUsage:
      eku === undefined
        ? undefined
        : { oids: parseOidSequence(eku.value, 'extKeyUsage'), critical: eku.critical },
    subjectAlternativeNames: parseSubjectAlternativeNames(find(OID.SUBJECT_ALT_NAME)),
    subjectKeyId: parseSubjectKeyId(find(OID.SUBJECT_KEY_ID)),
    authorityKeyId: parseAuthorityKeyId(find(OID.AUTHORITY_KEY_ID)),
    unhandledCriticalExtensions: extensions
      .filter((e) => e.critical && !HANDLED_CRITICAL.has(e.oid))
      .map((e) => e.oid),
    x509,
  };
}

const chainCache = new WeakMap<readonly Uint8Array[], readonly Certificate[]>();

/**
 * Parses every certificate of a trusted chain (a TrustedRoot `certChain`), once: the result is
 * cached for as long as the array lives, so a TrustedRoot parsed at start-up is parsed into
 * certificates once too (DESIGN.md §8).
 *
 * @throws {@link AppError} INVALID_INPUT as `parseCertificate`.
 */
export function parseCertificateChain(chain: readonly Uint8Array[]): readonly Certificate[] {
  const cached = chainCache.get(chain);
  if (cached !== undefined) return cached;
  const parsed = Object.freeze(chain.map((der) => parseCertificate(der)));
  chainCache.set(chain, parsed);
  return parsed;
}

/**
 * The signer identity of a Fulcio-style certificate: the first URI SAN, else the first email,
 * else the first Fulcio OtherName (`1.3.6.1.4.1.57264.1.7`), as sigstore-go picks it.
 */
export function readCertificateIdentity(certificate: Certificate): string | undefined {
  const sans = certificate.subjectAlternativeNames;
  for (const type of ['uri', 'email'] as const) {
    const found = sans.find((san) => san.type === type);
    if (found?.type === type) return found.value;
  }
  for (const san of sans) {
    if (san.type === 'otherName' && san.oid === OID.FULCIO_OTHERNAME_SAN) return san.value;
  }
  return undefined;
}

/**
 * The OIDC issuer of a Fulcio-style certificate: extension `1.3.6.1.4.1.57264.1.8` (DER
 * UTF8String), else the deprecated `1.3.6.1.4.1.57264.1.1` (raw UTF-8 bytes).
 *
 * @throws {@link AppError} INVALID_INPUT when the extension present is malformed.
 */
export function readCertificateIssuerClaim(certificate: Certificate): string | undefined {
  const v2 = certificate.extensions.find((e) => e.oid === OID.FULCIO_ISSUER_V2);
  if (v2 !== undefined) return decodeString(parseDer(v2.value), 'OIDC issuer extension');
  const v1 = certificate.extensions.find((e) => e.oid === OID.FULCIO_ISSUER_V1);
  if (v1 !== undefined) return decodeUtf8(v1.value, 'OIDC issuer extension');
  return undefined;
}

function parseExtension(element: DerElement): CertificateExtension {
  const parts = readConstructed(element, DER_TAG.SEQUENCE, 'extension');
  const oid = decodeOid(parts[0], 'extension id');
  let critical = false;
  let valueElement = parts[1];
  if (parts[1]?.tag === DER_TAG.BOOLEAN) {
    critical = decodeBoolean(parts[1], 'extension critical');
    // DER: a DEFAULT FALSE value must be omitted (X.690 §11.5).
    if (!critical) invalid(`extension ${oid} encodes critical FALSE`);
    valueElement = parts[2];
  }
  if (parts.length !== (parts[1]?.tag === DER_TAG.BOOLEAN ? 3 : 2))
    invalid(`extension ${oid} is malformed`);
  return {
    oid,
    critical,
    value: decodeOctetString(valueElement, `extension ${oid} value`),
    element,
  };
}

function parseBasicConstraints(extension: CertificateExtension | undefined): {
  isCa: boolean;
  pathLength: number | undefined;
} {
  if (extension === undefined) return { isCa: false, pathLength: undefined };
  const parts = readConstructed(parseDer(extension.value), DER_TAG.SEQUENCE, 'basicConstraints');
  let isCa = false;
  let next = 0;
  if (parts[0]?.tag === DER_TAG.BOOLEAN) {
    isCa = decodeBoolean(parts[0], 'basicConstraints cA');
    if (!isCa) invalid('basicConstraints encodes cA FALSE');
    next = 1;
  }
  let pathLength: number | undefined;
  if (parts[next] !== undefined) {
    const value = decodeInteger(parts[next], 'pathLenConstraint');
    if (value < 0n || value > 255n) invalid('pathLenConstraint is out of range');
    pathLength = Number(value);
    next++;
  }
  if (parts.length !== next) invalid('basicConstraints has extra fields');
  return { isCa, pathLength };
}

function parseKeyUsage(extension: CertificateExtension | undefined): KeyUsage | undefined {
  if (extension === undefined) return undefined;
  const { bytes } = decodeBitString(parseDer(extension.value), 'keyUsage');
  const first = bytes[0] ?? 0;
  return { digitalSignature: (first & 0x80) !== 0, keyCertSign: (first & 0x04) !== 0 };
}

function parseOidSequence(value: Uint8Array, what: string): string[] {
  const oids = readConstructed(parseDer(value), DER_TAG.SEQUENCE, what).map((e) =>
    decodeOid(e, what),
  );
  if (oids.length === 0) invalid(`${what} is empty`);
  return oids;
}

function parseSubjectAlternativeNames(
  extension: CertificateExtension | undefined,
): SubjectAlternativeName[] {
  if (extension === undefined) return [];
  const names = readConstructed(parseDer(extension.value), DER_TAG.SEQUENCE, 'subjectAltName');
  if (names.length === 0) invalid('subjectAltName is empty');
  return names.map((name): SubjectAlternativeName => {
    switch (name.tag) {
      case contextTag(1, false):
        return { type: 'email', value: readIa5(name.contents, 'rfc822Name') };
      case contextTag(2, false):
        return { type: 'dns', value: readIa5(name.contents, 'dNSName') };
      case contextTag(6, false):
        return { type: 'uri', value: readIa5(name.contents, 'uniformResourceIdentifier') };
      case contextTag(0, true): {
        const [typeId, wrapped, ...more] = readChildren(name);
        if (more.length > 0 || wrapped?.tag !== contextTag(0, true))
          invalid('otherName is malformed');
        const [value, ...extra] = readChildren(wrapped);
        if (extra.length > 0) invalid('otherName value is malformed');
        const oid = decodeOid(typeId, 'otherName type');
        const text =
          value?.tag === DER_TAG.UTF8_STRING ? decodeString(value, 'otherName') : undefined;
        return { type: 'otherName', oid, value: text };
      }
      default:
        return { type: 'other', tag: name.tag };
    }
  });
}

function parseSubjectKeyId(extension: CertificateExtension | undefined): Uint8Array | undefined {
  if (extension === undefined) return undefined;
  return decodeOctetString(parseDer(extension.value), 'subjectKeyIdentifier');
}

function parseAuthorityKeyId(extension: CertificateExtension | undefined): Uint8Array | undefined {
  if (extension === undefined) return undefined;
  const parts = readConstructed(
    parseDer(extension.value),
    DER_TAG.SEQUENCE,
    'authorityKeyIdentifier',
  );
  const keyId = parts.find((p) => p.tag === contextTag(0, false));
  return keyId?.contents;
}

function readIa5(bytes: Uint8Array, what: string): string {
  if (bytes.some((b) => b > 0x7f)) invalid(`${what} is not IA5`);
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function invalid(message: string): never {
  throw new AppError('INVALID_INPUT', `malformed certificate: ${message}`);
}
