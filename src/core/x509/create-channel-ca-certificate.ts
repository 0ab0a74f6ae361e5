/**
 * Channel CA certificates: one issuing CA per product and release channel, each with its own key,
 * never shared across products or channels (DESIGN.md §1 control 2, §5). A compromised `dev` CA
 * then cannot mint certificates that verify for `prod`, and revoking one product's CA leaves the
 * others alone.
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
import { OID_KP_CODE_SIGNING, OID_ORGANIZATION } from './oids.ts';
import { parseCertificate } from './parse-certificate.ts';
import {
  assertIssuerCovers,
  assertKeyMatchesCertificate,
  assertP256PublicKey,
  createSerialNumber,
  signCertificate,
  truncateToSeconds,
} from './sign-certificate.ts';

/** Product and channel names as governance files define them (`governance-schema.ts` NAME). */
export const PRODUCT_OR_CHANNEL_NAME = /^[a-z0-9][a-z0-9-]{0,62}$/;

export interface ChannelCaCertificateInput {
  /** The root key; its purpose must be `root-ca`. */
  readonly issuerKey: KeyHandle;
  /** The root CA certificate (DER) that `issuerKey` belongs to. */
  readonly issuerCertificate: Uint8Array;
  /** DER SubjectPublicKeyInfo of the channel CA's own key (P-256, never the root key). */
  readonly subjectPublicKeySpki: Uint8Array;
  readonly product: string;
  readonly channel: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly random: Random;
}

/** The subject common name of the CA of `product`/`channel`. */
export function formatChannelCaCommonName(product: string, channel: string): string {
  return `${product}/${channel}`;
}

/**
 * Creates the CA certificate of one product and channel, issued by the root: subject
 * `O=<root's O>, OU=<product>, CN=<product>/<channel>`, basicConstraints critical CA:TRUE
 * pathlen 0, keyUsage critical keyCertSign + cRLSign, extendedKeyUsage codeSigning (the CA can
 * only stand behind code-signing leaves, and sigstore-go requires an intermediate's EKU to allow
 * codeSigning, interop §5.2), subject and authority key identifiers. Times are truncated to whole
 * seconds and must lie inside the root's validity.
 *
 * @throws {@link AppError} KEY_UNAVAILABLE when the issuer key is not a root-ca key, does not
 *   belong to the issuer certificate, cannot sign, or the root does not cover the validity;
 *   INVALID_INPUT when a name is malformed, the subject key is not P-256 or is the root's key.
 */
export async function createChannelCaCertificate(
  input: ChannelCaCertificateInput,
): Promise<Uint8Array> {
  assertKeyPurpose(input.issuerKey, 'root-ca', 'a channel CA certificate');
  for (const [what, value] of [
    ['product', input.product],
    ['channel', input.channel],
  ] as const) {
    if (!PRODUCT_OR_CHANNEL_NAME.test(value)) {
      throw new AppError(
        'INVALID_INPUT',
        `${what} must be lower-case letters, digits and dashes (at most 63)`,
      );
    }
  }
  assertP256PublicKey(input.subjectPublicKeySpki);
  if (equalBytes(input.subjectPublicKeySpki, input.issuerKey.publicKeySpki)) {
    throw new AppError('INVALID_INPUT', 'a channel CA must have its own key, not the root key');
  }
  const issuer = parseCertificate(input.issuerCertificate);
  assertKeyMatchesCertificate(input.issuerKey, issuer);
  const notBefore = truncateToSeconds(input.notBefore);
  const notAfter = truncateToSeconds(input.notAfter);
  assertIssuerCovers(issuer, notBefore, notAfter, 'channel CA certificate');
  const organizations = issuer.subject.filter((a) => a.type === OID_ORGANIZATION);
  const organization = organizations.length === 1 ? organizations[0]?.value : undefined;
  if (organization === undefined) {
    throw new AppError('INVALID_INPUT', 'the root CA subject must have exactly one organization');
  }
  return signCertificate(
    {
      serialNumber: createSerialNumber(input.random),
      issuerDer: issuer.subjectDer,
      subject: {
        organization,
        organizationalUnit: input.product,
        commonName: formatChannelCaCommonName(input.product, input.channel),
      },
      notBefore,
      notAfter,
      subjectPublicKeySpki: input.subjectPublicKeySpki,
      extensions: [
        ...createConstraintExtensions({ isCa: true, pathLength: 0 }),
        createExtendedKeyUsageExtension(false, [OID_KP_CODE_SIGNING]),
        ...createKeyIdentifierExtensions(input.subjectPublicKeySpki, issuer),
      ],
    },
    input.issuerKey,
  );
}
