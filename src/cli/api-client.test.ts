import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { isAppError, type AppError } from '../core/errors.ts';
import { createApiClient } from './api-client.ts';

/** Answers each path with a fixed status, content type and body. */
const ANSWERS: Record<string, { status: number; type: string; body: string }> = {
  '/html': { status: 404, type: 'text/html', body: '<h1>Not Found</h1>' },
  '/hostile': {
    status: 400,
    type: 'application/problem+json',
    body: JSON.stringify({
      code: 'INVALID_INPUT',
      detail: 'bad\u001b[2J\u001b]0;owned\u0007 verified OK \u202Eexe',
      hint: 'run \u001b[31mthis',
      errors: [{ path: '/x\u0000', message: 'm\u009b' }],
    }),
  },
  '/slow-down': {
    status: 429,
    type: 'application/problem+json',
    body: JSON.stringify({ code: 'RATE_LIMITED', detail: 'too many requests', hint: 'slow down' }),
  },
  '/unauthenticated': {
    status: 401,
    type: 'application/problem+json',
    body: JSON.stringify({ code: 'UNAUTHENTICATED', detail: 'no', hint: 'send a header' }),
  },
};

describe('the API client', () => {
  /** Calls per key of the /limited paths. */
  const calls = new Map<string, number>();
  let server: Server;
  let url: string;
  before(async () => {
    server = createServer((request, response) => {
      // /limited/<refusals>/<retry-after>/<key>: refused that many times, then answered.
      const limited = /^\/limited\/(\d+)\/(\d+)\/(\w+)$/.exec(request.url ?? '');
      if (limited !== null) {
        const [, refusals = '0', retryAfter = '0', key = ''] = limited;
        const seen = (calls.get(key) ?? 0) + 1;
        calls.set(key, seen);
        if (seen > Number(refusals)) {
          response.writeHead(200, { 'content-type': 'application/json' }).end('{"ok":true}');
          return;
        }
        const answer = ANSWERS['/slow-down'];
        response
          .writeHead(429, { 'content-type': answer?.type ?? '', 'retry-after': retryAfter })
          .end(answer?.body);
        return;
      }
      const answer = ANSWERS[request.url ?? ''] ?? { status: 500, type: 'text/plain', body: '' };
      response.writeHead(answer.status, { 'content-type': answer.type }).end(answer.body);
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });
  after(() => new Promise<void>((resolve) => server.close(() => resolve())));

  const failure = async (path: string): Promise<AppError> => {
    const client = createApiClient({ server: url, token: 'cs_token' });
    try {
      await client.request('GET', path, { auth: true });
    } catch (error) {
      assert.ok(isAppError(error));
      return error;
    }
    assert.fail('expected a failure');
  };

  it('says so when the answer is not a Countersign error, instead of an internal error', async () => {
    const error = await failure('/html');
    assert.equal(error.code, 'UPSTREAM_UNAVAILABLE');
    assert.match(error.message, /answered GET \/html with HTTP 404, not a Countersign error/);
    assert.match(error.hint ?? '', /is --server/);
  });

  it('shows server text with control and format characters escaped', async () => {
    const error = await failure('/hostile');
    assert.equal(error.message, 'bad\\u001b[2J\\u001b]0;owned\\u0007 verified OK \\u202eexe');
    assert.equal(error.hint, 'run \\u001b[31mthis');
    assert.deepEqual(error.errors, [{ path: '/x\\u0000', message: 'm\\u009b' }]);
  });

  it('gives its own hint when the token it sent is refused', async () => {
    const error = await failure('/unauthenticated');
    assert.equal(error.code, 'UNAUTHENTICATED');
    assert.equal(error.hint, 'check the token: it may be mistyped, revoked or expired');
  });

  describe('when the server rate-limits it', () => {
    const client = (waits: number[], notes: string[]) =>
      createApiClient({
        server: url,
        token: undefined,
        notify: (message) => notes.push(message),
        sleep: (ms) => {
          waits.push(ms);
          return Promise.resolve();
        },
      });

    it('waits for Retry-After and sends the request again', async () => {
      const waits: number[] = [];
      const notes: string[] = [];
      assert.deepEqual(await client(waits, notes).request('GET', '/limited/2/7/a'), { ok: true });
      assert.deepEqual(waits, [7000, 7000]);
      assert.equal(calls.get('a'), 3);
      assert.match(
        notes[0] ?? '',
        /rate limiting this client; retrying GET \/limited\/2\/7\/a in 7 s/,
      );
    });

    it('gives up after three retries with the server’s error', async () => {
      const waits: number[] = [];
      await assert.rejects(client(waits, []).request('GET', '/limited/9/1/b'), (error: unknown) => {
        assert.ok(isAppError(error, 'RATE_LIMITED'));
        assert.equal(error.retryAfterSeconds, 1);
        return true;
      });
      assert.equal(waits.length, 3);
      assert.equal(calls.get('b'), 4);
    });

    it('does not wait longer than a minute: the error is the better answer', async () => {
      const waits: number[] = [];
      await assert.rejects(client(waits, []).request('GET', '/limited/1/61/c'), (error: unknown) =>
        isAppError(error, 'RATE_LIMITED'),
      );
      assert.deepEqual(waits, []);
      assert.equal(calls.get('c'), 1);
    });
  });
});
