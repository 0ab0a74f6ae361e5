/**
 * sigstore-conformance `bundle-verify` cases (../shared/conformance/sigstore/bundle-verify, see its
 * README): every case runs through `verifyBundle` with the case's artifact, trusted root (or the
 * Sigstore public-good root from `@sigstore/tuf`'s seeds.json), key or identity policy. A case whose
 * name ends in `_fail` must fail with an AppError naming the expected check; every other case must
 * verify, and message-signature and DSSE cases must verify from the artifact's digest alone too.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { AppError } from '../../src/core/errors.ts';
import { computeDigest } from '../../src/core/sigstore/hash-algorithm.ts';
import {
  extractTrustedRootFromTufSeeds,
  parseTrustedRootJson,
  type TrustedRoot,
} from '../../src/core/sigstore/trusted-root.ts';
import { verifyBundle, type VerifyBundleInput } from '../../src/core/verify/verify-bundle.ts';
import { requireSharedData, sharedPath } from '../support/shared-data.ts';

const CASES = sharedPath('conformance', 'sigstore', 'bundle-verify');
const DEFAULT_IDENTITY =
  'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main';
const DEFAULT_ISSUER = 'https://token.actions.githubusercontent.com';

/**
 * The check each `_fail` case must fail on (the start of the error message, or `trusted root` when
 * the case's trust root itself is rejected). Pinning the reason keeps a case from "failing as
 * expected" for an unrelated reason. Where our reason differs from the case's README it is the
 * first, stricter check that fires, noted here.
 */
const EXPECTED_FAILURE: Readonly<Record<string, string>> = {
  'bundle-empty-certificate-chain_fail': 'shape',
  'bundle-from-wrong-instance_fail': 'tlog',
  'bundle-invalid-base64-signature_fail': 'shape',
  'bundle-malformed-json_fail': 'shape',
  'bundle-negative-log-index_fail': 'shape',
  'bundle-unknown-version_fail': 'shape',
  'bundle-with-root-cert_fail': 'certificate chain',
  'checkpoint-bad-keyhint_fail': 'checkpoint',
  // The proof's tree size already differs from the (self-consistent) checkpoint's.
  'checkpoint-wrong-roothash_fail': 'inclusion proof',
  'dsse-invalid-sig_fail': 'signature',
  'dsse-mismatch-envelope_fail': 'tlog body',
  'dsse-mismatch-sig_fail': 'tlog body',
  'inclusion-proof-corrupted-hash_fail': 'inclusion proof',
  'incorrect-public-key_fail': 'tlog body',
  'integrated-time-in-future_fail': 'certificate chain',
  'intoto-expired-certificate_fail': 'certificate chain',
  'intoto-log-entry-mismatch_fail': 'tlog body',
  'intoto-missing-inclusion-proof_fail': 'shape',
  'intoto-set-outside-signing-cert-validity_fail': 'certificate chain',
  'intoto-tsa-timestamp-outside-cert-validity_fail': 'certificate chain',
  'invalid-checkpoint-signature_fail': 'checkpoint',
  'invalid-ct-key_fail': 'SCT',
  // A v0.2 proof without its checkpoint is malformed before it is stale.
  'invalid-inclusion-proof_fail': 'shape',
  'managed-key-no-key_fail': 'signature',
  // key.pub is not a valid key: rejected as input before any check.
  'managed-key-wrong-key_fail': 'the supplied public key',
  'message-digest-mismatch_fail': 'artifact',
  'rekor2-checkpoint-missing-log-signature_fail': 'checkpoint',
  'rekor2-checkpoint-missing-origin_fail': 'checkpoint',
  'rekor2-checkpoint-missing-root-hash_fail': 'checkpoint',
  'rekor2-checkpoint-missing-size_fail': 'checkpoint',
  'rekor2-checkpoint-no-matching-signature_fail': 'checkpoint',
  'rekor2-dsse-invalid-sig_fail': 'signature',
  'rekor2-dsse-mismatch-envelope_fail': 'tlog body',
  'rekor2-dsse-mismatch-sig_fail': 'tlog body',
  'rekor2-no-inclusion-proof_fail': 'shape',
  'rekor2-no-timestamp_fail': 'timestamp',
  'rekor2-timestamp-outside-trust-root-tsa-validity_fail': 'timestamp',
  'rekor2-timestamp-outside-tsa-cert-validity_fail': 'timestamp',
  'rekor2-timestamp-payload-mismatch_fail': 'timestamp',
  'rekor2-timestamp-untrusted-tsa-with-embedded-cert_fail': 'timestamp',
  'rekor2-timestamp-untrusted-tsa-without-embedded-cert_fail': 'timestamp',
  'rekor2-timestamp-with-incorrect-time_fail': 'certificate chain',
  'set-invalid-signature_fail': 'SET',
  'signature-mismatch_fail': 'signature',
  'trust-root-tlog-missing-validity-start_fail': 'trusted root',
  'wrong-hashedrekord-artifact_fail': 'tlog body',
  'wrong-hashedrekord-cert-and-sig_fail': 'tlog body',
  'wrong-hashedrekord-entry_fail': 'tlog body',
  'wrong-material_fail': 'artifact',
};

