/**
 * The transparency log (issue "Transparency log", DESIGN.md §8):
 *
 * - baseline: raw SHA-256 leaf hashing (`hashLeaf` of a 256-byte entry), the work no log can skip;
 * - `append()` through the sequencer with many concurrent callers, one entry per call, on each
 *   engine: entries/s (ratio to the hashing rate) and p50/p99 time to durable inclusion (the call
 *   resolves after COMMIT, with proof and signed checkpoint);
 * - inclusion and consistency proofs (plan, node lookups, assembly: what the API does per request)
 *   in a log of 1,000,000 entries, as `serve` answers them (node hashes from its in-memory copy,
 *   default size) and with every node read from storage (`log.nodeCacheBytes: 0`).
 *
 * The 1M-entry log is written directly through the repository with synthetic node hashes: proof
 * cost does not depend on hash values, and hashing 3M nodes would dominate the run.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadOrCreateFileKey } from '../src/adapters/keys/file-key.ts';
import { sql } from 'kysely';
import { openStorage, type StorageOptions } from '../src/adapters/storage/open-storage.ts';
import { SqlStorage } from '../src/adapters/storage/sql-storage.ts';
import { defaultLogOrigin, describeLog } from '../src/app/log-keys.ts';
import { createLogNodeCache, DEFAULT_NODE_CACHE_BYTES } from '../src/app/log-node-cache.ts';
import { openLogSequencer } from '../src/app/log-sequencer.ts';
import { createLogReader, type LogReader } from '../src/app/read-log.ts';
import type { KeyHandle, LogEntryRecord, LogNodeRecord, Storage } from '../src/core/ports.ts';
import { hashLeaf } from '../src/core/tlog/merkle.ts';
import { POSTGRES_MISSING_REASON, startPostgresCluster } from '../test/support/postgres-cluster.ts';
import type { Bench } from './support/bench.ts';

const BASELINE = 'sha256 leaf hash of a 256-byte entry';
const ENTRY = randomBytes(256);
const PROOF_LOG_SIZE = 1_000_000n;
/**
 * Untimed proofs before timing: a running service has long compiled its proof path and warmed its
 * connections; the figure is its steady state, not its first second.
 */
const PROOF_WARMUP_CALLS = 1000;

