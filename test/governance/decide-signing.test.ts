/**
 * `decideSigning` with purpose `sign`, as the sign endpoint uses it: the token's `jti` is consumed
 * in storage, so a token authorises one signing across every replica, and a caller's `effect`
 * commits with the decision event.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { openStorage } from '../../src/adapters/storage/open-storage.ts';
import type { GovernanceActor } from '../../src/core/ports.ts';
import { composeApp, type ComposedApp } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { decideSigning } from '../../src/app/decide-signing.ts';
import { requireComponentForSuite } from '../support/components.ts';
import { createTestStorageEngines, openFreshStorage } from '../support/storage-engines.ts';
import {
  createEcKey,
  createFakeClock,
  gitHubClaims,
  signToken,
  startJwksServer,
  type JwksServer,
  type TestKey,
} from '../identity/test-issuer.ts';
import { governanceYaml, hasCode, readEvents } from './governance-fixture.ts';

const ACTOR: GovernanceActor = { kind: 'system', id: 'test', name: 'test' };

describe('decideSigning for signing', () => {
  let jwks: JwksServer;
  let key: TestKey;
  const clock = createFakeClock();
  before(async () => {
    jwks = await startJwksServer();
    key = await createEcKey('k1');
    jwks.serve('/jwks', { kind: 'json', body: { keys: [key.jwk] } });
  });
  after(() => jwks.close());

  const token = (overrides: Record<string, unknown> = {}) =>
    signToken(key, gitHubClaims(jwks.url, clock.now(), overrides));

  /** An app over `storage`, with its log key in `dataDir` (replicas share one). */
  async function openApp(
    t: TestContext,
    storage: ComposedApp['storage'],
    dataDir: string,
  ): Promise<ComposedApp> {
    const config = loadConfig({ env: {}, argv: ['--data-dir', dataDir], cwd: dataDir });
    const app = await composeApp(config, {}, { storage, clock });
    t.after(() => app.close());
    return app;
  }

  async function tempDir(t: TestContext): Promise<string> {
    const dir = await mkdtemp(join(tmpdir(), 'countersign-decide-'));
    t.after(() => rm(dir, { recursive: true, force: true }));
    return dir;
  }

  for (const engine of createTestStorageEngines()) {
    describe(`on ${engine.engine}`, () => {
      if (!requireComponentForSuite(engine.component, engine.isAvailable, engine.missingReason))
        return;
      after(() => engine.dispose());

      it('accepts a token once and refuses its replay, logging only the first decision', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const app = await openApp(t, storage, await tempDir(t));
        await app.services.governance.apply(
          { file: { name: 'g.yaml', text: governanceYaml(jwks.url) }, policies: [] },
          ACTOR,
        );
        const jwt = await token();
        const request = { identityToken: jwt, product: 'payments', channel: 'dev' };
        const first = await app.services.decisions.decide(request, { purpose: 'sign' });
        assert.equal(first.decision, 'allow');
        const size = await storage.log.treeSize();
        await assert.rejects(
          app.services.decisions.decide(request, { purpose: 'sign' }),
          (error: unknown) =>
            hasCode('UNAUTHENTICATED')(error) && /already used/.test((error as Error).message),
        );
        assert.equal(await storage.log.treeSize(), size);
        const events = await readEvents(storage);
        assert.equal(events.at(-1)?.body['purpose'], 'sign');
      });

      it("commits the caller's effect with the decision event, or neither", async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const app = await openApp(t, storage, await tempDir(t));
        await app.services.governance.apply(
          { file: { name: 'g.yaml', text: governanceYaml(jwks.url) }, policies: [] },
          ACTOR,
        );
        const deps = { state: app.governance, events: app.log.events, clock };
        const seen: string[] = [];
        const decided = await decideSigning(
          { identityToken: await token(), product: 'payments', channel: 'dev' },
          {
            purpose: 'sign',
            effect: async (session, decision) => {
              seen.push(decision.decision);
              // Work in the same transaction sees the state the event commits with.
              seen.push(String(await session.governance.latestVersion()));
            },
          },
          deps,
        );
        assert.deepEqual(seen, ['allow', '1']);
        const size = await storage.log.treeSize();
        assert.equal(size, decided.logEntry.index + 1n);
        await assert.rejects(
          decideSigning(
            { identityToken: await token(), product: 'payments', channel: 'dev' },
            {
              purpose: 'sign',
              effect: () => Promise.reject(new Error('the signing record could not be written')),
            },
            deps,
          ),
          /could not be written/,
        );
        assert.equal(await storage.log.treeSize(), size, 'no decision event without its effect');
      });

      if (engine.engine === 'postgres') {
        it('refuses on one replica a token already used on another', async (t) => {
          const { storage, options } = await openFreshStorage(t, engine);
          const dataDir = await tempDir(t);
          const first = await openApp(t, storage, dataDir);
          await first.services.governance.apply(
            { file: { name: 'g.yaml', text: governanceYaml(jwks.url) }, policies: [] },
            ACTOR,
          );
          const otherStorage = await openStorage(options);
          t.after(() => otherStorage.close());
          const second = await openApp(t, otherStorage, dataDir);
          const jwt = await token();
          const request = { identityToken: jwt, product: 'payments', channel: 'dev' };
          assert.equal(
            (await first.services.decisions.decide(request, { purpose: 'sign' })).decision,
            'allow',
          );
          await assert.rejects(
            second.services.decisions.decide(request, { purpose: 'sign' }),
            hasCode('UNAUTHENTICATED'),
          );
          // The second replica decides under the version the first one applied.
          const other = await second.services.decisions.decide(
            { identityToken: await token(), product: 'payments', channel: 'dev' },
            { purpose: 'sign' },
          );
          assert.equal(other.governanceVersion, 1);
          assert.equal(other.decision, 'allow');
        });
      }
    });
  }
});
