/**
 * Exceptions (break-glass) as use cases, on the real composition: who may ask and approve
 * (governance + Cedar), M-of-N, expiry by time and by uses, reviews and the overdue-review block,
 * the log events and notifications every change leaves behind.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import {
  consumeExceptionUse,
  findUsableException,
  type Exceptions,
  type RequestExceptionInput,
} from '../../src/app/exceptions.ts';
import { composeApp, type ComposedApp } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { NOTIFICATION_EVENTS, type GovernanceActor } from '../../src/core/ports.ts';
import { createFakeClock, type FakeClock } from '../http/fixture.ts';
import { hasCode, readEvents } from '../governance/governance-fixture.ts';
import { requireComponentForSuite } from '../support/components.ts';
import { createTestStorageEngines, openFreshStorage } from '../support/storage-engines.ts';

const ACTOR: GovernanceActor = { kind: 'system', id: 'test', name: 'test' };
const MINUTE = 60_000;
const HOUR = 60 * MINUTE;

/** Governance with an emergency group of three (bob, erin, frank) on payments/prod. */
function governance(exceptions: string): string {
  return `apiVersion: countersign.dev/v1
kind: Governance
products:
  - name: payments
    owner: payments-team
    channels:
      - name: dev
      - name: prod
        approval: { required: 1, group: payments-approvers }
        emergencyGroup: emergency
users:
  - { id: alice, email: alice@acme.example, roles: [admin] }
  - { id: bob, email: bob@acme.example, roles: [approver] }
  - { id: carol, email: carol@acme.example, roles: [security] }
  - { id: dave, email: dave@acme.example, roles: [auditor] }
  - { id: erin, email: erin@acme.example, roles: [security] }
  - { id: frank, email: frank@acme.example, roles: [approver] }
  - { id: gina, email: gina@acme.example, roles: [approver] }
groups:
  - { name: payments-approvers, purpose: approvers, members: [bob, gina] }
  - { name: payments-team, purpose: owners, members: [alice] }
  - { name: emergency, purpose: emergency, members: [bob, erin, frank] }
${exceptions}`;
}

const RULES =
  'exceptions: { required: 2, maxDuration: 4h, maxUses: 3, reviewWithin: 24h, blockWhenReviewOverdue: true }\n';

const HOTFIX: RequestExceptionInput = {
  product: 'payments',
  channel: 'prod',
  waives: ['changeWindow', 'approvals'],
  reason: 'INC-42: payment outage, hotfix must ship now',
  durationSeconds: 2 * 3600,
  maxUses: 2,
};

const as = (userId: string) => ({ userId });

interface Fixture {
  readonly app: ComposedApp;
  readonly exceptions: Exceptions;
  readonly clock: FakeClock;
}

