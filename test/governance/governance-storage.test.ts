/**
 * Governance versions and single-use token ids in storage, on SQLite and PostgreSQL alike,
 * including two PostgreSQL "replicas" (two storages on one database).
 */
import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import { openStorage } from '../../src/adapters/storage/open-storage.ts';
import { createStorageTokenIdStore } from '../../src/adapters/storage/storage-token-id-store.ts';
import type { GovernanceVersionRecord } from '../../src/core/ports.ts';
import { requireComponentForSuite } from '../support/components.ts';
import { createTestStorageEngines, openFreshStorage } from '../support/storage-engines.ts';
import { hasCode } from './governance-fixture.ts';

function version(
  n: number,
  overrides: Partial<GovernanceVersionRecord> = {},
): GovernanceVersionRecord {
  return {
    version: n,
    fileName: 'governance.yaml',
    fileText: `# version ${String(n)}\napiVersion: countersign.dev/v1\nkind: Governance\n`,
    fileSha256: `sha256:${String(n).padStart(64, '0')}`,
    document: '{"issuers":[]}',
    policySchema: { name: 'countersign:schema.cedarschema', text: 'namespace X {}' },
    policies: [
      { name: 'countersign:default.cedar', text: 'permit (principal, action, resource);' },
      {
        name: 'inline:x',
        text: 'forbid (principal, action, resource);',
        location: { file: 'g.yaml', line: 7 },
      },
    ],
    policyHash: `sha256:${'ab'.repeat(32)}`,
    appliedAt: new Date(Date.UTC(2026, 0, n)),
    appliedBy: { kind: 'api-token', id: 'abcdefghijklmnop', name: 'ops' },
    ...overrides,
  };
}

const T0 = new Date('2026-03-01T12:00:00Z');
const at = (seconds: number) => new Date(T0.getTime() + seconds * 1000);

for (const engine of createTestStorageEngines()) {
  describe(`governance storage on ${engine.engine}`, () => {
    if (!requireComponentForSuite(engine.component, engine.isAvailable, engine.missingReason))
      return;
    after(() => engine.dispose());

    describe('GovernanceRepository', () => {
      it('reports version 0 and no record before anything is applied', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        assert.equal(await storage.governance.latestVersion(), 0);
        assert.equal(await storage.governance.latest(), undefined);
        assert.equal(await storage.governance.findByVersion(1), undefined);
      });

      it('returns the highest version as the latest, every field as stored', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.governance.insert(version(1));
        const second = version(2, {
          appliedBy: { kind: 'system', id: 'demo-workspace', name: 'serve --demo' },
        });
        await storage.governance.insert(second);
        assert.equal(await storage.governance.latestVersion(), 2);
        assert.deepEqual(await storage.governance.latest(), second);
        assert.deepEqual(await storage.governance.findByVersion(1), version(1));
      });

      it('refuses a version that exists with CONFLICT, and the transaction stays usable', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.governance.insert(version(1));
        // On PostgreSQL a unique violation would abort the whole transaction: this insert runs
        // inside the log's batch transaction, which must go on for the other entries.
        const after = await storage.transaction(async (session) => {
          await assert.rejects(
            session.governance.insert(version(1, { fileName: 'other.yaml' })),
            hasCode('CONFLICT'),
          );
          await session.governance.insert(version(2));
          return session.governance.latestVersion();
        });
        assert.equal(after, 2);
        assert.equal((await storage.governance.findByVersion(1))?.fileName, 'governance.yaml');
      });

      it('refuses a version below 1', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await assert.rejects(storage.governance.insert(version(0)), hasCode('INVALID_INPUT'));
      });
    });

    describe('UsedTokenIdRepository', () => {
      it('accepts an id once until it expires, per issuer', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const ids = storage.usedTokenIds;
        assert.equal(await ids.isUsed('https://a', 'jti-1', at(0)), false);
        assert.equal(await ids.consume('https://a', 'jti-1', at(300), at(0)), true);
        assert.equal(await ids.isUsed('https://a', 'jti-1', at(10)), true);
        assert.equal(await ids.isUsed('https://a', 'jti-1', at(300)), false, 'expired');
        assert.equal(await ids.consume('https://a', 'jti-1', at(300), at(10)), false);
        assert.equal(await ids.consume('https://b', 'jti-1', at(300), at(10)), true);
        // Expired but not purged yet: the record is replaced, and then holds again.
        assert.equal(await ids.consume('https://a', 'jti-1', at(900), at(300)), true);
        assert.equal(await ids.consume('https://a', 'jti-1', at(900), at(301)), false);
      });

      it('lets exactly one of many concurrent consumers of one id through', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const results = await Promise.all(
          Array.from({ length: 8 }, () =>
            storage.usedTokenIds.consume('https://a', 'race', at(300), at(0)),
          ),
        );
        assert.equal(results.filter(Boolean).length, 1);
      });

      it('purges only the ids that have expired', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        await storage.usedTokenIds.consume('https://a', 'short', at(60), at(0));
        await storage.usedTokenIds.consume('https://a', 'long', at(600), at(0));
        assert.equal(await storage.usedTokenIds.purgeExpired(at(60)), 1);
        assert.equal(
          await storage.usedTokenIds.consume('https://a', 'long', at(600), at(61)),
          false,
        );
        assert.equal(await storage.usedTokenIds.purgeExpired(at(61)), 0);
      });
    });

    describe('createStorageTokenIdStore', () => {
      it('purges expired ids at most once per interval, on a consume', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        let now = at(0);
        const store = createStorageTokenIdStore({
          storage,
          clock: { now: () => now },
          purgeIntervalMs: 60_000,
        });
        assert.equal(await store.consume('https://a', 'one', at(30)), true);
        now = at(45);
        assert.equal(await store.consume('https://a', 'two', at(90)), true);
        const count = async () =>
          Number(
            (
              await storage.db
                .selectFrom('used_token_ids')
                .select((eb) => eb.fn.countAll().as('n'))
                .executeTakeFirstOrThrow()
            ).n,
          );
        // Within the interval: "one" has expired but is still stored.
        assert.equal(await count(), 2);
        now = at(100);
        assert.equal(await store.consume('https://a', 'three', at(400)), true);
        assert.equal(await count(), 1, 'the consume after the interval purged "one" and "two"');
      });
    });

    if (engine.engine === 'postgres') {
      describe('on two replicas sharing one PostgreSQL database', () => {
        it('accepts a token id on one replica and refuses it on the other', async (t) => {
          const { storage: first, options } = await openFreshStorage(t, engine);
          const second = await openStorage(options);
          t.after(() => second.close());
          const clock = { now: () => at(0) };
          const a = createStorageTokenIdStore({ storage: first, clock });
          const b = createStorageTokenIdStore({ storage: second, clock });
          assert.equal(await a.consume('https://ci', 'shared', at(300)), true);
          assert.equal(await b.consume('https://ci', 'shared', at(300)), false);
        });

        it('sees a version applied through the other replica', async (t) => {
          const { storage: first, options } = await openFreshStorage(t, engine);
          const second = await openStorage(options);
          t.after(() => second.close());
          await first.governance.insert(version(1));
          assert.equal(await second.governance.latestVersion(), 1);
          await assert.rejects(second.governance.insert(version(1)), hasCode('CONFLICT'));
        });
      });
    }
  });
}
