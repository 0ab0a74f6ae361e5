/**
 * kill -9 of `countersign serve` during a stream of acknowledged writes (issue "Foundation"
 * acceptance): after a restart the database opens and every write the API acknowledged is there.
 * The writes are operator tokens created through the API: each `201 Created` is an
 * acknowledgement, and anything not answered 201 before the kill is not.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import {
  baseEnv,
  listeningUrl,
  runInProcess,
  runProcess,
  spawnCli,
  waitForLine,
} from './cli-harness.ts';

const CYCLES = 3;
const work = mkdtempSync(join(tmpdir(), 'countersign-server-crash-'));
after(() => rmSync(work, { recursive: true, force: true }));

describe('a second countersign serve on the same data directory', () => {
  it('exits non-zero naming the process that holds it', async () => {
    const env = baseEnv({
      COUNTERSIGN_DATA_DIR: join(work, 'shared-dir'),
      COUNTERSIGN_LOG_LEVEL: 'silent',
    });
    const first = spawnCli(['serve', '--port', '0', '--json'], { env, cwd: work });
    try {
      await waitForLine(first, listeningUrl, 15_000);
      const second = await runProcess(['serve', '--port', '0'], { env, cwd: work });
      assert.equal(second.code, 6, second.stderr);
      assert.match(second.stderr, new RegExp(`in use by process ${String(first.pid)}`));
      assert.doesNotMatch(second.stderr, /\n\s+at /, 'no stack trace');
    } finally {
      first.kill('SIGTERM');
      await new Promise((resolve) => first.once('exit', resolve));
    }
  });
});

describe('countersign serve under kill -9', () => {
  it(`keeps every acknowledged write through ${CYCLES} crashes`, async () => {
    const env = baseEnv({
      COUNTERSIGN_DATA_DIR: join(work, 'data'),
      COUNTERSIGN_LOG_LEVEL: 'silent',
    });
    const init = await runInProcess(['init', '--json'], { env, cwd: work });
    assert.equal(init.code, 0, init.stderr);
    const { token: admin } = JSON.parse(init.stdout) as { token: string };
    const acknowledged: string[] = [];

    for (let cycle = 0; cycle < CYCLES; cycle += 1) {
      const server = spawnCli(['serve', '--port', '0', '--json'], { env, cwd: work });
      const url = await waitForLine(server, listeningUrl, 15_000);
      let stop = false;
      const writers = Array.from({ length: 4 }, async (_, writer) => {
        for (let n = 0; !stop; n += 1) {
          try {
            const response = await fetch(`${url}/v1/tokens`, {
              method: 'POST',
              headers: { authorization: `Bearer ${admin}`, 'content-type': 'application/json' },
              body: JSON.stringify({ name: `c${cycle}-w${writer}-${n}`, role: 'auditor' }),
            });
            if (response.status === 201)
              acknowledged.push(((await response.json()) as { id: string }).id);
          } catch {
            return; // the server is gone: whatever was not answered 201 was not acknowledged
          }
        }
      });
      // Let some writes through, then kill without warning.
      const target = acknowledged.length + 20 + cycle * 15;
      while (acknowledged.length < target && server.exitCode === null)
        await new Promise((resolve) => setTimeout(resolve, 5));
      server.kill('SIGKILL');
      stop = true;
      await Promise.all(writers);
      await new Promise((resolve) =>
        server.exitCode !== null || server.signalCode !== null
          ? resolve(undefined)
          : server.once('exit', resolve),
      );
    }

    const server = spawnCli(['serve', '--port', '0', '--json'], { env, cwd: work });
    try {
      const url = await waitForLine(server, listeningUrl, 15_000);
      const response = await fetch(`${url}/v1/tokens`, {
        headers: { authorization: `Bearer ${admin}` },
      });
      assert.equal(response.status, 200);
      const stored = new Set(
        ((await response.json()) as { tokens: { id: string }[] }).tokens.map((t) => t.id),
      );
      const lost = acknowledged.filter((id) => !stored.has(id));
      assert.deepEqual(
        lost,
        [],
        `${lost.length} of ${acknowledged.length} acknowledged writes were lost`,
      );
      assert.ok(acknowledged.length >= CYCLES * 20);
      const ready = await fetch(`${url}/readyz`);
      assert.equal(ready.status, 200, await ready.text());
    } finally {
      server.kill('SIGTERM');
      await new Promise((resolve) => server.once('exit', resolve));
    }
  });
});
