import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { jsonOf, startTestServer, type TestServer } from './fixture.ts';

const TOKEN_STRING = /^cs_[a-z2-7]{16}_[A-Za-z0-9_-]{43}$/;

describe('/v1/tokens', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  const createToken = async (body: Record<string, unknown>, token = t.adminToken) =>
    t.service.server.inject({
      method: 'POST',
      url: '/v1/tokens',
      headers: t.bearer(token),
      payload: body,
    });
  const listTokens = (token: string) =>
    t.service.server.inject({ method: 'GET', url: '/v1/tokens', headers: t.bearer(token) });

  /** A 401 body without its request id, to compare the answers of different failures. */
  const unauthenticatedShape = (response: {
    statusCode: number;
    headers: Record<string, unknown>;
    body: string;
  }) => {
    assert.equal(response.statusCode, 401, response.body);
    assert.equal(response.headers['www-authenticate'], 'Bearer realm="countersign"');
    const body = jsonOf(response);
    assert.match(String(body['requestId']), /\S/);
    assert.equal(body['code'], 'UNAUTHENTICATED');
    return { ...body, requestId: undefined };
  };

  describe('POST /v1/tokens', () => {
    describe('with an admin token', () => {
      it('answers 201 with the token string, once, and no-store', async () => {
        const response = await createToken({ name: 'ci reader', role: 'auditor' });
        assert.equal(response.statusCode, 201, response.body);
        assert.equal(response.headers['cache-control'], 'no-store');
        const body = jsonOf(response);
        assert.match(String(body['token']), TOKEN_STRING);
        assert.ok(String(body['token']).startsWith(`cs_${String(body['id'])}_`));
        assert.equal(body['role'], 'auditor');
        assert.equal(body['status'], 'active');
        assert.equal(body['createdAt'], t.clock.now().toISOString());
        assert.equal(body['expiresAt'], null);
      });

      it('sets expiresAt from expiresInSeconds on the service clock', async () => {
        const response = await createToken({
          name: 'short',
          role: 'auditor',
          expiresInSeconds: 3600,
        });
        assert.equal(response.statusCode, 201, response.body);
        assert.equal(
          jsonOf(response)['expiresAt'],
          new Date(t.clock.now().getTime() + 3_600_000).toISOString(),
        );
      });
    });

    describe('with both expiresAt and expiresInSeconds', () => {
      it('answers 400', async () => {
        const response = await createToken({
          name: 'x',
          role: 'auditor',
          expiresInSeconds: 3600,
          expiresAt: '2030-01-01T00:00:00Z',
        });
        assert.equal(response.statusCode, 400);
        assert.equal(jsonOf(response)['code'], 'INVALID_INPUT');
      });
    });

    describe('with an expiry in the past', () => {
      it('answers 400 naming expiresAt', async () => {
        const response = await createToken({
          name: 'x',
          role: 'auditor',
          expiresAt: '2020-01-01T00:00:00Z',
        });
        assert.equal(response.statusCode, 400);
        assert.deepEqual(
          (jsonOf(response)['errors'] as { path: string }[]).map((error) => error.path),
          ['/expiresAt'],
        );
      });
    });

    describe('with an unknown role', () => {
      it('answers 400', async () => {
        const response = await createToken({ name: 'x', role: 'root' });
        assert.equal(response.statusCode, 400);
        assert.equal(jsonOf(response)['code'], 'INVALID_INPUT');
      });
    });

    describe('with an unknown field', () => {
      it('answers 400 instead of ignoring it', async () => {
        const response = await createToken({ name: 'x', role: 'admin', scopes: ['everything'] });
        assert.equal(response.statusCode, 400);
        assert.deepEqual(jsonOf(response)['errors'], [
          { path: '/scopes', source: 'body', message: 'unknown field' },
        ]);
      });
    });
  });

  describe('the lifecycle of a token', () => {
    it('is created, authenticates, is listed without its secret, and stops working once revoked', async () => {
      const created = jsonOf(await createToken({ name: 'ops laptop', role: 'admin' }));
      const token = String(created['token']);
      const secret = token.slice(-43);

      const listed = await listTokens(token);
      assert.equal(listed.statusCode, 200, listed.body);
      const entry = (jsonOf(listed)['tokens'] as Record<string, unknown>[]).find(
        (item) => item['id'] === created['id'],
      );
      assert.deepEqual(Object.keys(entry ?? {}).sort(), [
        'createdAt',
        'expiresAt',
        'id',
        'name',
        'revokedAt',
        'role',
        'status',
        'userId',
      ]);
      assert.equal(listed.body.includes(secret), false);

      const revoked = await t.service.server.inject({
        method: 'DELETE',
        url: `/v1/tokens/${String(created['id'])}`,
        headers: t.bearer(),
      });
      assert.equal(revoked.statusCode, 200, revoked.body);
      assert.equal(jsonOf(revoked)['status'], 'revoked');

      unauthenticatedShape(await listTokens(token));
    });

    it('revoking twice succeeds and changes nothing', async () => {
      const created = jsonOf(await createToken({ name: 'twice', role: 'auditor' }));
      const url = `/v1/tokens/${String(created['id'])}`;
      const first = jsonOf(
        await t.service.server.inject({ method: 'DELETE', url, headers: t.bearer() }),
      );
      t.clock.advance(1000);
      const second = await t.service.server.inject({ method: 'DELETE', url, headers: t.bearer() });
      assert.equal(second.statusCode, 200);
      assert.equal(jsonOf(second)['revokedAt'], first['revokedAt']);
    });
  });

  describe('DELETE /v1/tokens/{id} for an unknown id', () => {
    it('answers 404 NOT_FOUND', async () => {
      const response = await t.service.server.inject({
        method: 'DELETE',
        url: '/v1/tokens/aaaaaaaaaaaaaaaa',
        headers: t.bearer(),
      });
      assert.equal(response.statusCode, 404);
      assert.equal(jsonOf(response)['code'], 'NOT_FOUND');
    });
  });

  describe('authentication', () => {
    it('answers 401 with one and the same problem for every bad token', async () => {
      const auditor = String(jsonOf(await createToken({ name: 'a', role: 'auditor' }))['token']);
      const lastChar = t.adminToken.at(-2) === 'A' ? 'B' : 'A';
      const wrongSecret = `${t.adminToken.slice(0, -2)}${lastChar}${t.adminToken.slice(-1)}`;
      const unknownId = `cs_aaaaaaaaaaaaaaaa_${t.adminToken.slice(-43)}`;
      const expiring = String(
        jsonOf(await createToken({ name: 'e', role: 'admin', expiresInSeconds: 60 }))['token'],
      );
      t.clock.advance(61_000);

      const answers = [
        await t.service.server.inject({ method: 'GET', url: '/v1/tokens' }),
        await t.service.server.inject({
          method: 'GET',
          url: '/v1/tokens',
          headers: { authorization: 'Bearer' },
        }),
        await t.service.server.inject({
          method: 'GET',
          url: '/v1/tokens',
          headers: { authorization: `Basic ${t.adminToken}` },
        }),
        await listTokens('cs_not_a_token'),
        await listTokens(`${t.adminToken}x`),
        await listTokens(wrongSecret),
        await listTokens(unknownId),
        await listTokens(expiring),
      ].map(unauthenticatedShape);
      for (const answer of answers) assert.deepEqual(answer, answers[0]);

      // The same requests with a valid token pass: the failures above are the tokens' fault.
      assert.equal((await listTokens(t.adminToken)).statusCode, 200);
      assert.equal((await listTokens(auditor)).statusCode, 403);
    });

    it('authenticates before reading the body: anonymous garbage gets 401, not 400', async () => {
      const response = await t.service.server.inject({
        method: 'POST',
        url: '/v1/tokens',
        headers: { 'content-type': 'application/json' },
        payload: '{not json',
      });
      assert.equal(response.statusCode, 401);
    });

    describe('with a token of the wrong role', () => {
      it('answers 403 FORBIDDEN', async () => {
        const approver = String(
          jsonOf(await createToken({ name: 'b', role: 'approver' }))['token'],
        );
        const response = await createToken({ name: 'escalate', role: 'admin' }, approver);
        assert.equal(response.statusCode, 403);
        assert.equal(jsonOf(response)['code'], 'FORBIDDEN');
      });
    });
  });
});
