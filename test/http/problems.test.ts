import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { InjectOptions } from 'fastify';
import { Type } from '@sinclair/typebox';
import { AppError } from '../../src/core/errors.ts';
import { ROUTE_MODULES } from '../../src/http/route-modules.ts';
import type { RouteModule } from '../../src/http/server-deps.ts';
import { strictObject } from '../../src/http/typebox.ts';
import { jsonOf, startTestServer, type TestServer } from './fixture.ts';

const PROBLEM_TYPE = /^application\/problem\+json(; charset=utf-8)?$/;

/** Routes that fail on purpose, registered beside the real ones. */
const failingRoutes: RouteModule = {
  name: 'test-failures',
  register(server) {
    server.get('/test/boom', () =>
      Promise.reject(new Error('db password hunter2 leaked into a message')),
    );
    server.get('/test/unavailable', () =>
      Promise.reject(
        new AppError('STORAGE_UNAVAILABLE', 'the database is restarting', { retryAfterSeconds: 7 }),
      ),
    );
    server.get('/test/rate-limited', () =>
      Promise.reject(new AppError('RATE_LIMITED', 'slow down')),
    );
    server.post(
      '/test/echo',
      {
        bodyLimit: 1024,
        schema: {
          body: strictObject({
            count: Type.Integer({ minimum: 0 }),
            nested: Type.Optional(strictObject({ label: Type.String() })),
          }),
          querystring: strictObject({ page: Type.Optional(Type.Integer({ minimum: 1 })) }),
        },
      },
      (request) => Promise.resolve({ count: request.body.count, page: request.query.page ?? null }),
    );
  },
};

function describeRequest(request: InjectOptions): string {
  return `${request.method ?? 'GET'} ${typeof request.url === 'string' ? request.url : '?'}`;
}

