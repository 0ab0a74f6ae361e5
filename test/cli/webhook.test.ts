/**
 * `countersign webhook …` against a real server on loopback, run in process.
 */
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { startTestServer, type TestServer } from '../http/fixture.ts';
import { runInProcess } from './cli-harness.ts';

describe('countersign webhook', () => {
  let t: TestServer;
  let env: Record<string, string>;
  before(async () => {
    t = await startTestServer();
    await t.service.server.listen({ host: '127.0.0.1', port: 0 });
    const { port } = t.service.server.server.address() as AddressInfo;
    env = {
      COUNTERSIGN_SERVER: `http://127.0.0.1:${String(port)}`,
      COUNTERSIGN_TOKEN: t.adminToken,
    };
  });
  after(() => t.close());

  it('creates, lists, shows deliveries of and deletes a webhook', async () => {
    const created = await runInProcess(
      [
        'webhook',
        'create',
        '--url',
        'https://hooks.example/countersign',
        '--events',
        'request.created, exception.used',
      ],
      { env },
    );
    assert.equal(created.code, 0, created.stderr);
    assert.match(
      created.stderr,
      /Created webhook (wh_[0-9a-f]{20}) for request.created, exception.used/,
    );
    assert.match(created.stdout, /^whsec_[A-Za-z0-9_-]{43}\n$/);
    const id = /(wh_[0-9a-f]{20})/.exec(created.stderr)?.[1] ?? '';

    const listed = await runInProcess(['webhook', 'list'], { env });
    assert.equal(listed.code, 0, listed.stderr);
    assert.match(
      listed.stdout,
      new RegExp(
        `^${id}\\s+https://hooks.example/countersign\\s+request.created,exception.used`,
        'm',
      ),
    );
    assert.ok(!listed.stdout.includes('whsec_'));

    await t.service.storage.notifications.enqueue('exception.used', { id: 'ex_1' }, t.clock.now());
    const deliveries = await runInProcess(['webhook', 'deliveries', id, '--json'], { env });
    assert.equal(deliveries.code, 0, deliveries.stderr);
    const parsed = JSON.parse(deliveries.stdout) as {
      deliveries: { event: string; state: string }[];
    };
    assert.deepEqual(
      parsed.deliveries.map((d) => [d.event, d.state]),
      [['exception.used', 'pending']],
    );

    const deleted = await runInProcess(['webhook', 'delete', id], { env });
    assert.equal(deleted.code, 0, deleted.stderr);
    assert.match(deleted.stdout, /Deleted webhook/);
    const again = await runInProcess(['webhook', 'delete', id], { env });
    assert.equal(again.code, 4);
  });

  it('exits 2 naming an unknown event', async () => {
    const result = await runInProcess(
      ['webhook', 'create', '--url', 'https://hooks.example/x', '--events', 'request.create'],
      { env },
    );
    assert.equal(result.code, 2);
    assert.match(result.stderr, /did you mean request.created/);
  });
});
