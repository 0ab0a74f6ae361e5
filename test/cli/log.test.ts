/**
 * `countersign log verify` and `log monitor` against a log served over HTTP by a test server that
 * can be switched to a forked history signed with the same key (issue "Transparency log"
 * acceptance: the monitor detects a forked checkpoint).
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { loadOrCreateFileKey } from '../../src/adapters/keys/file-key.ts';
import { defaultLogOrigin, describeLog } from '../../src/app/log-keys.ts';
import { openLogSequencer } from '../../src/app/log-sequencer.ts';
import { createLogReader, type LogReader } from '../../src/app/read-log.ts';
import { parseTilePath } from '../../src/core/tlog/tiles.ts';
import { createSqliteTestEngine, openFreshStorage } from '../support/storage-engines.ts';
import { runInProcess } from './cli-harness.ts';

const dir = mkdtempSync(join(tmpdir(), 'countersign-cli-log-'));
const engine = createSqliteTestEngine();
const logKey = loadOrCreateFileKey({ path: join(dir, 'log.pem'), id: 'log', purpose: 'log' });
const origin = defaultLogOrigin('127.0.0.1', logKey.publicKeySpki);
const publicKeyFile = join(dir, 'log.pub.pem');
writeFileSync(
  publicKeyFile,
  createPublicKey({ key: Buffer.from(logKey.publicKeySpki), format: 'der', type: 'spki' }).export({
    type: 'spki',
    format: 'pem',
  }),
);

/** What the test server serves right now; tests swap it. */
let served: { reader: LogReader; corrupt?: boolean } | undefined;
let server: Server;
let prefix = '';

before(async () => {
  server = createServer((request, response) => {
    void (async () => {
      try {
        if (served === undefined) throw new Error('nothing served');
        const path = (request.url ?? '').replace(/^\/log\//, '');
        let body: Uint8Array;
        if (path === 'checkpoint') {
          body = new TextEncoder().encode((await served.reader.latestCheckpoint()).note);
        } else {
          const tile = parseTilePath(path);
          const content =
            tile.kind === 'entries'
              ? await served.reader.entryBundle(tile.index, tile.width)
              : await served.reader.tile(tile.level, tile.index, tile.width);
          body = new Uint8Array(content.bytes);
          if (served.corrupt === true && tile.kind === 'entries')
            body[body.length - 1] = (body.at(-1) ?? 0) ^ 1;
        }
        response.writeHead(200).end(body);
      } catch {
        response.writeHead(404).end();
      }
    })();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  prefix = `http://127.0.0.1:${typeof address === 'object' && address !== null ? address.port : 0}/log`;
});

after(async () => {
  await new Promise((resolve) => server.close(resolve));
  await engine.dispose();
  rmSync(dir, { recursive: true, force: true });
});

async function buildLog(t: TestContext, bodies: readonly string[]) {
  const { storage } = await openFreshStorage(t, engine);
  const sequencer = await openLogSequencer({
    storage,
    clock: { now: () => new Date() },
    logKey,
    origin,
  });
  t.after(() => sequencer.close());
  const append = (more: readonly string[]) =>
    sequencer.append(more.map((b) => ({ kind: 'test/v1', body: new TextEncoder().encode(b) })));
  await append(bodies);
  return {
    reader: createLogReader(storage.log, describeLog(origin, logKey.publicKeySpki)),
    append,
  };
}

const entries = (prefixText: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefixText}${i}`);
const monitor = (state: string) =>
  runInProcess([
    'log',
    'monitor',
    '--url',
    prefix,
    '--state',
    state,
    '--public-key',
    publicKeyFile,
    '--json',
  ]);

describe('countersign log verify --url', () => {
  const verifyUrl = (...flags: string[]) =>
    runInProcess(['log', 'verify', '--url', prefix, '--public-key', publicKeyFile, ...flags]);

  it('verifies an honest log and exits 1 when an entry bundle was altered', async (t) => {
    const honest = await buildLog(t, entries('v', 300));
    served = { reader: honest.reader };
    const ok = await verifyUrl('--json');
    assert.equal(ok.code, 0, ok.stderr);
    assert.deepEqual((JSON.parse(ok.stdout) as { treeSize: string }).treeSize, '300');
    // Progress only when asked (or on a terminal for a large log): the last count, once.
    const quiet = await verifyUrl();
    assert.equal(quiet.code, 0, quiet.stderr);
    assert.doesNotMatch(quiet.stderr, /verified \d+\/300 entries/);
    const shown = await verifyUrl('--progress');
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stderr, /verified 300\/300 entries\n/);
    served = { reader: honest.reader, corrupt: true };
    const bad = await verifyUrl();
    assert.equal(bad.code, 1, bad.stderr);
    assert.match(bad.stderr, /do not hash to the root|not a valid bundle/);
  });
});

describe('countersign log monitor', () => {
  it('accepts growth, then exits 1 with both checkpoints when served a fork', async (t) => {
    const state = join(dir, 'monitor-state.json');
    const honest = await buildLog(t, entries('h', 20));
    served = { reader: honest.reader };
    assert.equal((await monitor(state)).code, 0);
    await honest.append(entries('g', 5));
    const grew = await monitor(state);
    assert.equal(grew.code, 0, grew.stderr);
    assert.equal((JSON.parse(grew.stdout) as { status: string }).status, 'grew');

    // Same key, same first 20 entries, then a different history: a split view.
    const forked = await buildLog(t, [...entries('h', 20), ...entries('evil', 10)]);
    served = { reader: forked.reader };
    const fork = await monitor(state);
    assert.equal(fork.code, 1, fork.stderr);
    const evidence = JSON.parse(fork.stdout) as {
      status: string;
      previousCheckpoint: string;
      currentCheckpoint: string;
    };
    assert.equal(evidence.status, 'fork');
    assert.match(evidence.previousCheckpoint, /\n25\n/);
    assert.match(evidence.currentCheckpoint, /\n30\n/);

    // The state still holds the last good checkpoint: the honest log is accepted again.
    served = { reader: honest.reader };
    assert.equal((await monitor(state)).code, 0);
  });

  it('exits 1 on a rollback', async (t) => {
    const state = join(dir, 'rollback-state.json');
    const log = await buildLog(t, entries('r', 10));
    served = { reader: log.reader };
    assert.equal((await monitor(state)).code, 0);
    served = { reader: (await buildLog(t, entries('r', 4))).reader };
    const rolledBack = await monitor(state);
    assert.equal(rolledBack.code, 1);
    assert.equal((JSON.parse(rolledBack.stdout) as { status: string }).status, 'rollback');
  });
});
