/**
 * The demo workspace (`npm start` = `serve --demo`): it trusts the development issuer it serves
 * on loopback, entitles the demo repository on demo/dev, and `countersign dev token` mints tokens
 * it accepts. Real clock: `dev token` signs with the time of day.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ensureDemoWorkspace, DEMO_GOVERNANCE_FILE_NAME } from '../../src/app/demo-workspace.ts';
import { openSecretFile } from '../../src/adapters/system/secret-file.ts';
import { DEV_TOKEN_DEFAULTS } from '../../src/adapters/identity/dev-issuer.ts';
import {
  composeService,
  DEMO_ADMIN_TOKEN_FILE,
  DEV_ISSUER_DIR,
  type ComposedService,
} from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { runInProcess } from '../cli/cli-harness.ts';
import { jsonOf } from '../http/fixture.ts';
import { readEvents } from './governance-fixture.ts';

describe('serve --demo', () => {
  let dataDir: string;
  let service: ComposedService;
  const compose = () =>
    composeService(
      loadConfig({
        env: {},
        argv: ['--demo', '--port', '0', '--data-dir', dataDir, '--log-level', 'silent'],
        cwd: dataDir,
      }),
      { migrate: true },
    );

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'countersign-demo-'));
    service = await compose();
  });
  after(async () => {
    await service.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const devToken = async (...args: string[]) => {
    const result = await runInProcess(['dev', 'token', '--data-dir', dataDir, ...args]);
    assert.equal(result.code, 0, result.stderr);
    return result.stdout.trim();
  };
  const decide = async (token: string, channel: string) => {
    const response = await service.server.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: { authorization: `Bearer ${token}` },
      payload: { product: 'demo', channel },
    });
    assert.equal(response.statusCode, 200, response.body);
    return jsonOf(response);
  };

  it('serves the development issuer on loopback with an owner-only key', async () => {
    assert.match(service.devIssuer?.url ?? '', /^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${service.devIssuer?.url ?? ''}/jwks`);
    assert.equal(response.status, 200);
    const keyDir = join(dataDir, DEV_ISSUER_DIR);
    assert.equal((await stat(join(keyDir, 'dev-issuer-key.json'))).mode & 0o777, 0o600);
  });

  it('allows the demo repository on demo/dev with a token from `dev token`', async () => {
    const body = await decide(await devToken(), 'dev');
    assert.equal(body['decision'], 'allow', JSON.stringify(body));
    assert.deepEqual(body['entitlements'], { matched: ['demo-hello'], expired: [] });
  });

  it('allows a GitLab-shaped token of the demo project too', async () => {
    const body = await decide(await devToken('--shape', 'gitlab'), 'dev');
    assert.equal(body['decision'], 'allow', JSON.stringify(body));
    assert.deepEqual(body['entitlements'], { matched: ['demo-hello-gitlab'], expired: [] });
  });

  it('denies demo/prod, saying why', async () => {
    const body = await decide(await devToken(), 'prod');
    assert.equal(body['decision'], 'deny');
    assert.ok(
      (body['reasons'] as string[]).includes(
        `no entitlement for repository ${DEV_TOKEN_DEFAULTS.repositoryId} (${DEV_TOKEN_DEFAULTS.repository}) on demo/prod`,
      ),
      JSON.stringify(body),
    );
  });

  it('denies a token of another repository: no entitlement for it', async () => {
    const body = await decide(
      await devToken('--repository', 'someone/else', '--repository-id', '424242'),
      'dev',
    );
    assert.equal(body['decision'], 'deny');
    assert.deepEqual(body['reasons'], [
      'no entitlement for repository 424242 (someone/else) on demo/dev',
    ]);
  });

  it('applied its governance through apply, so it is logged, and re-applies nothing', async () => {
    const events = await readEvents(service.storage);
    const applied = events.filter((e) => e.kind === 'governance.applied');
    assert.equal(applied.length, 1);
    assert.equal(applied[0]?.body['fileName'], DEMO_GOVERNANCE_FILE_NAME);
    assert.deepEqual(applied[0]?.body['appliedBy'], {
      kind: 'system',
      id: 'demo-workspace',
      name: 'serve --demo',
    });
    assert.ok(events.some((e) => e.kind === 'token.created'));
    assert.ok(events.some((e) => e.kind === 'signing.decided'));

    const again = await ensureDemoWorkspace({
      apiTokens: service.services.apiTokens,
      adminTokenFile: openSecretFile(join(dataDir, DEMO_ADMIN_TOKEN_FILE)),
      governance: {
        admin: service.services.governance,
        devIssuerUrl: service.devIssuer?.url ?? '',
        workload: DEV_TOKEN_DEFAULTS,
      },
    });
    assert.equal(again.governanceApplied, false);
    assert.equal(again.created, false);
    assert.equal(again.governanceVersion, 1);
  });

  it('works again after a restart, with tokens minted for the new issuer address', async () => {
    await service.close();
    service = await compose();
    assert.equal(service.demo?.created, false, 'the admin token is reused');
    const body = await decide(await devToken(), 'dev');
    assert.equal(body['decision'], 'allow', JSON.stringify(body));
  });
});

describe('countersign dev', () => {
  it('refuses to serve the development issuer on a non-loopback address', async () => {
    const result = await runInProcess(['dev', 'issuer', '--host', '0.0.0.0', '--port', '0']);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /only listens on loopback/);
  });

  it('refuses a token for an issuer that is not a loopback development issuer', async () => {
    const result = await runInProcess([
      'dev',
      'token',
      '--issuer',
      'https://token.actions.githubusercontent.com',
    ]);
    assert.equal(result.code, 2);
    assert.match(result.stderr, /--issuer/);
  });

  it('says how to start an issuer when none ran with the data directory', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'countersign-devtoken-'));
    try {
      const result = await runInProcess(['dev', 'token', '--data-dir', dataDir]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /no development issuer has run/);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
