import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { formatCheckpoint, openCheckpoint, parseCheckpoint } from './checkpoint.ts';
import { MAX_TREE_SIZE, hashLeaf } from './merkle.ts';
import { verifyInclusionProof } from './proof.ts';
import {
  createNoteSigner,
  createNoteVerifier,
  signNote,
  type NoteVerifier,
} from './signed-note.ts';
import { requireSharedData, sharedPath } from '../../../test/support/shared-data.ts';

const ROOT = new Uint8Array(32).map((_, i) => i);
const ROOT_BASE64 = Buffer.from(ROOT).toString('base64');

function ed25519(name: string) {
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  return {
    signer: createNoteSigner(name, publicKey, (message) =>
      Promise.resolve(new Uint8Array(sign(null, message, privateKey))),
    ),
    verifier: createNoteVerifier(name, publicKey),
  };
}

describe('formatCheckpoint', () => {
  it('writes origin, decimal size and base64 root, one per line', () => {
    assert.equal(
      formatCheckpoint({ origin: 'example.com/log', treeSize: 20852163n, rootHash: ROOT }),
      `example.com/log\n20852163\n${ROOT_BASE64}\n`,
    );
  });

  it('writes extension lines after the root', () => {
    assert.equal(
      formatCheckpoint({ origin: 'o', treeSize: 0n, rootHash: ROOT, extensions: ['a b', 'c'] }),
      `o\n0\n${ROOT_BASE64}\na b\nc\n`,
    );
  });

  it('writes sizes beyond 2^53 exactly', () => {
    const text = formatCheckpoint({ origin: 'o', treeSize: MAX_TREE_SIZE, rootHash: ROOT });
    assert.equal(text.split('\n')[1], '18446744073709551615');
  });

  const invalid: [string, Parameters<typeof formatCheckpoint>[0]][] = [
    ['the origin is empty', { origin: '', treeSize: 1n, rootHash: ROOT }],
    ['the origin contains a newline', { origin: 'a\nb', treeSize: 1n, rootHash: ROOT }],
    ['the size is negative', { origin: 'o', treeSize: -1n, rootHash: ROOT }],
    ['the size exceeds 2^64 - 1', { origin: 'o', treeSize: MAX_TREE_SIZE + 1n, rootHash: ROOT }],
    ['the root is not 32 bytes', { origin: 'o', treeSize: 1n, rootHash: ROOT.subarray(1) }],
    ['an extension line is empty', { origin: 'o', treeSize: 1n, rootHash: ROOT, extensions: [''] }],
  ];
  for (const [when, fields] of invalid) {
    describe(`when ${when}`, () => {
      it('throws INVALID_INPUT', () => {
        assert.throws(() => formatCheckpoint(fields), { code: 'INVALID_INPUT' });
      });
    });
  }
});

