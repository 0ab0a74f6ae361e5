/**
 * Countersign's RFC 3161 time-stamp authority: the DER `TimeStampResp` it answers with, in the
 * exact shape Sigstore verifiers and OpenSSL accept (interop §7.1, G16–G18, G22):
 *
 * - status `granted`, and a TimeStampToken that is CMS SignedData (RFC 5652) with eContentType
 *   id-ct-TSTInfo and the DER TSTInfo as eContent;
 * - TSTInfo `genTime` in whole seconds, `YYYYMMDDHHMMSSZ` (sigstore-js rejects most fractions);
 * - exactly one SignerInfo, `sid` = IssuerAndSerialNumber of the TSA certificate (sigstore-js
 *   matches it to the TrustedRoot's TSA leaf), digestAlgorithm SHA-256, signatureAlgorithm
 *   ecdsa-with-SHA256;
 * - signed attributes contentType, signingTime, messageDigest = SHA-256(TSTInfo DER) and ESS
 *   signingCertificateV2 (RFC 5816, which OpenSSL checks), DER-sorted as a SET OF, the signature
 *   computed over their DER with the SET tag (RFC 5652 §5.4);
 * - the TSA certificate (and chain) in `certificates` when the request asked (`certReq`).
 *
 * All of it is hand-encoded with the strict DER writer, so the bytes are canonical DER.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../errors.ts';
import type { KeyHandle } from '../ports.ts';
import { assertKeyPurpose } from '../x509/assert-key-purpose.ts';
import {
  DER_TAG,
  concatBytes,
  encodeExplicit,
  encodeGeneralizedTime,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSetOf,
  encodeSmallInteger,
  encodeTlv,
  encodeUnsignedInteger,
  encodeUtcTime,
  encodeUtf8String,
} from '../asn1/der.ts';
import {
  OID_ATTR_CONTENT_TYPE,
  OID_ATTR_MESSAGE_DIGEST,
  OID_ATTR_SIGNING_CERTIFICATE_V2,
  OID_ATTR_SIGNING_TIME,
  OID_CT_TST_INFO,
  OID_ECDSA_WITH_SHA256,
  OID_EXTENDED_KEY_USAGE,
  OID_KP_TIME_STAMPING,
  OID_SHA256,
  OID_SIGNED_DATA,
} from '../x509/oids.ts';
import { parseCertificate, type ParsedCertificate } from '../x509/parse-certificate.ts';
import { assertKeyMatchesCertificate, truncateToSeconds } from '../x509/sign-certificate.ts';
import {
  computeMessageImprint,
  encodeMessageImprint,
  type MessageImprint,
  type TimestampFailure,
} from './timestamp-request.ts';

/** RFC 3161 §2.4.2 PKIStatus values Countersign answers with. */
const PKI_STATUS_GRANTED = 0;
const PKI_STATUS_REJECTION = 2;

/** Bit numbers of `PKIFailureInfo` (RFC 3161 §2.4.2). */
const FAILURE_BITS: Readonly<Record<TimestampFailure | 'systemFailure', number>> = {
  badAlg: 0,
  badRequest: 2,
  badDataFormat: 5,
  unacceptedPolicy: 15,
  unacceptedExtension: 16,
  systemFailure: 25,
};

/** A TSA ready to sign: its key, certificate and the parts of every token that never change. */
export interface TimestampSigner {
  readonly tsaKey: KeyHandle;
  readonly tsaCertificate: ParsedCertificate;
  readonly policyOid: string;
  /** Signs a token for `fields`; resolves to the DER `TimeStampResp` with status granted. */
  createResponse(fields: TimestampFields): Promise<Uint8Array>;
}

/** What varies from one token to the next. */
export interface TimestampFields {
  readonly imprint: MessageImprint;
  /** The request's nonce (magnitude), echoed as RFC 3161 requires. */
  readonly nonce?: Uint8Array;
  /** Put the TSA certificate and chain into the token (the request's `certReq`). */
  readonly includeCertificates: boolean;
  /** The time to certify; truncated to whole seconds (G16). Must lie in the TSA cert's validity. */
  readonly genTime: Date;
  /** The token's serial number (magnitude, at most 160 bits), unique per TSA: 16 random bytes. */
  readonly serialNumber: Uint8Array;
}

