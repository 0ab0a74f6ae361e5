/**
 * Exceptions in storage, on SQLite and PostgreSQL alike: the repository contract and the
 * single-use guarantee of `consumeExceptionUse` under contention (threat model E1, FT-9).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { consumeExceptionUse, findUsableException } from '../../src/app/exceptions.ts';
import { isAppError } from '../../src/core/errors.ts';
import type { ExceptionRecord, Storage } from '../../src/core/ports.ts';
import { requireComponentForSuite } from '../support/components.ts';
import { createTestStorageEngines, openFreshStorage } from '../support/storage-engines.ts';

const T0 = Date.parse('2026-05-01T10:00:00Z');
const HOUR = 3_600_000;

function exception(id: string, overrides: Partial<ExceptionRecord> = {}): ExceptionRecord {
  return {
    id,
    product: 'payments',
    channel: 'prod',
    waives: ['approvals', 'changeWindow'],
    reason: 'incident 42: hotfix',
    requestedBy: 'bob',
    durationSeconds: 7200,
    maxUses: 1,
    state: 'pending',
    notAfter: null,
    uses: 0,
    governanceVersion: 1,
    createdAt: new Date(T0),
    activatedAt: null,
    endedAt: null,
    endedBy: null,
    reviewDueAt: null,
    reviewedAt: null,
    reviewedBy: null,
    reviewFindings: null,
    reviewOverdueNotifiedAt: null,
    ...overrides,
  };
}

/** Inserts an exception already approved at T0 and usable for two hours. */
async function insertActive(storage: Storage, id: string, maxUses: number): Promise<void> {
  await storage.exceptions.insert(exception(id, { maxUses }));
  assert.equal(
    await storage.exceptions.activate(id, {
      at: new Date(T0),
      notAfter: new Date(T0 + 2 * HOUR),
      reviewDueAt: new Date(T0 + 74 * HOUR),
    }),
    true,
  );
}

