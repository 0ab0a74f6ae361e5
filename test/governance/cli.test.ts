/**
 * The governance commands as an operator runs them: `policy test|explain` offline, `plan` and
 * `apply` against a running server, and `dev issuer` as a real process.
 */
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import {
  baseEnv,
  collect,
  listeningUrl,
  runInProcess,
  runProcess,
  spawnCli,
  waitForLine,
} from '../cli/cli-harness.ts';
import { startTestServer, type TestServer } from '../http/fixture.ts';
import { governanceYaml } from './governance-fixture.ts';

const EXAMPLE_ARGS = [
  'policy',
  'test',
  '-f',
  'policies/examples/cases.yaml',
  '--governance',
  'examples/governance.yaml',
];

describe('countersign policy', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'countersign-policy-cli-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  it('passes the shipped example cases against the example governance (real process)', async () => {
    const result = await runProcess(EXAMPLE_ARGS);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^17 passed, 0 failed \(policy hash sha256:[0-9a-f]{64}\)$/m);
    assert.doesNotMatch(result.stdout, /FAIL/);
  });

  it('exits 1 and shows the failing case with its line and reasons', async () => {
    const cases = join(work, 'wrong.yaml');
    await writeFile(
      cases,
      `at: 2026-03-01T12:00:00Z
cases:
  - name: main signs on prod
    workload: { issuer: github, repositoryId: '812345678', ownerId: '1234567', repository: acme/payments-api, ref: refs/heads/main, event: push }
    product: payments-api
    channel: prod
    expect: allow
`,
    );
    const result = await runInProcess([
      'policy',
      'test',
      '-f',
      cases,
      '--governance',
      'examples/governance.yaml',
    ]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stdout, /FAIL\s+main signs on prod\s+deny/);
    assert.match(result.stdout, /expected allow, got deny/);
    assert.match(result.stdout, /reason: no entitlement for repository 812345678/);
    assert.match(result.stdout, /0 passed, 1 failed/);
  });

  it('explains which policies decided a case, with file and line', async () => {
    const result = await runInProcess([
      ...EXAMPLE_ARGS.map((arg) => (arg === 'test' ? 'explain' : arg)),
      '--case',
      'prod needs two approvals',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^decision:\s+DENY$/m);
    assert.match(result.stdout, /needs 2 approvals, has 1/);
    assert.match(result.stdout, /forbid sign-requires-approvals at policies\/default\.cedar:\d+/);
    assert.match(result.stdout, /entitlements: payments-api-release/);
  });

  it('exits 4 for an unknown case, suggesting the closest name', async () => {
    const result = await runInProcess([
      ...EXAMPLE_ARGS.map((arg) => (arg === 'test' ? 'explain' : arg)),
      '--case',
      'prod needs two aprovals',
    ]);
    assert.equal(result.code, 4);
    assert.match(result.stderr, /did you mean prod needs two approvals/);
  });

  it('exits 2 when --governance names a file with problems, citing file and line', async () => {
    const bad = join(work, 'bad.yaml');
    await writeFile(bad, 'apiVersion: countersign.dev/v1\nkind: Governance\nproducts: 3\n');
    const result = await runInProcess(['policy', 'test', '-f', bad, '--governance', 'bad.yaml'], {
      cwd: work,
    });
    assert.equal(result.code, 2);
    assert.match(result.stderr, /bad\.yaml:3/);
  });
});