export interface TimestampSignerInput {
  /** The TSA key; its purpose must be `tsa`. */
  readonly tsaKey: KeyHandle;
  /** The TSA certificate (DER) for `tsaKey`. */
  readonly tsaCertificate: Uint8Array;
  /** Certificates above the TSA certificate (DER), up to the root, included with `certReq`. */
  readonly chain?: readonly Uint8Array[];
  /** The TSA policy written into every TSTInfo. */
  readonly policyOid: string;
}

/**
 * Prepares a TSA: checks the key and certificate once and pre-encodes what every token repeats,
 * so that signing a token does no parsing (DESIGN.md §8).
 *
 * @throws {@link AppError} KEY_UNAVAILABLE when the key is not a tsa key or does not belong to the
 *   certificate, or the certificate's extendedKeyUsage is not critical and timeStamping only
 *   (RFC 3161 §2.3, G18); INVALID_INPUT when a certificate is not strict DER.
 */
export function prepareTimestampSigner(input: TimestampSignerInput): TimestampSigner {
  assertKeyPurpose(input.tsaKey, 'tsa', 'signing timestamps');
  const certificate = parseCertificate(input.tsaCertificate);
  assertKeyMatchesCertificate(input.tsaKey, certificate);
  const eku = certificate.extensions.get(OID_EXTENDED_KEY_USAGE);
  const usages = certificate.extendedKeyUsage;
  if (
    eku === undefined ||
    !eku.critical ||
    usages?.length !== 1 ||
    usages[0] !== OID_KP_TIME_STAMPING
  ) {
    throw new AppError(
      'KEY_UNAVAILABLE',
      'the TSA certificate must have a critical extendedKeyUsage of timeStamping only',
    );
  }
  const chain = (input.chain ?? []).map((der) => parseCertificate(der).der);
  const certificates = encodeSetOf([certificate.der, ...chain], 0xa0);
  const issuerAndSerial = encodeSequence(
    certificate.issuerDer,
    encodeUnsignedInteger(certificate.serialNumber),
  );
  const signingCertificateV2 = encodeAttribute(
    OID_ATTR_SIGNING_CERTIFICATE_V2,
    encodeSequence(
      encodeSequence(
        // ESSCertIDv2 with the DEFAULT hash algorithm (SHA-256) omitted, as DER requires.
        encodeSequence(
          encodeOctetString(sha256(certificate.der)),
          encodeSequence(
            encodeSequence(encodeExplicit(4, certificate.issuerDer)),
            encodeUnsignedInteger(certificate.serialNumber),
          ),
        ),
      ),
    ),
  );
  const { tsaKey, policyOid } = input;
  encodeOid(policyOid); // fails early on a malformed policy

  return {
    tsaKey,
    tsaCertificate: certificate,
    policyOid,
    async createResponse(fields) {
      const genTime = truncateToSeconds(fields.genTime);
      if (genTime < certificate.notBefore || genTime > certificate.notAfter) {
        throw new AppError(
          'KEY_UNAVAILABLE',
          `the TSA certificate is not valid at ${genTime.toISOString()}`,
          { hint: 'issue a new TSA certificate (countersign ca)' },
        );
      }
      if (fields.serialNumber.length === 0 || fields.serialNumber.length > 20) {
        throw new AppError('INTERNAL', 'a timestamp serial number has 1 to 20 bytes');
      }
      const tstInfo = encodeSequence(
        encodeSmallInteger(1),
        encodeOid(policyOid),
        encodeMessageImprint(fields.imprint),
        encodeUnsignedInteger(fields.serialNumber),
        encodeGeneralizedTime(genTime),
        ...(fields.nonce === undefined ? [] : [encodeUnsignedInteger(fields.nonce)]),
      );
      const attributes = [
        encodeAttribute(OID_ATTR_CONTENT_TYPE, encodeOid(OID_CT_TST_INFO)),
        encodeAttribute(OID_ATTR_SIGNING_TIME, encodeCmsTime(genTime)),
        encodeAttribute(OID_ATTR_MESSAGE_DIGEST, encodeOctetString(sha256(tstInfo))),
        signingCertificateV2,
      ];
      // RFC 5652 §5.4: the signature covers the DER of the SET OF, not the [0] IMPLICIT form.
      const signedAttributes = encodeSetOf(attributes);
      const signature = await tsaKey.sign(signedAttributes);
      const signerInfo = encodeSequence(
        encodeSmallInteger(1),
        issuerAndSerial,
        encodeSequence(encodeOid(OID_SHA256)),
        encodeTlv(0xa0, signedAttributes.subarray(headerLength(signedAttributes))),
        encodeSequence(encodeOid(OID_ECDSA_WITH_SHA256)),
        encodeOctetString(signature),
      );
      const signedData = encodeSequence(
        // Version 3: the encapsulated content is not id-data (RFC 5652 §5.1).
        encodeSmallInteger(3),
        encodeSetOf([encodeSequence(encodeOid(OID_SHA256))]),
        encodeSequence(encodeOid(OID_CT_TST_INFO), encodeExplicit(0, encodeOctetString(tstInfo))),
        ...(fields.includeCertificates ? [certificates] : []),
        encodeSetOf([signerInfo]),
      );
      const token = encodeSequence(encodeOid(OID_SIGNED_DATA), encodeExplicit(0, signedData));
      return encodeSequence(encodeSequence(encodeSmallInteger(PKI_STATUS_GRANTED)), token);
    },
  };
}

