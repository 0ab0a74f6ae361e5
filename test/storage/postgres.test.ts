/**
 * What only the PostgreSQL engine has: the durability check at open (threat model FT-2, FT-4),
 * replicas migrating together, real row-lock races, and the server going away.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { sql } from 'kysely';
import { isAppError } from '../../src/core/errors.ts';
import { CODE_SCHEMA_VERSION } from '../../src/adapters/storage/migrations/migrations.ts';
import { migrateStorage, openStorage } from '../../src/adapters/storage/open-storage.ts';
import { SqlStorage } from '../../src/adapters/storage/sql-storage.ts';
import { requireComponentForSuite } from '../support/components.ts';
import { makeLogBatch } from '../support/log-batch.ts';
import {
  findPostgresBinaries,
  POSTGRES_MISSING_REASON,
  startPostgresCluster,
  type PostgresCluster,
} from '../support/postgres-cluster.ts';

function hasCode(code: string) {
  return (error: unknown): boolean => {
    assert.ok(isAppError(error), `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

async function openSql(
  url: string,
  extra: { statementTimeoutMs?: number } = {},
): Promise<SqlStorage> {
  const storage = await openStorage({ engine: 'postgres', url, ...extra });
  assert.ok(storage instanceof SqlStorage);
  return storage;
}

describe('openStorage on PostgreSQL', () => {
  if (
    !requireComponentForSuite(
      'PostgreSQL',
      findPostgresBinaries() !== undefined,
      POSTGRES_MISSING_REASON,
    )
  ) {
    return;
  }
  let cluster: PostgresCluster;
  before(async () => {
    const started = await startPostgresCluster();
    assert.ok(started !== undefined);
    cluster = started;
  });
  after(() => cluster.destroy());

  describe('when the server does not make commits durable', () => {
    it('refuses fsync=off and full_page_writes=off, naming both', async () => {
      const unsafe = await startPostgresCluster({
        settings: { fsync: 'off', full_page_writes: 'off' },
      });
      assert.ok(unsafe !== undefined);
      try {
        await assert.rejects(
          openStorage({ engine: 'postgres', url: unsafe.url }),
          (error: unknown) => {
            assert.ok(isAppError(error, 'CONFIG_INVALID'));
            assert.deepEqual(
              error.errors.map((e) => e.path),
              ['fsync', 'full_page_writes'],
            );
            assert.match(error.message, /fsync is off, needs on/);
            return true;
          },
        );
      } finally {
        await unsafe.destroy();
      }
    });

    it('refuses synchronous_commit=off set for the database, and accepts local', async () => {
      const url = await cluster.createDatabase('sync_commit_off');
      await cluster.query('ALTER DATABASE sync_commit_off SET synchronous_commit = off');
      await assert.rejects(openStorage({ engine: 'postgres', url }), (error: unknown) => {
        assert.ok(isAppError(error, 'CONFIG_INVALID'));
        assert.deepEqual(
          error.errors.map((e) => e.path),
          ['synchronous_commit'],
        );
        return true;
      });
      await cluster.query('ALTER DATABASE sync_commit_off SET synchronous_commit = local');
      const storage = await openStorage({ engine: 'postgres', url });
      await storage.close();
    });
  });

  it('migrates once when replicas start together', async () => {
    const url = await cluster.createDatabase();
    const reports = await Promise.all(
      [1, 2, 3].map(() => migrateStorage({ engine: 'postgres', url })),
    );
    const applied = reports.flatMap((report) => report.applied.map((m) => m.version));
    assert.deepEqual(
      applied.sort((a, b) => a - b),
      Array.from({ length: CODE_SCHEMA_VERSION }, (_, i) => i + 1),
    );
  });

  it('lets one of two appenders that both read the size inside their transactions win', async (t) => {
    const storage = await openSql(await cluster.createDatabase());
    t.after(() => storage.close());
    let arrived = 0;
    let release: () => void = () => undefined;
    const bothRead = new Promise<void>((resolve) => (release = resolve));
    const attempt = (label: string) =>
      storage.transaction(async (session) => {
        const size = await session.log.treeSize();
        arrived += 1;
        if (arrived === 2) release();
        await bothRead; // both transactions are open and read size 0
        await session.log.appendBatch(
          makeLogBatch(size, 2, { idempotencyKey: (i) => `${label}-${i}` }),
        );
      });
    const results = await Promise.allSettled([attempt('a'), attempt('b')]);
    const rejected = results.filter((result) => result.status === 'rejected');
    assert.equal(rejected.length, 1);
    assert.ok(isAppError(rejected[0]?.reason, 'CONFLICT'));
    assert.equal(await storage.log.treeSize(), 2n);
  });

  it('returns int8 as bigint and bytea as bytes', async (t) => {
    const storage = await openSql(await cluster.createDatabase());
    t.after(() => storage.close());
    const { rows } = await sql<{
      big: unknown;
      bytes: unknown;
    }>`SELECT 9223372036854775807::int8 AS big, '\\x00ff'::bytea AS bytes`.execute(storage.db);
    assert.equal(rows[0]?.big, 2n ** 63n - 1n);
    assert.ok(rows[0]?.bytes instanceof Uint8Array);
  });

  it('turns a statement past statement_timeout into STORAGE_UNAVAILABLE and recovers', async (t) => {
    const storage = await openSql(await cluster.createDatabase(), { statementTimeoutMs: 300 });
    t.after(() => storage.close());
    await assert.rejects(sql`SELECT pg_sleep(2)`.execute(storage.db), (error: unknown) => {
      assert.ok(isAppError(error, 'STORAGE_UNAVAILABLE'));
      assert.equal(error.retryAfterSeconds, 1);
      return true;
    });
    assert.equal(await storage.log.treeSize(), 0n);
  });

  it('refuses a database that does not exist with CONFIG_INVALID', async () => {
    const url = cluster.url.replace(/\/postgres$/, '/no_such_database');
    await assert.rejects(openStorage({ engine: 'postgres', url }), hasCode('CONFIG_INVALID'));
  });

  it('refuses options that are not positive integers, listing each', async () => {
    await assert.rejects(
      openStorage({ engine: 'postgres', url: 'mysql://x', poolSize: 0, connectTimeoutMs: 1.5 }),
      (error: unknown) => {
        assert.ok(isAppError(error, 'CONFIG_INVALID'));
        assert.deepEqual(error.errors.map((e) => e.path).sort(), [
          'storage.connectTimeoutMs',
          'storage.poolSize',
          'storage.url',
        ]);
        return true;
      },
    );
  });

  describe('when the server is down', () => {
    it('fails to open with STORAGE_UNAVAILABLE and a retry hint', async () => {
      // A port nothing listens on: the cluster's own, while it is stopped below would also do,
      // but this keeps the shared cluster running.
      const url = `postgres://postgres@127.0.0.1:1/postgres`;
      await assert.rejects(
        openStorage({ engine: 'postgres', url, connectTimeoutMs: 2000 }),
        (error: unknown) => {
          assert.ok(isAppError(error, 'STORAGE_UNAVAILABLE'));
          assert.equal(error.retryAfterSeconds, 5);
          return true;
        },
      );
    });

    it('reports unreachable in health(), fails calls, and recovers when it is back', async (t) => {
      const storage = await openSql(await cluster.createDatabase());
      t.after(() => storage.close());
      await storage.log.appendBatch(makeLogBatch(0n, 3));
      await cluster.stop('immediate');
      try {
        const health = await storage.health();
        assert.equal(health.reachable, false);
        assert.equal(health.schemaVersion, CODE_SCHEMA_VERSION);
        assert.match(health.problem ?? '', /PostgreSQL is not reachable/);
        await assert.rejects(storage.log.treeSize(), hasCode('STORAGE_UNAVAILABLE'));
        await assert.rejects(
          storage.transaction((session) => session.log.treeSize()),
          hasCode('STORAGE_UNAVAILABLE'),
        );
      } finally {
        await cluster.start();
      }
      assert.equal(await storage.log.treeSize(), 3n);
      assert.equal((await storage.health()).reachable, true);
    });
  });
});
