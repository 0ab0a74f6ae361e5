/**
 * The storage contract of approvals (credentials, signing requests, approvals, tokens acting for
 * a person), on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isAppError } from '../../src/core/errors.ts';
import type {
  ApprovalRecord,
  ApproverCredentialRecord,
  SigningRequestRecord,
} from '../../src/core/ports.ts';
import { requireComponentForSuite } from '../support/components.ts';
import { labelHash } from '../support/log-batch.ts';
import { createTestStorageEngines, openFreshStorage } from '../support/storage-engines.ts';

function hasCode(code: string) {
  return (error: unknown): boolean => {
    assert.ok(isAppError(error), `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}

function credential(id: string, userId: string, at: number): ApproverCredentialRecord {
  return {
    id,
    userId,
    kind: 'ecdsa-p256',
    publicKeySpki: labelHash(`spki ${id}`),
    algorithm: -7,
    rpId: null,
    signCount: 0,
    label: `key ${id}`,
    createdAt: new Date(at),
    revokedAt: null,
  };
}

function request(id: string, overrides: Partial<SigningRequestRecord> = {}): SigningRequestRecord {
  return {
    id,
    product: 'payments-api',
    channel: 'prod',
    kind: 'artifact',
    subjectName: 'app.tar.gz',
    digestAlgorithm: 'sha256',
    digestValue: 'ab'.repeat(32),
    statement: null,
    requester: '{"issuer":"https://issuer.example"}',
    requesterIssuer: 'https://issuer.example',
    requesterSubject: 'repo:acme/payments:ref:refs/tags/v1',
    context: '{}',
    policyHash: 'sha256:00',
    governanceVersion: 3,
    state: 'pending',
    createdAt: new Date(1_000),
    expiresAt: new Date(100_000),
    closedAt: null,
    signingId: null,
    logIndex: 7n,
    ...overrides,
  };
}

function approval(id: string, requestId: string, at: number): ApprovalRecord {
  return {
    id,
    requestId,
    userId: 'bob',
    credentialId: 'cred-1',
    decision: 'approve',
    comment: 'ship it',
    statement: new TextEncoder().encode('{"statement":1}'),
    signature: labelHash(`sig ${id}`),
    authenticatorData: id === 'a2' ? labelHash('authenticator data') : null,
    clientDataJson: id === 'a2' ? new TextEncoder().encode('{"type":"webauthn.get"}') : null,
    createdAt: new Date(at),
    logIndex: BigInt(at),
  };
}

for (const engine of createTestStorageEngines()) {
  describe(`approval storage on ${engine.engine}`, () => {
    if (!requireComponentForSuite(engine.component, engine.isAvailable, engine.missingReason))
      return;
    after(() => engine.dispose());

    describe('apiTokens', () => {
      it('keeps the user a token acts for', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.apiTokens.insert({
          id: 'tok_bob',
          name: 'bob laptop',
          role: 'approver',
          userId: 'bob',
          secretHash: labelHash('s'),
          createdAt: new Date(1000),
          expiresAt: null,
          revokedAt: null,
        });
        assert.equal((await storage.apiTokens.findById('tok_bob'))?.userId, 'bob');
      });
    });

    describe('approverCredentials', () => {
      it('round-trips, lists by user, counts and revokes once', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.approverCredentials.insert(credential('c2', 'bob', 2000));
        await storage.approverCredentials.insert(credential('c1', 'bob', 1000));
        await storage.approverCredentials.insert(credential('c3', 'carol', 1500));
        assert.deepEqual(
          await storage.approverCredentials.findById('c1'),
          credential('c1', 'bob', 1000),
        );
        assert.deepEqual(
          (await storage.approverCredentials.listByUser('bob')).map((c) => c.id),
          ['c1', 'c2'],
        );
        assert.equal(await storage.approverCredentials.advanceSignCount('c1', 0), true);
        assert.equal(await storage.approverCredentials.advanceSignCount('c1', 42), true);
        assert.equal(await storage.approverCredentials.advanceSignCount('c1', 42), false);
        assert.equal(await storage.approverCredentials.advanceSignCount('c1', 7), false);
        assert.equal(await storage.approverCredentials.advanceSignCount('c1', 0), false);
        assert.equal((await storage.approverCredentials.findById('c1'))?.signCount, 42);
        assert.equal(await storage.approverCredentials.revoke('c1', new Date(5000)), true);
        assert.equal(await storage.approverCredentials.revoke('c1', new Date(6000)), false);
        assert.deepEqual(
          (await storage.approverCredentials.findById('c1'))?.revokedAt,
          new Date(5000),
        );
      });

      it('refuses a credential id registered already, whoever registers it', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.approverCredentials.insert(credential('c1', 'bob', 1000));
        await assert.rejects(
          storage.approverCredentials.insert(credential('c1', 'mallory', 2000)),
          hasCode('CONFLICT'),
        );
      });
    });

    describe('signingRequests', () => {
      it('round-trips and finds the pending request of a requester for a subject', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const statement = new TextEncoder().encode('{"_type":"x"}');
        await storage.signingRequests.insert(request('r1', { kind: 'attestation', statement }));
        await storage.signingRequests.insert(request('r2'));
        assert.deepEqual(
          await storage.signingRequests.findById('r1'),
          request('r1', { kind: 'attestation', statement }),
        );
        const match = {
          state: 'pending' as const,
          requesterIssuer: 'https://issuer.example',
          requesterSubject: 'repo:acme/payments:ref:refs/tags/v1',
          product: 'payments-api',
          channel: 'prod',
          kind: 'artifact' as const,
          digestAlgorithm: 'sha256',
          digestValue: 'ab'.repeat(32),
        };
        assert.equal((await storage.signingRequests.findLatest(match))?.id, 'r2');
        assert.equal(
          await storage.signingRequests.findLatest({ ...match, channel: 'staging' }),
          undefined,
        );
        assert.equal(
          await storage.signingRequests.findLatest({ ...match, digestValue: 'cd'.repeat(32) }),
          undefined,
        );
      });

      it('closes a pending request exactly once, even when callers race', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.signingRequests.insert(request('r1'));
        const outcomes = await Promise.all(
          Array.from({ length: 20 }, (_, i) =>
            storage.transaction((session) =>
              session.signingRequests.close('r1', 'signed', new Date(5000 + i), `s${String(i)}`),
            ),
          ),
        );
        assert.equal(outcomes.filter(Boolean).length, 1);
        const closed = await storage.signingRequests.findById('r1');
        assert.equal(closed?.state, 'signed');
        assert.match(closed?.signingId ?? '', /^s\d+$/);
        assert.equal(await storage.signingRequests.close('r1', 'cancelled', new Date(9000)), false);
      });

      it('lists newest first, filtered by state and product', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.signingRequests.insert(request('old', { createdAt: new Date(1) }));
        await storage.signingRequests.insert(request('new', { createdAt: new Date(2) }));
        await storage.signingRequests.insert(
          request('done', { createdAt: new Date(3), state: 'signed', product: 'web' }),
        );
        assert.deepEqual(
          (await storage.signingRequests.list({ state: 'pending', limit: 10 })).map((r) => r.id),
          ['new', 'old'],
        );
        assert.deepEqual(
          (await storage.signingRequests.list({ product: 'web', limit: 10 })).map((r) => r.id),
          ['done'],
        );
      });
    });

    describe('approvals', () => {
      it('keeps statements and signatures verbatim, oldest first', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.signingRequests.insert(request('r1'));
        await storage.approvals.insert(approval('a2', 'r1', 2000));
        await storage.approvals.insert(approval('a1', 'r1', 1000));
        assert.deepEqual(await storage.approvals.listByRequest('r1'), [
          approval('a1', 'r1', 1000),
          approval('a2', 'r1', 2000),
        ]);
        await assert.rejects(
          storage.approvals.insert(approval('a1', 'r1', 3000)),
          hasCode('CONFLICT'),
        );
      });
    });
  });
}
