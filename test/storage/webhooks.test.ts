/**
 * The webhook repository and the notifications outbox, on SQLite and PostgreSQL alike.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isAppError } from '../../src/core/errors.ts';
import type { WebhookRecord } from '../../src/core/ports.ts';
import { requireComponentForSuite } from '../support/components.ts';
import { createTestStorageEngines, openFreshStorage } from '../support/storage-engines.ts';

const T0 = Date.parse('2026-03-01T12:00:00Z');

function webhook(id: string, overrides: Partial<WebhookRecord> = {}): WebhookRecord {
  return {
    id,
    url: `https://hooks.example/${id}`,
    events: ['request.created', 'exception.used'],
    secret: `whsec_${id}`,
    enabled: true,
    createdAt: new Date(T0),
    createdBy: 'admintoken',
    ...overrides,
  };
}

for (const engine of createTestStorageEngines()) {
  describe(`webhooks on ${engine.engine}`, () => {
    if (!requireComponentForSuite(engine.component, engine.isAvailable, engine.missingReason))
      return;
    after(() => engine.dispose());

    it('stores a webhook and reads it back, secret included', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      await storage.webhooks.insert(webhook('wh_a'));
      assert.deepEqual(await storage.webhooks.findById('wh_a'), webhook('wh_a'));
      assert.equal(await storage.webhooks.findById('wh_missing'), undefined);
    });

    it('throws CONFLICT for a repeated id', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      await storage.webhooks.insert(webhook('wh_a'));
      await assert.rejects(storage.webhooks.insert(webhook('wh_a')), (error: unknown) =>
        isAppError(error, 'CONFLICT'),
      );
    });

    it('lists webhooks oldest first', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      await storage.webhooks.insert(webhook('wh_b', { createdAt: new Date(T0 + 1000) }));
      await storage.webhooks.insert(webhook('wh_a', { createdAt: new Date(T0) }));
      assert.deepEqual(
        (await storage.webhooks.list()).map((record) => record.id),
        ['wh_a', 'wh_b'],
      );
    });

    describe('notifications.enqueue', () => {
      it('queues one pending delivery per enabled webhook subscribed to the event', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.webhooks.insert(webhook('wh_a'));
        await storage.webhooks.insert(webhook('wh_b', { events: ['request.approved'] }));
        await storage.webhooks.insert(webhook('wh_c', { enabled: false }));
        const at = new Date(T0 + 5000);
        await storage.notifications.enqueue('request.created', { requestId: 'rq_1' }, at);

        const [delivery, ...rest] = await storage.webhooks.listDeliveries('wh_a', 10);
        assert.equal(rest.length, 0);
        assert.ok(delivery !== undefined);
        assert.match(delivery.id, /^dl_[0-9a-f]{32}$/);
        assert.equal(delivery.state, 'pending');
        assert.equal(delivery.attempts, 0);
        assert.deepEqual(delivery.nextAttemptAt, at);
        assert.deepEqual(JSON.parse(delivery.body), {
          id: delivery.id,
          event: 'request.created',
          occurredAt: at.toISOString(),
          data: { requestId: 'rq_1' },
        });
        assert.deepEqual(await storage.webhooks.listDeliveries('wh_b', 10), []);
        assert.deepEqual(await storage.webhooks.listDeliveries('wh_c', 10), []);
      });

      it('writes nothing when the caller’s transaction rolls back', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.webhooks.insert(webhook('wh_a'));
        await assert.rejects(
          storage.transaction(async (session) => {
            await session.notifications.enqueue('exception.used', { id: 'ex_1' }, new Date(T0));
            throw new Error('the state change failed');
          }),
          /the state change failed/,
        );
        assert.deepEqual(await storage.webhooks.listDeliveries('wh_a', 10), []);
        await storage.transaction((session) =>
          session.notifications.enqueue('exception.used', { id: 'ex_1' }, new Date(T0)),
        );
        assert.equal((await storage.webhooks.listDeliveries('wh_a', 10)).length, 1);
      });
    });

    describe('delivery scheduling', () => {
      it('hands a due delivery to exactly one claimant and records attempts', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.webhooks.insert(webhook('wh_a'));
        await storage.notifications.enqueue('request.created', {}, new Date(T0));
        assert.deepEqual(await storage.webhooks.dueDeliveries(new Date(T0 - 1), 10), []);
        const [due] = await storage.webhooks.dueDeliveries(new Date(T0), 10);
        assert.ok(due !== undefined);

        const now = new Date(T0 + 1);
        const lease = new Date(T0 + 30_000);
        const claims = await Promise.all([
          storage.webhooks.claimDelivery(due.id, now, lease),
          storage.webhooks.claimDelivery(due.id, now, lease),
        ]);
        assert.deepEqual(claims.sort(), [false, true]);
        assert.deepEqual(await storage.webhooks.dueDeliveries(now, 10), []);
        // The lease runs out: due again.
        assert.equal((await storage.webhooks.dueDeliveries(lease, 10)).length, 1);

        await storage.webhooks.recordAttempt(due.id, {
          state: 'pending',
          attempts: 1,
          nextAttemptAt: new Date(T0 + 60_000),
          lastStatusCode: 503,
          lastError: 'HTTP 503: busy',
          at: new Date(T0 + 2),
        });
        const [after1] = await storage.webhooks.listDeliveries('wh_a', 10);
        assert.equal(after1?.attempts, 1);
        assert.equal(after1?.lastStatusCode, 503);
        assert.equal(after1?.lastError, 'HTTP 503: busy');
        assert.deepEqual(after1?.updatedAt, new Date(T0 + 2));

        await storage.webhooks.recordAttempt(due.id, {
          state: 'delivered',
          attempts: 2,
          nextAttemptAt: null,
          lastStatusCode: 204,
          lastError: null,
          at: new Date(T0 + 60_001),
        });
        assert.deepEqual(await storage.webhooks.dueDeliveries(new Date(T0 + 10 ** 9), 10), []);
        assert.equal(
          await storage.webhooks.claimDelivery(due.id, new Date(T0 + 10 ** 9), lease),
          false,
        );
      });

      it('throws NOT_FOUND recording an attempt of an unknown delivery', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await assert.rejects(
          storage.webhooks.recordAttempt('dl_missing', {
            state: 'failed',
            attempts: 1,
            nextAttemptAt: null,
            lastStatusCode: null,
            lastError: 'x',
            at: new Date(T0),
          }),
          (error: unknown) => isAppError(error, 'NOT_FOUND'),
        );
      });

      it('lists deliveries newest first, within the limit', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.webhooks.insert(webhook('wh_a'));
        for (let i = 0; i < 3; i += 1) {
          await storage.notifications.enqueue('request.created', { i }, new Date(T0 + i * 1000));
        }
        const listed = await storage.webhooks.listDeliveries('wh_a', 2);
        assert.deepEqual(
          listed.map((delivery) => (JSON.parse(delivery.body) as { data: { i: number } }).data.i),
          [2, 1],
        );
      });
    });

    it('deletes a webhook with its deliveries', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      await storage.webhooks.insert(webhook('wh_a'));
      await storage.notifications.enqueue('request.created', {}, new Date(T0));
      assert.equal(await storage.webhooks.delete('wh_a'), true);
      assert.equal(await storage.webhooks.delete('wh_a'), false);
      assert.deepEqual(await storage.webhooks.dueDeliveries(new Date(T0 + 1), 10), []);
      assert.deepEqual(await storage.webhooks.list(), []);
    });
  });
}
