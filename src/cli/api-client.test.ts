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
  '/unauthenticated': {
    status: 401,
    type: 'application/problem+json',
    body: JSON.stringify({ code: 'UNAUTHENTICATED', detail: 'no', hint: 'send a header' }),
  },
};

describe('the API client', () => {
  let server: Server;
  let url: string;
  before(async () => {
    server = createServer((request, response) => {
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
});
