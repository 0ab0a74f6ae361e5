/**
 * `/v1/exceptions` over HTTP, in process: people authenticate with API tokens acting for
 * governance users; a request, two approvals, a review, and the problems bad callers get.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { jsonOf, startTestServer, type TestServer } from '../http/fixture.ts';

const GOVERNANCE = `apiVersion: countersign.dev/v1
kind: Governance
products:
  - name: payments
    owner: bob
    channels:
      - name: prod
        emergencyGroup: emergency
users:
  - { id: bob, email: bob@acme.example, roles: [approver] }
  - { id: carol, email: carol@acme.example, roles: [security] }
  - { id: erin, email: erin@acme.example, roles: [security] }
  - { id: frank, email: frank@acme.example, roles: [approver] }
groups:
  - { name: emergency, purpose: emergency, members: [bob, erin, frank] }
exceptions: { required: 2, maxDuration: 4h, maxUses: 3, reviewWithin: 1h }
`;

describe('/v1/exceptions', () => {
  let t: TestServer;
  const tokens: Record<string, string> = {};
  before(async () => {
    t = await startTestServer();
    await t.service.services.governance.apply(
      { file: { name: 'governance.yaml', text: GOVERNANCE }, policies: [] },
      { kind: 'system', id: 'test', name: 'test' },
    );
    for (const userId of ['bob', 'carol', 'erin', 'frank']) {
      const created = await t.service.services.apiTokens.createToken({
        name: userId,
        role: 'approver',
        userId,
      });
      tokens[userId] = created.token;
    }
  });
  after(() => t.close());

  const call = (method: 'GET' | 'POST', url: string, who: string, payload?: unknown) =>
    t.service.server.inject({
      method,
      url,
      headers: t.bearer(tokens[who]),
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });

  it('goes from request to approval to review', async () => {
    const created = await call('POST', '/v1/exceptions', 'bob', {
      product: 'payments',
      channel: 'prod',
      waives: ['approvals'],
      reason: 'INC-7: certificate expired in prod',
      durationSeconds: 3600,
      maxUses: 1,
    });
    assert.equal(created.statusCode, 201, created.body);
    const body = jsonOf(created);
    const id = String(body['id']);
    assert.equal(created.headers.location, `/v1/exceptions/${id}`);
    assert.equal(body['state'], 'pending');
    assert.equal(body['requestedBy'], 'bob');

    const own = await call('POST', `/v1/exceptions/${id}/approvals`, 'bob', {
      decision: 'approve',
    });
    assert.equal(own.statusCode, 403);
    assert.equal(jsonOf(own)['code'], 'FORBIDDEN');

    const first = await call('POST', `/v1/exceptions/${id}/approvals`, 'erin', {
      decision: 'approve',
      comment: 'confirmed with on-call',
    });
    assert.equal(first.statusCode, 200, first.body);
    assert.deepEqual(jsonOf(first)['approvals'], {
      required: 2,
      count: 1,
      submitted: [
        {
          userId: 'erin',
          decision: 'approve',
          comment: 'confirmed with on-call',
          createdAt: t.clock.now().toISOString(),
        },
      ],
    });
    const second = await call('POST', `/v1/exceptions/${id}/approvals`, 'frank', {
      decision: 'approve',
    });
    assert.equal(jsonOf(second)['state'], 'active');
    assert.equal(
      jsonOf(second)['notAfter'],
      new Date(t.clock.now().getTime() + 3_600_000).toISOString(),
    );

    const listed = await call('GET', '/v1/exceptions?state=active', 'carol');
    assert.equal(listed.statusCode, 200);
    assert.deepEqual(
      (jsonOf(listed)['exceptions'] as { id: string }[]).map((e) => e.id),
      [id],
    );

    const cancelled = await call('POST', `/v1/exceptions/${id}/cancel`, 'bob');
    assert.equal(jsonOf(cancelled)['state'], 'cancelled', cancelled.body);
    t.clock.advance(3 * 3_600_000);
    const overdue = await call('GET', '/v1/exceptions?overdue=true', 'carol');
    assert.deepEqual(
      (jsonOf(overdue)['exceptions'] as { id: string }[]).map((e) => e.id),
      [id],
    );
    const blocked = await call('POST', '/v1/exceptions', 'carol', {
      product: 'payments',
      channel: 'prod',
      waives: ['approvals'],
      reason: 'again',
      durationSeconds: 3600,
      maxUses: 1,
    });
    assert.equal(blocked.statusCode, 403);
    assert.equal(jsonOf(blocked)['code'], 'POLICY_DENIED');
    assert.match(String(jsonOf(blocked)['detail']), new RegExp(id));

    const reviewed = await call('POST', `/v1/exceptions/${id}/review`, 'carol', {
      findings: 'Certificate renewed; monitoring added.',
    });
    assert.equal(reviewed.statusCode, 200, reviewed.body);
    const shown = jsonOf(await call('GET', `/v1/exceptions/${id}`, 'erin'));
    assert.deepEqual(shown['review'], {
      dueAt: (jsonOf(second)['review'] as { dueAt: string }).dueAt,
      overdue: false,
      reviewedAt: t.clock.now().toISOString(),
      reviewedBy: 'carol',
      findings: 'Certificate renewed; monitoring added.',
    });
  });

  it('refuses callers without a person, unknown ids and malformed bodies', async () => {
    const anonymous = await t.service.server.inject({ method: 'GET', url: '/v1/exceptions' });
    assert.equal(anonymous.statusCode, 401);
    const admin = await t.service.server.inject({
      method: 'GET',
      url: '/v1/exceptions',
      headers: t.bearer(),
    });
    assert.equal(admin.statusCode, 403, 'an admin token without --user is not a person');
    const missing = await call('GET', '/v1/exceptions/ex_0123456789abcdef', 'bob');
    assert.equal(missing.statusCode, 404);
    const malformed = await call('GET', '/v1/exceptions/../tokens', 'bob');
    assert.notEqual(malformed.statusCode, 200);
    const badWaiver = await call('POST', '/v1/exceptions', 'bob', {
      product: 'payments',
      channel: 'prod',
      waives: ['entitlement'],
      reason: 'x',
      durationSeconds: 3600,
      maxUses: 1,
    });
    assert.equal(badWaiver.statusCode, 400);
    const extra = await call('POST', '/v1/exceptions/ex_0123456789abcdef/approvals', 'erin', {
      decision: 'approve',
      weight: 2,
    });
    assert.equal(extra.statusCode, 400);
  });
});
