import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, describe, it } from 'node:test';
import { isAppError } from '../core/errors.ts';
import type { ApiTokenRecord, StorageSession } from '../core/ports.ts';
import { createSqliteTestEngine, openFreshStorage } from '../../test/support/storage-engines.ts';
import { createGroupCommit } from './group-commit.ts';

const engine = createSqliteTestEngine();
after(() => engine.dispose());

function token(id: string): ApiTokenRecord {
  return {
    id,
    name: `token ${id}`,
    role: 'approver',
    userId: null,
    secretHash: new Uint8Array(createHash('sha256').update(id).digest()),
    createdAt: new Date(1_000),
    expiresAt: null,
    revokedAt: null,
  };
}

describe('createGroupCommit', () => {
  it('commits concurrent writes together, and each caller resolves once its write is durable', async (t) => {
    const { storage } = await openFreshStorage(t, engine);
    let transactions = 0;
    const counted = {
      transaction<T>(work: (session: StorageSession) => Promise<T>): Promise<T> {
        transactions += 1;
        return storage.transaction(work);
      },
    };
    const insert = createGroupCommit<ApiTokenRecord>(counted, (session, record) =>
      session.apiTokens.insert(record),
    );
    const ids = Array.from({ length: 50 }, (_, i) => `tok_${String(i)}`);
    await Promise.all(ids.map((id) => insert(token(id))));
    // The first write commits alone; the 49 that queued behind it share the next transaction.
    assert.equal(transactions, 2);
    assert.deepEqual(
      (await storage.apiTokens.list()).map((record) => record.id).sort(),
      [...ids].sort(),
    );
  });

  it('rejects only the write that fails; its neighbours in the batch still commit', async (t) => {
    const { storage } = await openFreshStorage(t, engine);
    await storage.apiTokens.insert(token('tok_taken'));
    const insert = createGroupCommit<ApiTokenRecord>(storage, (session, record) =>
      session.apiTokens.insert(record),
    );
    const results = await Promise.allSettled([
      insert(token('tok_first')),
      insert(token('tok_a')),
      insert(token('tok_taken')),
      insert(token('tok_b')),
    ]);
    assert.deepEqual(
      results.map((result) => result.status),
      ['fulfilled', 'fulfilled', 'rejected', 'fulfilled'],
    );
    const rejected = results[2];
    assert.ok(rejected?.status === 'rejected' && isAppError(rejected.reason));
    assert.equal(rejected.reason.code, 'CONFLICT');
    assert.deepEqual((await storage.apiTokens.list()).map((record) => record.id).sort(), [
      'tok_a',
      'tok_b',
      'tok_first',
      'tok_taken',
    ]);
  });

  it('keeps serving after storage fails a batch', async (t) => {
    const { storage } = await openFreshStorage(t, engine);
    let failNext = true;
    const flaky = {
      transaction<T>(work: (session: StorageSession) => Promise<T>): Promise<T> {
        if (failNext) {
          failNext = false;
          return Promise.reject(new Error('disk on fire'));
        }
        return storage.transaction(work);
      },
    };
    const insert = createGroupCommit<ApiTokenRecord>(flaky, (session, record) =>
      session.apiTokens.insert(record),
    );
    await assert.rejects(insert(token('tok_lost')), /disk on fire/);
    await insert(token('tok_kept'));
    assert.deepEqual(
      (await storage.apiTokens.list()).map((record) => record.id),
      ['tok_kept'],
    );
  });
});
