/**
 * RFC 3161 timestamp verification against the timestamp authorities of a TrustedRoot, the way
 * Sigstore verifiers do it (sigstore-interop §7.2–7.3): the token is a granted TimeStampResp over
 * the hash of the signature bytes, signed by a TSA whose leaf certificate is `certChain[0]` of a
 * trusted authority, whose chain and `validFor` cover the token's `genTime`, and whose leaf has
 * the critical timeStamping-only EKU (G18).
 *
 * Certificates embedded in the token are not trusted: the signer must be the authority's leaf.
 */
import { createHash, verify as verifySignature } from 'node:crypto';
import { AppError } from '../errors.ts';
import { isWithinTimeRange, type CertificateAuthority } from '../sigstore/trusted-root.ts';
import { equalBytes } from '../tlog/bytes.ts';
import { parseCertificateChain, type Certificate } from '../verify/certificate.ts';
import { verifyCertificateChain } from '../verify/certificate-chain.ts';
import { DER_TAG, retagDer } from '../asn1/der.ts';
import {
  DIGEST_OIDS,
  TIMESTAMP_OID,
  parseTimestampResponse,
  type TimestampResponse,
} from './parse-timestamp-response.ts';

/** Hash algorithms accepted for the message imprint and signer digest (no SHA-1, interop §7.1). */
const ACCEPTED_DIGESTS = new Set(['sha256', 'sha384', 'sha512']);

/** Signature algorithm OIDs → the digest they imply (undefined: the SignerInfo digestAlgorithm). */
const SIGNATURE_ALGORITHMS: Readonly<
  Record<string, { readonly key: 'ec' | 'rsa'; readonly hash?: string }>
> = {
  '1.2.840.10045.4.3.2': { key: 'ec', hash: 'sha256' },
  '1.2.840.10045.4.3.3': { key: 'ec', hash: 'sha384' },
  '1.2.840.10045.4.3.4': { key: 'ec', hash: 'sha512' },
  '1.2.840.10045.2.1': { key: 'ec' },
  '1.2.840.113549.1.1.1': { key: 'rsa' },
  '1.2.840.113549.1.1.11': { key: 'rsa', hash: 'sha256' },
  '1.2.840.113549.1.1.12': { key: 'rsa', hash: 'sha384' },
  '1.2.840.113549.1.1.13': { key: 'rsa', hash: 'sha512' },
};

/** A timestamp that verified. */
export interface VerifiedTimestamp {
  /** TSTInfo genTime. */
  readonly time: Date;
  /** The authority whose leaf signed it. */
  readonly authority: CertificateAuthority;
  readonly serialNumber: bigint;
  readonly policy: string;
}

/**
 * Verifies an RFC 3161 timestamp over `data` (for Sigstore: the signature bytes).
 *
 * @param response - DER TimeStampResp, attacker-controlled.
 * @param data - the timestamped bytes, whose hash must be the message imprint.
 * @param authorities - the TrustedRoot's `timestampAuthorities`.
 * @throws {@link AppError} VERIFICATION_FAILED naming the failed check: malformed token, status not
 *   granted, imprint mismatch, content type, message digest, no matching trusted authority,
 *   authority not valid at genTime, ESS certificate mismatch, signature, chain.
 */
