import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { AppError } from '../errors.ts';
import { serializeBundle, type Bundle, type TransparencyLogEntry } from '../sigstore/bundle.ts';
import { createInTotoStatement } from '../sigstore/in-toto-statement.ts';
import {
  FIXTURE_IDENTITY,
  FIXTURE_ISSUER,
  FIXTURE_TIME,
  buildDsseBundle,
  buildMessageSignatureBundle,
  buildPublicKeyBundle,
  createTestSigstore,
  generateTestKey,
  type BundleOptions,
} from '../../../test/support/sigstore-fixtures.ts';
import { countCertificateSignatureChecks } from './certificate-chain.ts';
import { countNoteVerifierBuilds, verifyBundle, type VerifyBundleInput } from './verify-bundle.ts';

const ARTIFACT = new TextEncoder().encode('release artifact\n');
const sigstore = createTestSigstore();
const leaf = sigstore.issueLeaf();
const MINUTE = 60_000;

function messageBundle(options: Partial<BundleOptions> = {}): Bundle {
  return buildMessageSignatureBundle(sigstore, ARTIFACT, { leaf, ...options });
}

function verify(bundle: Bundle | string, overrides: Partial<VerifyBundleInput> = {}) {
  return verifyBundle({
    bundle: typeof bundle === 'string' ? bundle : serializeBundle(bundle),
    artifact: { bytes: ARTIFACT },
    trustedRoot: sigstore.trustedRoot,
    policy: { identity: FIXTURE_IDENTITY, issuer: FIXTURE_ISSUER },
    ...overrides,
  });
}

