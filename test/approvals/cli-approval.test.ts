/**
 * The two-person release from the command line: `countersign sign --wait` in a CI job (tokens
 * minted by a loopback stand-in for GitHub's token endpoint) waits while two people run
 * `countersign approve`, then writes the bundle and the decision attestation, which
 * `countersign verify --require-approvals 2` accepts offline.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runInProcess } from '../cli/cli-harness.ts';
import { startApprovalsService, type ApprovalsService } from '../support/approvals-service.ts';

describe('a two-person release from the command line', () => {
  let app: ApprovalsService;
  let server: string;
  let tokenEndpoint: Server;
  let work: string;
  before(async () => {
    app = await startApprovalsService();
    await app.service.server.listen({ host: '127.0.0.1', port: 0 });
    server = `http://127.0.0.1:${String((app.service.server.server.address() as AddressInfo).port)}`;
    // GitHub Actions' ACTIONS_ID_TOKEN_REQUEST_URL: a fresh token per request.
    tokenEndpoint = createServer((_request, response) => {
      void app.workloadToken().then((value) => {
        response.writeHead(200, { 'content-type': 'application/json' });
        response.end(JSON.stringify({ value }));
      });
    });
    await new Promise<void>((resolve) => tokenEndpoint.listen(0, '127.0.0.1', resolve));
    work = await mkdtemp(join(tmpdir(), 'countersign-cli-approval-'));
  });
  after(async () => {
    tokenEndpoint.close();
    await app.close();
    await rm(work, { recursive: true, force: true });
  });

  it('waits for two approvals, then signs; the decision attestation verifies offline', async () => {
    const ciEnv = {
      COUNTERSIGN_SERVER: server,
      ACTIONS_ID_TOKEN_REQUEST_URL: `http://127.0.0.1:${String((tokenEndpoint.address() as AddressInfo).port)}/token?x=1`,
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: 'runner-secret',
    };
    await writeFile(join(work, 'app.tar.gz'), 'the release');
    const signing = runInProcess(
      [
        'sign',
        'app.tar.gz',
        '--product',
        'demo',
        '--channel',
        'prod',
        '--wait',
        '--wait-timeout',
        '2m',
      ],
      { env: ciEnv, cwd: work },
    );

    // Two people approve, each with their own token and key, once the request is there.
    let requestId: string | undefined;
    for (let i = 0; i < 200 && requestId === undefined; i++) {
      const list = await app.inject({
        method: 'GET',
        url: '/v1/requests?state=pending',
        token: app.adminToken,
      });
      assert.equal(list.statusCode, 200, list.body);
      requestId = (list.json() as { requests: { id: string }[] }).requests[0]?.id;
      if (requestId === undefined) await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(requestId !== undefined, 'the sign command opened a request');
    for (const userId of ['bob', 'carol']) {
      const created = await app.inject({
        method: 'POST',
        url: '/v1/tokens',
        token: app.adminToken,
        payload: { name: `${userId} cli`, role: 'approver', userId },
      });
      const token = (created.json() as { token: string }).token;
      const keyFile = join(work, `${userId}.pem`);
      const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      await writeFile(keyFile, privateKey.export({ format: 'pem', type: 'sec1' }));
      const env = {
        COUNTERSIGN_SERVER: server,
        COUNTERSIGN_TOKEN: token,
        COUNTERSIGN_APPROVER_KEY: keyFile,
      };
      const added = await runInProcess(['approver-key', 'add', '--label', `${userId} laptop`], {
        env,
        cwd: work,
      });
      assert.equal(added.code, 0, added.stderr);
      // What the approver looks at goes to stdout, for the terminal or a script alike.
      const shown = await runInProcess(['request', 'show', requestId], { env, cwd: work });
      assert.equal(shown.code, 0, shown.stderr);
      assert.match(shown.stdout, /^Signing request rq_[0-9a-f]{32} \(pending\) on /);
      assert.match(shown.stdout, /^ {2}app\.tar\.gz {2}sha256:[0-9a-f]{64}$/m);
      const approved = await runInProcess(
        ['approve', requestId, '--comment', 'reviewed the diff'],
        { env, cwd: work },
      );
      assert.equal(approved.code, 0, approved.stderr);
      assert.match(approved.stderr, /app\.tar\.gz/);
    }

    const signed = await signing;
    assert.equal(signed.code, 0, signed.stderr);
    assert.match(signed.stderr, /waiting for approvals/);
    const decision = JSON.parse(
      await readFile(join(work, 'app.tar.gz.decision.sigstore.json'), 'utf8'),
    ) as unknown;
    assert.equal(typeof decision, 'object');

    const root = await app.inject({ method: 'GET', url: '/v1/trust/trusted-root.json' });
    await writeFile(join(work, 'root.json'), root.body);
    const verified = await runInProcess(
      ['verify', 'app.tar.gz', '--trusted-root', 'root.json', '--require-approvals', '2'],
      { cwd: work },
    );
    assert.equal(verified.code, 0, verified.stderr + verified.stdout);
    assert.match(verified.stdout + verified.stderr, /bob/);
  });

  it('without --wait, exits 5 naming the request and how to approve it', async () => {
    await writeFile(join(work, 'other.tar.gz'), 'another release');
    const result = await runInProcess(
      ['sign', 'other.tar.gz', '--product', 'demo', '--channel', 'prod'],
      {
        env: { COUNTERSIGN_SERVER: server, COUNTERSIGN_IDENTITY_TOKEN: await app.workloadToken() },
        cwd: work,
      },
    );
    assert.equal(result.code, 5, result.stderr);
    assert.match(result.stderr, /waits for approvals/);
    assert.match(result.stderr, /countersign approve/);
  });
});