export function verifyTimestamp(
  response: Uint8Array,
  data: Uint8Array,
  authorities: readonly CertificateAuthority[],
): VerifiedTimestamp {
  let parsed: TimestampResponse;
  try {
    parsed = parseTimestampResponse(response);
  } catch (cause) {
    const reason = cause instanceof AppError ? cause.message : 'malformed TimeStampResp';
    throw new AppError('VERIFICATION_FAILED', reason, { cause });
  }
  const { tstInfo, signer } = parsed;
  if (parsed.status !== 0n) fail(`status is ${parsed.status}, not granted (0)`);
  const imprint = tstInfo.messageImprint;
  if (!ACCEPTED_DIGESTS.has(imprint.hashAlgorithm))
    fail('message imprint hash algorithm is not SHA-256/384/512');
  if (!equalBytes(digest(imprint.hashAlgorithm, data), imprint.hashedMessage)) {
    fail('message imprint does not match the hash of the signature');
  }
  if (signer.contentType !== TIMESTAMP_OID.TST_INFO)
    fail('signed contentType attribute is not id-ct-TSTInfo');
  const digestAlgorithm = DIGEST_OIDS[signer.digestAlgorithm];
  if (digestAlgorithm === undefined || !ACCEPTED_DIGESTS.has(digestAlgorithm)) {
    fail('signer digest algorithm is not SHA-256/384/512');
  }
  if (!equalBytes(digest(digestAlgorithm, parsed.tstInfoDer), signer.messageDigest)) {
    fail('messageDigest attribute does not match the TSTInfo');
  }
  const genTime = tstInfo.genTime;

  const issuedBySigner = authorities.flatMap((authority) => {
    const chain = tryParseChain(authority);
    const leaf = chain?.[0];
    if (chain === undefined || leaf === undefined) return [];
    const matches =
      equalBytes(leaf.issuer, signer.issuer) && equalBytes(leaf.serialNumber, signer.serialNumber);
    return matches ? [{ authority, chain, leaf }] : [];
  });
  if (issuedBySigner.length === 0)
    fail('signer is not the leaf of any timestamp authority in the trusted root');
  const current = issuedBySigner.filter(({ authority }) =>
    isWithinTimeRange(authority.validFor, genTime),
  );
  if (current.length === 0) {
    fail(
      `genTime ${genTime.toISOString()} is outside the validity of the timestamp authority in the trusted root`,
    );
  }

  let lastError: unknown;
  for (const { authority, chain, leaf } of current) {
    try {
      checkSigner(leaf, signer, digestAlgorithm);
      try {
        verifyCertificateChain(leaf, chain.slice(1), genTime, 'timeStamping');
      } catch (error) {
        const reason = error instanceof AppError ? error.message : 'invalid';
        throw new AppError('VERIFICATION_FAILED', `TSA certificate chain: ${reason}`, {
          cause: error,
        });
      }
      return {
        time: genTime,
        authority,
        serialNumber: tstInfo.serialNumber,
        policy: tstInfo.policy,
      };
    } catch (error) {
      lastError = error;
    }
  }
  const reason = lastError instanceof AppError ? lastError.message : 'could not be verified';
  throw new AppError('VERIFICATION_FAILED', reason, { cause: lastError });
}

function checkSigner(
  leaf: Certificate,
  signer: TimestampResponse['signer'],
  digestAlgorithm: string,
): void {
  if (signer.essCertId === undefined)
    fail('signed attributes lack the ESS signing-certificate attribute');
  const { hashAlgorithm, certHash } = signer.essCertId;
  if (!equalBytes(digest(hashAlgorithm, leaf.der), certHash)) {
    fail('ESS signing-certificate attribute does not name the TSA certificate');
  }
  const algorithm = SIGNATURE_ALGORITHMS[signer.signatureAlgorithm];
  if (algorithm === undefined)
    fail(`signature algorithm ${signer.signatureAlgorithm} is not supported`);
  if (leaf.publicKey.asymmetricKeyType !== algorithm.key) {
    fail('signature algorithm does not match the TSA key');
  }
  // RFC 5652 §5.4: the signature covers the DER of the signed attributes as a SET OF.
  const signed = retagDer(signer.signedAttributes, DER_TAG.SET);
  let valid = false;
  try {
    valid = verifySignature(
      algorithm.hash ?? digestAlgorithm,
      signed,
      leaf.publicKey,
      signer.signature,
    );
  } catch {
    valid = false;
  }
  if (!valid) fail('signature does not verify with the TSA certificate');
}

function tryParseChain(authority: CertificateAuthority): readonly Certificate[] | undefined {
  try {
    return parseCertificateChain(authority.certChain);
  } catch {
    return undefined;
  }
}

function digest(algorithm: string, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(data).digest());
}

function fail(message: string): never {
  throw new AppError('VERIFICATION_FAILED', message);
}
