/**
 * Interop oracles: bundles built from our formats (private CA, private log with SET, inclusion
 * proof and checkpoint, private TSA) must be accepted by BOTH `@sigstore/verify` 4.x and 3.x
 * (`sigstore-verify-v3`) with our encoded TrustedRoot (sigstore-interop §6), and by our own
 * verifier; every tampered variant must be rejected by all three.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { TrustedRoot as ProtoTrustedRoot } from '@sigstore/protobuf-specs';
import * as verifyV4 from '@sigstore/verify';
import * as verifyV3 from 'sigstore-verify-v3';
import { encodeBundle } from '../../src/core/sigstore/bundle.ts';
import { createInTotoStatement } from '../../src/core/sigstore/in-toto-statement.ts';
import {
  createTransparencyLogInstance,
  encodeTrustedRoot,
  type TrustedRoot,
} from '../../src/core/sigstore/trusted-root.ts';
import { verifyBundle } from '../../src/core/verify/verify-bundle.ts';
import {
  FIXTURE_IDENTITY,
  FIXTURE_ISSUER,
  FIXTURE_TIME,
  buildDsseBundle,
  buildMessageSignatureBundle,
  createTestSigstore,
  generateTestKey,
  issueLeafWithSct,
  type BundleOptions,
} from '../support/sigstore-fixtures.ts';

// Each major version of @sigstore/verify parses bundles with its own @sigstore/bundle.
const requireFromHere = createRequire(import.meta.url);
const bundleV5 = createRequire(requireFromHere.resolve('@sigstore/verify'))('@sigstore/bundle') as {
  bundleFromJSON: (json: unknown) => unknown;
};
const bundleV4 = requireFromHere('@sigstore/bundle') as {
  bundleFromJSON: (json: unknown) => unknown;
};

type Outcome = 'accepted' | `rejected: ${string}`;
type Verdicts = { readonly ours: Outcome; readonly js3: Outcome; readonly js4: Outcome };
type JsonBundle = Record<string, unknown>;

const ARTIFACT = new TextEncoder().encode('countersign interop artifact\n');
const sigstore = createTestSigstore();
const leaf = sigstore.issueLeaf();

describe('Sigstore bundles from our formats', () => {
  describe('a message-signature bundle with SET, inclusion proof, checkpoint and RFC 3161 timestamp', () => {
    it('is accepted by @sigstore/verify 3.x and 4.x and by our verifier', () => {
      assertAllAccept(messageBundle());
    });
  });

  describe('a message-signature bundle without an RFC 3161 timestamp', () => {
    it('is accepted by all three (the SET gives the signing time)', () => {
      assertAllAccept(messageBundle({ timestamp: false }));
    });
  });

  describe('a message-signature bundle whose entry has no SET', () => {
    it('is accepted by all three (the RFC 3161 timestamp gives the signing time)', () => {
      assertAllAccept(messageBundle({ set: false }));
    });
  });

  describe('a DSSE bundle over an in-toto statement naming the artifact', () => {
    it('is accepted by all three', () => {
      assertAllAccept(dsseBundle());
    });
  });

  describe('a bundle whose leaf embeds an SCT from a CT log in the trusted root', () => {
    it('is accepted by all three with a CT log threshold of 1', () => {
      const ctKey = generateTestKey();
      const root: TrustedRoot = {
        ...sigstore.trustedRoot,
        ctlogs: [
          createTransparencyLogInstance({
            baseUrl: 'https://ct.example.com',
            publicKeySpki: ctKey.spki,
            validFor: { start: new Date(FIXTURE_TIME.getTime() - 86_400_000) },
          }),
        ],
      };
      const json = encodeBundle(
        buildMessageSignatureBundle(sigstore, ARTIFACT, {
          leaf: issueLeafWithSct(sigstore, ctKey),
        }),
      );
      assert.deepEqual(verifyWithAll(json, ARTIFACT, root, FIXTURE_IDENTITY, 1), {
        ours: 'accepted',
        js3: 'accepted',
        js4: 'accepted',
      });
      const unsigned = verifyWithAll(messageBundle(), ARTIFACT, root, FIXTURE_IDENTITY, 1);
      assert.ok(unsigned.ours.startsWith('rejected: SCT: '), unsigned.ours);
      assert.notEqual(unsigned.js3, 'accepted');
      assert.notEqual(unsigned.js4, 'accepted');
    });
  });

  describe('tampered variants', () => {
    const enc = new TextEncoder();
    const cases: readonly TamperCase[] = [
      {
        name: 'a flipped bit in the message signature',
        check: 'signature',
        build: () => ({
          json: mutate(messageBundle(), (b) => flipBase64(b, ['messageSignature', 'signature'])),
        }),
      },
      {
        name: 'a different artifact',
        check: 'artifact',
        build: () => ({ json: messageBundle(), artifact: enc.encode('another artifact\n') }),
      },
      {
        name: 'a corrupted SET',
        check: 'SET',
        build: () => ({
          json: mutate(messageBundle(), (b) =>
            flipBase64(b, [...ENTRY, 'inclusionPromise', 'signedEntryTimestamp']),
          ),
        }),
      },
      {
        name: 'a corrupted inclusion proof hash',
        check: 'inclusion proof',
        build: () => ({
          json: mutate(messageBundle({ timestamp: false }), (b) =>
            flipBase64(b, [...ENTRY, 'inclusionProof', 'hashes', 0]),
          ),
        }),
      },
      {
        name: 'a checkpoint signed by another key',
        check: 'checkpoint',
        build: () => ({
          json: mutate(messageBundle({ set: false }), (b) =>
            setAt(
              b,
              [...ENTRY, 'inclusionProof', 'checkpoint', 'envelope'],
              sigstore.log.checkpoint({ key: generateTestKey() }),
            ),
          ),
        }),
      },
      {
        name: 'the log entry of another artifact',
        check: 'tlog body',
        build: () => ({
          json: mutate(messageBundle(), (b) =>
            setAt(
              b,
              ['verificationMaterial', 'tlogEntries'],
              getAt(messageBundle({}, enc.encode('other')), [
                'verificationMaterial',
                'tlogEntries',
              ]),
            ),
          ),
        }),
      },
      {
        name: 'a timestamp signed by an untrusted key',
        check: 'timestamp',
        build: () => ({
          json: messageBundle({ set: false, timestamp: { signingKey: generateTestKey() } }),
        }),
      },
      {
        name: 'a timestamp over another signature',
        check: 'timestamp',
        build: () => ({
          json: mutate(messageBundle({ set: false }), (b) =>
            setAt(b, [...TIMESTAMPS], getAt(messageBundle({ set: false }), [...TIMESTAMPS])),
          ),
        }),
      },
      {
        name: 'a leaf that expired before the integration time',
        check: 'certificate chain',
        build: () => ({
          json: messageBundle({
            timestamp: false,
            integratedTime: new Date(FIXTURE_TIME.getTime() + 3_600_000),
          }),
        }),
      },
      {
        name: 'a leaf from a CA the trusted root does not list',
        check: 'certificate chain',
        build: () => ({
          json: encodeBundle(
            buildMessageSignatureBundle(sigstore, ARTIFACT, {
              leaf: createTestSigstore().issueLeaf(),
            }),
          ),
        }),
      },
      {
        name: 'a modified DSSE payload',
        check: 'signature',
        build: () => ({
          json: mutate(dsseBundle(), (b) =>
            setAt(
              b,
              ['dsseEnvelope', 'payload'],
              Buffer.from(statementFor(enc.encode('x'))).toString('base64'),
            ),
          ),
        }),
      },
      {
        name: 'a trusted root without the log',
        check: 'tlog',
        build: () => ({ json: messageBundle(), root: { ...sigstore.trustedRoot, tlogs: [] } }),
      },
    ];
    for (const { name, check, build } of cases) {
      it(`rejects ${name} in all three verifiers`, () => {
        const { json, artifact, root } = build();
        const verdicts = verifyWithAll(json, artifact ?? ARTIFACT, root ?? sigstore.trustedRoot);
        assert.ok(verdicts.ours.startsWith(`rejected: ${check}: `), verdicts.ours);
        assert.notEqual(verdicts.js3, 'accepted');
        assert.notEqual(verdicts.js4, 'accepted');
      });
    }

    it('rejects another signer identity in all three verifiers', () => {
      const verdicts = verifyWithAll(
        messageBundle(),
        ARTIFACT,
        sigstore.trustedRoot,
        'https://ci.example.com/someone-else',
      );
      assert.ok(verdicts.ours.startsWith('rejected: identity: '), verdicts.ours);
      assert.notEqual(verdicts.js3, 'accepted');
      assert.notEqual(verdicts.js4, 'accepted');
    });
  });
});

interface TamperCase {
  readonly name: string;
  /** The check our verifier must name. */
  readonly check: string;
  readonly build: () => { json: JsonBundle; artifact?: Uint8Array; root?: TrustedRoot };
}

