import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { ROUTE_MODULES } from '../../src/http/route-modules.ts';
import type { RouteModule } from '../../src/http/server-deps.ts';
import { jsonOf, startTestServer } from './fixture.ts';

/** A route that logs the kind of objects careless code logs: headers, bodies, config. */
const chattyRoutes: RouteModule = {
  name: 'chatty',
  register(server) {
    server.get(
      '/test/chatty',
      { schema: { querystring: Type.Object({}, { additionalProperties: false }) } },
      (request) => {
        request.log.info({ headers: request.headers }, 'headers seen');
        request.log.info(
          { body: { token: request.headers.authorization, password: 'pw-123456' } },
          'body seen',
        );
        request.log.info({ config: { storage: { secret: 'sekrit-789' } } }, 'config seen');
        return Promise.resolve({});
      },
    );
  },
};

describe('logs', () => {
  describe('at trace level, through a token lifecycle and careless logging', () => {
    it('never contain a token secret, an Authorization header or a password', async () => {
      const t = await startTestServer({
        flags: ['--log-level', 'trace'],
        routes: [...ROUTE_MODULES, chattyRoutes],
      });
      try {
        const server = t.service.server;
        const created = await server.inject({
          method: 'POST',
          url: '/v1/tokens',
          headers: t.bearer(),
          payload: { name: 'logged', role: 'admin' },
        });
        const token = String(jsonOf(created)['token']);
        await server.inject({ method: 'GET', url: '/v1/tokens', headers: t.bearer(token) });
        await server.inject({ method: 'GET', url: '/test/chatty', headers: t.bearer(token) });
        await server.inject({
          method: 'GET',
          url: '/v1/tokens',
          headers: t.bearer(`${token.slice(0, -3)}abc`),
        });
        await server.inject({
          method: 'DELETE',
          url: `/v1/tokens/${String(jsonOf(created)['id'])}`,
          headers: t.bearer(),
        });

        const log = t.logLines.join('');
        assert.ok(t.logLines.length > 10, 'the requests were logged');
        assert.match(log, /headers seen/);
        for (const secret of [token, t.adminToken]) {
          // The secret is the last 43 characters; it may itself contain `_`.
          const secretPart = secret.slice(-43);
          assert.equal(log.includes(secretPart), false, 'a token secret reached the log');
          assert.equal(
            log.includes(secretPart.slice(0, 16)),
            false,
            'part of a token secret reached the log',
          );
        }
        assert.equal(log.includes('pw-123456'), false);
        assert.equal(log.includes('sekrit-789'), false);
        assert.match(log, /\[redacted\]/);
      } finally {
        await t.close();
      }
    });
  });
});
