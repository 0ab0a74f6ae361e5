/**
 * The timestamp authority's certificate, issued by the root (TrustedRoot chain `[TSA, root]`,
 * interop §4.2, §7.1).
 */
import { AppError } from '../errors.ts';
import type { KeyHandle, Random } from '../ports.ts';
import { equalBytes } from '../tlog/bytes.ts';
import { assertKeyPurpose } from './assert-key-purpose.ts';
import {
  createConstraintExtensions,
  createExtendedKeyUsageExtension,
  createKeyIdentifierExtensions,
} from './certificate-extensions.ts';
import { OID_KP_TIME_STAMPING, OID_ORGANIZATION } from './oids.ts';
import { parseCertificate } from './parse-certificate.ts';
import {
  assertIssuerCovers,
  assertKeyMatchesCertificate,
  assertP256PublicKey,
  createSerialNumber,
  signCertificate,
  truncateToSeconds,
} from './sign-certificate.ts';

/** The default common name of the TSA certificate. */
export const DEFAULT_TSA_COMMON_NAME = 'Countersign Timestamp Authority';

export interface TsaCertificateInput {
  /** The root key; its purpose must be `root-ca`. */
  readonly issuerKey: KeyHandle;
  /** The root CA certificate (DER) that `issuerKey` belongs to. */
  readonly issuerCertificate: Uint8Array;
  /** DER SubjectPublicKeyInfo of the TSA key (P-256). */
  readonly subjectPublicKeySpki: Uint8Array;
  /** Default `Countersign Timestamp Authority`; the organization is the root's. */
  readonly commonName?: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly random: Random;
}

/**
 * Creates the TSA certificate: basicConstraints critical CA:FALSE, keyUsage critical
 * digitalSignature, extendedKeyUsage **critical and timeStamping only** — what RFC 3161 §2.3,
 * OpenSSL and sigstore-go demand (interop §7.1, G18) — and key identifiers.
 *
 * @throws {@link AppError} KEY_UNAVAILABLE when the issuer key is not a root-ca key, does not
 *   belong to the issuer certificate, cannot sign, or the root does not cover the validity;
 *   INVALID_INPUT when the subject key is not P-256 or is the root's key.
 */
export async function createTsaCertificate(input: TsaCertificateInput): Promise<Uint8Array> {
  assertKeyPurpose(input.issuerKey, 'root-ca', 'a TSA certificate');
  assertP256PublicKey(input.subjectPublicKeySpki);
  if (equalBytes(input.subjectPublicKeySpki, input.issuerKey.publicKeySpki)) {
    throw new AppError('INVALID_INPUT', 'the TSA must have its own key, not the root key');
  }
  const issuer = parseCertificate(input.issuerCertificate);
  assertKeyMatchesCertificate(input.issuerKey, issuer);
  const notBefore = truncateToSeconds(input.notBefore);
  const notAfter = truncateToSeconds(input.notAfter);
  assertIssuerCovers(issuer, notBefore, notAfter, 'TSA certificate');
  const organization = issuer.subject.find((a) => a.type === OID_ORGANIZATION)?.value;
  return signCertificate(
    {
      serialNumber: createSerialNumber(input.random),
      issuerDer: issuer.subjectDer,
      subject: {
        ...(organization === undefined ? {} : { organization }),
        commonName: input.commonName ?? DEFAULT_TSA_COMMON_NAME,
      },
      notBefore,
      notAfter,
      subjectPublicKeySpki: input.subjectPublicKeySpki,
      extensions: [
        ...createConstraintExtensions({ isCa: false }),
        createExtendedKeyUsageExtension(true, [OID_KP_TIME_STAMPING]),
        ...createKeyIdentifierExtensions(input.subjectPublicKeySpki, issuer),
      ],
    },
    input.issuerKey,
  );
}
