/**
 * `plan` and `apply` as use cases, on SQLite and PostgreSQL: everything is checked before
 * anything is written, and each applied version is stored together with its `governance.applied`
 * event in the transparency log.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it, type TestContext } from 'node:test';
import { createCedarPolicyEngine } from '../../src/adapters/policy/cedar-policy-engine.ts';
import { readPolicySet } from '../../src/adapters/policy/read-policy-set.ts';
import { createGovernanceState } from '../../src/app/active-governance.ts';
import type { GovernanceSubmission } from '../../src/app/compile-governance.ts';
import { readGovernanceSubmission } from '../../src/cli/read-governance-submission.ts';
import { composeApp, loadPolicyCompiler, type ComposedApp } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { isAppError } from '../../src/core/errors.ts';
import { parseGovernanceFile } from '../../src/core/governance/governance-file.ts';
import type { GovernanceActor } from '../../src/core/ports.ts';
import { requireComponentForSuite } from '../support/components.ts';
import {
  createTestStorageEngines,
  openFreshStorage,
  type TestStorageEngine,
} from '../support/storage-engines.ts';
import { governanceYaml, hasCode, readEvents } from './governance-fixture.ts';

const ISSUER = 'http://127.0.0.1:1';
const ACTOR: GovernanceActor = { kind: 'api-token', id: 'abcdefghijklmnop', name: 'ops laptop' };
const CLOCK = { now: () => new Date('2026-03-01T12:00:00Z') };

const submit = (
  text: string,
  policies: GovernanceSubmission['policies'] = [],
): GovernanceSubmission => ({
  file: { name: 'governance.yaml', text },
  policies,
});

const RELEASE_ENTITLEMENT = `  - id: payments-release
    selector: { issuer: ci, repositoryId: '7001', ref: refs/tags/v* }
    grants: { product: payments, channels: [prod] }
    owner: payments-team
    justification: Tagged releases.
    expiresAt: 2099-01-01T00:00:00Z
    reviewAt: 2098-01-01T00:00:00Z
`;

const EXTRA_POLICY = `@id("no-friday-prod")
@reason("no prod on fridays")
forbid (principal, action == Countersign::Action::"sign", resource)
when { resource.name == "prod" && context.changeWindow.open == false };
`;

async function openApp(t: TestContext, engine: TestStorageEngine): Promise<ComposedApp> {
  const { storage } = await openFreshStorage(t, engine);
  const dataDir = await mkdtemp(join(tmpdir(), 'countersign-apply-'));
  const config = loadConfig({ env: {}, argv: ['--data-dir', dataDir], cwd: dataDir });
  const app = await composeApp(config, {}, { storage, clock: CLOCK });
  t.after(async () => {
    await app.close();
    await rm(dataDir, { recursive: true, force: true });
  });
  return app;
}

function sha256(text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

for (const engine of createTestStorageEngines()) {
  describe(`governance plan and apply on ${engine.engine}`, () => {
    if (!requireComponentForSuite(engine.component, engine.isAvailable, engine.missingReason))
      return;
    after(() => engine.dispose());

    describe('plan', () => {
      it('lists every addition against empty governance and writes nothing', async (t) => {
        const app = await openApp(t, engine);
        const plan = await app.services.governance.plan(submit(governanceYaml(ISSUER)));
        assert.equal(plan.currentVersion, 0);
        const keys = plan.changes.map((c) => `${c.action} ${c.kind} ${c.key}`);
        assert.ok(keys.includes('add issuer ci'), keys.join('\n'));
        assert.ok(keys.includes('add entitlement payments-main'));
        assert.ok(keys.includes('add channel payments/prod'));
        assert.equal(plan.fileSha256, sha256(governanceYaml(ISSUER)));
        assert.equal(await app.storage.governance.latestVersion(), 0);
        assert.equal(await app.storage.log.treeSize(), 0n);
      });
    });

    describe('apply', () => {
      it('stores version 1 and logs governance.applied with hashes and the actor, atomically', async (t) => {
        const app = await openApp(t, engine);
        const text = governanceYaml(ISSUER);
        const result = await app.services.governance.apply(submit(text), ACTOR);
        assert.equal(result.applied, true);
        assert.equal(result.version, 1);
        const record = await app.storage.governance.latest();
        assert.ok(record !== undefined);
        assert.equal(record.fileText, text);
        assert.equal(record.policyHash, result.policyHash);
        assert.deepEqual(record.appliedBy, ACTOR);
        const events = await readEvents(app.storage);
        const applied = events.filter((e) => e.kind === 'governance.applied');
        assert.equal(applied.length, 1);
        const event = applied[0];
        assert.ok(event !== undefined);
        assert.equal(event.index, result.logIndex);
        assert.equal(event.body['version'], 1);
        assert.equal(event.body['previousVersion'], 0);
        assert.equal(event.body['fileSha256'], sha256(text));
        assert.equal(event.body['documentSha256'], sha256(record.document));
        assert.equal(event.body['policyHash'], result.policyHash);
        assert.deepEqual(event.body['appliedBy'], ACTOR);
        assert.deepEqual(event.body['summary'], {
          added: result.changes.length,
          updated: 0,
          removed: 0,
        });
        const view = await app.services.governance.describeCurrent();
        assert.equal(view?.version, 1);
        assert.equal(view.logIndex, result.logIndex);
      });

      it('writes and logs nothing when the file changes nothing', async (t) => {
        const app = await openApp(t, engine);
        await app.services.governance.apply(submit(governanceYaml(ISSUER)), ACTOR);
        const size = await app.storage.log.treeSize();
        // A comment changes the file's hash, not the governance.
        const again = await app.services.governance.apply(
          submit(`# reviewed\n${governanceYaml(ISSUER)}`),
          ACTOR,
        );
        assert.equal(again.applied, false);
        assert.equal(again.version, 1);
        assert.equal(again.logIndex, undefined);
        assert.deepEqual(again.changes, []);
        assert.equal(await app.storage.log.treeSize(), size);
        assert.equal(await app.storage.governance.latestVersion(), 1);
      });

      it('applies a change as the next version and names what changed', async (t) => {
        const app = await openApp(t, engine);
        await app.services.governance.apply(submit(governanceYaml(ISSUER)), ACTOR);
        const next = await app.services.governance.apply(
          submit(governanceYaml(ISSUER, { extraEntitlements: RELEASE_ENTITLEMENT })),
          ACTOR,
        );
        assert.equal(next.version, 2);
        assert.deepEqual(
          next.changes.map((c) => `${c.action} ${c.kind} ${c.key}`),
          ['add entitlement payments-release'],
        );
        const last = (await readEvents(app.storage)).at(-1);
        assert.equal(last?.body['previousVersion'], 1);
        assert.deepEqual(last.body['changes'], [
          { action: 'add', kind: 'entitlement', key: 'payments-release' },
        ]);
        const state = await app.governance.current();
        assert.equal(state.version, 2);
        assert.ok(state.governance.entitlements.some((e) => e.id === 'payments-release'));
      });

      it('lets one of two applies planned against the same version win; the other gets CONFLICT', async (t) => {
        const app = await openApp(t, engine);
        const outcomes = await Promise.allSettled([
          app.services.governance.apply(submit(governanceYaml(ISSUER)), ACTOR),
          app.services.governance.apply(
            submit(governanceYaml(ISSUER, { extraEntitlements: RELEASE_ENTITLEMENT })),
            ACTOR,
          ),
        ]);
        const won = outcomes.filter((o) => o.status === 'fulfilled');
        const lost = outcomes.filter((o) => o.status === 'rejected');
        assert.equal(won.length, 1);
        assert.equal(lost.length, 1);
        assert.ok(isAppError(lost[0]?.reason, 'CONFLICT'), String(lost[0]?.reason));
        assert.equal(await app.storage.governance.latestVersion(), 1);
        assert.equal(
          (await readEvents(app.storage)).filter((e) => e.kind === 'governance.applied').length,
          1,
        );
      });
    });

    describe('a submission with problems', () => {
      it('is refused with every problem at its file and line, and nothing is written', async (t) => {
        const app = await openApp(t, engine);
        const text = governanceYaml(ISSUER).replace('repositoryId:', 'repositry:');
        const error = await app.services.governance.apply(submit(text), ACTOR).then(
          () => assert.fail('applied a file with a typo'),
          (thrown: unknown) => thrown,
        );
        assert.ok(isAppError(error, 'INVALID_INPUT'), String(error));
        const line = text.split('\n').findIndex((l) => l.includes('repositry:')) + 1;
        assert.ok(
          error.errors.some(
            (e) =>
              e.source === `governance.yaml:${String(line)}` && /unknown field/.test(e.message),
          ),
          JSON.stringify(error.errors),
        );
        assert.equal(await app.storage.governance.latestVersion(), 0);
        assert.equal(await app.storage.log.treeSize(), 0n);
      });

      it('is refused when an inline Cedar policy does not validate against the schema', async (t) => {
        const app = await openApp(t, engine);
        const policies = `policies:
  inline:
    - name: typo
      cedar: |
        @id("typo")
        @reason("typo")
        forbid (principal, action == Countersign::Action::"sign", resource)
        when { context.aprovals.count < 1 };
`;
        const text = governanceYaml(ISSUER, { policies });
        await assert.rejects(app.services.governance.plan(submit(text)), (error: unknown) => {
          assert.ok(isAppError(error, 'INVALID_INPUT'), String(error));
          assert.match(error.message, /aprovals/);
          assert.ok(
            error.errors.some((e) => /^governance\.yaml:\d+$/.test(e.source ?? '')),
            JSON.stringify(error.errors),
          );
          return true;
        });
      });

      it('is refused when a listed policy file was not sent, or a sent one is not listed', async (t) => {
        const app = await openApp(t, engine);
        const listing = governanceYaml(ISSUER, {
          policies: 'policies:\n  files: [policies/extra.cedar]\n',
        });
        await assert.rejects(
          app.services.governance.plan(submit(listing)),
          hasCode('INVALID_INPUT'),
        );
        await assert.rejects(
          app.services.governance.plan(
            submit(governanceYaml(ISSUER), [{ name: 'policies/extra.cedar', text: EXTRA_POLICY }]),
          ),
          hasCode('INVALID_INPUT'),
        );
        await assert.rejects(
          app.services.governance.plan(
            submit(listing, [{ name: '../escape.cedar', text: EXTRA_POLICY }]),
          ),
          hasCode('INVALID_INPUT'),
        );
      });
    });

    describe('policy files', () => {
      it('hash as the offline policy tools hash them from disk', async (t) => {
        const app = await openApp(t, engine);
        const dir = await mkdtemp(join(tmpdir(), 'countersign-policies-'));
        t.after(() => rm(dir, { recursive: true, force: true }));
        const text = governanceYaml(ISSUER, {
          policies: 'policies:\n  files: [policies/extra.cedar]\n',
        });
        await mkdir(join(dir, 'policies'));
        await writeFile(join(dir, 'governance.yaml'), text);
        await writeFile(join(dir, 'policies', 'extra.cedar'), EXTRA_POLICY);

        const submission = await readGovernanceSubmission('governance.yaml', dir);
        const plan = await app.services.governance.plan(submission);
        const fromDisk = createCedarPolicyEngine(
          await readPolicySet(parseGovernanceFile(text).governance, {
            baseDir: dir,
            fileName: 'governance.yaml',
          }),
        );
        assert.equal(plan.policyHash, fromDisk.policyHash);
        const without = await app.services.governance.plan(submit(governanceYaml(ISSUER)));
        assert.notEqual(without.policyHash, plan.policyHash);
      });
    });

    describe('the stored version', () => {
      it('is rebuilt with the same policy hash by a fresh process', async (t) => {
        const app = await openApp(t, engine);
        const applied = await app.services.governance.apply(submit(governanceYaml(ISSUER)), ACTOR);
        const state = createGovernanceState({
          storage: app.storage,
          compiler: await loadPolicyCompiler(),
          createVerifier: () => ({ verify: () => Promise.reject(new Error('unused')) }),
        });
        const active = await state.current();
        assert.equal(active.version, 1);
        assert.equal(active.policyEngine.policyHash, applied.policyHash);
        assert.equal(await state.current(), active, 'cached until a newer version exists');
      });

      it('that does not reproduce its policy hash decides nothing (INTERNAL)', async (t) => {
        const app = await openApp(t, engine);
        await app.services.governance.apply(submit(governanceYaml(ISSUER)), ACTOR);
        const stored = await app.storage.governance.latest();
        assert.ok(stored !== undefined);
        await app.storage.governance.insert({
          ...stored,
          version: 2,
          policies: stored.policies.map((p) => ({ ...p, text: `${p.text}\n// tampered` })),
        });
        await assert.rejects(app.governance.current(), hasCode('INTERNAL'));
      });
    });
  });
}