for (const engine of createTestStorageEngines()) {
  describe(`Exceptions on ${engine.engine}`, () => {
    if (!requireComponentForSuite(engine.component, engine.isAvailable, engine.missingReason))
      return;
    after(() => engine.dispose());

    async function open(t: TestContext, rules = RULES): Promise<Fixture> {
      const { storage } = await openFreshStorage(t, engine);
      const dataDir = await mkdtemp(join(tmpdir(), 'countersign-exceptions-'));
      t.after(() => rm(dataDir, { recursive: true, force: true }));
      const clock = createFakeClock();
      const config = loadConfig({ env: {}, argv: ['--data-dir', dataDir], cwd: dataDir });
      const app = await composeApp(config, {}, { storage, clock });
      t.after(() => app.close());
      await app.services.governance.apply(
        { file: { name: 'governance.yaml', text: governance(rules) }, policies: [] },
        ACTOR,
      );
      // A receiver for every notification, so the outbox shows what was announced.
      await storage.webhooks.insert({
        id: 'wh_test',
        url: 'https://hooks.acme.example/countersign',
        events: NOTIFICATION_EVENTS,
        secret: 'test-secret',
        enabled: true,
        createdAt: clock.now(),
        createdBy: 'test',
      });
      return { app, exceptions: app.services.exceptions, clock };
    }

    /** The notifications queued so far, sorted (several share one instant of the fake clock). */
    async function notified(app: ComposedApp): Promise<string[]> {
      const deliveries = await app.storage.webhooks.listDeliveries('wh_test', 100);
      return deliveries.map((d) => d.event).sort();
    }

    async function eventKinds(app: ComposedApp): Promise<string[]> {
      return (await readEvents(app.storage))
        .map((e) => e.kind)
        .filter((kind) => kind.startsWith('exception.'));
    }

    /** Requested by bob, approved by erin and frank. */
    async function activeException(f: Fixture, input = HOTFIX): Promise<string> {
      const requested = await f.exceptions.request(as('bob'), input);
      await f.exceptions.vote(as('erin'), requested.id, { decision: 'approve', comment: '' });
      const approved = await f.exceptions.vote(as('frank'), requested.id, {
        decision: 'approve',
        comment: 'ok',
      });
      assert.equal(approved.state, 'active');
      return requested.id;
    }

    it('activates an exception once two distinct emergency members approve it', async (t) => {
      const f = await open(t);
      const requested = await f.exceptions.request(as('bob'), HOTFIX);
      assert.match(requested.id, /^ex_[0-9a-f]{16}$/);
      assert.equal(requested.state, 'pending');
      assert.deepEqual(requested.waives, ['approvals', 'changeWindow']);
      assert.deepEqual(requested.approvals, { required: 2, count: 0, submitted: [] });

      f.clock.advance(5 * MINUTE);
      const once = await f.exceptions.vote(as('erin'), requested.id, {
        decision: 'approve',
        comment: 'seen the incident',
      });
      assert.equal(once.state, 'pending');
      assert.equal(once.approvals.count, 1);
      await assert.rejects(
        f.exceptions.vote(as('erin'), requested.id, { decision: 'approve', comment: '' }),
        hasCode('CONFLICT'),
      );
      assert.equal(
        await findUsableException(f.app.storage, 'payments', 'prod', f.clock.now()),
        undefined,
      );

      f.clock.advance(5 * MINUTE);
      const approvedAt = f.clock.now();
      const approved = await f.exceptions.vote(as('frank'), requested.id, {
        decision: 'approve',
        comment: '',
      });
      assert.equal(approved.state, 'active');
      assert.equal(approved.notAfter?.getTime(), approvedAt.getTime() + 2 * HOUR);
      assert.equal(approved.review.dueAt?.getTime(), approvedAt.getTime() + 26 * HOUR);
      const usable = await findUsableException(f.app.storage, 'payments', 'prod', approvedAt);
      assert.deepEqual(usable, {
        id: requested.id,
        waives: ['approvals', 'changeWindow'],
        reason: HOTFIX.reason,
        requestedBy: 'bob',
        approvedBy: ['erin', 'frank'],
        notAfter: approved.notAfter,
        maxUses: 2,
        uses: 0,
      });
      assert.deepEqual(await eventKinds(f.app), [
        'exception.requested',
        'exception.approval-submitted',
        'exception.approved',
      ]);
      assert.deepEqual(await notified(f.app), ['exception.approved', 'exception.requested']);
      await assert.rejects(
        f.exceptions.vote(as('erin'), requested.id, { decision: 'reject', comment: 'late' }),
        hasCode('CONFLICT'),
      );
    });

    it('counts simultaneous approvals once each and activates once', async (t) => {
      const f = await open(t);
      const requested = await f.exceptions.request(as('carol'), HOTFIX);
      await Promise.all(
        ['bob', 'erin', 'frank'].map((who) =>
          f.exceptions
            .vote(as(who), requested.id, { decision: 'approve', comment: '' })
            .catch((error: unknown) => {
              // A vote arriving after the quorum finds the exception active already.
              assert.ok(hasCode('CONFLICT')(error));
            }),
        ),
      );
      const shown = await f.exceptions.show(as('carol'), requested.id);
      assert.equal(shown.state, 'active');
      assert.ok(shown.approvals.count >= 2);
      const kinds = await eventKinds(f.app);
      assert.equal(kinds.filter((k) => k === 'exception.approved').length, 1);
    });

    it('refuses the requester as an approver of their own exception', async (t) => {
      const f = await open(t);
      const requested = await f.exceptions.request(as('bob'), HOTFIX);
      await assert.rejects(
        f.exceptions.vote(as('bob'), requested.id, { decision: 'approve', comment: '' }),
        (error: unknown) =>
          hasCode('FORBIDDEN')(error) && /you asked for this exception/.test(String(error)),
      );
      assert.equal((await f.exceptions.show(as('bob'), requested.id)).approvals.count, 0);
    });

    it('refuses votes from people outside the emergency group and requests from auditors', async (t) => {
      const f = await open(t);
      const requested = await f.exceptions.request(as('carol'), HOTFIX);
      await assert.rejects(
        f.exceptions.vote(as('gina'), requested.id, { decision: 'approve', comment: '' }),
        hasCode('FORBIDDEN'),
      );
      await assert.rejects(
        f.exceptions.vote(as('mallory'), requested.id, { decision: 'approve', comment: '' }),
        hasCode('FORBIDDEN'),
      );
      await assert.rejects(f.exceptions.request(as('dave'), HOTFIX), hasCode('FORBIDDEN'));
    });

    it('ends an exception at the first rejection by an eligible member', async (t) => {
      const f = await open(t);
      const requested = await f.exceptions.request(as('bob'), HOTFIX);
      await f.exceptions.vote(as('erin'), requested.id, { decision: 'approve', comment: '' });
      const rejected = await f.exceptions.vote(as('frank'), requested.id, {
        decision: 'reject',
        comment: 'roll back instead',
      });
      assert.equal(rejected.state, 'rejected');
      assert.equal(rejected.endedBy, 'frank');
      assert.deepEqual(await notified(f.app), ['exception.rejected', 'exception.requested']);
      // The channel is free again.
      await f.exceptions.request(as('bob'), HOTFIX);
    });

    it('refuses waivers, durations and use counts outside governance', async (t) => {
      const f = await open(t);
      const bad: Partial<RequestExceptionInput>[] = [
        { waives: ['entitlement'] },
        { waives: [] },
        { durationSeconds: 5 * 3600 },
        { maxUses: 4 },
        { channel: 'staging' },
        { reason: '  ' },
      ];
      for (const change of bad) {
        await assert.rejects(
          f.exceptions.request(as('bob'), { ...HOTFIX, ...change }),
          hasCode('INVALID_INPUT'),
          JSON.stringify(change),
        );
      }
      await assert.rejects(
        f.exceptions.request(as('bob'), { ...HOTFIX, channel: 'dev' }),
        (error: unknown) =>
          hasCode('POLICY_DENIED')(error) && /no emergencyGroup/.test(String(error)),
      );
    });

    it('allows one open exception per channel', async (t) => {
      const f = await open(t);
      const first = await f.exceptions.request(as('bob'), HOTFIX);
      await assert.rejects(
        f.exceptions.request(as('carol'), HOTFIX),
        (error: unknown) => hasCode('CONFLICT')(error) && String(error).includes(first.id),
      );
    });

    it('is never usable past its time, and records the expiry when it is noticed', async (t) => {
      const f = await open(t);
      const id = await activeException(f);
      f.clock.advance(2 * HOUR);
      const now = f.clock.now();
      assert.equal(await findUsableException(f.app.storage, 'payments', 'prod', now), undefined);
      await assert.rejects(
        f.app.storage.transaction((s) => consumeExceptionUse(s, id, now)),
        hasCode('CONFLICT'),
      );
      assert.equal((await f.exceptions.show(as('carol'), id)).state, 'expired');
      const events = await readEvents(f.app.storage);
      const expired = events.filter((e) => e.kind === 'exception.expired');
      assert.equal(expired.length, 1);
      assert.equal(expired[0]?.body['cause'], 'time');
      assert.equal((await f.app.storage.exceptions.findById(id))?.state, 'expired');
      await f.exceptions.sweep();
      assert.equal((await eventKinds(f.app)).filter((k) => k === 'exception.expired').length, 1);
    });

    it('is never usable once its uses are spent, and logs every use', async (t) => {
      const f = await open(t);
      const id = await activeException(f);
      const now = f.clock.now();
      const spend = () => f.app.storage.transaction((s) => consumeExceptionUse(s, id, now));
      assert.equal(await spend(), 1);
      assert.equal(await spend(), 2);
      await assert.rejects(spend(), hasCode('CONFLICT'));
      assert.equal(await findUsableException(f.app.storage, 'payments', 'prod', now), undefined);
      await f.exceptions.sweep();
      await f.exceptions.sweep();
      const events = await readEvents(f.app.storage);
      assert.deepEqual(
        events.filter((e) => e.kind === 'exception.used').map((e) => e.body['use']),
        [1, 2],
      );
      const expired = events.find((e) => e.kind === 'exception.expired');
      assert.equal(expired?.body['state'], 'exhausted');
      assert.equal((await f.exceptions.show(as('bob'), id)).state, 'exhausted');
      assert.deepEqual(await notified(f.app), [
        'exception.approved',
        'exception.expired',
        'exception.requested',
        'exception.used',
        'exception.used',
      ]);
    });

    it('blocks new exceptions for the product while a review is overdue, until it is done', async (t) => {
      const f = await open(t);
      const id = await activeException(f);
      await assert.rejects(
        f.exceptions.review(as('carol'), id, 'too early'),
        hasCode('CONFLICT'),
        'still usable',
      );
      f.clock.advance(27 * HOUR);
      await assert.rejects(f.exceptions.request(as('carol'), HOTFIX), (error: unknown) => {
        assert.ok(hasCode('POLICY_DENIED')(error));
        const text = `${String(error)} ${(error as { hint?: string }).hint ?? ''}`;
        assert.ok(text.includes(id), text);
        assert.match(text, /countersign exception review ex_[0-9a-f]{16} --findings/);
        return true;
      });
      const overdue = await f.exceptions.list(as('dave'), { overdue: true });
      assert.deepEqual(
        overdue.map((e) => e.id),
        [id],
      );
      assert.ok((await notified(f.app)).includes('exception.review-overdue'));
      // Neither its requester nor its approvers may review it; an auditor may not either.
      for (const who of ['bob', 'erin', 'frank', 'dave']) {
        await assert.rejects(f.exceptions.review(as(who), id, 'fine'), hasCode('FORBIDDEN'), who);
      }
      const reviewed = await f.exceptions.review(as('carol'), id, 'Hotfix 1.4.2 only; RCA filed.');
      assert.equal(reviewed.review.reviewedBy, 'carol');
      assert.equal(reviewed.review.overdue, false);
      await assert.rejects(f.exceptions.review(as('gina'), id, 'again'), hasCode('CONFLICT'));
      assert.deepEqual(await f.exceptions.list(as('dave'), { overdue: true }), []);
      const next = await f.exceptions.request(as('carol'), HOTFIX);
      assert.equal(next.state, 'pending');
      assert.ok((await eventKinds(f.app)).includes('exception.reviewed'));
    });

    it('does not block new exceptions on an overdue review when governance says so', async (t) => {
      const f = await open(
        t,
        'exceptions: { required: 1, reviewWithin: 1h, blockWhenReviewOverdue: false }\n',
      );
      const requested = await f.exceptions.request(as('bob'), HOTFIX);
      await f.exceptions.vote(as('erin'), requested.id, { decision: 'approve', comment: '' });
      f.clock.advance(4 * HOUR);
      const next = await f.exceptions.request(as('bob'), HOTFIX);
      assert.equal(next.state, 'pending');
    });

    it('lets the requester or an admin cancel, nobody else', async (t) => {
      const f = await open(t);
      const id = await activeException(f);
      await assert.rejects(f.exceptions.cancel(as('erin'), id), hasCode('FORBIDDEN'));
      const cancelled = await f.exceptions.cancel(as('alice'), id);
      assert.equal(cancelled.state, 'cancelled');
      assert.equal(cancelled.endedBy, 'alice');
      assert.equal(
        await findUsableException(f.app.storage, 'payments', 'prod', f.clock.now()),
        undefined,
      );
      await assert.rejects(f.exceptions.cancel(as('bob'), id), hasCode('CONFLICT'));
      f.clock.advance(MINUTE);
      const other = await f.exceptions.request(as('bob'), HOTFIX);
      assert.equal((await f.exceptions.cancel(as('bob'), other.id)).state, 'cancelled');
      assert.deepEqual(
        (await f.exceptions.list(as('dave'), { state: 'cancelled' })).map((e) => e.id),
        [other.id, id],
      );
    });
  });
}
