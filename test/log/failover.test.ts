/**
 * Scale-out on PostgreSQL (issue "Transparency log" item 7): several processes append to one log.
 * They take turns through the append lock; kill -9 the one writing, mid-stream, and the others
 * carry on with nothing lost, duplicated or reordered.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadOrCreateFileKey } from '../../src/adapters/keys/file-key.ts';
import { openStorage } from '../../src/adapters/storage/open-storage.ts';
import { createLogNoteVerifier, defaultLogOrigin } from '../../src/app/log-keys.ts';
import { requireComponentForSuite } from '../support/components.ts';
import { createPostgresTestEngine } from '../support/storage-engines.ts';
import { assertLogHoldsAcknowledged, spawnWriter } from '../support/log-writers.ts';

const keyDir = mkdtempSync(join(tmpdir(), 'countersign-failover-key-'));
after(() => rmSync(keyDir, { recursive: true, force: true }));
const keyPath = join(keyDir, 'log.pem');
const logKey = loadOrCreateFileKey({ path: keyPath, id: 'log', purpose: 'log' });
const origin = defaultLogOrigin('failover.test', logKey.publicKeySpki);
const identity = { origin, verifier: createLogNoteVerifier(origin, logKey.publicKeySpki) };

describe('three processes appending to one PostgreSQL log', () => {
  const engine = createPostgresTestEngine();
  after(() => engine.dispose());
  if (!requireComponentForSuite(engine.component, engine.isAvailable, engine.missingReason)) return;

  it('lose nothing and duplicate nothing when writers are killed mid-stream', async () => {
    const options = await engine.freshOptions();
    // Migrate once up front so the writers start together.
    await (await openStorage(options)).close();
    const writers = ['a', 'b', 'c'].map((name) =>
      spawnWriter({ storage: options, keyPath, origin, writer: name, concurrency: 4 }),
    );
    await Promise.all(writers.map((w) => w.ready));
    await Promise.all(writers.map((w) => w.waitForAcks(30)));

    // Kill two of them mid-stream, one after the other, while the rest go on; they contend for
    // the append lock constantly, so a kill often lands inside a batch.
    const killed = [writers[0], writers[1]];
    for (const victim of killed) {
      await victim?.kill();
      const survivors = writers.filter(
        (w) => w.child.exitCode === null && w.child.signalCode === null,
      );
      await Promise.all(survivors.map((w) => w.waitForAcks(30)));
    }
    const replacement = spawnWriter({
      storage: options,
      keyPath,
      origin,
      writer: 'd',
      concurrency: 4,
    });
    await replacement.ready;
    await replacement.waitForAcks(30);
    for (const writer of [...writers, replacement]) await writer.kill();

    const acks = [...writers, replacement].flatMap((w) => w.acks);
    assert.ok(acks.length >= 120);
    const storage = await openStorage(options);
    try {
      await assertLogHoldsAcknowledged(storage, identity, acks);
      const size = await storage.log.treeSize();
      const entries = await storage.log.entries(0n, size);
      assert.equal(entries.length, Number(size), 'the log has a gap');
      assert.equal(
        new Set(entries.map((e) => e.idempotencyKey)).size,
        entries.length,
        'an entry was appended twice',
      );
    } finally {
      await storage.close();
    }
  });
});
