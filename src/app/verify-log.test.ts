import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { loadOrCreateFileKey } from '../adapters/keys/file-key.ts';
import { parseTilePath } from '../core/tlog/tiles.ts';
import { createTestLogKey } from '../../test/support/log-key.ts';
import { createSqliteTestEngine, openFreshStorage } from '../../test/support/storage-engines.ts';
import { createLogNoteVerifier, describeLog } from './log-keys.ts';
import { openLogSequencer } from './log-sequencer.ts';
import { createLogReader } from './read-log.ts';
import type { LogReader } from './read-log.ts';
import {
  checkLogProgress,
  fetchConsistencyProofFromTiles,
  verifyLogFromTiles,
} from './verify-log.ts';

const engine = createSqliteTestEngine();
after(() => engine.dispose());
const { logKey, origin, dir: keyDir } = createTestLogKey('verify');
const identity = { origin, verifier: createLogNoteVerifier(origin, logKey.publicKeySpki) };
const clock = { now: () => new Date('2026-11-23T12:00:00Z') };

/** A log of `size` entries with a reader serving its tiles, as a static tiles host would. */
async function buildLog(t: TestContext, bodies: readonly string[]) {
  const { storage } = await openFreshStorage(t, engine);
  const sequencer = await openLogSequencer({ storage, clock, logKey, origin });
  t.after(() => sequencer.close());
  const reader = createLogReader(storage.log, describeLog(origin, logKey.publicKeySpki));
  const append = async (more: readonly string[]) => {
    for (let i = 0; i < more.length; i += 1000) {
      await sequencer.append(
        more
          .slice(i, i + 1000)
          .map((b) => ({ kind: 'test/v1', body: new TextEncoder().encode(b) })),
      );
    }
  };
  await append(bodies);
  return { reader, append };
}

function tilesOf(reader: LogReader) {
  return async (path: string): Promise<Uint8Array> => {
    const tile = parseTilePath(path);
    const content =
      tile.kind === 'entries'
        ? await reader.entryBundle(tile.index, tile.width)
        : await reader.tile(tile.level, tile.index, tile.width);
    return content.bytes;
  };
}

const bodies = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}${i}`);

describe('verifyLogFromTiles', () => {
  it('recomputes the root of a log with full and partial entry bundles', async (t) => {
    const { reader } = await buildLog(t, bodies('e', 600));
    const checkpoint = await reader.latestCheckpoint();
    const progress: bigint[] = [];
    const result = await verifyLogFromTiles(checkpoint.note, identity, tilesOf(reader), (done) =>
      progress.push(done),
    );
    assert.equal(result.treeSize, 600n);
    assert.deepEqual(progress, [256n, 512n, 600n]);
  });

  describe('when a served entry differs from what was logged', () => {
    it('throws VERIFICATION_FAILED', async (t) => {
      const { reader } = await buildLog(t, bodies('e', 300));
      const checkpoint = await reader.latestCheckpoint();
      const honest = tilesOf(reader);
      const lying = async (path: string) => {
        const bytes = new Uint8Array(await honest(path));
        if (path.startsWith('tile/entries/001'))
          bytes.set([(bytes.at(-1) ?? 0) ^ 1], bytes.length - 1);
        return bytes;
      };
      await assert.rejects(verifyLogFromTiles(checkpoint.note, identity, lying), {
        code: 'VERIFICATION_FAILED',
      });
    });
  });
});

describe('fetchConsistencyProofFromTiles', () => {
  it('yields the same proof as the stored nodes for sizes across tile levels', async (t) => {
    const { reader } = await buildLog(t, bodies('c', 70_000));
    for (const [from, to] of [
      [1n, 70_000n],
      [255n, 257n],
      [256n, 65_536n],
      [65_535n, 70_000n],
      [4097n, 69_999n],
    ] as const) {
      const fromTiles = await fetchConsistencyProofFromTiles(from, to, tilesOf(reader));
      const fromNodes = await reader.consistencyProof(from, to);
      const hex = (hashes: readonly Uint8Array[]) =>
        hashes.map((h) => Buffer.from(h).toString('hex'));
      assert.deepEqual(hex(fromTiles), hex(fromNodes.hashes), `proof ${from} → ${to}`);
    }
  });
});

describe('checkLogProgress', () => {
  it('accepts a log that grew consistently, and reports unchanged when it did not', async (t) => {
    const { reader, append } = await buildLog(t, bodies('m', 10));
    const first = await checkLogProgress(
      undefined,
      identity,
      async () => (await reader.latestCheckpoint()).note,
      () => Promise.resolve([]),
    );
    assert.equal(first.status, 'first');
    const state = { checkpoint: (await reader.latestCheckpoint()).note };
    assert.equal(
      (
        await checkLogProgress(
          state,
          identity,
          () => Promise.resolve(state.checkpoint),
          () => Promise.resolve([]),
        )
      ).status,
      'unchanged',
    );
    await append(bodies('n', 5));
    const grown = await checkLogProgress(
      state,
      identity,
      async () => (await reader.latestCheckpoint()).note,
      (from, to) => fetchConsistencyProofFromTiles(from, to, tilesOf(reader)),
    );
    assert.equal(grown.status, 'grew');
  });

  it('reports a fork when the same key signed another history of the same size', async (t) => {
    const honest = await buildLog(t, bodies('h', 20));
    const forked = await buildLog(t, [...bodies('h', 19), 'rewritten']);
    const state = { checkpoint: (await honest.reader.latestCheckpoint()).note };
    const outcome = await checkLogProgress(
      state,
      identity,
      async () => (await forked.reader.latestCheckpoint()).note,
      () => Promise.resolve([]),
    );
    assert.equal(outcome.status, 'fork');
    assert.ok(outcome.status === 'fork' && outcome.currentNote !== outcome.previousNote);
  });

  it('reports a fork when the larger checkpoint does not extend the one seen', async (t) => {
    const honest = await buildLog(t, bodies('h', 20));
    const forked = await buildLog(t, [...bodies('x', 20), ...bodies('y', 10)]);
    const state = { checkpoint: (await honest.reader.latestCheckpoint()).note };
    const outcome = await checkLogProgress(
      state,
      identity,
      async () => (await forked.reader.latestCheckpoint()).note,
      (from, to) => fetchConsistencyProofFromTiles(from, to, tilesOf(forked.reader)),
    );
    assert.equal(outcome.status, 'fork');
  });

  it('reports a rollback when the log shrank', async (t) => {
    const small = await buildLog(t, bodies('r', 5));
    const large = await buildLog(t, bodies('r', 9));
    const state = { checkpoint: (await large.reader.latestCheckpoint()).note };
    const outcome = await checkLogProgress(
      state,
      identity,
      async () => (await small.reader.latestCheckpoint()).note,
      () => Promise.resolve([]),
    );
    assert.equal(outcome.status, 'rollback');
  });

  it('refuses a checkpoint not signed by the log key', async (t) => {
    const { reader } = await buildLog(t, bodies('s', 3));
    const other = loadOrCreateFileKey({
      path: join(keyDir, 'other.pem'),
      id: 'other',
      purpose: 'log',
    });
    const stranger = { origin, verifier: createLogNoteVerifier(origin, other.publicKeySpki) };
    await assert.rejects(
      checkLogProgress(
        undefined,
        stranger,
        async () => (await reader.latestCheckpoint()).note,
        () => Promise.resolve([]),
      ),
      { code: 'VERIFICATION_FAILED' },
    );
  });
});
