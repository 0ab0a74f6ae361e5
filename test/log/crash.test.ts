/**
 * Crash safety of the log (issue "Transparency log" acceptance; threat-model FT-1): kill -9 a
 * writer under concurrent appends, ten times over, on each engine; then everything it
 * acknowledged must be in the log, provably, and every checkpoint it returned consistent.
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
import { createTestStorageEngines } from '../support/storage-engines.ts';
import { assertLogHoldsAcknowledged, spawnWriter } from '../support/log-writers.ts';
import type { Acknowledgement } from '../support/log-writers.ts';

const CYCLES = 10;
const keyDir = mkdtempSync(join(tmpdir(), 'countersign-crash-key-'));
after(() => rmSync(keyDir, { recursive: true, force: true }));
const keyPath = join(keyDir, 'log.pem');
const logKey = loadOrCreateFileKey({ path: keyPath, id: 'log', purpose: 'log' });
const origin = defaultLogOrigin('crash.test', logKey.publicKeySpki);
const identity = { origin, verifier: createLogNoteVerifier(origin, logKey.publicKeySpki) };

/** A deterministic pseudo-random sequence, so a failing run can be replayed. */
function createSeededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (state * 1664525 + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

for (const engine of createTestStorageEngines()) {
  describe(`log under kill -9 on ${engine.engine}`, () => {
    after(() => engine.dispose());
    if (!requireComponentForSuite(engine.component, engine.isAvailable, engine.missingReason))
      return;

    it(`keeps every acknowledged entry through ${CYCLES} kill -9 cycles`, async () => {
      const seed = Number(process.env['COUNTERSIGN_TEST_SEED'] ?? Date.now() % 100_000);
      const random = createSeededRandom(seed);
      const options = await engine.freshOptions();
      const acks: Acknowledgement[] = [];
      for (let cycle = 0; cycle < CYCLES; cycle += 1) {
        const writer = spawnWriter({
          storage: options,
          keyPath,
          origin,
          writer: `c${cycle}`,
          concurrency: 6,
        });
        await writer.ready;
        // Kill after a random number of acknowledgements: random timing alone rarely lands in
        // the windows that matter, so vary how deep into the stream the kill lands.
        await writer.waitForAcks(1 + Math.floor(random() * 150));
        await writer.kill();
        // Within one writer, batches commit in order: the sizes it hands out never go backwards.
        let previousSize = 0n;
        for (const ack of writer.acks) {
          assert.ok(
            ack.treeSize >= previousSize,
            `seed ${seed}: size went from ${previousSize} to ${ack.treeSize}`,
          );
          previousSize = ack.treeSize;
        }
        acks.push(...writer.acks);
      }
      assert.ok(
        acks.length >= CYCLES,
        `seed ${seed}: expected acknowledgements, got ${acks.length}`,
      );
      const storage = await openStorage(options);
      try {
        await assertLogHoldsAcknowledged(storage, identity, acks);
        // Sizes never went backwards: the final tree holds at least every acknowledged size.
        const largest = acks.reduce((max, a) => (a.treeSize > max ? a.treeSize : max), 0n);
        assert.ok((await storage.log.treeSize()) >= largest, `seed ${seed}: the tree shrank`);
      } finally {
        await storage.close();
      }
    });
  });
}
