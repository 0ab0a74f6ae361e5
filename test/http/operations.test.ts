import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../../src/core/errors.ts';
import { jsonOf, startTestServer, type TestServer } from './fixture.ts';

describe('operations endpoints', () => {
  let t: TestServer;
  before(async () => {
    t = await startTestServer();
  });
  after(() => t.close());

  describe('GET /healthz', () => {
    it('answers 200 ok', async () => {
      const response = await t.service.server.inject({ method: 'GET', url: '/healthz' });
      assert.equal(response.statusCode, 200);
      assert.deepEqual(jsonOf(response), { status: 'ok' });
    });
  });

  describe('GET /readyz on a migrated database', () => {
    it('answers 200 listing the storage check', async () => {
      const response = await t.service.server.inject({ method: 'GET', url: '/readyz' });
      assert.equal(response.statusCode, 200, response.body);
      assert.deepEqual(jsonOf(response), {
        status: 'ready',
        checks: [
          { name: 'storage', ok: true },
          { name: 'log', ok: true },
          { name: 'keys', ok: true },
        ],
      });
    });
  });

  describe('GET /metrics', () => {
    it('exposes process metrics and request durations by route pattern', async () => {
      await t.service.server.inject({ method: 'GET', url: '/healthz' });
      await t.service.server.inject({ method: 'GET', url: '/no/such/route/12345' });
      const response = await t.service.server.inject({ method: 'GET', url: '/metrics' });
      assert.equal(response.statusCode, 200);
      assert.match(String(response.headers['content-type']), /^text\/plain; version=0\.0\.4/);
      assert.match(response.body, /^process_cpu_user_seconds_total \d/m);
      assert.match(
        response.body,
        /^http_request_duration_seconds_count\{method="GET",route="\/healthz",status_code="200"\} [1-9]/m,
      );
      assert.match(response.body, /route="unmatched",status_code="404"/);
      assert.doesNotMatch(response.body, /12345/);
    });

    it('reports the log size and how much of the log the node cache holds', async () => {
      const gauge = (body: string, name: string): number => {
        const match = new RegExp(`^${name} (\\d+)$`, 'm').exec(body);
        assert.ok(match, `${name} in ${body.slice(0, 200)}`);
        return Number(match[1]);
      };
      const size = Number((await t.service.log.reader.latestCheckpoint()).treeSize);
      assert.ok(size > 0, 'the test server logged its governance');
      // The cache fills in the background from start-up; it catches up within moments.
      let body = '';
      for (let attempt = 0; attempt < 100; attempt++) {
        body = (await t.service.server.inject({ method: 'GET', url: '/metrics' })).body;
        if (gauge(body, 'countersign_log_node_cache_tree_size') === size) break;
        await new Promise((resolve) => setTimeout(resolve, 10));
      }
      assert.equal(gauge(body, 'countersign_log_tree_size'), size);
      assert.equal(gauge(body, 'countersign_log_node_cache_tree_size'), size);
      assert.ok(gauge(body, 'countersign_log_node_cache_bytes') >= size * 32);
      assert.equal(gauge(body, 'countersign_log_node_cache_lowest_level'), 0);
    });

    it('counts only the requests of its own server', async () => {
      const other = await startTestServer({ withoutAdmin: true });
      try {
        await t.service.server.inject({ method: 'GET', url: '/readyz' });
        const body = (await other.service.server.inject({ method: 'GET', url: '/metrics' })).body;
        assert.doesNotMatch(body, /route="\/readyz"/);
      } finally {
        await other.close();
      }
    });
  });

  describe('GET /openapi.json', () => {
    it('is an OpenAPI 3.1 document listing the routes with their schemas', async () => {
      const response = await t.service.server.inject({ method: 'GET', url: '/openapi.json' });
      assert.equal(response.statusCode, 200);
      const document = jsonOf(response) as {
        openapi: string;
        paths: Record<
          string,
          Record<
            string,
            {
              requestBody?: {
                content: Record<string, { schema: { additionalProperties?: boolean } }>;
              };
            }
          >
        >;
      };
      assert.equal(document.openapi, '3.1.0');
      assert.deepEqual(Object.keys(document.paths['/v1/tokens'] ?? {}).sort(), ['get', 'post']);
      assert.ok(document.paths['/v1/tokens/{id}']?.['delete']);
      assert.ok(document.paths['/healthz']?.['get']);
      assert.ok(document.paths['/readyz']?.['get']);
      const createSchema =
        document.paths['/v1/tokens']?.['post']?.requestBody?.content['application/json']?.schema;
      assert.equal(createSchema?.additionalProperties, false);
      assert.equal(document.paths['/openapi.json'], undefined);
    });
  });

  describe('GET /docs', () => {
    it('serves the interactive documentation', async () => {
      const response = await t.service.server.inject({ method: 'GET', url: '/docs/' });
      assert.equal(response.statusCode, 200);
      assert.match(String(response.headers['content-type']), /text\/html/);
    });
  });
});

describe('GET /readyz', () => {
  describe('when the database schema is behind the code', () => {
    it('answers 503 problem+json naming storage', async () => {
      const t = await startTestServer({ migrate: false, withoutAdmin: true });
      try {
        const response = await t.service.server.inject({ method: 'GET', url: '/readyz' });
        assert.equal(response.statusCode, 503, response.body);
        assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
        const body = jsonOf(response);
        assert.equal(body['code'], 'STORAGE_UNAVAILABLE');
        assert.match(String(body['detail']), /countersign migrate/);
        assert.deepEqual(
          (body['checks'] as { name: string; ok: boolean }[]).map(({ name, ok }) => ({ name, ok })),
          [
            { name: 'storage', ok: false },
            { name: 'log', ok: false },
            { name: 'keys', ok: true },
          ],
        );
        assert.ok(response.headers['retry-after']);
      } finally {
        await t.close();
      }
    });
  });

  describe('when a registered check fails or throws', () => {
    it('answers 503 listing every check, without the thrown internals', async () => {
      const t = await startTestServer({
        withoutAdmin: true,
        readinessChecks: [
          {
            name: 'witness-quorum',
            check: () =>
              Promise.resolve({ ok: false, problem: 'checkpoint does not match the tree' }),
          },
          {
            name: 'keys',
            check: () => Promise.reject(new Error('pkcs11 slot 3 pin 1234 rejected')),
          },
          {
            name: 'witness',
            check: async () =>
              Promise.reject(new AppError('UPSTREAM_UNAVAILABLE', 'witness unreachable')),
          },
        ],
      });
      try {
        const response = await t.service.server.inject({ method: 'GET', url: '/readyz' });
        assert.equal(response.statusCode, 503);
        const body = jsonOf(response);
        assert.match(
          String(body['detail']),
          /not ready: witness-quorum: checkpoint does not match the tree/,
        );
        assert.deepEqual(body['checks'], [
          { name: 'storage', ok: true },
          { name: 'log', ok: true },
          { name: 'keys', ok: true },
          { name: 'witness-quorum', ok: false, problem: 'checkpoint does not match the tree' },
          { name: 'keys', ok: false, problem: 'the check failed' },
          { name: 'witness', ok: false, problem: 'witness unreachable' },
        ]);
        assert.doesNotMatch(response.body, /1234/);
      } finally {
        await t.close();
      }
    });
  });
});
