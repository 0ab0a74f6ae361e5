import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import type { LogRepository } from '../core/ports.ts';
import { openStorage } from '../adapters/storage/open-storage.ts';
import { requireComponentForSuite } from '../../test/support/components.ts';
import {
  createPostgresTestEngine,
  createSqliteTestEngine,
  openFreshStorage,
} from '../../test/support/storage-engines.ts';
import { createTestLogKey } from '../../test/support/log-key.ts';
import { describeLog } from './log-keys.ts';
import { createLogNodeCache, lowestLevelWithin } from './log-node-cache.ts';
import { openLogSequencer } from './log-sequencer.ts';
import { openTransparencyLog } from './open-transparency-log.ts';
import { createLogReader } from './read-log.ts';

const engine = createSqliteTestEngine();
after(() => engine.dispose());
const { logKey, origin } = createTestLogKey('cache');
const info = describeLog(origin, logKey.publicKeySpki);
const clock = { now: () => new Date('2026-11-23T12:00:00Z') };

/** A real log of `size` entries (odd sizes leave incomplete subtrees at every level). */
async function openLog(t: TestContext, size: number) {
  const { storage } = await openFreshStorage(t, engine);
  const sequencer = await openLogSequencer({ storage, clock, logKey, origin });
  t.after(() => sequencer.close());
  const append = async (count: number, from: number) => {
    // In batches, as concurrent callers would: one checkpoint per batch.
    for (let at = 0; at < count; at += 100) {
      await sequencer.append(
        Array.from({ length: Math.min(100, count - at) }, (_, i) => ({
          kind: 'test/v1',
          body: new TextEncoder().encode(`entry ${String(from + at + i)}`),
        })),
      );
    }
  };
  await append(size, 0);
  return { log: storage.log, append };
}

/** Every complete node of a tree of `size` leaves. */
function* completeNodes(size: number): Generator<{ level: number; index: bigint }> {
  for (let level = 0; 2 ** level <= size; level++) {
    for (let index = 0; index < Math.floor(size / 2 ** level); index++) {
      yield { level, index: BigInt(index) };
    }
  }
}

