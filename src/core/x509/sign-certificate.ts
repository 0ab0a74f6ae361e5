/**
 * Issues X.509 v3 certificates with a `KeyHandle` as the issuer's signer.
 *
 * `@peculiar/x509`'s generators sign with WebCrypto keys, but Countersign's CA keys live behind a
 * key backend (keystore, PKCS#11) and never leave it. So the TBSCertificate is built with
 * `@peculiar/asn1-x509`, serialised to DER, signed with `KeyHandle.sign` (ECDSA P-256 over
 * SHA-256, `ecdsa-with-SHA256`), and the Certificate is assembled around the exact signed bytes.
 * Every certificate is re-read with the strict DER parser and its signature checked against the
 * issuer's public key before it is returned: a backend that signs with the wrong key fails here,
 * not in a consumer's verifier.
 */
import { createHash, createPublicKey, verify as verifySignature } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import {
  AlgorithmIdentifier,
  AttributeTypeAndValue,
  AuthorityKeyIdentifier,
  BasicConstraints,
  KeyIdentifier,
  KeyUsage,
  KeyUsageFlags,
  SubjectKeyIdentifier,
  AttributeValue,
  Extension,
  Extensions,
  Name,
  RelativeDistinguishedName,
  SubjectPublicKeyInfo,
  TBSCertificate,
  Validity,
  Version,
} from '@peculiar/asn1-x509';
import { AppError } from '../errors.ts';
import type { KeyHandle, Random } from '../ports.ts';
import { equalBytes } from '../tlog/bytes.ts';
import {
  DER_TAG,
  DerSequenceReader,
  concatBytes,
  decodeOid,
  encodeOid,
  encodeSequence,
  encodeTlv,
  encodeUnsignedInteger,
  parseDer,
} from '../asn1/der.ts';
import {
  OID_AUTHORITY_KEY_IDENTIFIER,
  OID_BASIC_CONSTRAINTS,
  OID_COMMON_NAME,
  OID_KEY_USAGE,
  OID_EC_PUBLIC_KEY,
  OID_ECDSA_WITH_SHA256,
  OID_ORGANIZATION,
  OID_ORGANIZATIONAL_UNIT,
  OID_P256,
  OID_SUBJECT_KEY_IDENTIFIER,
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
  /** In the order they are written. */
  readonly extensions: readonly Extension[];
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
 * The key identifier of a public key: SHA-1 of the `subjectPublicKey` bits (RFC 5280 §4.2.1.2
 * method 1), what OpenSSL's `subjectKeyIdentifier=hash` computes.
 */
export function computeKeyIdentifier(subjectPublicKeySpki: Uint8Array): Uint8Array {
  const spki = new DerSequenceReader(parseDer(subjectPublicKeySpki), 'subjectPublicKeyInfo');
  spki.next(DER_TAG.SEQUENCE, 'algorithm');
  const bits = spki.next(DER_TAG.BIT_STRING, 'subjectPublicKey');
  spki.end();
  return new Uint8Array(createHash('sha1').update(bits.contents.subarray(1)).digest());
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
    fields.next(DER_TAG.BIT_STRING, 'subjectPublicKey');
    fields.end();
    if (type !== OID_EC_PUBLIC_KEY || curve !== OID_P256) throw new Error('not P-256');
    // Decoding the point checks that it lies on the curve.
    const key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
    if (key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') throw new Error('not P-256');
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
  const rdns: RelativeDistinguishedName[] = [];
  const add = (type: string, value: string | undefined, what: string): void => {
    if (value === undefined) return;
    checkNameAttribute(value, what);
    rdns.push(
      new RelativeDistinguishedName([
        new AttributeTypeAndValue({ type, value: new AttributeValue({ utf8String: value }) }),
      ]),
    );
  };
  add(OID_ORGANIZATION, name.organization, 'organization');
  add(OID_ORGANIZATIONAL_UNIT, name.organizationalUnit, 'organizational unit');
  add(OID_COMMON_NAME, name.commonName, 'common name');
  return new Uint8Array(AsnConvert.serialize(new Name(rdns)));
}

/** An extension with its value serialised from an `@peculiar/asn1-x509` object or raw DER. */
export function createExtension(
  oid: string,
  critical: boolean,
  value: object | Uint8Array,
): Extension {
  const der = value instanceof Uint8Array ? value : new Uint8Array(AsnConvert.serialize(value));
  return new Extension({ extnID: oid, critical, extnValue: new OctetString(der) });
}

/**
 * subjectKeyIdentifier of `subjectPublicKeySpki`, and authorityKeyIdentifier (keyid only) of
 * `issuer` unless the certificate is self-signed: verifiers build paths from AKI to SKI
 * (interop §5.1).
 */
export function createKeyIdentifierExtensions(
  subjectPublicKeySpki: Uint8Array,
  issuer: ParsedCertificate | undefined,
): Extension[] {
  const extensions = [
    createExtension(
      OID_SUBJECT_KEY_IDENTIFIER,
      false,
      new SubjectKeyIdentifier(computeKeyIdentifier(subjectPublicKeySpki)),
    ),
  ];
  if (issuer !== undefined) {
    const keyId = issuer.subjectKeyIdentifier ?? computeKeyIdentifier(issuer.subjectPublicKeySpki);
    extensions.push(
      createExtension(
        OID_AUTHORITY_KEY_IDENTIFIER,
        false,
        new AuthorityKeyIdentifier({ keyIdentifier: new KeyIdentifier(keyId) }),
      ),
    );
  }
  return extensions;
}

/**
 * basicConstraints (critical) and keyUsage (critical): keyCertSign + cRLSign for a CA, which
 * sigstore-js requires of CA certificates that carry keyUsage (interop §5.2), digitalSignature
 * for an end entity.
 */
export function createConstraintExtensions(
  profile: { readonly isCa: true; readonly pathLength: number } | { readonly isCa: false },
): Extension[] {
  return profile.isCa
    ? [
        createExtension(
          OID_BASIC_CONSTRAINTS,
          true,
          new BasicConstraints({ cA: true, pathLenConstraint: profile.pathLength }),
        ),
        createExtension(
          OID_KEY_USAGE,
          true,
          new KeyUsage(KeyUsageFlags.keyCertSign | KeyUsageFlags.cRLSign),
        ),
      ]
    : [
        createExtension(OID_BASIC_CONSTRAINTS, true, new BasicConstraints({ cA: false })),
        createExtension(OID_KEY_USAGE, true, new KeyUsage(KeyUsageFlags.digitalSignature)),
      ];
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
  const serial = encodeUnsignedInteger(template.serialNumber);
  const issuer = AsnConvert.parse(template.issuerDer, Name);
  if (!equalBytes(new Uint8Array(AsnConvert.serialize(issuer)), template.issuerDer)) {
    throw new AppError('INVALID_INPUT', 'the issuer name is not in canonical DER');
  }
  const tbs = new TBSCertificate({
    version: Version.v3,
    serialNumber: parseDer(serial).contents.slice().buffer,
    signature: new AlgorithmIdentifier({ algorithm: OID_ECDSA_WITH_SHA256 }),
    issuer,
    validity: new Validity({ notBefore, notAfter }),
    subject: AsnConvert.parse(encodeDistinguishedName(template.subject), Name),
    subjectPublicKeyInfo: AsnConvert.parse(template.subjectPublicKeySpki, SubjectPublicKeyInfo),
    extensions: new Extensions([...template.extensions]),
  });
  const tbsDer = new Uint8Array(AsnConvert.serialize(tbs));
  const signature = await issuerKey.sign(tbsDer);
  const certificate = encodeSequence(
    tbsDer,
    encodeSequence(encodeOid(OID_ECDSA_WITH_SHA256)),
    encodeTlv(DER_TAG.BIT_STRING, concatBytes(Uint8Array.of(0), signature)),
  );
  const publicKey = createPublicKey({
    key: Buffer.from(issuerKey.publicKeySpki),
    format: 'der',
    type: 'spki',
  });
  if (!verifySignature('sha256', tbsDer, publicKey, signature)) {
    throw new AppError(
      'KEY_UNAVAILABLE',
      `key ${issuerKey.id} produced a signature that does not verify under its public key`,
    );
  }
  // Self-check: what we hand out must read back as strict DER.
  parseCertificate(certificate);
  return certificate;
}
