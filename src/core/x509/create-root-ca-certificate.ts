/**
 * The root CA certificate: the trust anchor of Countersign's PKI, self-signed, issuing one CA per
 * product and channel and the TSA certificate (interop §5.2, §7.1).
 */
import { AppError } from '../errors.ts';
import type { KeyHandle, Random } from '../ports.ts';
import { assertKeyPurpose } from './assert-key-purpose.ts';
import {
  createConstraintExtensions,
  createKeyIdentifierExtensions,
} from './certificate-extensions.ts';
import {
  createSerialNumber,
  encodeDistinguishedName,
  signCertificate,
  truncateToSeconds,
} from './sign-certificate.ts';

/** Root → channel CA → leaf, and root → TSA: nothing below a channel CA may be a CA. */
export const ROOT_CA_PATH_LENGTH = 1;

export interface RootCaCertificateInput {
  /** The root key; its purpose must be `root-ca`. */
  readonly key: KeyHandle;
  /**
   * Exactly one organization (`gh attestation verify` picks trust roots by the issuer's single
   * `O=`, interop G23) and a common name.
   */
  readonly subject: { readonly organization: string; readonly commonName: string };
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** For the serial number. */
  readonly random: Random;
}

/**
 * Creates the self-signed root CA certificate: basicConstraints critical CA:TRUE pathlen 1,
 * keyUsage critical keyCertSign + cRLSign, subjectKeyIdentifier. Times are truncated to whole
 * seconds.
 *
 * @throws {@link AppError} KEY_UNAVAILABLE when the key is not a root-ca key or cannot sign;
 *   INVALID_INPUT when the validity is empty or the subject empty or unprintable.
 */
export async function createRootCaCertificate(input: RootCaCertificateInput): Promise<Uint8Array> {
  assertKeyPurpose(input.key, 'root-ca', 'a root CA certificate');
  if (input.subject.organization === '' || input.subject.commonName === '') {
    throw new AppError('INVALID_INPUT', 'the root CA needs an organization and a common name');
  }
  const subject = {
    organization: input.subject.organization,
    commonName: input.subject.commonName,
  };
  return signCertificate(
    {
      serialNumber: createSerialNumber(input.random),
      issuerDer: encodeDistinguishedName(subject),
      subject,
      notBefore: truncateToSeconds(input.notBefore),
      notAfter: truncateToSeconds(input.notAfter),
      subjectPublicKeySpki: input.key.publicKeySpki,
      extensions: [
        ...createConstraintExtensions({ isCa: true, pathLength: ROOT_CA_PATH_LENGTH }),
        ...createKeyIdentifierExtensions(input.key.publicKeySpki, undefined),
      ],
    },
    input.key,
  );
}
