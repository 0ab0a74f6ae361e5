import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { AddressInfo } from 'node:net';
import { ROUTE_MODULES } from '../../src/http/route-modules.ts';
import type { RouteModule } from '../../src/http/server-deps.ts';
import { startTestServer } from './fixture.ts';

describe('closing the server', () => {
  describe('while a request is in flight', () => {
    it('stops accepting connections and lets the request finish', async () => {
      let entered!: () => void;
      const handlerEntered = new Promise<void>((resolve) => (entered = resolve));
      let release!: () => void;
      const released = new Promise<void>((resolve) => (release = resolve));
      const slowRoutes: RouteModule = {
        name: 'slow',
        register(server) {
          server.get('/test/slow', async () => {
            entered();
            await released;
            return { finished: true };
          });
        },
      };
      const t = await startTestServer({
        withoutAdmin: true,
        routes: [...ROUTE_MODULES, slowRoutes],
      });
      try {
        await t.service.server.listen({ host: '127.0.0.1', port: 0 });
        const { port } = t.service.server.server.address() as AddressInfo;
        const inFlight = fetch(`http://127.0.0.1:${String(port)}/test/slow`);
        await handlerEntered;

        let closed = false;
        const closing = t.service.server.close().then(() => {
          closed = true;
        });
        // Let the close start: the listening socket goes first.
        await new Promise<void>((resolve) => setImmediate(resolve));
        assert.equal(t.service.server.server.listening, false, 'no longer accepting connections');
        await assert.rejects(fetch(`http://127.0.0.1:${String(port)}/healthz`));
        assert.equal(closed, false, 'close waits for the in-flight request');

        release();
        const response = await inFlight;
        assert.equal(response.status, 200);
        assert.deepEqual(await response.json(), { finished: true });
        await closing;
        assert.equal(closed, true);
      } finally {
        release();
        await t.close();
      }
    });
  });
});
