/**
 * Certificate path validation against a TrustedRoot certificate authority, at one point in time
 * (the verified signing time; never the current time, never a time taken from the bundle).
 *
 * The authority's `certChain` is `[intermediates…, root]` (sigstore-interop §4.2): the path must
 * run from the leaf through the authority's certificates to its last certificate, the trust
 * anchor. RFC 5280 §6 in the subset Sigstore relies on: signatures, names, validity at `time`,
 * basicConstraints cA and pathLen, keyUsage keyCertSign, extended key usage for `purpose`,
 * no unhandled critical extension. Revocation is out of scope (Sigstore has none: short-lived
 * leaves).
 */
import { AppError } from '../errors.ts';
import { OID, type Certificate } from './certificate.ts';

/** What the leaf is for: decides the extended key usage checks. */
export type CertificatePurpose = 'codeSigning' | 'timeStamping';

/** A path found and checked. */
export interface VerifiedChain {
  /** Leaf first, trust anchor last. */
  readonly path: readonly Certificate[];
}

/**
 * Verifies that `leaf` chains to the end of `authorityChain` and that every certificate on the
 * path was valid at `time`.
 *
 * @param leaf - attacker-controlled (from a bundle or a timestamp).
 * @param authorityChain - trusted: `[intermediates…, root]` from the TrustedRoot.
 * @throws {@link AppError} VERIFICATION_FAILED with a message naming the failed rule, e.g.
 *   `leaf was not valid at 2026-01-01T00:00:00.000Z (valid 2026-… to 2026-…)`.
 */
export function verifyCertificateChain(
  leaf: Certificate,
  authorityChain: readonly Certificate[],
  time: Date,
  purpose: CertificatePurpose,
): VerifiedChain {
  const anchor = authorityChain[authorityChain.length - 1];
  if (anchor === undefined) fail('certificate authority has no certificates');
  checkLeaf(leaf, purpose);
  const path: Certificate[] = [leaf];
  let current = leaf;
  // Each step consumes one authority certificate; a path cannot be longer than the chain.
  for (let step = 0; step <= authorityChain.length; step++) {
    if (current === anchor) break;
    const issuer = authorityChain.find(
      (candidate) =>
        candidate !== current &&
        !path.includes(candidate) &&
        equalBytes(candidate.subject, current.issuer) &&
        keyIdsAgree(current, candidate) &&
        isSignedBy(current, candidate),
    );
    if (issuer === undefined) {
      fail(
        current === leaf
          ? 'leaf was not issued by this certificate authority'
          : `no issuer in the certificate authority for ${describe(current, path.length)}`,
      );
    }
    checkIssuer(issuer, path.length, purpose, countIntermediates(path));
    path.push(issuer);
    current = issuer;
  }
  if (current !== anchor) fail('path does not end at the certificate authority root');
  path.forEach((certificate, i) => checkValidity(certificate, time, describe(certificate, i)));
  for (const [i, certificate] of path.entries()) {
    const unhandled = certificate.unhandledCriticalExtensions;
    if (unhandled.length > 0) {
      fail(`${describe(certificate, i)} has unhandled critical extension ${unhandled.join(', ')}`);
    }
  }
  return { path };
}

function checkLeaf(leaf: Certificate, purpose: CertificatePurpose): void {
  if (leaf.isCa) fail('leaf is a CA certificate');
  if (leaf.keyUsage !== undefined && !leaf.keyUsage.digitalSignature) {
    fail('leaf key usage lacks digitalSignature');
  }
  const eku = leaf.extendedKeyUsage;
  if (purpose === 'codeSigning') {
    if (eku === undefined || !eku.oids.includes(OID.CODE_SIGNING)) {
      fail('leaf extended key usage lacks codeSigning');
    }
  } else {
    // RFC 3161 §2.3: the TSA certificate MUST have exactly one, critical, timeStamping EKU.
    if (eku === undefined || eku.oids.length !== 1 || eku.oids[0] !== OID.TIME_STAMPING) {
      fail('TSA certificate extended key usage must be timeStamping only');
    }
    if (!eku.critical) fail('TSA certificate extended key usage must be critical');
  }
}

function checkIssuer(
  issuer: Certificate,
  position: number,
  purpose: CertificatePurpose,
  intermediatesBelow: number,
): void {
  const name = describe(issuer, position);
  if (!issuer.isCa) fail(`${name} is not a CA certificate`);
  if (issuer.keyUsage !== undefined && !issuer.keyUsage.keyCertSign) {
    fail(`${name} key usage lacks keyCertSign`);
  }
  if (issuer.pathLength !== undefined && intermediatesBelow > issuer.pathLength) {
    fail(`${name} path length constraint ${issuer.pathLength} is exceeded`);
  }
  const eku = issuer.extendedKeyUsage;
  const wanted = purpose === 'codeSigning' ? OID.CODE_SIGNING : OID.TIME_STAMPING;
  if (
    eku !== undefined &&
    !eku.oids.includes(wanted) &&
    !eku.oids.includes(OID.ANY_EXTENDED_KEY_USAGE)
  ) {
    fail(`${name} extended key usage does not allow ${purpose}`);
  }
}

/** Non-self-issued CA certificates already on the path below the next issuer (RFC 5280 §6.1.4). */
function countIntermediates(path: readonly Certificate[]): number {
  return path.slice(1).filter((c) => !equalBytes(c.subject, c.issuer)).length;
}

function checkValidity(certificate: Certificate, time: Date, name: string): void {
  const t = time.getTime();
  if (t < certificate.notBefore.getTime() || t > certificate.notAfter.getTime()) {
    fail(
      `${name} was not valid at the signing time ${time.toISOString()} (valid ${certificate.notBefore.toISOString()} to ${certificate.notAfter.toISOString()})`,
    );
  }
}

function keyIdsAgree(child: Certificate, issuer: Certificate): boolean {
  // A mismatching AKI/SKI pair rules the candidate out; absent identifiers leave it to the name
  // and signature checks.
  if (child.authorityKeyId === undefined || issuer.subjectKeyId === undefined) return true;
  return equalBytes(child.authorityKeyId, issuer.subjectKeyId);
}

/**
 * Signature results by (child, issuer) certificate object. Certificates are immutable parsed
 * values and a TrustedRoot's chains are parsed once (`parseCertificateChain` caches them), so the
 * intermediate → root checks run once per TrustedRoot and the leaf → issuer check once per parsed
 * leaf, however many times (signing times) the path is validated. Pure: no I/O, no clock.
 */
const signatureResults = new WeakMap<Certificate, WeakMap<Certificate, boolean>>();
let signatureChecks = 0;

/** Test hook: how many certificate signatures have actually been verified (not served cached). */
export function countCertificateSignatureChecks(): number {
  return signatureChecks;
}

function isSignedBy(child: Certificate, issuer: Certificate): boolean {
  let byIssuer = signatureResults.get(child);
  if (byIssuer === undefined) {
    byIssuer = new WeakMap();
    signatureResults.set(child, byIssuer);
  }
  let result = byIssuer.get(issuer);
  if (result === undefined) {
    signatureChecks++;
    try {
      result = child.x509.verify(issuer.publicKey);
    } catch {
      result = false;
    }
    byIssuer.set(issuer, result);
  }
  return result;
}

function describe(certificate: Certificate, position: number): string {
  if (position === 0) return 'leaf';
  return equalBytes(certificate.subject, certificate.issuer) ? 'root' : `intermediate ${position}`;
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(b);
}

function fail(message: string): never {
  throw new AppError('VERIFICATION_FAILED', message);
}