describe('createLogNodeCache', () => {
  it('holds exactly the stored hash of every complete node once filled', async (t) => {
    const { log } = await openLog(t, 1000);
    const cache = createLogNodeCache(log, { maxBytes: 1024 * 1024 });
    t.after(() => cache.close());
    await cache.fill(1000n);
    for (const { level, index } of completeNodes(1000)) {
      const [stored] = await log.nodes([{ level, index }]);
      assert.deepEqual(cache.get(level, index), stored, `node ${level}/${index}`);
    }
    // Nothing beyond the tree: incomplete subtrees have no stored hash to copy.
    assert.equal(cache.get(0, 1000n), undefined);
    assert.equal(cache.get(3, 125n), undefined);
    assert.equal(cache.get(10, 0n), undefined);
    assert.deepEqual(cache.state(), { treeSize: 1000n, lowestLevel: 0, bytes: 1994 * 32 });
  });

  it('hands out copies: a caller that scribbles on a hash does not change the cache', async (t) => {
    const { log } = await openLog(t, 8);
    const cache = createLogNodeCache(log, { maxBytes: 4096 });
    t.after(() => cache.close());
    await cache.fill(8n);
    const hash = cache.get(1, 2n) as Uint8Array;
    const original = Uint8Array.from(hash);
    hash.fill(0);
    assert.deepEqual(cache.get(1, 2n), original);
    (cache.range(0, 0n, 8n) as Uint8Array[])[3]?.fill(0);
    assert.deepEqual(cache.range(0, 3n, 4n), await log.nodes([{ level: 0, index: 3n }]));
  });

  it('keeps only the upper levels when the whole tree does not fit, and drops levels as the tree grows', async (t) => {
    const { log, append } = await openLog(t, 512);
    // 512 leaves in 10 KiB: levels ≥ 1 would be 511 hashes (16,352 bytes); levels ≥ 2 are 255
    // hashes (8,160 bytes).
    const cache = createLogNodeCache(log, { maxBytes: 10 * 1024 });
    t.after(() => cache.close());
    await cache.fill(512n);
    assert.equal(cache.state().lowestLevel, 2);
    assert.equal(cache.get(0, 0n), undefined);
    assert.equal(cache.get(1, 0n), undefined);
    assert.deepEqual(cache.get(2, 5n), (await log.nodes([{ level: 2, index: 5n }]))[0]);
    assert.ok(cache.state().bytes <= 10 * 1024);
    await append(512, 512);
    await cache.fill(1024n);
    // 1,024 leaves: levels ≥ 3 hold 255 hashes; level 2 would add 256 more (16,320 bytes).
    assert.equal(cache.state().lowestLevel, 3);
    assert.equal(cache.get(2, 5n), undefined);
    assert.deepEqual(cache.get(3, 100n), (await log.nodes([{ level: 3, index: 100n }]))[0]);
    assert.ok(cache.state().bytes <= 10 * 1024);
  });

  it('follows a growing log in the background, one fill at a time', async (t) => {
    const { log, append } = await openLog(t, 300);
    const reads = t.mock.method(log, 'nodeRange');
    const cache = createLogNodeCache(log, { maxBytes: 1024 * 1024 });
    t.after(() => cache.close());
    cache.follow(100n);
    cache.follow(300n);
    cache.follow(200n); // older than what it already wants: ignored
    await cache.fill(300n);
    assert.equal(cache.state().treeSize, 300n);
    const afterFirst = reads.mock.callCount();
    await append(50, 300);
    await cache.fill(350n);
    assert.ok(cache.get(0, 349n) !== undefined);
    // Growth reads only what is new: one short range per level that gained a node.
    assert.ok(reads.mock.callCount() - afterFirst <= 9, `${reads.mock.callCount() - afterFirst}`);
  });

  it('reports a node missing from storage and keeps serving what it has', async (t) => {
    const { log } = await openLog(t, 64);
    const problems: unknown[] = [];
    const holed: Pick<LogRepository, 'nodeRange'> = {
      nodeRange: async (level, from, to) =>
        level === 0
          ? (await log.nodeRange(level, from, to)).slice(0, 10)
          : log.nodeRange(level, from, to),
    };
    const cache = createLogNodeCache(holed, {
      maxBytes: 1024 * 1024,
      onError: (e) => problems.push(e),
    });
    t.after(() => cache.close());
    await assert.rejects(cache.fill(64n), /tree node 0\/10 is missing from storage/);
    assert.equal(problems.length, 1);
    assert.equal(cache.state().treeSize, 0n);
    assert.ok(cache.get(6, 0n) !== undefined, 'the levels read before the hole are kept');
    assert.equal(cache.get(0, 10n), undefined);
  });

  it('keeps nothing with maxBytes 0, and refuses a size that is not a byte count', async (t) => {
    const { log } = await openLog(t, 16);
    const reads = t.mock.method(log, 'nodeRange');
    const cache = createLogNodeCache(log, { maxBytes: 0 });
    await cache.fill(16n);
    cache.follow(16n);
    assert.equal(reads.mock.callCount(), 0);
    assert.equal(cache.get(4, 0n), undefined);
    assert.equal(cache.state().lowestLevel, 64);
    await cache.close();
    assert.throws(() => createLogNodeCache(log, { maxBytes: -1 }), /whole number of bytes/);
    assert.throws(() => createLogNodeCache(log, { maxBytes: 1.5 }), /whole number of bytes/);
  });

  it('lets the event loop run between its reads, even when storage answers synchronously', async () => {
    let reads = 0;
    // An embedded database resolves at once: without yielding, a fill would hold the loop.
    const instant: Pick<LogRepository, 'nodeRange'> = {
      nodeRange: (_level, from, to) => {
        reads++;
        return Promise.resolve(Array.from({ length: Number(to - from) }, () => new Uint8Array(32)));
      },
    };
    const cache = createLogNodeCache(instant, { maxBytes: 1024 * 1024 });
    let readsWhenTheLoopRan: number | undefined;
    setImmediate(() => {
      readsWhenTheLoopRan = reads;
    });
    await cache.fill(5000n);
    assert.ok(reads > 5, `${reads} reads`);
    assert.equal(readsWhenTheLoopRan, 1);
    await cache.close();
  });

  it('stops filling when closed', async (t) => {
    const { log } = await openLog(t, 200);
    const cache = createLogNodeCache(log, { maxBytes: 1024 * 1024 });
    cache.follow(200n);
    await cache.close();
    await cache.fill(200n);
    assert.ok(cache.state().treeSize < 200n);
    cache.follow(200n);
    assert.ok(cache.state().treeSize < 200n);
  });
});

