/**
 * Webhooks end to end: the API, the outbox, and the delivery worker POSTing to a real loopback
 * receiver, with the service's fake clock standing in for time (no sleeps).
 */
import assert from 'node:assert/strict';
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, beforeEach, describe, it } from 'node:test';
import { createFetchWebhookSender } from '../../src/adapters/notifications/fetch-webhook-sender.ts';
import { createWebhookWorker, DEFAULT_DELIVERY_POLICY } from '../../src/app/webhooks.ts';
import { verifyWebhookSignature } from '../../src/core/notifications/webhook-signature.ts';
import { cryptoRandom } from '../../src/adapters/system/crypto-random.ts';
import { jsonOf, startTestServer, type TestServer } from './fixture.ts';

interface ReceivedRequest {
  readonly method: string;
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: string;
}

/** A loopback HTTP receiver whose answers the test scripts. */
interface Receiver {
  readonly url: string;
  readonly received: ReceivedRequest[];
  /** Answers, used in order; the last one repeats. */
  answers: { status: number; body?: string; headers?: Record<string, string>; hang?: boolean }[];
  close(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const received: ReceivedRequest[] = [];
  const hanging: (() => void)[] = [];
  const receiver: { answers: Receiver['answers'] } = { answers: [{ status: 204 }] };
  const server: Server = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      received.push({
        method: request.method ?? '',
        url: request.url ?? '',
        headers: request.headers,
        body: Buffer.concat(chunks).toString('utf8'),
      });
      const answer = receiver.answers.length > 1 ? receiver.answers.shift() : receiver.answers[0];
      if (answer === undefined || answer.hang === true) {
        hanging.push(() => response.destroy());
        return;
      }
      response.writeHead(answer.status, answer.headers ?? {});
      response.end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return Object.assign(receiver, {
    url: `http://127.0.0.1:${String(port)}/hook`,
    received,
    async close() {
      for (const end of hanging) end();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  });
}

describe('webhooks', () => {
  let t: TestServer;
  let receiver: Receiver;
  before(async () => {
    t = await startTestServer();
    receiver = await startReceiver();
  });
  after(async () => {
    await receiver.close();
    await t.close();
  });
  beforeEach(() => {
    receiver.received.length = 0;
    receiver.answers = [{ status: 204 }];
  });

  const createWebhook = (body: Record<string, unknown>, token = t.adminToken) =>
    t.service.server.inject({
      method: 'POST',
      url: '/v1/webhooks',
      headers: t.bearer(token),
      payload: body,
    });
  const deliveriesOf = async (id: string) => {
    const response = await t.service.server.inject({
      method: 'GET',
      url: `/v1/webhooks/${id}/deliveries`,
      headers: t.bearer(),
    });
    assert.equal(response.statusCode, 200, response.body);
    return jsonOf(response)['deliveries'] as Record<string, unknown>[];
  };
  /** Registers a webhook on the receiver; returns its id and secret. */
  const register = async (events = ['request.created']) => {
    const response = await createWebhook({ url: receiver.url, events });
    assert.equal(response.statusCode, 201, response.body);
    const body = jsonOf(response);
    return { id: String(body['id']), secret: String(body['secret']) };
  };
  const deleteWebhook = (id: string) =>
    t.service.server.inject({ method: 'DELETE', url: `/v1/webhooks/${id}`, headers: t.bearer() });
  const run = () => t.service.webhookWorker.runDueDeliveries(t.clock.now());

  describe('POST /v1/webhooks', () => {
    it('answers 201 with the secret once, no-store, and lists the webhook without it', async () => {
      const response = await createWebhook({
        url: receiver.url,
        events: ['exception.used', 'request.created', 'exception.used'],
      });
      assert.equal(response.statusCode, 201, response.body);
      assert.equal(response.headers['cache-control'], 'no-store');
      const body = jsonOf(response);
      assert.match(String(body['secret']), /^whsec_[A-Za-z0-9_-]{43}$/);
      assert.match(String(body['id']), /^wh_[0-9a-f]{20}$/);
      assert.deepEqual(body['events'], ['request.created', 'exception.used']);
      assert.equal(body['createdAt'], t.clock.now().toISOString());

      const list = await t.service.server.inject({
        method: 'GET',
        url: '/v1/webhooks',
        headers: t.bearer(),
      });
      assert.equal(list.statusCode, 200);
      const listed = (jsonOf(list)['webhooks'] as Record<string, unknown>[]).find(
        (webhook) => webhook['id'] === body['id'],
      );
      assert.ok(listed !== undefined);
      assert.equal(listed['secret'], undefined);
      assert.ok(!list.body.includes(String(body['secret'])));
      await deleteWebhook(String(body['id']));
    });

    it('refuses plain http: to anything but loopback, and credentials in the URL', async () => {
      for (const url of [
        'http://hooks.example/x',
        'ftp://hooks.example/x',
        'https://user:pw@hooks.example/x',
        'not a url',
      ]) {
        const response = await createWebhook({ url, events: ['request.created'] });
        assert.equal(response.statusCode, 400, url);
        assert.equal(jsonOf(response)['code'], 'INVALID_INPUT');
      }
    });

    it('names an unknown event and suggests the right one', async () => {
      const response = await createWebhook({ url: receiver.url, events: ['request.create'] });
      assert.equal(response.statusCode, 400);
      assert.match(
        response.body,
        /unknown event \\"request.create\\" \(did you mean request.created\?\)/,
      );
    });

    it('is for admins only', async () => {
      const auditor = await t.service.services.apiTokens.createToken({
        name: 'auditor',
        role: 'auditor',
      });
      const response = await createWebhook(
        { url: receiver.url, events: ['request.created'] },
        auditor.token,
      );
      assert.equal(response.statusCode, 403);
      const anonymous = await t.service.server.inject({ method: 'GET', url: '/v1/webhooks' });
      assert.equal(anonymous.statusCode, 401);
    });
  });

  describe('delivery', () => {
    it('POSTs the body with event, delivery id, timestamp and a valid v1 signature', async () => {
      const { id, secret } = await register();
      await t.service.storage.transaction((session) =>
        session.notifications.enqueue('request.created', { requestId: 'rq_1' }, t.clock.now()),
      );
      assert.deepEqual(await run(), { attempted: 1, delivered: 1, retrying: 0, failed: 0 });

      const [request] = receiver.received;
      assert.ok(request !== undefined);
      assert.equal(request.method, 'POST');
      assert.equal(request.headers['content-type'], 'application/json');
      assert.equal(request.headers['countersign-event'], 'request.created');
      const nowSeconds = Math.floor(t.clock.now().getTime() / 1000);
      assert.equal(request.headers['countersign-timestamp'], String(nowSeconds));
      const body = JSON.parse(request.body) as Record<string, unknown>;
      assert.equal(request.headers['countersign-delivery'], body['id']);
      assert.deepEqual(body, {
        id: body['id'],
        event: 'request.created',
        occurredAt: t.clock.now().toISOString(),
        data: { requestId: 'rq_1' },
      });
      assert.equal(
        verifyWebhookSignature({
          secret,
          body: request.body,
          timestampHeader: String(request.headers['countersign-timestamp']),
          signatureHeader: String(request.headers['countersign-signature']),
          nowSeconds,
        }),
        true,
      );

      const [delivery] = await deliveriesOf(id);
      assert.equal(delivery?.['state'], 'delivered');
      assert.equal(delivery?.['attempts'], 1);
      assert.equal(delivery?.['lastStatusCode'], 204);
      assert.equal(delivery?.['nextAttemptAt'], null);
      assert.equal(delivery?.['body'], undefined);
      assert.deepEqual(await run(), { attempted: 0, delivered: 0, retrying: 0, failed: 0 });
      await deleteWebhook(id);
    });

    it('retries a failed attempt after an exponential, jittered delay', async () => {
      const { id } = await register();
      receiver.answers = [
        { status: 500, body: 'x'.repeat(5000) },
        { status: 500 },
        { status: 200 },
      ];
      await t.service.storage.notifications.enqueue('request.created', {}, t.clock.now());

      const firstAt = t.clock.now().getTime();
      assert.deepEqual(await run(), { attempted: 1, delivered: 0, retrying: 1, failed: 0 });
      let [delivery] = await deliveriesOf(id);
      assert.equal(delivery?.['state'], 'pending');
      assert.equal(delivery?.['lastStatusCode'], 500);
      assert.ok(String(delivery?.['lastError']).length <= 200, 'the response body is cut short');
      const firstDelay = Date.parse(String(delivery?.['nextAttemptAt'])) - firstAt;
      const base = DEFAULT_DELIVERY_POLICY.baseDelayMs;
      assert.ok(firstDelay >= base / 2 && firstDelay <= base, String(firstDelay));

      // Not due yet: nothing is sent.
      assert.equal((await run()).attempted, 0);
      t.clock.advance(firstDelay);
      const secondAt = t.clock.now().getTime();
      assert.deepEqual(await run(), { attempted: 1, delivered: 0, retrying: 1, failed: 0 });
      [delivery] = await deliveriesOf(id);
      const secondDelay = Date.parse(String(delivery?.['nextAttemptAt'])) - secondAt;
      assert.ok(secondDelay >= base && secondDelay <= 2 * base, String(secondDelay));

      t.clock.advance(secondDelay);
      assert.deepEqual(await run(), { attempted: 1, delivered: 1, retrying: 0, failed: 0 });
      [delivery] = await deliveriesOf(id);
      assert.equal(delivery?.['state'], 'delivered');
      assert.equal(delivery?.['attempts'], 3);
      assert.equal(delivery?.['lastError'], null);
      assert.equal(receiver.received.length, 3);
      // Every attempt of one delivery carries the same delivery id, for deduplication.
      assert.equal(
        new Set(receiver.received.map((r) => r.headers['countersign-delivery'])).size,
        1,
      );
      await deleteWebhook(id);
    });

    it('marks a delivery failed after the last attempt and stops trying', async () => {
      const { id } = await register();
      receiver.answers = [{ status: 503 }];
      await t.service.storage.notifications.enqueue('request.created', {}, t.clock.now());
      for (let attempt = 1; attempt <= DEFAULT_DELIVERY_POLICY.maxAttempts; attempt += 1) {
        const summary = await run();
        assert.equal(summary.attempted, 1, `attempt ${String(attempt)}`);
        t.clock.advance(DEFAULT_DELIVERY_POLICY.maxDelayMs);
      }
      const [delivery] = await deliveriesOf(id);
      assert.equal(delivery?.['state'], 'failed');
      assert.equal(delivery?.['attempts'], DEFAULT_DELIVERY_POLICY.maxAttempts);
      assert.equal(delivery?.['nextAttemptAt'], null);
      assert.match(String(delivery?.['lastError']), /^HTTP 503/);
      t.clock.advance(DEFAULT_DELIVERY_POLICY.maxDelayMs * 10);
      assert.equal((await run()).attempted, 0);
      assert.equal(receiver.received.length, DEFAULT_DELIVERY_POLICY.maxAttempts);
      assert.ok(
        t.logLines.some((line) => line.includes('webhook delivery failed for good')),
        'the final failure is logged',
      );
      assert.ok(!t.logLines.some((line) => line.includes('whsec_')), 'no secret in the logs');
      await deleteWebhook(id);
    });

    it('does not follow a redirect', async () => {
      const { id } = await register();
      receiver.answers = [{ status: 307, headers: { location: `${receiver.url}/elsewhere` } }];
      await t.service.storage.notifications.enqueue('request.created', {}, t.clock.now());
      assert.equal((await run()).retrying, 1);
      assert.equal(receiver.received.length, 1);
      const [delivery] = await deliveriesOf(id);
      assert.match(String(delivery?.['lastError']), /HTTP 307 \(redirects are not followed\)/);
      await deleteWebhook(id);
    });

    it('sends only events the webhook subscribed to', async () => {
      const { id } = await register(['exception.used']);
      await t.service.storage.notifications.enqueue('request.created', {}, t.clock.now());
      assert.equal((await run()).attempted, 0);
      assert.deepEqual(await deliveriesOf(id), []);
      await deleteWebhook(id);
    });

    it('counts a receiver that does not answer in time as a failed attempt', async () => {
      const { id } = await register();
      receiver.answers = [{ status: 0, hang: true }];
      await t.service.storage.notifications.enqueue('request.created', {}, t.clock.now());
      // The service's own worker waits 10 s; one with a short timeout shows the same path quickly.
      const worker = createWebhookWorker({
        storage: t.service.storage,
        clock: t.clock,
        random: cryptoRandom,
        sender: createFetchWebhookSender(),
        policy: { timeoutMs: 200 },
      });
      assert.equal((await worker.runDueDeliveries(t.clock.now())).retrying, 1);
      const [delivery] = await deliveriesOf(id);
      assert.equal(delivery?.['lastStatusCode'], null);
      assert.equal(delivery?.['lastError'], 'no answer within 0.2 s');
      receiver.answers = [{ status: 204 }];
      await deleteWebhook(id);
    });
  });

  describe('DELETE /v1/webhooks/{id}', () => {
    it('deletes the webhook with its deliveries and logs both lifecycle events', async () => {
      const { id } = await register();
      await t.service.storage.notifications.enqueue('request.created', {}, t.clock.now());
      const response = await deleteWebhook(id);
      assert.equal(response.statusCode, 200, response.body);
      assert.equal(jsonOf(response)['id'], id);
      assert.equal((await deleteWebhook(id)).statusCode, 404);
      const deliveries = await t.service.server.inject({
        method: 'GET',
        url: `/v1/webhooks/${id}/deliveries`,
        headers: t.bearer(),
      });
      assert.equal(deliveries.statusCode, 404);
      assert.equal((await run()).attempted, 0);

      const size = await t.service.storage.log.treeSize();
      const bodies = (await t.service.storage.log.entries(0n, size)).map((entry) =>
        new TextDecoder().decode(entry.body),
      );
      const mine = bodies.filter((body) => body.includes(id));
      assert.deepEqual(
        mine.map((body) => (JSON.parse(body) as { kind: string }).kind),
        ['webhook.created', 'webhook.deleted'],
      );
      // The log is public: it records the URL's origin, never its path (which may hold a secret).
      assert.ok(mine.every((body) => !body.includes('/hook')));
    });
  });
});