function hasCode(code: string) {
  return (error: unknown): boolean => {
    assert.ok(isAppError(error), `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

for (const engine of createTestStorageEngines()) {
  describe(`Exceptions in storage on ${engine.engine}`, () => {
    if (!requireComponentForSuite(engine.component, engine.isAvailable, engine.missingReason))
      return;
    after(() => engine.dispose());

    it('stores an exception and reads it back field for field', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      const record = exception('ex_0000000000000001');
      await storage.exceptions.insert(record);
      assert.deepEqual(await storage.exceptions.findById(record.id), record);
      await assert.rejects(storage.exceptions.insert(record), hasCode('CONFLICT'));
      assert.equal(await storage.exceptions.findById('ex_0000000000000009'), undefined);
    });

    it('counts one vote per person', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      await storage.exceptions.insert(exception('ex_0000000000000001'));
      const vote = {
        exceptionId: 'ex_0000000000000001',
        userId: 'erin',
        decision: 'approve' as const,
        comment: 'go',
        createdAt: new Date(T0),
      };
      await storage.exceptions.insertApproval(vote);
      await assert.rejects(
        storage.exceptions.insertApproval({ ...vote, decision: 'reject' }),
        hasCode('CONFLICT'),
      );
      assert.deepEqual(await storage.exceptions.listApprovals('ex_0000000000000001'), [vote]);
    });

    it('activates only a pending exception and ends it only from the given states', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      await insertActive(storage, 'ex_0000000000000001', 3);
      const activation = {
        at: new Date(T0),
        notAfter: new Date(T0 + HOUR),
        reviewDueAt: new Date(T0 + HOUR),
      };
      assert.equal(await storage.exceptions.activate('ex_0000000000000001', activation), false);
      const change = { to: 'cancelled' as const, at: new Date(T0 + 1), by: 'alice' };
      assert.equal(
        await storage.exceptions.end('ex_0000000000000001', { ...change, from: ['pending'] }),
        false,
      );
      assert.equal(
        await storage.exceptions.end('ex_0000000000000001', { ...change, from: ['active'] }),
        true,
      );
      const ended = await storage.exceptions.findById('ex_0000000000000001');
      assert.equal(ended?.state, 'cancelled');
      assert.equal(ended.endedBy, 'alice');
    });

    it('finds usable exceptions only while active, in time and with uses left', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      await insertActive(storage, 'ex_0000000000000001', 1);
      await storage.exceptions.insert(exception('ex_0000000000000002'));
      const now = new Date(T0 + HOUR);
      const usable = await findUsableException(storage, 'payments', 'prod', now);
      assert.equal(usable?.id, 'ex_0000000000000001');
      assert.deepEqual(usable.waives, ['approvals', 'changeWindow']);
      assert.equal(await findUsableException(storage, 'payments', 'dev', now), undefined);
      const late = new Date(T0 + 2 * HOUR);
      assert.equal(await findUsableException(storage, 'payments', 'prod', late), undefined);
      await storage.transaction((s) => consumeExceptionUse(s, 'ex_0000000000000001', now));
      assert.equal(await findUsableException(storage, 'payments', 'prod', now), undefined);
    });

    it('refuses a use past notAfter, out of uses, or of an exception that is not active', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      await insertActive(storage, 'ex_0000000000000001', 2);
      await storage.exceptions.insert(exception('ex_0000000000000002'));
      const consume = (id: string, at: number) =>
        storage.transaction((session) => consumeExceptionUse(session, id, new Date(at)));
      await assert.rejects(consume('ex_0000000000000001', T0 + 2 * HOUR), hasCode('CONFLICT'));
      await assert.rejects(consume('ex_0000000000000002', T0), hasCode('CONFLICT'));
      await assert.rejects(consume('ex_0000000000000404', T0), hasCode('CONFLICT'));
      assert.equal(await consume('ex_0000000000000001', T0 + HOUR), 1);
      assert.equal(await consume('ex_0000000000000001', T0 + HOUR), 2);
      await assert.rejects(consume('ex_0000000000000001', T0 + HOUR), /2 of 2 uses/);
      assert.equal((await storage.exceptions.findById('ex_0000000000000001'))?.uses, 2);
    });

    it('spends the one use of an exception once among 50 parallel signings', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      await insertActive(storage, 'ex_0000000000000001', 1);
      const now = new Date(T0 + HOUR);
      const outcomes = await Promise.allSettled(
        Array.from({ length: 50 }, () =>
          storage.transaction((session) =>
            consumeExceptionUse(session, 'ex_0000000000000001', now),
          ),
        ),
      );
      const won = outcomes.filter((o) => o.status === 'fulfilled');
      assert.equal(won.length, 1);
      assert.equal(won[0]?.value, 1);
      for (const lost of outcomes.filter((o) => o.status === 'rejected')) {
        assert.ok(isAppError(lost.reason, 'CONFLICT'), String(lost.reason));
      }
      assert.equal((await storage.exceptions.findById('ex_0000000000000001'))?.uses, 1);
      assert.deepEqual(
        (await storage.exceptions.listUnloggedUses(10)).map((u) => [u.exceptionId, u.use]),
        [['ex_0000000000000001', 1]],
      );
    });

    it('keeps a use and its outbox row out when the signing transaction rolls back', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      await insertActive(storage, 'ex_0000000000000001', 1);
      await assert.rejects(
        storage.transaction(async (session) => {
          await consumeExceptionUse(session, 'ex_0000000000000001', new Date(T0 + HOUR));
          throw new Error('the log entry could not be written');
        }),
        /could not be written/,
      );
      assert.equal((await storage.exceptions.findById('ex_0000000000000001'))?.uses, 0);
      assert.deepEqual(await storage.exceptions.listUnloggedUses(10), []);
    });

    it('marks a use logged once', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      await insertActive(storage, 'ex_0000000000000001', 1);
      await storage.transaction((s) =>
        consumeExceptionUse(s, 'ex_0000000000000001', new Date(T0 + HOUR)),
      );
      assert.equal(await storage.exceptions.markUseLogged('ex_0000000000000001', 1, 17n), true);
      assert.equal(await storage.exceptions.markUseLogged('ex_0000000000000001', 1, 18n), false);
      assert.deepEqual(await storage.exceptions.listUnloggedUses(10), []);
    });

    it('records a review once, only after activation, and lists overdue reviews', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      await insertActive(storage, 'ex_0000000000000001', 1);
      await storage.exceptions.insert(exception('ex_0000000000000002'));
      const review = { at: new Date(T0 + 80 * HOUR), by: 'carol', findings: 'fine' };
      const overdueAt = new Date(T0 + 75 * HOUR);
      assert.deepEqual(
        (await storage.exceptions.list({ reviewOverdueAt: overdueAt, limit: 10 })).map((r) => r.id),
        ['ex_0000000000000001'],
      );
      assert.deepEqual(
        await storage.exceptions.list({ reviewOverdueAt: new Date(T0), limit: 10 }),
        [],
      );
      assert.equal(await storage.exceptions.recordReview('ex_0000000000000002', review), false);
      assert.equal(await storage.exceptions.recordReview('ex_0000000000000001', review), true);
      assert.equal(await storage.exceptions.recordReview('ex_0000000000000001', review), false);
      assert.deepEqual(
        await storage.exceptions.list({ reviewOverdueAt: overdueAt, limit: 10 }),
        [],
      );
      const reviewed = await storage.exceptions.findById('ex_0000000000000001');
      assert.equal(reviewed?.reviewedBy, 'carol');
      assert.equal(reviewed.reviewFindings, 'fine');
      assert.equal(
        await storage.exceptions.markReviewOverdueNotified('ex_0000000000000001', overdueAt),
        true,
      );
      assert.equal(
        await storage.exceptions.markReviewOverdueNotified('ex_0000000000000001', overdueAt),
        false,
      );
    });
  });
}
