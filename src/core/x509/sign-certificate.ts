/**
 * Issues X.509 v3 certificates with a `KeyHandle` as the issuer's signer.
 *
 * Countersign's CA keys live behind a key backend (keystore, PKCS#11) and never leave it, so no
 * certificate library that wants the private key can sign. The TBSCertificate is encoded to DER
 * here (`../asn1/der.ts`, extensions from `./certificate-extensions.ts`), signed with
 * `KeyHandle.sign` (ECDSA P-256 over SHA-256, `ecdsa-with-SHA256`), and the Certificate is
 * assembled around the exact signed bytes. Every certificate is re-read with the strict DER parser
 * before it is returned; that the signature verifies under the issuer's key is the backend's
 * guarantee (`KeyHandle.sign`).
 */
import { p256 } from '@noble/curves/nist.js';
import { AppError } from '../errors.ts';
import type { KeyHandle, Random } from '../ports.ts';
import { equalBytes } from '../tlog/bytes.ts';
import {
  DER_TAG,
  DerSequenceReader,
  concatBytes,
  decodeBitStringBytes,
  decodeOid,
  encodeExplicit,
  encodeGeneralizedTime,
  encodeOid,
  encodeSequence,
  encodeSetOf,
  encodeSmallInteger,
  encodeTlv,
  encodeUnsignedInteger,
  encodeUtcTime,
  encodeUtf8String,
  parseDer,
} from '../asn1/der.ts';
import {
  OID_COMMON_NAME,
  OID_EC_PUBLIC_KEY,
  OID_ECDSA_WITH_SHA256,
  OID_ORGANIZATION,
  OID_ORGANIZATIONAL_UNIT,
  OID_P256,
} from './oids.ts';
import { parseCertificate, type ParsedCertificate } from './parse-certificate.ts';

/** Serial numbers carry this many random bytes (CA/B Forum BR §7.1: at least 64 bits). */
export const SERIAL_NUMBER_RANDOM_BYTES = 16;

/** Longest value accepted in a name attribute (RFC 5280 upper bounds are 64 characters). */
const MAX_NAME_ATTRIBUTE_CHARS = 64;
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/u;

/** A distinguished name as Countersign writes them: one attribute per RDN, in this order. */
export interface DistinguishedName {
  readonly organization?: string;
  readonly organizationalUnit?: string;
  readonly commonName?: string;
}

/** What `signCertificate` turns into a certificate. */
export interface CertificateTemplate {
  /** The serial number's magnitude, from `createSerialNumber`. */
  readonly serialNumber: Uint8Array;
  /** The issuer's DER `Name` (its certificate's subject), or the subject for a self-signed one. */
  readonly issuerDer: Uint8Array;
  readonly subject: DistinguishedName;
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER SubjectPublicKeyInfo of the certified key. */
  readonly subjectPublicKeySpki: Uint8Array;
  /** DER `Extension`s (`./certificate-extensions.ts`), in the order they are written. */
  readonly extensions: readonly Uint8Array[];
}

/**
 * A fresh certificate or timestamp serial number: 16 random bytes read as a positive integer
 * (RFC 5280 §4.1.2.2: positive, at most 20 octets once encoded).
 */
export function createSerialNumber(random: Random): Uint8Array {
  const bytes = Uint8Array.from(random.bytes(SERIAL_NUMBER_RANDOM_BYTES));
  if (bytes.length !== SERIAL_NUMBER_RANDOM_BYTES) {
    throw new AppError('INTERNAL', 'the random source returned too few bytes');
  }
  // Zero is not a valid serial number; a CSPRNG returns it with probability 2^-128.
  if (bytes.every((byte) => byte === 0)) bytes[bytes.length - 1] = 1;
  return bytes;
}

/** `date` truncated to whole seconds: certificates and timestamps carry no fractions (G16). */
export function truncateToSeconds(date: Date): Date {
  const ms = date.getTime();
  if (!Number.isFinite(ms)) throw new AppError('INVALID_INPUT', 'not a valid time');
  return new Date(ms - (((ms % 1000) + 1000) % 1000));
}

/**
 * Checks that `spki` is the DER SubjectPublicKeyInfo of a valid ECDSA P-256 public key: the only
 * key type every Sigstore verifier handles (interop §5.1, G4). Attacker-controlled when a signing
 * client supplies its own ephemeral key.
 *
 * @throws {@link AppError} INVALID_INPUT otherwise.
 */
export function assertP256PublicKey(spki: Uint8Array): void {
  try {
    const fields = new DerSequenceReader(parseDer(spki), 'subjectPublicKeyInfo');
    const algorithm = new DerSequenceReader(
      fields.next(DER_TAG.SEQUENCE, 'algorithm'),
      'algorithm',
    );
    const type = decodeOid(algorithm.next(DER_TAG.OID, 'algorithm'), 'algorithm');
    const curve = decodeOid(algorithm.next(DER_TAG.OID, 'namedCurve'), 'namedCurve');
    algorithm.end();
    const point = decodeBitStringBytes(
      fields.next(DER_TAG.BIT_STRING, 'subjectPublicKey'),
      'point',
    );
    fields.end();
    if (type !== OID_EC_PUBLIC_KEY || curve !== OID_P256) throw new Error('not P-256');
    // Decoding the point checks that it lies on the curve and is not the identity.
    p256.Point.fromBytes(point);
  } catch (cause) {
    throw new AppError('INVALID_INPUT', 'the public key is not a valid ECDSA P-256 key', { cause });
  }
}

