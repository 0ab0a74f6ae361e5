import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  createTransparencyLogInstance,
  type TransparencyLogInstance,
} from '../sigstore/trusted-root.ts';
import {
  FIXTURE_TIME,
  createTestSigstore,
  generateTestKey,
  issueLeafWithSct,
} from '../../../test/support/sigstore-fixtures.ts';
import { parseCertificate } from './certificate.ts';
import { verifyEmbeddedScts } from './verify-embedded-scts.ts';

const sigstore = createTestSigstore();
const ctKey = generateTestKey();
const issuer = parseCertificate(sigstore.intermediate.der);

function ctlog(validFrom = new Date(FIXTURE_TIME.getTime() - 86_400_000)): TransparencyLogInstance {
  return createTransparencyLogInstance({
    baseUrl: 'https://ct.example.com',
    publicKeySpki: ctKey.spki,
    validFor: { start: validFrom },
  });
}

describe('verifyEmbeddedScts', () => {
  it('returns the log of an SCT that verifies over the precertificate', () => {
    const leaf = parseCertificate(issueLeafWithSct(sigstore, ctKey).der);
    const logs = verifyEmbeddedScts(leaf, issuer, [ctlog()]);
    assert.deepEqual(logs, [ctlog().logId]);
  });

  it('includes the SCT extensions field in what was signed (static CT)', () => {
    const leaf = parseCertificate(
      issueLeafWithSct(sigstore, ctKey, { sctExtensions: Uint8Array.of(0, 0, 5, 0, 0, 0, 0, 7) })
        .der,
    );
    assert.equal(verifyEmbeddedScts(leaf, issuer, [ctlog()]).length, 1);
  });

  it('does not count an SCT from a log the trusted root does not list', () => {
    const leaf = parseCertificate(issueLeafWithSct(sigstore, ctKey).der);
    assert.deepEqual(verifyEmbeddedScts(leaf, issuer, []), []);
  });

  it('does not count an SCT made before the log key was valid', () => {
    const leaf = parseCertificate(issueLeafWithSct(sigstore, ctKey).der);
    assert.deepEqual(
      verifyEmbeddedScts(leaf, issuer, [ctlog(new Date(FIXTURE_TIME.getTime() + 1000))]),
      [],
    );
  });

  it('rejects an SCT from a listed log whose signature does not verify', () => {
    const leaf = parseCertificate(
      issueLeafWithSct(sigstore, ctKey, { sctSigningKey: generateTestKey() }).der,
    );
    assert.throws(() => verifyEmbeddedScts(leaf, issuer, [ctlog()]), {
      code: 'VERIFICATION_FAILED',
    });
  });

  it('rejects an SCT checked against the wrong issuer key', () => {
    const leaf = parseCertificate(issueLeafWithSct(sigstore, ctKey).der);
    assert.throws(() => verifyEmbeddedScts(leaf, parseCertificate(sigstore.root.der), [ctlog()]), {
      code: 'VERIFICATION_FAILED',
    });
  });

  it('returns nothing for a leaf without SCTs', () => {
    assert.deepEqual(
      verifyEmbeddedScts(parseCertificate(sigstore.issueLeaf().der), issuer, [ctlog()]),
      [],
    );
  });
});