describe('parseCheckpoint', () => {
  it('reads what formatCheckpoint wrote', () => {
    const fields = {
      origin: 'rekor.sigstore.dev - 2605736670972794746',
      treeSize: 75408393n,
      rootHash: ROOT,
    };
    assert.deepEqual(parseCheckpoint(formatCheckpoint(fields)), { ...fields, extensions: [] });
  });

  it('reads extension lines and the empty tree', () => {
    const parsed = parseCheckpoint(`o\n0\n${ROOT_BASE64}\nTimestamp: 1689177396617352539\n`);
    assert.equal(parsed.treeSize, 0n);
    assert.deepEqual(parsed.extensions, ['Timestamp: 1689177396617352539']);
  });

  it('reads the largest size exactly', () => {
    assert.equal(
      parseCheckpoint(`o\n18446744073709551615\n${ROOT_BASE64}\n`).treeSize,
      MAX_TREE_SIZE,
    );
  });

  const malformed: [string, string][] = [
    ['the final newline is missing', `o\n1\n${ROOT_BASE64}`],
    ['the origin is empty', `\n1\n${ROOT_BASE64}\n`],
    ['the root line is missing', 'o\n1\n'],
    ['the size has a leading zero', `o\n01\n${ROOT_BASE64}\n`],
    ['the size is 00', `o\n00\n${ROOT_BASE64}\n`],
    ['the size has a sign', `o\n+1\n${ROOT_BASE64}\n`],
    ['the size is negative', `o\n-1\n${ROOT_BASE64}\n`],
    ['the size is not decimal', `o\n0x10\n${ROOT_BASE64}\n`],
    ['the size has a space', `o\n 1\n${ROOT_BASE64}\n`],
    ['the size exceeds 2^64 - 1', `o\n18446744073709551616\n${ROOT_BASE64}\n`],
    ['the root is 31 bytes', `o\n1\n${Buffer.from(ROOT.subarray(1)).toString('base64')}\n`],
    ['the root is 33 bytes', `o\n1\n${Buffer.concat([ROOT, Buffer.of(0)]).toString('base64')}\n`],
    ['the root is hex', `o\n1\n${Buffer.from(ROOT).toString('hex')}\n`],
    ['the root lacks padding', `o\n1\n${ROOT_BASE64.slice(0, -1)}\n`],
    [
      'the root uses the URL alphabet',
      `o\n1\n${Buffer.from(new Uint8Array(32).fill(0xfb)).toString('base64url')}=\n`,
    ],
    ['the root is not canonical base64', `o\n1\n${ROOT_BASE64.slice(0, -2)}9=\n`],
    ['an extension line is empty', `o\n1\n${ROOT_BASE64}\n\nx\n`],
    ['a line contains a carriage return', `o\r\n1\n${ROOT_BASE64}\n`],
  ];
  for (const [when, text] of malformed) {
    describe(`when ${when}`, () => {
      it('throws INVALID_INPUT', () => {
        assert.throws(() => parseCheckpoint(text), { code: 'INVALID_INPUT' });
      });
    });
  }
});

describe('openCheckpoint', () => {
  const log = ed25519('example.com/log');
  const witness = ed25519('witness.example/w1');
  const text = formatCheckpoint({ origin: 'example.com/log', treeSize: 7n, rootHash: ROOT });

  it('returns the contents of a checkpoint signed by the log', async () => {
    const note = await signNote(text, [log.signer]);
    const checkpoint = openCheckpoint(note, {
      origin: 'example.com/log',
      verifiers: [log.verifier],
    });
    assert.deepEqual(checkpoint, {
      origin: 'example.com/log',
      treeSize: 7n,
      rootHash: ROOT,
      extensions: [],
    });
  });

  it('ignores witness cosignatures it has no key for', async () => {
    const note = await signNote(text, [witness.signer, log.signer]);
    assert.equal(
      openCheckpoint(note, { origin: 'example.com/log', verifiers: [log.verifier] }).treeSize,
      7n,
    );
  });

  describe('when the origin is not the expected one', () => {
    it('throws VERIFICATION_FAILED', async () => {
      const note = await signNote(text, [log.signer]);
      assert.throws(
        () => openCheckpoint(note, { origin: 'example.com/other', verifiers: [log.verifier] }),
        {
          code: 'VERIFICATION_FAILED',
        },
      );
    });
  });

  describe('when only a witness signed', () => {
    it('throws VERIFICATION_FAILED', async () => {
      const note = await signNote(text, [witness.signer]);
      assert.throws(
        () => openCheckpoint(note, { origin: 'example.com/log', verifiers: [log.verifier] }),
        {
          code: 'VERIFICATION_FAILED',
        },
      );
    });
  });

  describe('when the signed text is not a valid checkpoint', () => {
    it('throws VERIFICATION_FAILED', async () => {
      const note = await signNote(`example.com/log\n007\n${ROOT_BASE64}\n`, [log.signer]);
      assert.throws(
        () => openCheckpoint(note, { origin: 'example.com/log', verifiers: [log.verifier] }),
        {
          code: 'VERIFICATION_FAILED',
        },
      );
    });
  });
});