/**
 * Creates one DER `TimeStampResp` (status granted) in one call. For many tokens, prepare a
 * `TimestampSigner` once instead.
 *
 * @throws {@link AppError} as `prepareTimestampSigner`, and KEY_UNAVAILABLE when `genTime` lies
 *   outside the TSA certificate's validity or the key cannot sign.
 */
export async function createTimestampResponse(
  input: TimestampSignerInput & TimestampFields,
): Promise<Uint8Array> {
  return prepareTimestampSigner(input).createResponse(input);
}

/**
 * Timestamps signature bytes for a Sigstore bundle: the imprint is SHA-256 of `signature` (the
 * message signature, or the decoded DSSE `sig`; interop §1.5, §7.1), and the token carries the
 * TSA certificate.
 */
export async function createSignatureTimestamp(
  signer: TimestampSigner,
  fields: {
    readonly signature: Uint8Array;
    readonly genTime: Date;
    readonly serialNumber: Uint8Array;
  },
): Promise<Uint8Array> {
  return signer.createResponse({
    imprint: computeMessageImprint(fields.signature, 'sha256'),
    includeCertificates: true,
    genTime: fields.genTime,
    serialNumber: fields.serialNumber,
  });
}

/**
 * A DER `TimeStampResp` with status `rejection`, the failure bit and a short reason (RFC 3161
 * §2.4.2) — what a TSA answers to a request it will not stamp.
 */
export function createRejectionResponse(
  failure: TimestampFailure | 'systemFailure',
  reason: string,
): Uint8Array {
  const bit = FAILURE_BITS[failure];
  const bytes = new Uint8Array(Math.floor(bit / 8) + 1);
  bytes[bytes.length - 1] = 0x80 >> (bit % 8);
  // A named-bit BIT STRING in DER has no trailing zero bits (X.690 §11.2.2).
  const failInfo = encodeTlv(DER_TAG.BIT_STRING, concatBytes(Uint8Array.of(7 - (bit % 8)), bytes));
  return encodeSequence(
    encodeSequence(
      encodeSmallInteger(PKI_STATUS_REJECTION),
      encodeSequence(encodeUtf8String(reason.slice(0, 200))),
      failInfo,
    ),
  );
}

/** RFC 5652 §11.3: UTCTime for 1950–2049, GeneralizedTime otherwise. */
function encodeCmsTime(date: Date): Uint8Array {
  const year = date.getUTCFullYear();
  return year >= 1950 && year <= 2049 ? encodeUtcTime(date) : encodeGeneralizedTime(date);
}

function encodeAttribute(oid: string, value: Uint8Array): Uint8Array {
  return encodeSequence(encodeOid(oid), encodeSetOf([value]));
}

function sha256(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(bytes).digest());
}

/** Length of the tag and length octets of a DER element we encoded ourselves. */
function headerLength(element: Uint8Array): number {
  const first = element[1] ?? 0;
  return first < 0x80 ? 2 : 2 + (first & 0x7f);
}