describe('sigstore-conformance bundle-verify', () => {
  if (!requireSharedData(CASES, 'sigstore-conformance bundle-verify cases')) return;
  const publicGood = loadPublicGoodRoot();
  const names = readdirSync(CASES)
    .filter((name) => statSync(path.join(CASES, name)).isDirectory())
    .sort();

  it('has cases to run', () => {
    assert.ok(names.length >= 70, `expected the full case set, found ${names.length}`);
  });

  for (const name of names) {
    const expectFailure = name.endsWith('_fail');
    it(`${name} ${expectFailure ? 'fails' : 'verifies'}`, () => {
      const run = (artifactMode: 'bytes' | 'digest') => verifyCase(name, publicGood, artifactMode);
      if (!expectFailure) {
        const result = run('bytes');
        assert.ok(result.checks.length > 0);
        if (result.bundle.content.type === 'messageSignature' || result.statement !== undefined) {
          run('digest');
        }
        return;
      }
      let error: unknown;
      try {
        run('bytes');
      } catch (caught) {
        error = caught;
      }
      assert.ok(
        error instanceof AppError,
        `${name} must fail with an AppError, got ${String(error)}`,
      );
      assert.ok(
        error.code === 'VERIFICATION_FAILED' || error.code === 'INVALID_INPUT',
        `unexpected code ${error.code}`,
      );
      const expected = EXPECTED_FAILURE[name];
      if (expected !== undefined) {
        assert.ok(
          error.message.startsWith(expected),
          `${name} must fail on "${expected}", failed with: ${error.message}`,
        );
      }
    });
  }
});

function verifyCase(name: string, publicGood: TrustedRoot, artifactMode: 'bytes' | 'digest') {
  const dir = path.join(CASES, name);
  const read = (file: string) =>
    existsSync(path.join(dir, file)) ? readFileSync(path.join(dir, file)) : undefined;
  const rootText = read('trusted_root.json');
  let trustedRoot = publicGood;
  if (rootText !== undefined) {
    try {
      trustedRoot = parseTrustedRootJson(rootText.toString('utf8'));
    } catch (error) {
      if (error instanceof AppError)
        throw new AppError(error.code, `trusted root: ${error.message}`);
      throw error;
    }
  }
  const artifactBytes = read('artifact') ?? readFileSync(path.join(CASES, 'a.txt'));
  const artifact: VerifyBundleInput['artifact'] =
    artifactMode === 'bytes'
      ? { bytes: artifactBytes }
      : { digest: { algorithm: 'sha256', value: computeDigest('sha256', artifactBytes) } };
  const keyPem = read('key.pub');
  const bundle = (read('bundle.sigstore.json') ?? Buffer.alloc(0)).toString('utf8');
  if (keyPem !== undefined) {
    return verifyBundle({
      bundle,
      artifact,
      trustedRoot,
      publicKey: pemToDer(keyPem.toString('utf8')),
    });
  }
  return verifyBundle({
    bundle,
    artifact,
    trustedRoot,
    policy: {
      identity: read('identity')?.toString('utf8').trim() ?? DEFAULT_IDENTITY,
      issuer: read('issuer')?.toString('utf8').trim() ?? DEFAULT_ISSUER,
    },
  });
}

/** The TrustedRoot shipped in @sigstore/tuf's seeds.json (the test layer reads, core parses). */
function loadPublicGoodRoot(): TrustedRoot {
  const seeds = createRequire(import.meta.url).resolve('@sigstore/tuf/seeds.json');
  return extractTrustedRootFromTufSeeds(JSON.parse(readFileSync(seeds, 'utf8')));
}

function pemToDer(pem: string): Uint8Array {
  const body = pem.replace(/-----(BEGIN|END) PUBLIC KEY-----/g, '').replace(/\s+/g, '');
  return new Uint8Array(Buffer.from(body, 'base64'));
}