const ENTRY = ['verificationMaterial', 'tlogEntries', 0] as const;
const TIMESTAMPS = ['verificationMaterial', 'timestampVerificationData'] as const;

function messageBundle(options: Partial<BundleOptions> = {}, artifact = ARTIFACT): JsonBundle {
  return encodeBundle(buildMessageSignatureBundle(sigstore, artifact, { leaf, ...options }));
}

function statementFor(artifact: Uint8Array): Uint8Array {
  const digest = createHash('sha256').update(artifact).digest('hex');
  return createInTotoStatement({
    subjects: [{ name: 'artifact.txt', digest: { sha256: digest } }],
    predicateType: 'https://countersign.dev/attestation/test/v1',
    predicate: { note: 'interop' },
  });
}

function dsseBundle(): JsonBundle {
  return encodeBundle(buildDsseBundle(sigstore, statementFor(ARTIFACT), { leaf }));
}

function assertAllAccept(json: JsonBundle): void {
  const verdicts = verifyWithAll(json, ARTIFACT, sigstore.trustedRoot);
  assert.deepEqual(verdicts, { ours: 'accepted', js3: 'accepted', js4: 'accepted' });
}

function verifyWithAll(
  json: JsonBundle,
  artifact: Uint8Array,
  root: TrustedRoot,
  identity = FIXTURE_IDENTITY,
  ctlogThreshold = 0,
): Verdicts {
  const rootJson = encodeTrustedRoot(root);
  const isDsse = json['dsseEnvelope'] !== undefined;
  const policy = {
    subjectAlternativeName: `^${escapeRegExp(identity)}$`,
    extensions: { issuer: FIXTURE_ISSUER },
  };
  const trustedRootProto = () => ProtoTrustedRoot.fromJSON(rootJson);
  const signedArtifact = isDsse ? undefined : Buffer.from(artifact);
  return {
    ours: outcome(() => {
      verifyBundle({
        bundle: JSON.stringify(json),
        artifact: { bytes: artifact },
        trustedRoot: root,
        policy: { identity, issuer: FIXTURE_ISSUER },
        options: { ctlogThreshold },
      });
    }),
    js3: outcome(() => {
      const trust = verifyV3.toTrustMaterial(trustedRootProto());
      const bundle = bundleV4.bundleFromJSON(json) as Parameters<typeof verifyV3.toSignedEntity>[0];
      const verifier = new verifyV3.Verifier(trust, { ctlogThreshold });
      verifier.verify(verifyV3.toSignedEntity(bundle, signedArtifact), policy);
    }),
    js4: outcome(() => {
      const trust = verifyV4.toTrustMaterial(trustedRootProto());
      const bundle = bundleV5.bundleFromJSON(json) as Parameters<typeof verifyV4.toSignedEntity>[0];
      const verifier = new verifyV4.Verifier(trust, { ctlogThreshold });
      verifier.verify(verifyV4.toSignedEntity(bundle, signedArtifact), policy);
    }),
  };
}

function outcome(run: () => void): Outcome {
  try {
    run();
    return 'accepted';
  } catch (error) {
    return `rejected: ${error instanceof Error ? error.message : String(error)}`;
  }
}

function mutate(json: JsonBundle, change: (copy: JsonBundle) => void): JsonBundle {
  const copy = structuredClone(json);
  change(copy);
  return copy;
}

function getAt(json: unknown, pathParts: readonly (string | number)[]): unknown {
  let current: unknown = json;
  for (const part of pathParts) current = (current as Record<string | number, unknown>)[part];
  return current;
}

function setAt(json: unknown, pathParts: readonly (string | number)[], value: unknown): void {
  const parent = getAt(json, pathParts.slice(0, -1)) as Record<string | number, unknown>;
  parent[pathParts[pathParts.length - 1] as string | number] = value;
}

function flipBase64(json: unknown, pathParts: readonly (string | number)[]): void {
  const bytes = Buffer.from(getAt(json, pathParts) as string, 'base64');
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0x01;
  setAt(json, pathParts, bytes.toString('base64'));
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
