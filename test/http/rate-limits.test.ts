/**
 * Request budgets (threat model I8): per client address before anything else, per identity as
 * soon as authentication names it; 429 with Retry-After, and nothing done for a refused request.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { composeService, type ComposedService } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { addressKey } from '../../src/http/request-budgets.ts';
import { createFakeClock, jsonOf, startTestServer, type TestServer } from './fixture.ts';

const SIGN_BODY = (value: string) => ({
  product: 'demo',
  channel: 'dev',
  subject: { name: 'app.tar.gz', digest: { algorithm: 'sha256', value } },
  kind: 'artifact',
});

function assertRateLimited(
  response: { statusCode: number; body: string; headers: Record<string, unknown> },
  retryAfter: string,
  mentions: RegExp,
): void {
  assert.equal(response.statusCode, 429, response.body);
  assert.equal(response.headers['retry-after'], retryAfter);
  assert.ok(response.headers['x-request-id'], 'the refusal carries the request id');
  const problem = jsonOf(response);
  assert.equal(problem['code'], 'RATE_LIMITED');
  assert.match(String(problem['detail']), mentions);
  assert.match(String(problem['detail']), /nothing was done/);
}

describe('per-address budgets', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      env: { COUNTERSIGN_LIMITS_IP_REQUESTS_PER_MINUTE: '3' },
    });
  });
  after(() => server.close());

  const get = (url: string, remoteAddress: string, headers: Record<string, string> = {}) =>
    server.service.server.inject({ method: 'GET', url, remoteAddress, headers });

  it('refuses the address over its budget with 429 and Retry-After, until it refills', async () => {
    for (let i = 0; i < 3; i++) {
      assert.equal((await get('/v1/log', '192.0.2.10')).statusCode, 200);
    }
    // Unauthenticated callers are turned away before their token is even looked at.
    const refused = await get('/v1/governance', '192.0.2.10', server.bearer());
    assertRateLimited(refused, '20', /too many requests from this address \(at most 3 a minute\)/);
    assert.match(String(jsonOf(refused)['hint']), /limits\.ipRequestsPerMinute/);

    server.clock.advance(20_000);
    assert.equal((await get('/v1/log', '192.0.2.10')).statusCode, 200);
    assert.equal((await get('/v1/log', '192.0.2.10')).statusCode, 429);
  });

  it('keeps one budget per address, and never limits the probes or /metrics', async () => {
    for (let i = 0; i < 3; i++) await get('/v1/log', '192.0.2.20');
    assert.equal((await get('/v1/log', '192.0.2.20')).statusCode, 429);
    assert.equal((await get('/v1/log', '192.0.2.21')).statusCode, 200);
    for (const url of ['/healthz', '/readyz', '/metrics']) {
      assert.equal((await get(url, '192.0.2.20')).statusCode, 200, url);
    }
    const metrics = (await get('/metrics', '192.0.2.20')).body;
    assert.match(metrics, /countersign_rate_limited_requests_total\{scope="address"\} [1-9]/);
  });

  it('counts an IPv6 network per /64', async () => {
    for (let i = 0; i < 3; i++) await get('/v1/log', `2001:db8:1:2::${String(i + 1)}`);
    assert.equal((await get('/v1/log', '2001:db8:1:2:ffff::9')).statusCode, 429);
    assert.equal((await get('/v1/log', '2001:db8:1:3::1')).statusCode, 200);
  });

  it('ignores X-Forwarded-For from a peer that is not a trusted proxy', async () => {
    for (let i = 0; i < 3; i++) {
      await get('/v1/log', '192.0.2.30', { 'x-forwarded-for': `198.51.100.${String(i)}` });
    }
    const spoofed = await get('/v1/log', '192.0.2.30', { 'x-forwarded-for': '198.51.100.99' });
    assert.equal(spoofed.statusCode, 429);
  });
});

describe('per-address budgets behind a trusted proxy', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      env: {
        COUNTERSIGN_LIMITS_IP_REQUESTS_PER_MINUTE: '2',
        COUNTERSIGN_TRUSTED_PROXIES: '10.0.0.0/8, fd00::1',
      },
    });
  });
  after(() => server.close());

  it('tells the clients behind the proxy apart by X-Forwarded-For', async () => {
    const viaProxy = (client: string) =>
      server.service.server.inject({
        method: 'GET',
        url: '/v1/log',
        remoteAddress: '10.1.2.3',
        headers: { 'x-forwarded-for': client },
      });
    assert.equal((await viaProxy('198.51.100.1')).statusCode, 200);
    assert.equal((await viaProxy('198.51.100.1')).statusCode, 200);
    assert.equal((await viaProxy('198.51.100.1')).statusCode, 429);
    assert.equal((await viaProxy('198.51.100.2')).statusCode, 200);
  });
});

describe('per-identity budgets of API tokens and people', () => {
  let server: TestServer;
  before(async () => {
    server = await startTestServer({
      env: { COUNTERSIGN_LIMITS_IDENTITY_REQUESTS_PER_MINUTE: '2' },
    });
  });
  after(() => server.close());

  it('refuses the token over its budget from any address; other tokens are unaffected', async () => {
    const read = (token: string | undefined, remoteAddress: string) =>
      server.service.server.inject({
        method: 'GET',
        url: '/v1/governance',
        remoteAddress,
        headers: server.bearer(token),
      });
    assert.equal((await read(undefined, '192.0.2.1')).statusCode, 200);
    assert.equal((await read(undefined, '192.0.2.2')).statusCode, 200);
    const refused = await read(undefined, '192.0.2.3');
    assertRateLimited(refused, '30', /too many requests from API token \S+ \(at most 2 a minute\)/);
    assert.match(String(jsonOf(refused)['hint']), /limits\.identityRequestsPerMinute/);

    const other = await server.service.services.apiTokens.createToken({
      name: 'other',
      role: 'admin',
    });
    assert.equal((await read(other.token, '192.0.2.3')).statusCode, 200);
  });

  it('spends a person’s one budget across all of their tokens', async () => {
    const tokens = server.service.services.apiTokens;
    const first = await tokens.createToken({ name: 'alice 1', role: 'auditor', userId: 'alice' });
    const second = await tokens.createToken({ name: 'alice 2', role: 'auditor', userId: 'alice' });
    const read = (token: string) =>
      server.service.server.inject({
        method: 'GET',
        url: '/v1/governance',
        headers: server.bearer(token),
      });
    assert.equal((await read(first.token)).statusCode, 200);
    assert.equal((await read(second.token)).statusCode, 200);
    assertRateLimited(await read(first.token), '30', /too many requests from user alice/);
  });
});

describe('per-identity budgets of workloads', () => {
  let dataDir: string;
  let service: ComposedService;
  const clock = createFakeClock(Date.now());
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'countersign-limits-'));
    service = await composeService(
      loadConfig({
        env: { COUNTERSIGN_LIMITS_IDENTITY_REQUESTS_PER_MINUTE: '2' },
        argv: ['--demo', '--port', '0', '--data-dir', dataDir, '--log-level', 'silent'],
        cwd: dataDir,
      }),
      { migrate: true },
      { clock },
    );
  });
  after(async () => {
    await service.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const mint = (repository?: string) => {
    const issuer = service.devIssuer;
    if (issuer === undefined) throw new Error('the demo runs a development issuer');
    return issuer.mintToken(repository === undefined ? {} : { repository });
  };
  const sign = (token: string, digest: string) =>
    service.server.inject({
      method: 'POST',
      url: '/v1/sign',
      headers: { authorization: `Bearer ${token}` },
      payload: SIGN_BODY(digest),
    });
  const treeSize = async () =>
    (await service.services.log.latestCheckpoint())?.treeSize ?? Number.NaN;

  it('refuses a workload over its budget before deciding, logging or spending its token', async () => {
    assert.equal((await sign(await mint(), 'a'.repeat(64))).statusCode, 201);
    // A decision counts against the same budget as a signature.
    const decision = await service.server.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: { authorization: `Bearer ${await mint()}` },
      payload: { product: 'demo', channel: 'dev' },
    });
    assert.equal(decision.statusCode, 200, decision.body);

    const before = await treeSize();
    const token = await mint();
    const refused = await sign(token, 'b'.repeat(64));
    assertRateLimited(refused, '30', /too many requests from workload https:\/\/github\.com\//);
    const refusedDecision = await service.server.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: { authorization: `Bearer ${await mint()}` },
      payload: { product: 'demo', channel: 'dev' },
    });
    assert.equal(refusedDecision.statusCode, 429);
    assert.equal(await treeSize(), before, 'nothing was logged for the refused requests');

    // Another workload identity has its own budget.
    const other = await sign(await mint('demo/other'), 'c'.repeat(64));
    assert.notEqual(other.statusCode, 429, other.body);

    // Once the budget refilled, the refused request's token still signs: it was never spent.
    clock.advance(30_000);
    assert.equal((await sign(token, 'b'.repeat(64))).statusCode, 201);
  });
});

describe('addressKey', () => {
  it('keys IPv4 as is, IPv4-mapped IPv6 as IPv4, and IPv6 by its /64', () => {
    assert.equal(addressKey('192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('::ffff:192.0.2.7'), '192.0.2.7');
    assert.equal(addressKey('2001:db8::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('2001:0db8:0000:0000:ffff::1'), '2001:db8:0:0::/64');
    assert.equal(addressKey('2001:db8:aa:bb:cc:dd:ee:ff'), '2001:db8:aa:bb::/64');
    assert.equal(addressKey('::1'), '0:0:0:0::/64');
    assert.equal(addressKey('64:ff9b::192.0.2.1'), '64:ff9b:0:0::/64');
    assert.equal(addressKey('fe80::1%eth0'), 'fe80:0:0:0::/64');
  });
});
