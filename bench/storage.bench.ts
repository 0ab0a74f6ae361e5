/**
 * Storage commit rates on both engines against the disk's own rate of durable writes (a raw
 * `fs.writeSync` + `fs.fdatasyncSync` loop in the same temp directory, the floor every durable
 * commit pays):
 *
 * - 1-row transactions: `apiTokens.insert` (table `api_tokens`), one commit each;
 * - log batches of 256 and 1024 entries: `log.appendBatch` (CAS on `log_state`, rows into
 *   `log_entries` and `log_nodes`, one `log_checkpoints` row), one commit each; ops/s counts
 *   entries;
 * - `log.nodes()` with 40 ids, the lookups of an inclusion proof, on the log those batches built.
 *
 * PostgreSQL runs on a throw-away cluster from the test harness; without its binaries it is
 * reported as skipped.
 */
import { closeSync, fdatasyncSync, mkdtempSync, openSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Storage } from '../src/core/ports.ts';
import { openStorage, type StorageOptions } from '../src/adapters/storage/open-storage.ts';
import { labelHash, makeLogBatch, type LogBatch } from '../test/support/log-batch.ts';
import { POSTGRES_MISSING_REASON, startPostgresCluster } from '../test/support/postgres-cluster.ts';
import type { Bench } from './support/bench.ts';

const BASELINE = 'disk: 4 KiB write + fdatasync';
const PAGE = new Uint8Array(4096).fill(7);

export default async function storageBench(bench: Bench): Promise<void> {
  const root = mkdtempSync(join(tmpdir(), 'countersign-bench-storage-'));
  try {
    await measureDisk(bench, root);
    await measureEngine(bench, { engine: 'sqlite', dataDir: join(root, 'sqlite') }, 120, 50);
    const cluster = await startPostgresCluster();
    if (cluster === undefined) {
      bench.skip('postgres: all', POSTGRES_MISSING_REASON);
      return;
    }
    try {
      await measureEngine(
        bench,
        { engine: 'postgres', url: await cluster.createDatabase() },
        60,
        25,
      );
    } finally {
      await cluster.destroy();
    }
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

async function measureDisk(bench: Bench, dir: string): Promise<void> {
  const fd = openSync(join(dir, 'fdatasync.bin'), 'w');
  try {
    await bench.measure(
      BASELINE,
      (call) => {
        // Rewrite the same 4 MiB ring, as a WAL does once recycled.
        writeSync(fd, PAGE, 0, PAGE.length, (Math.abs(call) % 1024) * PAGE.length);
        fdatasyncSync(fd);
      },
      { durationMs: 1500 },
    );
  } finally {
    closeSync(fd);
  }
}

async function measureEngine(
  bench: Bench,
  options: StorageOptions,
  calls256: number,
  calls1024: number,
): Promise<void> {
  const engine = options.engine;
  const storage = await openStorage(options);
  try {
    let tokens = 0;
    await bench.measure(
      `${engine}: 1-row transaction (api_tokens)`,
      () => {
        tokens += 1;
        return storage.apiTokens.insert({
          id: `tok_${tokens}`,
          name: 'bench',
          role: 'auditor',
          userId: null,
          secretHash: labelHash(`tok_${tokens}`),
          createdAt: new Date(1_700_000_000_000 + tokens),
          expiresAt: null,
          revokedAt: null,
        });
      },
      { durationMs: 1500, baseline: BASELINE },
    );
    for (const [size, calls] of [
      [256, calls256],
      [1024, calls1024],
    ] as const) {
      // Built before timing: hashing the synthetic rows is not what is measured.
      const batches = buildBatches(await storage.log.treeSize(), size, calls + 5);
      let next = 0;
      await bench.measure(
        `${engine}: ${size}-entry log batch (appendBatch), ops = entries`,
        () => storage.log.appendBatch(batches[next++] as LogBatch),
        { calls, opsPerCall: size, baseline: BASELINE },
      );
    }
    await measureProofLookups(bench, storage, engine);
  } finally {
    await storage.close();
  }
}

function buildBatches(start: bigint, size: number, count: number): LogBatch[] {
  const batches: LogBatch[] = [];
  for (let i = 0; i < count; i++) batches.push(makeLogBatch(start + BigInt(i * size), size));
  return batches;
}

async function measureProofLookups(bench: Bench, storage: Storage, engine: string): Promise<void> {
  const treeSize = await storage.log.treeSize();
  // 64 sets of 40 ids spread over the levels a proof touches, at pseudo-random positions.
  const sets = Array.from({ length: 64 }, (_, s) =>
    Array.from({ length: 40 }, (_, i) => {
      const level = i % 12;
      const width = treeSize >> BigInt(level);
      return { level, index: BigInt((s * 7919 + i * 104729) % Number(width)) };
    }),
  );
  await bench.measure(
    `${engine}: nodes() of 40 ids in a ${treeSize.toLocaleString('en-US')}-entry log`,
    (call) => storage.log.nodes(sets[Math.abs(call) % sets.length] ?? []),
    { durationMs: 1000 },
  );
}