export default async function logBench(bench: Bench): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'countersign-bench-log-'));
  try {
    await bench.measure(
      BASELINE,
      () => {
        for (let i = 0; i < 1000; i++) hashLeaf(ENTRY);
      },
      { durationMs: 1000, opsPerCall: 1000 },
    );
    const logKey = loadOrCreateFileKey({ path: join(root, 'log.pem'), id: 'log', purpose: 'log' });
    await measureAppends(
      bench,
      // As `countersign serve` opens it: the write-ahead log is checkpointed off the event loop.
      {
        engine: 'sqlite',
        dataDir: join(root, 'append'),
        backgroundCheckpoints: { onError: (problem) => console.error(problem) },
      },
      logKey,
      [1024, 4096],
    );
    await measureProofs(bench, { engine: 'sqlite', dataDir: join(root, 'proofs') }, logKey);
    // Sized like a production server rather than the test harness's small clusters (32 MB): the
    // 1,000,000-entry log's nodes and entries fit in shared buffers, as a tuned server's hot log would.
    const cluster = await startPostgresCluster({ settings: { shared_buffers: '512MB' } });
    if (cluster === undefined) {
      bench.skip('postgres: all', POSTGRES_MISSING_REASON);
      return;
    }
    try {
      await measureAppends(
        bench,
        { engine: 'postgres', url: await cluster.createDatabase() },
        logKey,
        [1024],
      );
      await measureProofs(
        bench,
        { engine: 'postgres', url: await cluster.createDatabase() },
        logKey,
      );
    } finally {
      await cluster.destroy();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function measureAppends(
  bench: Bench,
  options: StorageOptions,
  logKey: KeyHandle,
  callers: readonly number[],
): Promise<void> {
  const storage = await openStorage(options);
  const origin = defaultLogOrigin('bench.local', logKey.publicKeySpki);
  const sequencer = await openLogSequencer({
    storage,
    clock: { now: () => new Date() },
    logKey,
    origin,
  });
  try {
    for (const concurrency of callers) {
      await bench.measureConcurrent(
        `${options.engine}: append() x${concurrency} callers, latency = to durable inclusion`,
        (call) => {
          const body = Buffer.from(ENTRY);
          body.writeInt32BE(call, 0);
          return sequencer.append([{ kind: 'bench/v1', body }]);
        },
        { concurrency, durationMs: 3000, baseline: BASELINE },
      );
    }
  } finally {
    await sequencer.close();
    await storage.close();
  }
}

async function measureProofs(
  bench: Bench,
  options: StorageOptions,
  logKey: KeyHandle,
): Promise<void> {
  const storage = await openStorage(options);
  try {
    await writeSyntheticLog(storage, PROOF_LOG_SIZE);
    if (storage instanceof SqlStorage && storage.engine === 'postgres') {
      // A running server's log has long been vacuumed, analyzed and checkpointed; a bulk load a
      // second ago has no statistics yet (the planner then picks bitmap scans for single-row
      // lookups), invites autovacuum to scan three million rows, and leaves a gigabyte of
      // write-ahead log for the checkpointer, all during the timing. Settle it first.
      await sql`VACUUM ANALYZE log_nodes, log_entries`.execute(storage.db);
      await sql`CHECKPOINT`.execute(storage.db);
    }
    const info = describeLog(
      defaultLogOrigin('bench.local', logKey.publicKeySpki),
      logKey.publicKeySpki,
    );
    // As `serve` runs: the node cache filled in the background after start-up (awaited here, as
    // a server that has been up for a few seconds has it), then the storage path alone.
    const nodeCache = createLogNodeCache(storage.log, { maxBytes: DEFAULT_NODE_CACHE_BYTES });
    try {
      const filling = performance.now();
      await nodeCache.fill(PROOF_LOG_SIZE);
      const { bytes } = nodeCache.state();
      console.log(
        `  ${options.engine}: node cache filled with ${(bytes / 2 ** 20).toFixed(1)} MiB in ${Math.round(performance.now() - filling)} ms`,
      );
      await measureProofKinds(
        bench,
        `${options.engine}:`,
        createLogReader(storage.log, info, { nodeCache }),
      );
    } finally {
      await nodeCache.close();
    }
    await measureProofKinds(
      bench,
      `${options.engine}, every node from storage:`,
      createLogReader(storage.log, info),
    );
  } finally {
    await storage.close();
  }
}

async function measureProofKinds(bench: Bench, label: string, reader: LogReader): Promise<void> {
  const size = PROOF_LOG_SIZE.toLocaleString('en-US');
  // Spread over the log: a multiplicative walk visits indices far apart.
  const indexOf = (call: number) => (BigInt(Math.abs(call)) * 7_919_393n) % PROOF_LOG_SIZE;
  await bench.measure(
    `${label} inclusion proof at ${size} entries`,
    (call) => reader.inclusionProof(indexOf(call)),
    { durationMs: 1500, warmupCalls: PROOF_WARMUP_CALLS },
  );
  await bench.measure(
    `${label} consistency proof at ${size} entries`,
    (call) => reader.consistencyProof(1n + indexOf(call), PROOF_LOG_SIZE),
    { durationMs: 1500, warmupCalls: PROOF_WARMUP_CALLS },
  );
}

/** Writes `size` entries and every complete-subtree node, in batches, with synthetic hashes. */
async function writeSyntheticLog(storage: Storage, size: bigint): Promise<void> {
  const batch = 50_000n;
  const hash = (level: number, index: bigint) => {
    const bytes = Buffer.alloc(32);
    bytes.writeUInt8(level, 0);
    bytes.writeBigUInt64BE(index, 8);
    return bytes;
  };
  for (let start = 0n; start < size; start += batch) {
    const end = start + batch < size ? start + batch : size;
    const entries: LogEntryRecord[] = [];
    const nodes: LogNodeRecord[] = [];
    for (let i = start; i < end; i++) {
      const body = Buffer.alloc(8);
      body.writeBigUInt64BE(i);
      entries.push({
        index: i,
        leafHash: hash(0, i),
        body,
        kind: 'bench/v1',
        idempotencyKey: null,
        integratedTime: 1_700_000_000,
      });
      // Every node whose last leaf is i is completed by leaf i.
      for (let level = 0; ((i + 1n) & ((1n << BigInt(level)) - 1n)) === 0n && level < 64; level++) {
        nodes.push({ level, index: i >> BigInt(level), hash: hash(level, i >> BigInt(level)) });
      }
    }
    await storage.transaction((session) =>
      session.log.appendBatch({
        previousSize: start,
        entries,
        nodes,
        checkpoint: {
          treeSize: end,
          rootHash: hash(99, end),
          note: `synthetic ${end}\n`,
          createdAt: new Date(),
        },
      }),
    );
  }
}
