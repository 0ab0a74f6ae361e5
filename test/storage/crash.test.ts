/**
 * kill -9 under load (threat model FT-1, INV-10): a child process commits a stream of
 * transactions (an API token and a log batch each) and prints each one only after its commit
 * resolved; the parent kills it at a random moment, reopens the storage and checks that every
 * acknowledged write is there and the log is whole. On PostgreSQL the server is also crashed
 * (`pg_ctl stop -m immediate`) together with the client, so recovery replays its WAL.
 */
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { openStorage, type StorageOptions } from '../../src/adapters/storage/open-storage.ts';
import { requireComponentForSuite } from '../support/components.ts';
import { createSqliteTestEngine } from '../support/storage-engines.ts';
import {
  findPostgresBinaries,
  POSTGRES_MISSING_REASON,
  startPostgresCluster,
  type PostgresCluster,
} from '../support/postgres-cluster.ts';
import { spawnStorageChild } from './child-process.ts';

const CYCLES = 3;

interface Ack {
  readonly id: string;
  readonly treeSize: bigint;
}

/** One cycle: run the writer until a random moment after its first ack, kill it, return acks. */
async function writeAndKill(
  options: StorageOptions,
  label: string,
  crashServer?: () => Promise<void>,
) {
  const writer = spawnStorageChild('write', options, label);
  try {
    await writer.waitForLine(/^ack /);
    await new Promise((resolve) => setTimeout(resolve, randomInt(10, 200)));
  } finally {
    writer.process.kill('SIGKILL');
  }
  await writer.exited;
  await crashServer?.();
  const acks: Ack[] = writer.lines
    .filter((line) => line.startsWith('ack '))
    .map((line) => {
      const [, id = '', size = ''] = line.split(' ');
      return { id, treeSize: BigInt(size) };
    });
  assert.ok(acks.length > 0, `the writer acknowledged nothing; stderr:\n${writer.stderr()}`);
  return acks;
}

/** Reopens the storage and checks every acknowledged write and the log's integrity. */
async function verifyAcknowledged(options: StorageOptions, acks: readonly Ack[]): Promise<bigint> {
  const storage = await openStorage(options);
  try {
    for (const ack of acks) {
      assert.notEqual(await storage.apiTokens.findById(ack.id), undefined, `lost token ${ack.id}`);
      assert.notEqual(
        await storage.log.checkpoint(ack.treeSize),
        undefined,
        `lost size ${ack.treeSize}`,
      );
    }
    const size = await storage.log.treeSize();
    const lastAck = acks.at(-1)?.treeSize ?? 0n;
    assert.ok(size >= lastAck, `tree size ${size} went below acknowledged ${lastAck}`);
    assert.equal((await storage.log.latestCheckpoint())?.treeSize, size);
    const entries = await storage.log.entries(0n, size);
    assert.deepEqual(
      entries.map((entry) => entry.index),
      Array.from({ length: Number(size) }, (_, i) => BigInt(i)),
    );
    return size;
  } finally {
    await storage.close();
  }
}

describe('storage after kill -9', () => {
  describe('on SQLite', () => {
    const engine = createSqliteTestEngine();
    after(() => engine.dispose());

    it(`keeps every acknowledged write over ${CYCLES} kill/restart cycles`, async () => {
      const options = await engine.freshOptions();
      let previous = 0n;
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const acks = await writeAndKill(options, `c${cycle}`);
        const size = await verifyAcknowledged(options, acks);
        assert.ok(size > previous, 'the log did not grow during the cycle');
        previous = size;
      }
    });
  });

  describe('on PostgreSQL', () => {
    if (
      !requireComponentForSuite(
        'PostgreSQL',
        findPostgresBinaries() !== undefined,
        POSTGRES_MISSING_REASON,
      )
    ) {
      return;
    }
    let cluster: PostgresCluster | undefined;
    after(() => cluster?.destroy());

    it(`keeps every acknowledged write over ${CYCLES} client and server crashes`, async () => {
      cluster = await startPostgresCluster();
      assert.ok(cluster !== undefined);
      const server = cluster;
      const options: StorageOptions = { engine: 'postgres', url: await server.createDatabase() };
      let previous = 0n;
      for (let cycle = 0; cycle < CYCLES; cycle++) {
        const acks = await writeAndKill(options, `c${cycle}`, async () => {
          await server.stop('immediate');
          await server.start();
        });
        const size = await verifyAcknowledged(options, acks);
        assert.ok(size > previous, 'the log did not grow during the cycle');
        previous = size;
      }
    });
  });
});
