/**
 * The storage contract of passkeys (migration 0006): WebAuthn challenges, web sessions and
 * enrolment links, on SQLite and PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { isAppError } from '../../src/core/errors.ts';
import type { EnrolmentRecord, WebAuthnChallengeRecord } from '../../src/core/ports.ts';
import { requireComponentForSuite } from '../support/components.ts';
import { labelHash } from '../support/log-batch.ts';
import { createTestStorageEngines, openFreshStorage } from '../support/storage-engines.ts';

const T0 = Date.parse('2026-05-01T10:00:00Z');
const at = (seconds: number) => new Date(T0 + seconds * 1000);

function challenge(
  value: string,
  overrides: Partial<WebAuthnChallengeRecord> = {},
): WebAuthnChallengeRecord {
  return {
    challenge: value,
    purpose: 'sign-in',
    userId: null,
    enrolmentId: null,
    createdAt: at(0),
    expiresAt: at(300),
    ...overrides,
  };
}

function enrolment(id: string, overrides: Partial<EnrolmentRecord> = {}): EnrolmentRecord {
  return {
    id,
    secretHash: labelHash(`secret ${id}`),
    userId: 'alice',
    createdAt: at(0),
    expiresAt: at(3600),
    usedAt: null,
    createdBy: { kind: 'api-token', id: 'tok1', name: 'admin' },
    ...overrides,
  };
}

const conflict = (error: unknown) => isAppError(error, 'CONFLICT');

for (const engine of createTestStorageEngines()) {
  describe(`passkey storage on ${engine.engine}`, () => {
    if (!requireComponentForSuite(engine.component, engine.isAvailable, engine.missingReason))
      return;
    after(() => engine.dispose());

    describe('WebAuthn challenges', () => {
      it('gives a challenge back once, then never again (threat model B1)', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const record = challenge('c1', {
          purpose: 'registration',
          userId: 'alice',
          enrolmentId: 'e1',
        });
        await storage.webauthnChallenges.insert(record);
        await assert.rejects(storage.webauthnChallenges.insert(record), conflict);
        assert.deepEqual(
          await storage.webauthnChallenges.consume('c1', 'registration', at(10)),
          record,
        );
        assert.equal(
          await storage.webauthnChallenges.consume('c1', 'registration', at(11)),
          undefined,
        );
      });

      it('refuses an expired challenge or one of another purpose, and deletes it all the same', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.webauthnChallenges.insert(challenge('expired'));
        assert.equal(
          await storage.webauthnChallenges.consume('expired', 'sign-in', at(300)),
          undefined,
        );
        await storage.webauthnChallenges.insert(challenge('other'));
        assert.equal(
          await storage.webauthnChallenges.consume('other', 'registration', at(1)),
          undefined,
        );
        assert.equal(
          await storage.webauthnChallenges.consume('other', 'sign-in', at(2)),
          undefined,
        );
        assert.equal(
          await storage.webauthnChallenges.consume('unknown', 'sign-in', at(1)),
          undefined,
        );
      });

      it('hands one challenge to exactly one of many concurrent consumers', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.webauthnChallenges.insert(challenge('race'));
        const results = await Promise.all(
          Array.from({ length: 8 }, () =>
            storage.webauthnChallenges.consume('race', 'sign-in', at(1)),
          ),
        );
        assert.equal(results.filter((result) => result !== undefined).length, 1);
      });

      it('purges expired challenges', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.webauthnChallenges.insert(challenge('a', { expiresAt: at(10) }));
        await storage.webauthnChallenges.insert(challenge('b', { expiresAt: at(100) }));
        assert.equal(await storage.webauthnChallenges.purgeExpired(at(50)), 1);
        assert.ok(await storage.webauthnChallenges.consume('b', 'sign-in', at(51)));
      });
    });

    describe('web sessions', () => {
      it('finds a session by the hash of its secret, and deletes it', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const session = {
          secretHash: labelHash('session 1'),
          userId: 'alice',
          credentialId: 'cred-1',
          createdAt: at(0),
          expiresAt: at(43_200),
        };
        await storage.webSessions.insert(session);
        await assert.rejects(storage.webSessions.insert(session), conflict);
        assert.deepEqual(
          await storage.webSessions.findBySecretHash(labelHash('session 1')),
          session,
        );
        assert.equal(await storage.webSessions.findBySecretHash(labelHash('session 2')), undefined);
        assert.equal(await storage.webSessions.delete(labelHash('session 1')), true);
        assert.equal(await storage.webSessions.delete(labelHash('session 1')), false);
        assert.equal(await storage.webSessions.findBySecretHash(labelHash('session 1')), undefined);
      });

      it('purges expired sessions', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        for (const [label, expires] of [
          ['old', 10],
          ['new', 1000],
        ] as const) {
          await storage.webSessions.insert({
            secretHash: labelHash(label),
            userId: 'alice',
            credentialId: 'c',
            createdAt: at(0),
            expiresAt: at(expires),
          });
        }
        assert.equal(await storage.webSessions.purgeExpired(at(500)), 1);
        assert.ok(await storage.webSessions.findBySecretHash(labelHash('new')));
      });
    });

    describe('enrolments', () => {
      it('stores a link and uses it up once, however many race for it', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const record = enrolment('e1');
        await storage.enrolments.insert(record);
        await assert.rejects(storage.enrolments.insert(record), conflict);
        assert.deepEqual(await storage.enrolments.findById('e1'), record);
        const results = await Promise.all(
          Array.from({ length: 6 }, () => storage.enrolments.markUsed('e1', at(60))),
        );
        assert.equal(results.filter(Boolean).length, 1);
        assert.deepEqual((await storage.enrolments.findById('e1'))?.usedAt, at(60));
        assert.equal(await storage.enrolments.markUsed('e1', at(61)), false);
      });

      it('does not use up an expired or unknown link', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.enrolments.insert(enrolment('e2', { expiresAt: at(100) }));
        assert.equal(await storage.enrolments.markUsed('e2', at(100)), false);
        assert.equal((await storage.enrolments.findById('e2'))?.usedAt, null);
        assert.equal(await storage.enrolments.markUsed('nope', at(1)), false);
      });
    });
  });
}