describe('openCheckpoint on sigstore-conformance bundles (real Rekor v1 and v2 checkpoints)', () => {
  const dir = sharedPath('conformance', 'sigstore', 'bundle-verify');
  if (!requireSharedData(dir, 'the sigstore-conformance bundles')) return;

  interface TrustedRoot {
    tlogs: { baseUrl: string; publicKey: { rawBytes: string } }[];
  }
  interface Bundle {
    verificationMaterial: {
      tlogEntries: {
        canonicalizedBody: string;
        inclusionProof: { logIndex: string; hashes: string[]; checkpoint?: { envelope: string } };
      }[];
    };
  }
  const readJson = (...parts: string[]): unknown =>
    JSON.parse(readFileSync(path.join(dir, ...parts), 'utf8'));
  const verifiersOf = (rootCase: string): NoteVerifier[] =>
    (readJson(rootCase, 'trusted_root.json') as TrustedRoot).tlogs.map((tlog) =>
      createNoteVerifier(
        new URL(tlog.baseUrl).hostname,
        new Uint8Array(Buffer.from(tlog.publicKey.rawBytes, 'base64')),
      ),
    );
  // The Sigstore public-good rekor.sigstore.dev key (ECDSA P-256) sits in this case's root.
  const PUBLIC_GOOD = 'invalid-ct-key_fail';
  const V1_ORIGIN = 'rekor.sigstore.dev - 2605736670972794746';
  const V2_ORIGIN = 'log2025-alpha1.rekor.sigstage.dev';

  /** Opens the checkpoint of the bundle's entry and checks the entry's inclusion proof against it. */
  function verifyEntry(bundleCase: string, rootCase: string, origin: string): void {
    const bundle = readJson(bundleCase, 'bundle.sigstore.json') as Bundle;
    const entry = bundle.verificationMaterial.tlogEntries[0];
    assert.ok(entry, 'bundle has a tlog entry');
    const checkpoint = openCheckpoint(entry.inclusionProof.checkpoint?.envelope ?? '', {
      origin,
      verifiers: verifiersOf(rootCase),
    });
    verifyInclusionProof({
      index: BigInt(entry.inclusionProof.logIndex),
      treeSize: checkpoint.treeSize,
      leafHash: hashLeaf(Buffer.from(entry.canonicalizedBody, 'base64')),
      proof: entry.inclusionProof.hashes.map((h) => new Uint8Array(Buffer.from(h, 'base64'))),
      rootHash: checkpoint.rootHash,
    });
  }

  const accepted: [string, string, string][] = [
    ['happy-path-v0.3', PUBLIC_GOOD, V1_ORIGIN],
    ['rekor2-happy-path', 'rekor2-happy-path', V2_ORIGIN],
    ['rekor2-checkpoint-multiple-cosigs', 'rekor2-checkpoint-multiple-cosigs', V2_ORIGIN],
    ['rekor2-checkpoint-origin-not-first', 'rekor2-checkpoint-origin-not-first', V2_ORIGIN],
    ['rekor2-checkpoint-two-sigs-from-origin', 'rekor2-checkpoint-two-sigs-from-origin', V2_ORIGIN],
  ];
  for (const [bundleCase, rootCase, origin] of accepted) {
    it(`accepts ${bundleCase} and its inclusion proof`, () =>
      verifyEntry(bundleCase, rootCase, origin));
  }

  const rejected: [string, string, string][] = [
    ['checkpoint-bad-keyhint_fail', PUBLIC_GOOD, V1_ORIGIN],
    ['invalid-checkpoint-signature_fail', PUBLIC_GOOD, V1_ORIGIN],
    ['checkpoint-wrong-roothash_fail', PUBLIC_GOOD, V1_ORIGIN],
    ['inclusion-proof-corrupted-hash_fail', PUBLIC_GOOD, V1_ORIGIN],
    [
      'rekor2-checkpoint-no-matching-signature_fail',
      'rekor2-checkpoint-no-matching-signature_fail',
      V2_ORIGIN,
    ],
    ['rekor2-checkpoint-missing-origin_fail', 'rekor2-checkpoint-missing-origin_fail', V2_ORIGIN],
    [
      'rekor2-checkpoint-missing-log-signature_fail',
      'rekor2-checkpoint-missing-log-signature_fail',
      V2_ORIGIN,
    ],
  ];
  for (const [bundleCase, rootCase, origin] of rejected) {
    it(`rejects ${bundleCase} with VERIFICATION_FAILED`, () => {
      assert.throws(() => verifyEntry(bundleCase, rootCase, origin), {
        code: 'VERIFICATION_FAILED',
      });
    });
  }
});