function assertFails(run: () => unknown, check: string, code = 'VERIFICATION_FAILED'): AppError {
  let caught: unknown;
  try {
    run();
  } catch (error) {
    caught = error;
  }
  assert.ok(caught instanceof AppError, `expected an AppError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  assert.ok(caught.message.startsWith(`${check}: `), caught.message);
  return caught;
}

function withEntry(
  bundle: Bundle,
  change: (entry: TransparencyLogEntry) => TransparencyLogEntry,
): Bundle {
  const [entry] = bundle.verificationMaterial.tlogEntries;
  assert.ok(entry);
  return {
    ...bundle,
    verificationMaterial: { ...bundle.verificationMaterial, tlogEntries: [change(entry)] },
  };
}

function statementFor(artifact: Uint8Array): Uint8Array {
  return createInTotoStatement({
    subjects: [
      { name: 'artifact', digest: { sha256: createHash('sha256').update(artifact).digest('hex') } },
    ],
    predicateType: 'https://countersign.dev/attestation/test/v1',
    predicate: {},
  });
}

describe('verifyBundle', () => {
  describe('when a message-signature bundle has a SET, an inclusion proof and a timestamp', () => {
    it('verifies and reports every check it made', () => {
      const result = verify(messageBundle());
      const names = new Set(result.checks.map((c) => c.check));
      for (const name of [
        'shape',
        'artifact',
        'signature',
        'tlog body',
        'SET',
        'checkpoint',
        'inclusion proof',
        'timestamp',
        'certificate chain',
        'identity',
      ]) {
        assert.ok(names.has(name as never), `missing check ${name}`);
      }
      assert.deepEqual(
        result.timestamps.map((t) => [t.source, t.time.toISOString()]),
        [
          ['tlog', FIXTURE_TIME.toISOString()],
          ['rfc3161', FIXTURE_TIME.toISOString()],
        ],
      );
      assert.equal(result.signer.type, 'certificate');
      assert.equal(
        result.signer.type === 'certificate' && result.signer.identity,
        FIXTURE_IDENTITY,
      );
      assert.equal(result.tlogEntries[0]?.checkpoint?.origin, sigstore.log.origin);
    });

    it('accepts an already parsed bundle', () => {
      assert.ok(verify(messageBundle()).checks.length > 0);
    });
  });

  describe('when only the artifact digest is known', () => {
    it('verifies the ECDSA signature over the digest', () => {
      const digest = createHash('sha256').update(ARTIFACT).digest();
      const result = verify(messageBundle(), {
        artifact: { digest: { algorithm: 'sha256', value: digest } },
      });
      assert.ok(result.checks.some((c) => c.check === 'signature'));
    });

    it('verifies a SHA-384 message digest signed with a P-256 key', () => {
      const digest = createHash('sha384').update(ARTIFACT).digest();
      verify(messageBundle({ digestAlgorithm: 'sha384' }), {
        artifact: { digest: { algorithm: 'sha384', value: digest } },
      });
    });

    it('rejects a digest of another algorithm than the one signed', () => {
      const digest = createHash('sha512').update(ARTIFACT).digest();
      assertFails(
        () =>
          verify(messageBundle(), { artifact: { digest: { algorithm: 'sha512', value: digest } } }),
        'artifact',
      );
    });

    it('rejects the digest of another artifact', () => {
      const digest = createHash('sha256').update('other').digest();
      assertFails(
        () =>
          verify(messageBundle(), { artifact: { digest: { algorithm: 'sha256', value: digest } } }),
        'artifact',
      );
    });
  });

  describe('when the artifact is not the signed one', () => {
    it('throws VERIFICATION_FAILED naming the artifact check', () => {
      assertFails(
        () =>
          verify(messageBundle(), { artifact: { bytes: new TextEncoder().encode('tampered') } }),
        'artifact',
      );
    });
  });

  describe('when the messageDigest and signature are both swapped for another artifact', () => {
    it('fails on the log entry body, which still records the original digest', () => {
      const original = messageBundle();
      const other = buildMessageSignatureBundle(sigstore, new TextEncoder().encode('other'), {
        leaf,
      });
      const swapped: Bundle = { ...original, content: other.content };
      const error = assertFails(
        () => verify(swapped, { artifact: { bytes: new TextEncoder().encode('other') } }),
        'tlog body',
      );
      assert.match(error.message, /body digest does not match the artifact digest/);
    });
  });

  describe('where the signing time comes from', () => {
    it('never uses an integratedTime that no SET vouches for', () => {
      // No SET, no timestamp: the entry's integratedTime is unauthenticated, so there is no time.
      assertFails(() => verify(messageBundle({ set: false, timestamp: false })), 'timestamp');
    });

    it('ignores an unauthenticated integratedTime outside the leaf validity when a timestamp verifies', () => {
      const bundle = withEntry(messageBundle({ set: false }), (entry) => ({
        ...entry,
        integratedTime: BigInt(Math.floor(FIXTURE_TIME.getTime() / 1000) + 86_400),
      }));
      const result = verify(bundle);
      assert.deepEqual(
        result.timestamps.map((t) => t.source),
        ['rfc3161'],
      );
    });

    it('checks the leaf at the SET time', () => {
      const late = new Date(FIXTURE_TIME.getTime() + 60 * MINUTE);
      const error = assertFails(
        () => verify(messageBundle({ integratedTime: late, timestamp: false })),
        'certificate chain',
      );
      assert.match(
        error.message,
        /leaf was not valid at the signing time 2026-03-01T13:00:00\.000Z/,
      );
    });

    it('checks the leaf at the RFC 3161 time', () => {
      const late = new Date(FIXTURE_TIME.getTime() + 60 * MINUTE);
      assertFails(
        () => verify(messageBundle({ set: false, timestamp: { genTime: late } })),
        'certificate chain',
      );
    });

    it('requires an RFC 3161 timestamp when asked to', () => {
      const error = assertFails(
        () => verify(messageBundle({ timestamp: false }), { options: { requireTimestamp: true } }),
        'timestamp',
      );
      assert.match(error.message, /RFC 3161 timestamp is required/);
    });
  });

  describe('transparency log entries', () => {
    it('fails when the bundle has fewer verified entries than the threshold', () => {
      const complete = messageBundle();
      const bundle: Bundle = {
        ...complete,
        verificationMaterial: { ...complete.verificationMaterial, tlogEntries: [] },
      };
      assertFails(() => verify(bundle), 'tlog');
      const result = verify(bundle, { options: { tlogThreshold: 0 } });
      assert.equal(result.tlogEntries.length, 0);
    });

    it('does not count a repeated entry twice', () => {
      const bundle = messageBundle();
      const [entry] = bundle.verificationMaterial.tlogEntries;
      assert.ok(entry);
      const doubled: Bundle = {
        ...bundle,
        verificationMaterial: {
          ...bundle.verificationMaterial,
          tlogEntries: [entry, { ...entry }],
        },
      };
      const error = assertFails(() => verify(doubled, { options: { tlogThreshold: 2 } }), 'tlog');
      assert.match(error.message, /duplicates/);
    });

    it('rejects an entry from a log the trusted root does not list', () => {
      const bundle = withEntry(messageBundle(), (entry) => ({
        ...entry,
        logId: new Uint8Array(32).fill(7),
      }));
      assertFails(() => verify(bundle), 'tlog');
    });

    it('rejects a kindVersion that differs from the body', () => {
      const bundle = withEntry(messageBundle(), (entry) => ({
        ...entry,
        kindVersion: { kind: 'dsse', version: '0.0.1' },
      }));
      assertFails(() => verify(bundle), 'tlog body');
    });

    it('rejects a SET over another log index', () => {
      const bundle = withEntry(messageBundle(), (entry) => ({
        ...entry,
        logIndex: entry.logIndex + 1n,
      }));
      assertFails(() => verify(bundle), 'SET');
    });

    it('rejects a SET whose integrated time is outside the log key validity', () => {
      const early = new Date(FIXTURE_TIME.getTime() - 2 * 365 * 24 * 60 * MINUTE);
      const bundle = messageBundle({ integratedTime: early });
      const error = assertFails(() => verify(bundle), 'SET');
      assert.match(error.message, /outside the validity of the log key/);
    });

    it('rejects an inclusion proof that does not lead to the checkpoint root', () => {
      const bundle = withEntry(messageBundle({ set: false }), (entry) => {
        const proof = entry.inclusionProof;
        assert.ok(proof);
        const hashes = proof.hashes.map((h, i) => (i === 0 ? h.map((b) => b ^ 0xff) : h));
        return { ...entry, inclusionProof: { ...proof, hashes } };
      });
      const error = assertFails(() => verify(bundle), 'inclusion proof');
      assert.match(error.message, /root does not match checkpoint/);
    });

    it('rejects a proof for another tree size than the checkpoint', () => {
      const bundle = withEntry(messageBundle({ set: false }), (entry) => {
        const proof = entry.inclusionProof;
        assert.ok(proof);
        return { ...entry, inclusionProof: { ...proof, treeSize: proof.treeSize + 1n } };
      });
      assertFails(() => verify(bundle), 'inclusion proof');
    });

    it('rejects a checkpoint signed by another key', () => {
      const bundle = withEntry(messageBundle({ set: false }), (entry) => {
        const proof = entry.inclusionProof;
        assert.ok(proof);
        return {
          ...entry,
          inclusionProof: {
            ...proof,
            checkpoint: sigstore.log.checkpoint({ key: generateTestKey() }),
          },
        };
      });
      assertFails(() => verify(bundle), 'checkpoint');
    });

    it('rejects a checkpoint whose origin belongs to another log', () => {
      const bundle = withEntry(messageBundle({ set: false }), (entry) => {
        const proof = entry.inclusionProof;
        assert.ok(proof);
        const note = sigstore.log.checkpoint({
          size: Number(proof.treeSize),
          origin: 'other.example.com - 1',
        });
        return { ...entry, inclusionProof: { ...proof, checkpoint: note } };
      });
      const error = assertFails(() => verify(bundle), 'checkpoint');
      assert.match(error.message, /origin/);
    });
  });

  describe('the signing certificate', () => {
    it('rejects a leaf without the codeSigning extended key usage', () => {
      const other = sigstore.issueLeaf({
        extendedKeyUsage: { oids: ['1.3.6.1.5.5.7.3.1'], critical: false },
      });
      const error = assertFails(() => verify(messageBundle({ leaf: other })), 'certificate chain');
      assert.match(error.message, /codeSigning/);
    });

    it('rejects a chain when no certificate authority is valid at the signing time', () => {
      const [authority] = sigstore.trustedRoot.certificateAuthorities;
      assert.ok(authority);
      const trustedRoot = {
        ...sigstore.trustedRoot,
        certificateAuthorities: [
          { ...authority, validFor: { start: new Date(FIXTURE_TIME.getTime() + MINUTE) } },
        ],
      };
      const error = assertFails(
        () => verify(messageBundle(), { trustedRoot }),
        'certificate chain',
      );
      assert.match(error.message, /no certificate authority in the trusted root is valid/);
    });

    it('rejects a leaf issued by a CA outside the trusted root', () => {
      const stranger = createTestSigstore().issueLeaf();
      assertFails(() => verify(messageBundle({ leaf: stranger })), 'certificate chain');
    });

    it('requires SCTs when told to, even with no CT log in the trusted root', () => {
      const error = assertFails(
        () => verify(messageBundle(), { options: { ctlogThreshold: 1 } }),
        'SCT',
      );
      assert.match(error.message, /got 0/);
    });
  });

  describe('the identity policy', () => {
    it('accepts an anchored regular expression', () => {
      verify(messageBundle(), { policy: { identity: /^https:\/\/ci\.example\.com\/org\/app\// } });
    });

    it('rejects another identity', () => {
      assertFails(
        () => verify(messageBundle(), { policy: { identity: 'https://ci.example.com/org/other' } }),
        'identity',
      );
    });

    it('compares identities exactly, not as substrings', () => {
      assertFails(
        () => verify(messageBundle(), { policy: { identity: FIXTURE_IDENTITY.slice(0, -1) } }),
        'identity',
      );
    });

    it('rejects another OIDC issuer', () => {
      assertFails(
        () => verify(messageBundle(), { policy: { issuer: 'https://other-idp.example.com' } }),
        'identity',
      );
    });
  });

  describe('a DSSE bundle', () => {
    const statement = statementFor(ARTIFACT);

    it('verifies against the artifact named by its in-toto subject', () => {
      const result = verify(buildDsseBundle(sigstore, statement, { leaf }));
      assert.equal(result.statement?.predicateType, 'https://countersign.dev/attestation/test/v1');
    });

    it('verifies against the artifact digest alone', () => {
      const digest = createHash('sha256').update(ARTIFACT).digest();
      verify(buildDsseBundle(sigstore, statement, { leaf }), {
        artifact: { digest: { algorithm: 'sha256', value: digest } },
      });
    });

    it('rejects an artifact that no subject names', () => {
      const error = assertFails(
        () =>
          verify(buildDsseBundle(sigstore, statement, { leaf }), {
            artifact: { bytes: new TextEncoder().encode('x') },
          }),
        'artifact',
      );
      assert.match(error.message, /no subject/);
    });

    it('rejects a payload that is not an in-toto statement', () => {
      const bundle = buildDsseBundle(sigstore, statement, {
        leaf,
        payloadType: 'application/json',
      });
      assertFails(() => verify(bundle), 'artifact');
    });

    it('rejects a signature that is not over the PAE of the payload', () => {
      const bundle = buildDsseBundle(sigstore, statement, { leaf });
      assert.equal(bundle.content.type, 'dsseEnvelope');
      const other = buildDsseBundle(sigstore, statementFor(new TextEncoder().encode('x')), {
        leaf,
      });
      const mixed: Bundle = {
        ...bundle,
        content:
          bundle.content.type === 'dsseEnvelope' && other.content.type === 'dsseEnvelope'
            ? {
                type: 'dsseEnvelope',
                dsseEnvelope: {
                  ...bundle.content.dsseEnvelope,
                  signatures: other.content.dsseEnvelope.signatures,
                },
              }
            : bundle.content,
      };
      assertFails(() => verify(mixed), 'signature');
    });
  });

  describe('a bundle signed with a managed key', () => {
    const key = generateTestKey();
    const bundle = serializeBundle(buildPublicKeyBundle(sigstore, ARTIFACT, key));
    const input = { bundle, artifact: { bytes: ARTIFACT }, trustedRoot: sigstore.trustedRoot };

    it('verifies with the supplied public key', () => {
      const result = verifyBundle({ ...input, publicKey: key.spki });
      assert.equal(result.signer.type, 'publicKey');
    });

    it('fails when no key is supplied', () => {
      assertFails(() => verifyBundle(input), 'signature');
    });

    it('fails with another key', () => {
      assertFails(
        () => verifyBundle({ ...input, publicKey: generateTestKey().publicKey }),
        'signature',
      );
    });

    it('refuses an identity policy, which only a certificate can satisfy', () => {
      assertFails(
        () =>
          verifyBundle({
            ...input,
            publicKey: key.publicKey,
            policy: { identity: FIXTURE_IDENTITY },
          }),
        'identity',
      );
    });
  });

  describe('options', () => {
    it('rejects a threshold that is not a non-negative integer', () => {
      assert.throws(() => verify(messageBundle(), { options: { tlogThreshold: -1 } }), {
        code: 'INVALID_INPUT',
      });
      assert.throws(() => verify(messageBundle(), { options: { ctlogThreshold: 0.5 } }), {
        code: 'INVALID_INPUT',
      });
    });
  });

  describe('a malformed bundle', () => {
    it('throws INVALID_INPUT naming the shape check', () => {
      assertFails(
        () => verify('{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json"}'),
        'shape',
        'INVALID_INPUT',
      );
    });
  });

  describe('when the same TrustedRoot object verifies many bundles', () => {
    it('checks the trusted chains and builds note verifiers only once', () => {
      const fresh = createTestSigstore();
      const text = serializeBundle(
        buildMessageSignatureBundle(fresh, ARTIFACT, { leaf: fresh.issueLeaf() }),
      );
      const run = () =>
        verifyBundle({
          bundle: text,
          artifact: { bytes: ARTIFACT },
          trustedRoot: fresh.trustedRoot,
        });
      const measure = (f: () => unknown) => {
        const signatures = countCertificateSignatureChecks();
        const notes = countNoteVerifierBuilds();
        f();
        return {
          signatures: countCertificateSignatureChecks() - signatures,
          notes: countNoteVerifierBuilds() - notes,
        };
      };
      const first = measure(run);
      const second = measure(run);
      assert.ok(first.notes > 0, 'the first verification builds the note verifiers');
      assert.equal(second.notes, 0);
      // The re-parsed leaf's signature is checked once; nothing above it is checked again.
      assert.ok(first.signatures > 1, `first verification checked ${first.signatures}`);
      assert.equal(second.signatures, 1);
    });

    it('does not confuse another trusted root with the first', () => {
      const other = createTestSigstore();
      const rootA = sigstore.trustedRoot;
      const rootB = { ...rootA, certificateAuthorities: other.trustedRoot.certificateAuthorities };
      const text = serializeBundle(messageBundle());
      assert.ok(verify(text, { trustedRoot: rootA }));
      assertFails(() => verify(text, { trustedRoot: rootB }), 'certificate chain');
      assertFails(() => verify(text, { trustedRoot: other.trustedRoot }), 'tlog');
      assert.ok(verify(text, { trustedRoot: rootA }));
    });
  });
});
