/**
 * The storage contract: the same tests on SQLite (a temp data directory) and PostgreSQL (a
 * cluster from the test harness), so the two engines cannot drift apart.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isAppError } from '../../src/core/errors.ts';
import type { ApiTokenRecord, Storage } from '../../src/core/ports.ts';
import { migrateStorage, openStorage } from '../../src/adapters/storage/open-storage.ts';
import {
  CODE_SCHEMA_VERSION,
  MIGRATIONS,
} from '../../src/adapters/storage/migrations/migrations.ts';
import { requireComponentForSuite } from '../support/components.ts';
import { labelHash, makeLogBatch, nodeHash } from '../support/log-batch.ts';
import { createTestStorageEngines, openFreshStorage } from '../support/storage-engines.ts';

function token(
  id: string,
  createdAt: number,
  overrides: Partial<ApiTokenRecord> = {},
): ApiTokenRecord {
  return {
    id,
    name: `token ${id}`,
    role: 'approver',
    userId: null,
    secretHash: labelHash(`secret ${id}`),
    createdAt: new Date(createdAt),
    expiresAt: null,
    revokedAt: null,
    ...overrides,
  };
}

function hasCode(code: string) {
  return (error: unknown): boolean => {
    assert.ok(isAppError(error), `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

for (const engine of createTestStorageEngines()) {
  describe(`Storage on ${engine.engine}`, () => {
    if (!requireComponentForSuite(engine.component, engine.isAvailable, engine.missingReason))
      return;
    after(() => engine.dispose());

    describe('migrations', () => {
      it('applies every migration to a new database and reports it ready', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        assert.deepEqual(await storage.health(), {
          reachable: true,
          schemaVersion: CODE_SCHEMA_VERSION,
          codeSchemaVersion: CODE_SCHEMA_VERSION,
        });
      });

      it('applies nothing when run again', async (t) => {
        const { storage, options } = await openFreshStorage(t, engine);
        await storage.close();
        assert.deepEqual(await migrateStorage(options), {
          from: CODE_SCHEMA_VERSION,
          to: CODE_SCHEMA_VERSION,
          applied: [],
        });
        const reopened = await openStorage(options);
        await reopened.close();
      });

      it('with migrate: false, leaves a new database empty and says what to run', async (t) => {
        const { storage, options } = await openFreshStorage(t, engine, { migrate: false });
        const health = await storage.health();
        assert.equal(health.schemaVersion, 0);
        assert.match(health.problem ?? '', /older than this Countersign.*run countersign migrate/);
        await storage.close();
        const report = await migrateStorage(options);
        assert.deepEqual(
          report.applied,
          MIGRATIONS.map(({ version, name }) => ({ version, name })),
        );
        assert.equal(report.from, 0);
      });

      it('refuses a database migrated by a newer Countersign', async (t) => {
        const { storage, options } = await openFreshStorage(t, engine);
        const newer = CODE_SCHEMA_VERSION + 1;
        await storage.db
          .insertInto('schema_migrations')
          .values({ version: newer, name: 'from-the-future', applied_at: 0n })
          .execute();
        const expected = `database schema ${newer} is newer than this Countersign (${CODE_SCHEMA_VERSION}); upgrade Countersign`;
        const health = await storage.health();
        assert.equal(health.problem, expected);
        await storage.close();
        for (const attempt of [() => openStorage(options), () => migrateStorage(options)]) {
          await assert.rejects(attempt(), (error: unknown) => {
            assert.ok(isAppError(error, 'CONFIG_INVALID'));
            assert.equal(error.message, expected);
            return true;
          });
        }
        await assert.rejects(openStorage(options, { migrate: false }), hasCode('CONFIG_INVALID'));
      });
    });

    describe('apiTokens', () => {
      it('stores a token and reads it back exactly', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const record = token('tok_a', 1_700_000_000_123, {
          role: 'admin',
          expiresAt: new Date(1_800_000_000_456),
        });
        await storage.apiTokens.insert(record);
        assert.deepEqual(await storage.apiTokens.findById('tok_a'), record);
        assert.equal(await storage.apiTokens.findById('tok_missing'), undefined);
      });

      it('lists tokens oldest first', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.apiTokens.insert(token('tok_b', 2000));
        await storage.apiTokens.insert(token('tok_c', 3000));
        await storage.apiTokens.insert(token('tok_a', 1000));
        const ids = (await storage.apiTokens.list()).map((record) => record.id);
        assert.deepEqual(ids, ['tok_a', 'tok_b', 'tok_c']);
      });

      it('throws CONFLICT for a duplicate id and keeps the first token', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.apiTokens.insert(token('tok_a', 1000));
        await assert.rejects(
          storage.apiTokens.insert(token('tok_a', 2000, { name: 'impostor' })),
          hasCode('CONFLICT'),
        );
        assert.equal((await storage.apiTokens.findById('tok_a'))?.name, 'token tok_a');
      });

      it('revokes once: true the first time, false again or for an unknown token', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.apiTokens.insert(token('tok_a', 1000));
        assert.equal(await storage.apiTokens.revoke('tok_a', new Date(5000)), true);
        assert.equal(await storage.apiTokens.revoke('tok_a', new Date(9000)), false);
        assert.equal(await storage.apiTokens.revoke('tok_missing', new Date(5000)), false);
        assert.deepEqual((await storage.apiTokens.findById('tok_a'))?.revokedAt, new Date(5000));
      });

      it('lets exactly one of concurrent revocations win', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.apiTokens.insert(token('tok_a', 1000));
        const results = await Promise.all(
          Array.from({ length: 8 }, (_, i) =>
            storage.apiTokens.revoke('tok_a', new Date(5000 + i)),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
      });
    });

    describe('log', () => {
      it('starts empty', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        assert.equal(await storage.log.treeSize(), 0n);
        assert.equal(await storage.log.latestCheckpoint(), undefined);
        assert.deepEqual(await storage.log.entries(0n, 10n), []);
      });

      it('appends batches and reads entries, nodes and checkpoints back', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const first = makeLogBatch(0n, 5);
        const second = makeLogBatch(5n, 4, {
          idempotencyKey: (i) => (i === 6n ? null : `key-${i}`),
        });
        await storage.transaction(async (session) => {
          await session.log.lockForAppend();
          await session.log.appendBatch(first);
        });
        await storage.log.appendBatch(second); // on its own, it still commits atomically
        const log = storage.log;
        assert.equal(await log.treeSize(), 9n);
        assert.deepEqual(await log.entries(0n, 9n), [...first.entries, ...second.entries]);
        assert.deepEqual(await log.entries(3n, 6n), [...first.entries.slice(3), second.entries[0]]);
        assert.deepEqual(await log.entries(9n, 20n), []);
        assert.deepEqual(await log.findEntryByIdempotencyKey('key-7'), second.entries[2]);
        assert.equal(await log.findEntryByIdempotencyKey('key-6'), undefined);
        const found = await log.findEntriesByIdempotencyKeys(['key-1', 'key-8', 'key-1', 'nope']);
        assert.deepEqual(
          found.map((entry) => entry.index).sort((a, b) => Number(a - b)),
          [1n, 8n],
        );
        assert.deepEqual(await log.findEntriesByIdempotencyKeys([]), []);
        const ids = [
          { level: 3, index: 0n },
          { level: 0, index: 8n },
          { level: 1, index: 3n },
          { level: 2, index: 1n },
          { level: 0, index: 0n },
          { level: 1, index: 3n },
        ];
        assert.deepEqual(
          await log.nodes(ids),
          ids.map(({ level, index }) => nodeHash(level, index)),
        );
        assert.deepEqual(
          await log.nodeRange(1, 1n, 4n),
          [1n, 2n, 3n].map((i) => nodeHash(1, i)),
        );
        assert.deepEqual(await log.nodeRange(0, 7n, 9n), [nodeHash(0, 7n), nodeHash(0, 8n)]);
        assert.deepEqual(await log.checkpoint(5n), first.checkpoint);
        assert.deepEqual(await log.latestCheckpoint(), second.checkpoint);
        assert.equal(await log.checkpoint(6n), undefined);
      });

      it('throws CONFLICT when the log is no longer at previousSize, and writes nothing', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.log.appendBatch(makeLogBatch(0n, 3));
        await assert.rejects(storage.log.appendBatch(makeLogBatch(2n, 3)), hasCode('CONFLICT'));
        await assert.rejects(storage.log.appendBatch(makeLogBatch(4n, 3)), hasCode('CONFLICT'));
        assert.equal(await storage.log.treeSize(), 3n);
        assert.deepEqual(await storage.log.entries(3n, 10n), []);
        assert.equal((await storage.log.latestCheckpoint())?.treeSize, 3n);
      });

      it('lets exactly one of two sequencers that read the same size append', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.log.appendBatch(makeLogBatch(0n, 1));
        const size = await storage.log.treeSize();
        const attempt = (label: string) =>
          storage.transaction((session) =>
            session.log.appendBatch(
              makeLogBatch(size, 2, { idempotencyKey: (i) => `${label}-${i}` }),
            ),
          );
        const results = await Promise.allSettled([attempt('a'), attempt('b')]);
        const rejected = results.filter((result) => result.status === 'rejected');
        assert.equal(rejected.length, 1);
        assert.ok(isAppError(rejected[0]?.reason, 'CONFLICT'));
        assert.equal(await storage.log.treeSize(), 3n);
        assert.equal((await storage.log.entries(0n, 10n)).length, 3);
      });

      it('serialises appenders that take the append lock', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const append = (label: string) =>
          storage.transaction(async (session) => {
            await session.log.lockForAppend();
            const size = await session.log.treeSize();
            await session.log.appendBatch(
              makeLogBatch(size, 3, { idempotencyKey: (i) => `${label}-${i}` }),
            );
          });
        await Promise.all(['a', 'b', 'c', 'd'].map(append));
        assert.equal(await storage.log.treeSize(), 12n);
      });

      it('refuses lockForAppend outside a transaction', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await assert.rejects(storage.log.lockForAppend(), hasCode('INTERNAL'));
      });

      it('throws CONFLICT for a reused idempotency key and keeps none of the batch', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.log.appendBatch(makeLogBatch(0n, 2, { idempotencyKey: () => null }));
        await storage.log.appendBatch(makeLogBatch(2n, 2));
        const reuse = makeLogBatch(4n, 3, {
          idempotencyKey: (i) => (i === 5n ? 'key-3' : `new-${i}`),
        });
        await assert.rejects(storage.log.appendBatch(reuse), hasCode('CONFLICT'));
        assert.equal(await storage.log.treeSize(), 4n);
        assert.equal(await storage.log.findEntryByIdempotencyKey('new-4'), undefined);
        assert.equal(await storage.log.checkpoint(7n), undefined);
      });

      it('throws INTERNAL when a node is missing: the tree is incomplete', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.log.appendBatch(makeLogBatch(0n, 3));
        await assert.rejects(storage.log.nodes([{ level: 1, index: 1n }]), hasCode('INTERNAL'));
        await assert.rejects(storage.log.nodes([{ level: 0, index: 3n }]), hasCode('INTERNAL'));
      });

      it('returns nodeRange only up to the first missing node', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.log.appendBatch(makeLogBatch(0n, 6));
        assert.deepEqual(await storage.log.nodeRange(1, 1n, 5n), [
          nodeHash(1, 1n),
          nodeHash(1, 2n),
        ]);
        assert.deepEqual(await storage.log.nodeRange(0, 4n, 8n), [
          nodeHash(0, 4n),
          nodeHash(0, 5n),
        ]);
        assert.deepEqual(await storage.log.nodeRange(2, 1n, 3n), []);
      });

      it('refuses a level-0 node that is not a leaf of the batch', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const batch = makeLogBatch(0n, 2);
        const forged = { ...batch, nodes: [{ level: 0, index: 1n, hash: labelHash('forged') }] };
        await assert.rejects(storage.log.appendBatch(forged), hasCode('INTERNAL'));
        assert.equal(await storage.log.treeSize(), 0n);
      });

      it('keeps sizes and indices beyond 2^53 exact', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const start = 2n ** 60n + 3n; // not representable as a JS number
        await storage.db.updateTable('log_state').set({ tree_size: start }).execute();
        const batch = makeLogBatch(start, 5);
        await storage.log.appendBatch(batch);
        assert.equal(await storage.log.treeSize(), start + 5n);
        assert.deepEqual(
          await storage.log.entries(start + 1n, start + 3n),
          batch.entries.slice(1, 3),
        );
        const lastPair = (start + 4n) >> 1n;
        assert.deepEqual(
          await storage.log.nodes([
            { level: 1, index: lastPair },
            { level: 0, index: start + 4n },
          ]),
          [nodeHash(1, lastPair), nodeHash(0, start + 4n)],
        );
        assert.deepEqual(await storage.log.checkpoint(start + 5n), batch.checkpoint);
        assert.equal(
          (await storage.log.findEntryByIdempotencyKey(`key-${start + 2n}`))?.index,
          start + 2n,
        );
      });
    });

    describe('transaction', () => {
      it('commits the work and resolves with its result', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const result = await storage.transaction(async (session) => {
          await session.apiTokens.insert(token('tok_a', 1000));
          await session.log.appendBatch(makeLogBatch(0n, 2));
          return 'done';
        });
        assert.equal(result, 'done');
        assert.notEqual(await storage.apiTokens.findById('tok_a'), undefined);
        assert.equal(await storage.log.treeSize(), 2n);
      });

      it('rolls everything back when the work throws, and rethrows its error', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const failure = new Error('policy engine crashed');
        await assert.rejects(
          storage.transaction(async (session) => {
            await session.apiTokens.insert(token('tok_a', 1000));
            await session.log.appendBatch(makeLogBatch(0n, 2));
            throw failure;
          }),
          (error) => error === failure,
        );
        assert.equal(await storage.apiTokens.findById('tok_a'), undefined);
        assert.equal(await storage.log.treeSize(), 0n);
        assert.equal(await storage.log.latestCheckpoint(), undefined);
      });

      it('never mixes the statements of concurrent transactions', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const runs = Array.from({ length: 12 }, (_, i) =>
          storage.transaction(async (session) => {
            await session.apiTokens.insert(token(`tok_${i}_a`, i));
            await new Promise((resolve) => setImmediate(resolve));
            await session.apiTokens.insert(token(`tok_${i}_b`, i));
            if (i % 2 === 1) throw new Error(`abort ${i}`);
          }),
        );
        const results = await Promise.allSettled(runs);
        assert.deepEqual(
          results.map((result) => result.status),
          results.map((_, i) => (i % 2 === 1 ? 'rejected' : 'fulfilled')),
        );
        const ids = (await storage.apiTokens.list()).map((record) => record.id).sort();
        const expected = [0, 2, 4, 6, 8, 10].flatMap((i) => [`tok_${i}_a`, `tok_${i}_b`]).sort();
        assert.deepEqual(ids, expected);
      });

      it('refuses calls on the storage itself from inside the work instead of hanging', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.transaction(async (session) => {
          await session.apiTokens.insert(token('tok_a', 1000));
          await assert.rejects(storage.apiTokens.findById('tok_a'), hasCode('INTERNAL'));
          await assert.rejects(
            storage.transaction(() => Promise.resolve()),
            hasCode('INTERNAL'),
          );
        });
        assert.notEqual(await storage.apiTokens.findById('tok_a'), undefined);
      });

      it('refuses a session used after its transaction ended', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const leaked = await storage.transaction((session) => Promise.resolve(session));
        await assert.rejects(leaked.apiTokens.list(), hasCode('INTERNAL'));
      });
    });

    describe('close', () => {
      it('makes every later call throw STORAGE_UNAVAILABLE, and is idempotent', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.close();
        await storage.close();
        await assert.rejects(storage.log.treeSize(), hasCode('STORAGE_UNAVAILABLE'));
        await assert.rejects(
          storage.transaction(() => Promise.resolve()),
          hasCode('STORAGE_UNAVAILABLE'),
        );
        const health = await storage.health();
        assert.equal(health.reachable, false);
        assert.equal(health.schemaVersion, CODE_SCHEMA_VERSION);
      });

      it('waits for running transactions before closing', async (t) => {
        const { storage, options } = await openFreshStorage(t, engine);
        let closed = false;
        const running = storage.transaction(async (session) => {
          await new Promise((resolve) => setImmediate(resolve));
          assert.equal(closed, false);
          await session.apiTokens.insert(token('tok_a', 1000));
        });
        await new Promise((resolve) => setImmediate(resolve));
        await storage.close();
        closed = true;
        await running;
        const reopened: Storage = await openStorage(options);
        t.after(() => reopened.close());
        assert.notEqual(await reopened.apiTokens.findById('tok_a'), undefined);
      });
    });
  });
}