describe('HTTP error responses', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer({ routes: [...ROUTE_MODULES, failingRoutes] });
  });
  after(() => t.close());

  const inject = (options: InjectOptions) => t.service.server.inject(options);

  function assertProblem(
    response: { statusCode: number; headers: Record<string, unknown>; body: string },
    status: number,
    code: string,
  ): Record<string, unknown> {
    assert.equal(response.statusCode, status, response.body);
    assert.match(String(response.headers['content-type']), PROBLEM_TYPE);
    const body = jsonOf(response);
    assert.equal(body['status'], status);
    assert.equal(body['code'], code);
    assert.equal(
      body['type'],
      `https://countersign.dev/problems/${code.toLowerCase().replaceAll('_', '-')}`,
    );
    assert.equal(typeof body['title'], 'string');
    assert.equal(typeof body['detail'], 'string');
    assert.equal(body['requestId'], response.headers['x-request-id']);
    return body;
  }

  describe('GET of an unknown route', () => {
    it('answers 404 problem+json with NOT_FOUND', async () => {
      assertProblem(await inject({ method: 'GET', url: '/nope?x=1' }), 404, 'NOT_FOUND');
    });
  });

  describe('a known path with the wrong method', () => {
    it('answers 404 problem+json, not 5xx', async () => {
      assertProblem(await inject({ method: 'PUT', url: '/healthz' }), 404, 'NOT_FOUND');
    });
  });

  describe('POST with malformed JSON', () => {
    it('answers 400 INVALID_INPUT', async () => {
      const response = await inject({
        method: 'POST',
        url: '/v1/tokens',
        headers: { ...t.bearer(), 'content-type': 'application/json' },
        payload: '{"name": "x", ',
      });
      const body = assertProblem(response, 400, 'INVALID_INPUT');
      assert.equal(body['detail'], 'the request body is not valid JSON');
    });
  });

  describe('POST with an empty JSON body', () => {
    it('answers 400 INVALID_INPUT', async () => {
      const response = await inject({
        method: 'POST',
        url: '/test/echo',
        headers: { 'content-type': 'application/json' },
        payload: '',
      });
      assertProblem(response, 400, 'INVALID_INPUT');
    });
  });

  describe('POST with JSON sent as text/plain', () => {
    it('answers 415 problem+json', async () => {
      const response = await inject({
        method: 'POST',
        url: '/test/echo',
        headers: { 'content-type': 'text/plain' },
        payload: '{"count": 1}',
      });
      const body = assertProblem(response, 415, 'INVALID_INPUT');
      assert.equal(body['title'], 'Unsupported media type');
    });
  });

  describe('POST with a body and no content type', () => {
    it('answers 415 problem+json', async () => {
      const response = await inject({
        method: 'POST',
        url: '/test/echo',
        payload: Buffer.from('{"count":1}'),
      });
      assertProblem(response, 415, 'INVALID_INPUT');
    });
  });

  describe('POST with an unknown field', () => {
    it('answers 400 naming the field, instead of dropping it', async () => {
      const response = await inject({
        method: 'POST',
        url: '/test/echo',
        payload: { count: 1, nested: { label: 'a', sneaky: true }, admin: true },
      });
      const body = assertProblem(response, 400, 'INVALID_INPUT');
      const paths = (body['errors'] as { path: string; message: string }[])
        .map((error) => error.path)
        .sort();
      assert.deepEqual(paths, ['/admin', '/nested/sneaky']);
    });
  });

  describe('POST with a field of the wrong type', () => {
    it('answers 400 without coercing "1" to 1', async () => {
      const response = await inject({ method: 'POST', url: '/test/echo', payload: { count: '1' } });
      const body = assertProblem(response, 400, 'INVALID_INPUT');
      assert.deepEqual(
        (body['errors'] as { path: string; source: string }[]).map(({ path, source }) => ({
          path,
          source,
        })),
        [{ path: '/count', source: 'body' }],
      );
    });
  });

  describe('a query parameter', () => {
    it('is converted from its text to the schema type', async () => {
      const response = await inject({
        method: 'POST',
        url: '/test/echo?page=3',
        payload: { count: 2 },
      });
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(jsonOf(response), { count: 2, page: 3 });
    });

    it('that is unknown answers 400', async () => {
      const response = await inject({
        method: 'POST',
        url: '/test/echo?debug=1',
        payload: { count: 2 },
      });
      assertProblem(response, 400, 'INVALID_INPUT');
    });
  });

  describe('POST with a body over the route limit', () => {
    it('answers 413 problem+json', async () => {
      const response = await inject({
        method: 'POST',
        url: '/test/echo',
        payload: { count: 1, nested: { label: 'x'.repeat(2000) } },
      });
      const body = assertProblem(response, 413, 'INVALID_INPUT');
      assert.equal(body['title'], 'Payload too large');
    });
  });

  describe('POST with JSON that has more than one meaning', () => {
    const post = (payload: string | Buffer) =>
      inject({
        method: 'POST',
        url: '/test/echo',
        headers: { 'content-type': 'application/json' },
        payload,
      });

    it('answers 400 naming a member sent twice, instead of keeping the last', async () => {
      const body = assertProblem(await post('{"count": 1, "count": 2}'), 400, 'INVALID_INPUT');
      assert.equal(
        body['detail'],
        'the request body: /count appears twice in its object; send each member once',
      );
      assert.deepEqual(body['errors'], [
        { path: '/count', message: 'appears twice in its object; send each member once' },
      ]);
    });

    it('answers 400 for an integer a parser would round', async () => {
      const body = assertProblem(await post('{"count": 9007199254740993}'), 400, 'INVALID_INPUT');
      assert.match(String(body['detail']), /\/count \(9007199254740993\) is an integer beyond/);
    });

    it('answers 400 for invalid UTF-8, instead of repairing it', async () => {
      const payload = Buffer.concat([
        Buffer.from('{"count": 1, "nested": {"label": "'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"}}'),
      ]);
      const body = assertProblem(await post(payload), 400, 'INVALID_INPUT');
      assert.equal(body['detail'], 'the request body is not valid UTF-8');
    });
  });

  describe('POST with a prototype-poisoning body', () => {
    it('answers 400', async () => {
      const response = await inject({
        method: 'POST',
        url: '/test/echo',
        headers: { 'content-type': 'application/json' },
        payload: '{"count": 1, "__proto__": {"admin": true}}',
      });
      assertProblem(response, 400, 'INVALID_INPUT');
    });
  });

  describe('a battery of malformed requests', () => {
    it('never answers 5xx', async () => {
      const cases: InjectOptions[] = [
        {
          method: 'POST',
          url: '/test/echo',
          headers: { 'content-type': 'application/json' },
          payload: 'null',
        },
        {
          method: 'POST',
          url: '/test/echo',
          headers: { 'content-type': 'application/json' },
          payload: '[]',
        },
        {
          method: 'POST',
          url: '/test/echo',
          headers: { 'content-type': 'application/json' },
          payload: '"str"',
        },
        {
          method: 'POST',
          url: '/test/echo',
          headers: { 'content-type': 'application/json' },
          payload: '\u0000',
        },
        {
          method: 'POST',
          url: '/test/echo',
          headers: { 'content-type': 'application/xml' },
          payload: '<a/>',
        },
        {
          method: 'POST',
          url: '/test/echo',
          headers: { 'content-type': 'application/json; charset=latin1' },
          payload: '{}',
        },
        {
          method: 'POST',
          url: '/test/echo',
          headers: { 'content-type': 'multipart/form-data; boundary=x' },
          payload: '--x--',
        },
        { method: 'POST', url: '/test/echo', payload: { count: 1.5 } },
        { method: 'POST', url: '/test/echo', payload: { count: -1 } },
        { method: 'POST', url: '/test/echo?page=abc', payload: { count: 1 } },
        { method: 'POST', url: '/test/echo?page=1&page=2', payload: { count: 1 } },
        { method: 'DELETE', url: `/v1/tokens/${'a'.repeat(500)}`, headers: t.bearer() },
        { method: 'GET', url: '/%E0%A4%A' },
        {
          method: 'GET',
          url: '/v1/tokens',
          headers: { authorization: 'Bearer ' + 'x'.repeat(5000) },
        },
        { method: 'GET', url: '/v1/tokens', headers: { authorization: 'Basic dXNlcjpwYXNz' } },
      ];
      for (const request of cases) {
        const response = await inject(request);
        assert.ok(
          response.statusCode >= 400 && response.statusCode < 500,
          `${describeRequest(request)} → ${String(response.statusCode)} ${response.body}`,
        );
        assert.match(
          String(response.headers['content-type']),
          PROBLEM_TYPE,
          describeRequest(request),
        );
      }
    });
  });

  describe('a handler that throws an unknown error', () => {
    it('answers 500 INTERNAL with a generic detail', async () => {
      const response = await inject({ method: 'GET', url: '/test/boom' });
      const body = assertProblem(response, 500, 'INTERNAL');
      assert.doesNotMatch(response.body, /hunter2/);
      assert.equal(body['errors'], undefined);
    });

    it('logs the detail under the request id', async () => {
      const response = await inject({ method: 'GET', url: '/test/boom' });
      const requestId = String(response.headers['x-request-id']);
      const line = t.logLines.find(
        (entry) => entry.includes(requestId) && entry.includes('"level":"error"'),
      );
      assert.ok(line, 'an error log line carries the request id');
      assert.match(line, /hunter2 leaked into a message/);
    });
  });

  describe('STORAGE_UNAVAILABLE', () => {
    it('answers 503 with the Retry-After the error asks for', async () => {
      const response = await inject({ method: 'GET', url: '/test/unavailable' });
      assertProblem(response, 503, 'STORAGE_UNAVAILABLE');
      assert.equal(response.headers['retry-after'], '7');
    });
  });

  describe('RATE_LIMITED', () => {
    it('answers 429 with a default Retry-After', async () => {
      const response = await inject({ method: 'GET', url: '/test/rate-limited' });
      assertProblem(response, 429, 'RATE_LIMITED');
      assert.equal(response.headers['retry-after'], '1');
    });
  });

  describe('request ids', () => {
    it('are generated and echoed in x-request-id', async () => {
      const first = await inject({ method: 'GET', url: '/healthz' });
      const second = await inject({ method: 'GET', url: '/healthz' });
      assert.match(String(first.headers['x-request-id']), /^[A-Za-z0-9_-]{16}$/);
      assert.notEqual(first.headers['x-request-id'], second.headers['x-request-id']);
    });

    it('keep a well-formed id the client sent', async () => {
      const response = await inject({
        method: 'GET',
        url: '/healthz',
        headers: { 'x-request-id': 'edge-1234abcd' },
      });
      assert.equal(response.headers['x-request-id'], 'edge-1234abcd');
    });

    it('replace a client id that could forge log lines', async () => {
      const response = await inject({
        method: 'GET',
        url: '/healthz',
        headers: { 'x-request-id': 'a"\n{"level":"fatal' },
      });
      assert.match(String(response.headers['x-request-id']), /^[A-Za-z0-9_-]{16}$/);
    });
  });
});

describe('createServer', () => {
  describe('given a route whose body schema accepts unknown fields', () => {
    it('refuses to start', async () => {
      const openRoute: RouteModule = {
        name: 'open',
        register(server) {
          server.post('/open', { schema: { body: Type.Object({ a: Type.String() }) } }, () =>
            Promise.resolve({}),
          );
        },
      };
      await assert.rejects(
        startTestServer({ routes: [openRoute], withoutAdmin: true }),
        (error: unknown) => {
          assert.match(String(error), /additionalProperties: false/);
          return true;
        },
      );
    });
  });
});
