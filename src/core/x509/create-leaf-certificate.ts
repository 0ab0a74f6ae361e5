/**
 * Short-lived leaf certificates for per-job ephemeral keys (DESIGN.md §6 step 6), in the shape
 * Sigstore verifiers read (interop §5.1): empty subject, the workload identity URI as a critical
 * SAN, codeSigning EKU, and Fulcio's extensions naming the OIDC issuer and the build.
 */
import { AppError } from '../errors.ts';
import type { Workload } from '../governance/workload.ts';
import type { KeyHandle, Random } from '../ports.ts';
import { assertKeyPurpose } from './assert-key-purpose.ts';
import { encodeUtf8String } from '../asn1/der.ts';
import { equalBytes } from '../tlog/bytes.ts';
import { deriveFulcioExtensions } from './fulcio-extensions.ts';
import {
  createConstraintExtensions,
  createExtendedKeyUsageExtension,
  createExtension,
  createKeyIdentifierExtensions,
  createSubjectAltNameUriExtension,
} from './certificate-extensions.ts';
import { FULCIO_OID, OID_KP_CODE_SIGNING } from './oids.ts';
import { parseCertificate, type ParsedCertificate } from './parse-certificate.ts';
import {
  assertIssuerCovers,
  assertKeyMatchesCertificate,
  assertP256PublicKey,
  createSerialNumber,
  signCertificate,
  truncateToSeconds,
} from './sign-certificate.ts';

/** Ten minutes: long enough to sign and log, short enough that a leaked key is soon useless. */
export const DEFAULT_LEAF_VALIDITY_SECONDS = 600;
/** Leaves are short-lived by design; a day is the most a caller may ask for. */
export const MAX_LEAF_VALIDITY_SECONDS = 86_400;

/** A URI as an IA5String can carry it: printable ASCII, no spaces (RFC 5280 §4.2.1.6). */
const IA5_URI = /^[a-z][a-z0-9+.-]*:[\u0021-\u007e]+$/i;
const MAX_URI_CHARS = 2048;

export interface LeafCertificateInput {
  /** The channel CA key; its purpose must be `channel-ca`. */
  readonly issuerKey: KeyHandle;
  /** The channel CA certificate (DER) that `issuerKey` belongs to. */
  readonly issuerCertificate: Uint8Array;
  /** DER SubjectPublicKeyInfo of the per-request ephemeral P-256 key. */
  readonly subjectPublicKeySpki: Uint8Array;
  /** The verified workload the certificate names. */
  readonly workload: Workload;
  /** Start of validity, truncated to whole seconds (usually the clock's now). */
  readonly notBefore: Date;
  /** Default 600 (`DEFAULT_LEAF_VALIDITY_SECONDS`). */
  readonly validitySeconds?: number;
  readonly random: Random;
}

/**
 * Creates a leaf certificate for `workload`'s ephemeral key, issued by a channel CA:
 *
 * - subject empty; subjectAltName critical (RFC 5280 §4.2.1.6 when the subject is empty) with
 *   one URI, `workload.identityUri`;
 * - basicConstraints critical CA:FALSE, keyUsage critical digitalSignature, extendedKeyUsage
 *   codeSigning (sigstore-go verifies with `KeyUsages: [CodeSigning]`);
 * - subject and authority key identifiers;
 * - Fulcio V2 extensions (DER UTF8String, non-critical): issuer 1.3.6.1.4.1.57264.1.8 always,
 *   plus the build and source values the workload states (`deriveFulcioExtensions`), and the
 *   legacy issuer 1.3.6.1.4.1.57264.1.1 (raw bytes) for older verifiers.
 *
 * @throws {@link AppError} KEY_UNAVAILABLE when the issuer key is not a channel-ca key, does not
 *   belong to the issuer certificate, cannot sign, or the channel CA does not cover the leaf's
 *   validity (rotate the CA); INVALID_INPUT when the subject key is not P-256, the identity URI
 *   is not a printable-ASCII URI, or the validity is out of range.
 */
export async function createLeafCertificate(input: LeafCertificateInput): Promise<Uint8Array> {
  assertKeyPurpose(input.issuerKey, 'channel-ca', 'a leaf certificate');
  assertP256PublicKey(input.subjectPublicKeySpki);
  const validitySeconds = input.validitySeconds ?? DEFAULT_LEAF_VALIDITY_SECONDS;
  if (
    !Number.isSafeInteger(validitySeconds) ||
    validitySeconds < 1 ||
    validitySeconds > MAX_LEAF_VALIDITY_SECONDS
  ) {
    throw new AppError(
      'INVALID_INPUT',
      `leaf validity must be 1 to ${MAX_LEAF_VALIDITY_SECONDS} whole seconds`,
    );
  }
  const { workload } = input;
  if (workload.identityUri.length > MAX_URI_CHARS || !IA5_URI.test(workload.identityUri)) {
    throw new AppError(
      'INVALID_INPUT',
      'the workload identity URI is not a printable-ASCII URI and cannot be a certificate SAN',
    );
  }
  const issuer = parseIssuer(input.issuerCertificate);
  assertKeyMatchesCertificate(input.issuerKey, issuer);
  const notBefore = truncateToSeconds(input.notBefore);
  const notAfter = new Date(notBefore.getTime() + validitySeconds * 1000);
  assertIssuerCovers(issuer, notBefore, notAfter, 'leaf certificate');

  const fulcio = deriveFulcioExtensions(workload).map(({ oid, value }) =>
    createExtension(oid, false, encodeUtf8String(value)),
  );
  return signCertificate(
    {
      serialNumber: createSerialNumber(input.random),
      issuerDer: issuer.subjectDer,
      subject: {},
      notBefore,
      notAfter,
      subjectPublicKeySpki: input.subjectPublicKeySpki,
      extensions: [
        ...createConstraintExtensions({ isCa: false }),
        createExtendedKeyUsageExtension(false, [OID_KP_CODE_SIGNING]),
        ...createKeyIdentifierExtensions(input.subjectPublicKeySpki, issuer),
        createSubjectAltNameUriExtension(workload.identityUri),
        createExtension(FULCIO_OID.ISSUER_V1, false, new TextEncoder().encode(workload.issuer)),
        ...fulcio,
      ],
    },
    input.issuerKey,
  );
}

/**
 * The channel CA certificate, parsed once per certificate object: a channel CA issues a leaf for
 * every signature, and its certificate (held by the caller's CA cache) does not change.
 */
const parsedIssuers = new WeakMap<Uint8Array, ParsedCertificate>();

function parseIssuer(der: Uint8Array): ParsedCertificate {
  let parsed = parsedIssuers.get(der);
  if (parsed === undefined || !equalBytes(parsed.der, der)) {
    parsed = parseCertificate(der);
    parsedIssuers.set(der, parsed);
  }
  return parsed;
}
