import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { parseCertificate } from '../core/verify/certificate.ts';
import { createChannelCa, trustedRootWith } from '../../test/support/channel-fixtures.ts';
import {
  buildMessageSignatureBundle,
  createTestCertificate,
  createTestSigstore,
  FIXTURE_TIME,
} from '../../test/support/sigstore-fixtures.ts';
import { findIssuingAuthority, parseDigestText, verifyArtifact } from './verify-artifact.ts';

describe('parseDigestText', () => {
  it('reads sha256, sha384 and sha512 digests, upper or lower case', () => {
    const hex = hash('sha384', 'x');
    assert.deepEqual(parseDigestText(`sha384:${hex.toUpperCase()}`), {
      algorithm: 'sha384',
      value: new Uint8Array(Buffer.from(hex, 'hex')),
    });
  });

  it('refuses other algorithms, wrong lengths and non-hex', () => {
    for (const text of [
      `md5:${'0'.repeat(32)}`,
      `sha256:${'0'.repeat(63)}`,
      `sha256:${'g'.repeat(64)}`,
      'sha256',
      `sha256:${'0'.repeat(64)}:x`,
    ]) {
      assert.throws(() => parseDigestText(text), { code: 'INVALID_INPUT' }, text);
    }
  });
});

describe('findIssuingAuthority', () => {
  const sigstore = createTestSigstore();
  const devCa = createChannelCa(sigstore, 'demo', 'dev');

  it('names the product and channel of a channel CA', () => {
    const leaf = parseCertificate(sigstore.issueLeaf({ issuer: devCa }).der);
    assert.deepEqual(findIssuingAuthority(leaf, trustedRootWith(sigstore, [devCa])), {
      commonName: 'demo/dev',
      organization: 'Example Org',
      organizationalUnit: 'demo',
      product: 'demo',
      channel: 'dev',
    });
  });

  it('does not take a CA for a channel CA when its OU disagrees with its CN', () => {
    const impostor = createTestCertificate({
      subject: [
        ['2.5.4.10', 'Example Org'],
        ['2.5.4.11', 'other'],
        ['2.5.4.3', 'demo/dev'],
      ],
      issuer: sigstore.root,
      notBefore: new Date(FIXTURE_TIME.getTime() - 86_400_000),
      notAfter: new Date(FIXTURE_TIME.getTime() + 86_400_000),
      ca: { pathLength: 0 },
    });
    const leaf = parseCertificate(sigstore.issueLeaf({ issuer: impostor }).der);
    const found = findIssuingAuthority(leaf, trustedRootWith(sigstore, [impostor]));
    assert.equal(found?.commonName, 'demo/dev');
    assert.equal(found?.product, undefined);
  });

  it('finds nothing when the issuer is not in the trusted root', () => {
    const leaf = parseCertificate(sigstore.issueLeaf({ issuer: devCa }).der);
    assert.equal(findIssuingAuthority(leaf, sigstore.trustedRoot), undefined);
  });
});

describe('verifyArtifact', () => {
  const sigstore = createTestSigstore();
  const devCa = createChannelCa(sigstore, 'demo', 'dev');
  const prodCa = createChannelCa(sigstore, 'demo', 'prod');
  const artifact = new TextEncoder().encode('artifact');
  const bundle = buildMessageSignatureBundle(sigstore, artifact, {
    leaf: sigstore.issueLeaf({ issuer: devCa }),
  });
  const digest = {
    algorithm: 'sha256' as const,
    value: new Uint8Array(hash('sha256', artifact, 'buffer')),
  };
  const trustedRoot = trustedRootWith(sigstore, [devCa, prodCa]);

  it('adds a channel check when a channel is required', () => {
    const result = verifyArtifact({
      bundle,
      artifact: { digest },
      trustedRoot,
      channel: { product: 'demo', channel: 'dev' },
    });
    assert.equal(result.checks.at(-1)?.check, 'channel');
    assert.equal(result.signedAt?.source, 'tlog');
    assert.equal(result.kind, 'artifact');
  });

  it('throws VERIFICATION_FAILED "channel: …" for another channel of the same product', () => {
    assert.throws(
      () =>
        verifyArtifact({
          bundle,
          artifact: { digest },
          trustedRoot,
          channel: { product: 'demo', channel: 'prod' },
        }),
      {
        code: 'VERIFICATION_FAILED',
        message: /^channel: signed by the CA "demo\/dev", not by the CA of demo\/prod$/,
      },
    );
  });
});
