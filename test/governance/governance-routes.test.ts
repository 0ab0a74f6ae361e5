/**
 * `/v1/governance` over HTTP: who may plan, apply and read, what bad files get, and the evidence
 * every governance and token change leaves in the log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jsonOf, startTestServer, type TestServer } from '../http/fixture.ts';
import { governanceYaml, readEvents } from './governance-fixture.ts';

const ISSUER = 'http://127.0.0.1:1';

describe('/v1/governance', () => {
  let t: TestServer;
  let auditorToken: string;
  before(async () => {
    t = await startTestServer();
    auditorToken = (
      await t.service.services.apiTokens.createToken({ name: 'auditor', role: 'auditor' })
    ).token;
  });
  after(() => t.close());

  const post = (path: string, text: string, token = t.adminToken) =>
    t.service.server.inject({
      method: 'POST',
      url: `/v1/governance/${path}`,
      headers: t.bearer(token),
      payload: { file: { name: 'ops/governance.yaml', text } },
    });
  const read = (token = t.adminToken) =>
    t.service.server.inject({ method: 'GET', url: '/v1/governance', headers: t.bearer(token) });

  it('reports version 0 before anything is applied', async () => {
    const response = await read(auditorToken);
    assert.equal(response.statusCode, 200, response.body);
    assert.equal(jsonOf(response)['version'], 0);
    assert.equal(jsonOf(response)['policyHash'], null);
  });

  it('refuses plan and apply without an admin token', async () => {
    const anonymous = await t.service.server.inject({
      method: 'POST',
      url: '/v1/governance/plan',
      payload: { file: { name: 'g.yaml', text: '' } },
    });
    assert.equal(anonymous.statusCode, 401);
    const auditor = await post('apply', governanceYaml(ISSUER), auditorToken);
    assert.equal(auditor.statusCode, 403, auditor.body);
    assert.equal(jsonOf(auditor)['code'], 'FORBIDDEN');
  });

  it('answers 400 listing each problem with its file and line', async () => {
    const text = governanceYaml(ISSUER).replace('signingMode: managed', 'signingMode: manged');
    const response = await post('plan', text);
    assert.equal(response.statusCode, 400, response.body);
    const body = jsonOf(response);
    assert.equal(body['code'], 'INVALID_INPUT');
    const line = text.split('\n').findIndex((l) => l.includes('manged')) + 1;
    const errors = body['errors'] as { source?: string; message: string }[];
    assert.ok(
      errors.some((e) => e.source === `ops/governance.yaml:${String(line)}`),
      JSON.stringify(errors),
    );
    assert.match(String(body['detail']), new RegExp(`ops/governance\\.yaml:${String(line)}`));
  });

  it('refuses unknown body fields with 400', async () => {
    const response = await t.service.server.inject({
      method: 'POST',
      url: '/v1/governance/plan',
      headers: t.bearer(),
      payload: { file: { name: 'g.yaml', text: '', mode: 'force' } },
    });
    assert.equal(response.statusCode, 400, response.body);
  });

  it('plans, applies, and then shows the version in force with its log index', async () => {
    const plan = jsonOf(await post('plan', governanceYaml(ISSUER)));
    assert.equal(plan['currentVersion'], 0);
    assert.ok(
      (plan['changes'] as { description: string }[]).some(
        (c) => c.description === '+ entitlement payments-main',
      ),
    );
    const applied = await post('apply', governanceYaml(ISSUER));
    assert.equal(applied.statusCode, 200, applied.body);
    const result = jsonOf(applied);
    assert.equal(result['applied'], true);
    assert.equal(result['version'], 1);
    assert.equal(result['policyHash'], plan['policyHash']);

    const current = jsonOf(await read(auditorToken));
    assert.equal(current['version'], 1);
    assert.equal(current['fileName'], 'ops/governance.yaml');
    assert.equal(current['logIndex'], result['logIndex']);
    assert.equal(current['policyHash'], result['policyHash']);
    assert.equal((current['appliedBy'] as Record<string, unknown>)['kind'], 'api-token');
    const governance = current['governance'] as { entitlements: { id: string }[] };
    assert.deepEqual(
      governance.entitlements.map((e) => e.id),
      ['payments-main'],
    );
  });

  describe('evidence', () => {
    it('logs token.created and token.revoked once, naming who did it', async () => {
      const admin = await t.service.services.apiTokens.authenticateToken(t.adminToken);
      const created = await t.service.server.inject({
        method: 'POST',
        url: '/v1/tokens',
        headers: t.bearer(),
        payload: { name: 'ci reader', role: 'auditor' },
      });
      const id = String(jsonOf(created)['id']);
      for (let i = 0; i < 2; i += 1) {
        const revoked = await t.service.server.inject({
          method: 'DELETE',
          url: `/v1/tokens/${id}`,
          headers: t.bearer(),
        });
        assert.equal(revoked.statusCode, 200, revoked.body);
      }
      const events = await readEvents(t.service.storage);
      const about = events.filter((e) => e.body['tokenId'] === id);
      assert.deepEqual(
        about.map((e) => e.kind),
        ['token.created', 'token.revoked'],
      );
      const actor = { kind: 'api-token', id: admin.tokenId, name: admin.name };
      assert.deepEqual(about[0]?.body['createdBy'], actor);
      assert.equal(about[0]?.body['role'], 'auditor');
      assert.deepEqual(about[1]?.body['revokedBy'], actor);
      // Secrets never reach the log.
      const secret = String(jsonOf(created)['token']);
      assert.ok(events.every((e) => !e.raw.includes(secret.slice(-43))));
    });

    it('logs governance.applied for each applied version', async () => {
      const events = await readEvents(t.service.storage);
      const applied = events.filter((e) => e.kind === 'governance.applied');
      assert.deepEqual(
        applied.map((e) => e.body['version']),
        [1],
      );
    });
  });
});