describe('countersign plan and apply', () => {
  let t: TestServer;
  let url: string;
  let work: string;
  before(async () => {
    t = await startTestServer();
    await t.service.server.listen({ host: '127.0.0.1', port: 0 });
    url = `http://127.0.0.1:${String((t.service.server.server.address() as AddressInfo).port)}`;
    work = await mkdtemp(join(tmpdir(), 'countersign-apply-cli-'));
    await mkdir(join(work, 'policies'));
    await writeFile(
      join(work, 'policies', 'freeze.cedar'),
      `@id("freeze-prod")
@reason("prod is frozen")
forbid (principal, action == Countersign::Action::"sign", resource)
when { resource.name == "prod" };
`,
    );
    await writeFile(
      join(work, 'governance.yaml'),
      governanceYaml('http://127.0.0.1:1', {
        policies: 'policies:\n  files: [policies/freeze.cedar]\n',
      }),
    );
  });
  after(async () => {
    await t.close();
    await rm(work, { recursive: true, force: true });
  });

  const run = (...args: string[]) =>
    runInProcess([...args, '--server', url], {
      env: { COUNTERSIGN_TOKEN: t.adminToken },
      cwd: work,
    });

  it('plan prints the changes and writes nothing', async () => {
    const result = await run('plan');
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^governance\.yaml: \d+ changes to governance version 0:$/m);
    assert.match(result.stdout, /^\+ entitlement payments-main$/m);
    assert.match(result.stdout, /^\+ policy file:policies\/freeze\.cedar$/m);
    assert.equal(await t.service.storage.governance.latestVersion(), 0);
  });

  it('apply applies through the API, sending the policy files, and prints version and log index', async () => {
    const result = await run('apply', '-f', 'governance.yaml');
    assert.equal(result.code, 0, result.stderr);
    const match = /^Applied governance version 1 \(log index (\d+)\)\.$/m.exec(result.stdout);
    assert.ok(match, result.stdout);
    const stored = await t.service.storage.governance.latest();
    assert.deepEqual(
      stored?.policies.map((p) => p.name),
      ['countersign:default.cedar', 'policies/freeze.cedar'],
    );
    const again = await run('apply');
    assert.equal(again.code, 0);
    assert.match(again.stdout, /^No changes: governance\.yaml matches governance version 1\.$/m);
  });

  it('plan --json prints one JSON document', async () => {
    const result = await run('plan', '--json');
    assert.equal(result.code, 0, result.stderr);
    const plan = JSON.parse(result.stdout) as { currentVersion: number; changes: unknown[] };
    assert.equal(plan.currentVersion, 1);
    assert.deepEqual(plan.changes, []);
  });

  it('exits 2 on a file with problems, citing file and line, before contacting the server', async () => {
    await writeFile(
      join(work, 'typo.yaml'),
      'apiVersion: countersign.dev/v1\nkind: Governance\nproduts: []\n',
    );
    const result = await runInProcess(
      ['plan', '-f', 'typo.yaml', '--server', 'http://127.0.0.1:9'],
      {
        cwd: work,
      },
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /typo\.yaml:3/);
    assert.match(result.stderr, /did you mean products/);
  });

  it('exits 3 without a token', async () => {
    const result = await runInProcess(['apply', '--server', url], { cwd: work });
    assert.equal(result.code, 3);
  });
});

describe('countersign dev issuer', () => {
  it('serves a JWKS on loopback until stopped (real process)', async () => {
    const dataDir = await mkdtemp(join(tmpdir(), 'countersign-dev-issuer-'));
    const child = spawnCli(['dev', 'issuer', '--port', '0', '--json', '--data-dir', dataDir], {
      env: baseEnv(),
    });
    const done = collect(child);
    try {
      const issuerUrl = await waitForLine(child, listeningUrl, 20_000);
      assert.match(issuerUrl, /^http:\/\/127\.0\.0\.1:\d+$/);
      const jwks = (await (await fetch(`${issuerUrl}/jwks`)).json()) as { keys: unknown[] };
      assert.equal(jwks.keys.length, 1);
      const token = await runInProcess(['dev', 'token', '--data-dir', dataDir]);
      assert.equal(token.code, 0, token.stderr);
      const payload = JSON.parse(
        Buffer.from(token.stdout.trim().split('.')[1] ?? '', 'base64url').toString(),
      ) as { iss: string };
      assert.equal(payload.iss, issuerUrl, 'dev token names the issuer that last ran');
    } finally {
      child.kill('SIGTERM');
      const result = await done;
      await rm(dataDir, { recursive: true, force: true });
      assert.equal(result.code, 0, result.stderr);
    }
  });
});