function checkNameAttribute(value: string, what: string): void {
  if (
    value.length === 0 ||
    value.length > MAX_NAME_ATTRIBUTE_CHARS ||
    CONTROL_CHARS.test(value) ||
    !value.isWellFormed()
  ) {
    throw new AppError(
      'INVALID_INPUT',
      `${what} must be 1–${MAX_NAME_ATTRIBUTE_CHARS} printable characters`,
    );
  }
}

/** The DER `Name` of `name`: O, OU, CN in that order, each a UTF8String in its own RDN. */
export function encodeDistinguishedName(name: DistinguishedName): Uint8Array {
  const rdns: Uint8Array[] = [];
  const add = (type: string, value: string | undefined, what: string): void => {
    if (value === undefined) return;
    checkNameAttribute(value, what);
    rdns.push(encodeSetOf([encodeSequence(encodeOid(type), encodeUtf8String(value))]));
  };
  add(OID_ORGANIZATION, name.organization, 'organization');
  add(OID_ORGANIZATIONAL_UNIT, name.organizationalUnit, 'organizational unit');
  add(OID_COMMON_NAME, name.commonName, 'common name');
  return encodeSequence(...rdns);
}

/**
 * Checks that `issuerKey` holds the private key of `issuerCertificate`, so that what it signs
 * chains to that certificate.
 *
 * @throws {@link AppError} KEY_UNAVAILABLE when the public keys differ.
 */
export function assertKeyMatchesCertificate(
  issuerKey: KeyHandle,
  issuerCertificate: ParsedCertificate,
): void {
  if (!equalBytes(issuerKey.publicKeySpki, issuerCertificate.subjectPublicKeySpki)) {
    throw new AppError(
      'KEY_UNAVAILABLE',
      `key ${issuerKey.id} does not belong to the issuer certificate`,
    );
  }
}

/**
 * Checks that a certificate for `[notBefore, notAfter]` fits inside its issuer's validity and that
 * the issuer is a CA: a chain is only valid where every certificate in it is (G21).
 *
 * @throws {@link AppError} KEY_UNAVAILABLE when the issuer cannot issue it (expired, not yet
 *   valid, expiring first, not a CA): the operator must rotate or re-issue the CA.
 */
export function assertIssuerCovers(
  issuer: ParsedCertificate,
  notBefore: Date,
  notAfter: Date,
  what: string,
): void {
  if (!issuer.isCa) {
    throw new AppError('KEY_UNAVAILABLE', `the issuer of the ${what} is not a CA certificate`);
  }
  if (notBefore < issuer.notBefore || notAfter > issuer.notAfter) {
    throw new AppError(
      'KEY_UNAVAILABLE',
      `the issuer certificate (valid ${issuer.notBefore.toISOString()} to ${issuer.notAfter.toISOString()}) does not cover the ${what} (${notBefore.toISOString()} to ${notAfter.toISOString()})`,
      { hint: 'issue a new CA certificate before this one expires' },
    );
  }
}

/**
 * Builds the TBSCertificate from `template`, signs it with `issuerKey` and returns the DER
 * certificate. The caller has checked the key's purpose.
 *
 * @throws {@link AppError} INVALID_INPUT when the validity is empty or not in whole seconds or a
 *   name attribute is unprintable; KEY_UNAVAILABLE when the backend cannot sign or its signature
 *   does not verify under `issuerKey.publicKeySpki`.
 */
export async function signCertificate(
  template: CertificateTemplate,
  issuerKey: KeyHandle,
): Promise<Uint8Array> {
  const { notBefore, notAfter } = template;
  if (notBefore.getTime() % 1000 !== 0 || notAfter.getTime() % 1000 !== 0) {
    throw new AppError('INVALID_INPUT', 'certificate validity must be in whole seconds');
  }
  if (!(notAfter > notBefore)) {
    throw new AppError('INVALID_INPUT', 'certificate notAfter must be after notBefore');
  }
  if (parseDer(template.issuerDer).tag !== DER_TAG.SEQUENCE) {
    throw new AppError('INVALID_INPUT', 'the issuer name is not a DER Name');
  }
  const tbsDer = encodeSequence(
    encodeExplicit(0, encodeSmallInteger(2)), // version v3
    encodeUnsignedInteger(template.serialNumber),
    ECDSA_WITH_SHA256,
    template.issuerDer,
    encodeSequence(encodeCertificateTime(notBefore), encodeCertificateTime(notAfter)),
    encodeDistinguishedName(template.subject),
    template.subjectPublicKeySpki,
    encodeExplicit(3, encodeSequence(...template.extensions)),
  );
  const signature = await issuerKey.sign(tbsDer);
  const certificate = encodeSequence(
    tbsDer,
    ECDSA_WITH_SHA256,
    encodeTlv(DER_TAG.BIT_STRING, concatBytes(Uint8Array.of(0), signature)),
  );
  // Self-check: what we hand out must read back as strict DER.
  parseCertificate(certificate);
  return certificate;
}

/** AlgorithmIdentifier ecdsa-with-SHA256, parameters absent (RFC 5758 §3.2). */
const ECDSA_WITH_SHA256 = encodeSequence(encodeOid(OID_ECDSA_WITH_SHA256));

/** RFC 5280 §4.1.2.5: UTCTime through 2049, GeneralizedTime from 2050. */
function encodeCertificateTime(date: Date): Uint8Array {
  return date.getUTCFullYear() < 2050 ? encodeUtcTime(date) : encodeGeneralizedTime(date);
}