describe('lowestLevelWithin', () => {
  it('picks the lowest level whose nodes and all above fit', () => {
    assert.equal(lowestLevelWithin(1_000_000, 64 * 1024 * 1024), 0);
    // 10,000,000 leaves in 64 MiB: levels ≥ 4 hold 1,249,995 hashes (40 MB), level 3 would not fit.
    assert.equal(lowestLevelWithin(10_000_000, 64 * 1024 * 1024), 4);
    assert.equal(lowestLevelWithin(0, 0), 0);
    assert.equal(lowestLevelWithin(1, 31), 1);
    assert.equal(lowestLevelWithin(1, 32), 0);
  });
});

describe('createLogReader with a node cache', () => {
  it('serves proofs and tiles equal to the storage ones without reading nodes from storage', async (t) => {
    const { log } = await openLog(t, 700);
    const cache = createLogNodeCache(log, { maxBytes: 1024 * 1024 });
    t.after(() => cache.close());
    const cached = createLogReader(log, info, { nodeCache: cache });
    const plain = createLogReader(log, info);
    await cached.latestCheckpoint(); // the reader asks the cache to follow what it reads
    await cache.fill(700n);
    const nodeReads = t.mock.method(log, 'nodes');
    const rangeReads = t.mock.method(log, 'nodeRange');
    const storageReads = () => nodeReads.mock.callCount() + rangeReads.mock.callCount();
    const pairs: [() => Promise<unknown>, () => Promise<unknown>][] = [];
    for (const index of [0n, 1n, 255n, 256n, 511n, 699n]) {
      for (const treeSize of [index + 1n, 512n, 700n].filter((size) => size > index)) {
        pairs.push([
          () => cached.inclusionProof(index, treeSize),
          () => plain.inclusionProof(index, treeSize),
        ]);
      }
    }
    for (const [from, to] of [
      [1n, 700n],
      [255n, 257n],
      [512n, 700n],
      [700n, 700n],
    ] as const) {
      pairs.push([() => cached.consistencyProof(from, to), () => plain.consistencyProof(from, to)]);
    }
    pairs.push([() => cached.tile(0, 1n, 256), () => plain.tile(0, 1n, 256)]);
    pairs.push([() => cached.tile(1, 0n, 2), () => plain.tile(1, 0n, 2)]);
    pairs.push([() => cached.entry(42n), () => plain.entry(42n)]);
    for (const [fromCache, fromStorage] of pairs) {
      const before = storageReads();
      const answer = await fromCache();
      assert.equal(storageReads(), before, 'the cached reader read nodes from storage');
      assert.deepEqual(answer, await fromStorage());
      assert.ok(storageReads() > before, 'the plain reader is the storage reference');
    }
  });

  it('reads from storage only the nodes the cache lacks', async (t) => {
    const { log } = await openLog(t, 512);
    // Levels ≥ 2 only: a proof needs its leaf and level-1 sibling from storage, in one query.
    const cache = createLogNodeCache(log, { maxBytes: 10 * 1024 });
    t.after(() => cache.close());
    await cache.fill(512n);
    const reader = createLogReader(log, info, { nodeCache: cache });
    const plain = createLogReader(log, info);
    const expected = await plain.inclusionProof(300n);
    const nodeReads = t.mock.method(log, 'nodes');
    assert.deepEqual(await reader.inclusionProof(300n), expected);
    assert.equal(nodeReads.mock.callCount(), 1);
    const asked = nodeReads.mock.calls[0]?.arguments[0] ?? [];
    assert.ok(
      asked.every((id) => id.level < 2),
      JSON.stringify(asked, (_, v: unknown) => String(v)),
    );
  });
});

describe('openTransparencyLog', () => {
  it('serves proofs from its node cache once filled, and from storage with maxBytes 0', async (t) => {
    for (const maxBytes of [1024 * 1024, 0]) {
      const { storage: fresh } = await openFreshStorage(t, engine);
      const seeded = await openLogSequencer({ storage: fresh, clock, logKey, origin });
      await seeded.append(
        Array.from({ length: 300 }, (_, i) => ({
          kind: 'test/v1',
          body: new TextEncoder().encode(`entry ${String(i)}`),
        })),
      );
      await seeded.close();
      const log = await openTransparencyLog({
        storage: fresh,
        clock,
        logKey,
        origin,
        nodeCache: { maxBytes },
      });
      t.after(() => log.close());
      assert.equal(log.integrity.ok, true);
      // The fill started at open; a proof beyond what is filled would read storage, so wait.
      const nodeReads = t.mock.method(fresh.log, 'nodes');
      for (let attempt = 0; attempt < 200 && maxBytes > 0; attempt++) {
        nodeReads.mock.resetCalls();
        await log.reader.inclusionProof(299n);
        if (nodeReads.mock.callCount() === 0) break;
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
      nodeReads.mock.resetCalls();
      const proof = await log.reader.inclusionProof(123n);
      assert.equal(proof.treeSize, 300n);
      assert.equal(nodeReads.mock.callCount(), maxBytes === 0 ? 1 : 0, `maxBytes ${maxBytes}`);
    }
  });
});

describe('node caches of PostgreSQL replicas', () => {
  const postgres = createPostgresTestEngine();
  after(() => postgres.dispose());
  if (!requireComponentForSuite(postgres.component, postgres.isAvailable, postgres.missingReason)) {
    return;
  }

  it('follow the entries every replica appends and answer the proofs storage answers', async (t) => {
    const options = await postgres.freshOptions();
    const open = async () => {
      const storage = await openStorage(options);
      const log = await openTransparencyLog({
        storage,
        clock,
        logKey,
        origin,
        nodeCache: { maxBytes: 1024 * 1024 },
      });
      t.after(async () => {
        await log.close();
        await storage.close();
      });
      return { storage, log };
    };
    const a = await open();
    const b = await open();
    const entry = (i: number) => ({
      kind: 'test/v1',
      body: new TextEncoder().encode(`replicated ${String(i)}`),
    });
    // Interleaved: each replica's batches land between the other's.
    for (let round = 0; round < 6; round++) {
      await Promise.all([
        a.log.append(Array.from({ length: 37 }, (_, i) => entry(round * 100 + i))),
        b.log.append(Array.from({ length: 23 }, (_, i) => entry(round * 100 + 50 + i))),
      ]);
    }
    const plain = createLogReader(a.storage.log, info);
    const size = (await plain.latestCheckpoint()).treeSize;
    assert.equal(size, 360n);
    const indices = [0n, 36n, 37n, 100n, 255n, 256n, 359n];
    const expected = await Promise.all(indices.map((index) => plain.inclusionProof(index, size)));
    const expectedConsistency = await plain.consistencyProof(60n, size);
    for (const replica of [a, b]) {
      const reader = replica.log.reader;
      await reader.latestCheckpoint(); // the reader asks its cache to follow the newest size
      for (let attempt = 0; attempt < 200; attempt++) {
        if (reader.nodeCacheState()?.treeSize === size) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(reader.nodeCacheState()?.treeSize, size);
      const nodeReads = t.mock.method(replica.storage.log, 'nodes');
      for (const [i, index] of indices.entries()) {
        assert.deepEqual(await reader.inclusionProof(index, size), expected[i]);
      }
      assert.deepEqual(await reader.consistencyProof(60n, size), expectedConsistency);
      assert.equal(nodeReads.mock.callCount(), 0, 'proofs came from the cache');
    }
  });
});
