import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { hashLeaf } from '../core/tlog/merkle.ts';
import { verifyInclusionProof } from '../core/tlog/proof.ts';
import { createTestLogKey } from '../../test/support/log-key.ts';
import { createSqliteTestEngine, openFreshStorage } from '../../test/support/storage-engines.ts';
import { describeLog } from './log-keys.ts';
import { openLogSequencer } from './log-sequencer.ts';
import { createLogReader } from './read-log.ts';

const engine = createSqliteTestEngine();
after(() => engine.dispose());
const { logKey, origin } = createTestLogKey('read');
const clock = { now: () => new Date('2026-11-23T12:00:00Z') };

/** A log of `size` entries, its sequencer, and its repository counting checkpoint reads. */
async function openLog(t: TestContext, size: number) {
  const { storage } = await openFreshStorage(t, engine);
  const sequencer = await openLogSequencer({ storage, clock, logKey, origin });
  t.after(() => sequencer.close());
  const append = (count: number, from: number) =>
    sequencer.append(
      Array.from({ length: count }, (_, i) => ({
        kind: 'test/v1',
        body: new TextEncoder().encode(`entry ${String(from + i)}`),
      })),
    );
  await append(size, 0);
  // Every read of the latest checkpoint goes through this spy (it calls the real method).
  const reads = t.mock.method(storage.log, 'latestCheckpoint');
  const counted = {
    get checkpointReads() {
      return reads.mock.callCount();
    },
  };
  const log = storage.log;
  return { log, append, counted };
}

describe('createLogReader', () => {
  it('serves proofs from the checkpoint it read last while that one is recent and covers them', async (t) => {
    const { log, counted } = await openLog(t, 20);
    const reader = createLogReader(log, describeLog(origin, logKey.publicKeySpki));
    for (let index = 0n; index < 20n; index++) {
      const proof = await reader.inclusionProof(index);
      assert.equal(proof.treeSize, 20n);
      const leaf = hashLeaf(new TextEncoder().encode(`entry ${String(index)}`));
      assert.deepEqual(proof.leafHash, leaf);
      verifyInclusionProof({
        index,
        treeSize: proof.treeSize,
        leafHash: leaf,
        proof: proof.hashes,
        rootHash: proof.rootHash,
      });
    }
    await reader.consistencyProof(3n, 20n);
    await reader.entry(7n);
    assert.equal(counted.checkpointReads, 1);
  });

  it('reads the newest checkpoint when a request goes beyond the one it knows', async (t) => {
    const { log, append, counted } = await openLog(t, 10);
    const reader = createLogReader(log, describeLog(origin, logKey.publicKeySpki));
    assert.equal((await reader.inclusionProof(9n)).treeSize, 10n);
    await append(5, 10);
    // Index 12 is past the known checkpoint: the reader looks again instead of refusing.
    const proof = await reader.inclusionProof(12n);
    assert.equal(proof.treeSize, 15n);
    assert.equal((await reader.consistencyProof(10n, 15n)).to, 15n);
    assert.equal(counted.checkpointReads, 2);
    // Beyond the newest checkpoint too: refused as before.
    await assert.rejects(reader.inclusionProof(15n), /index 15 is not below tree size 15/);
    await assert.rejects(reader.consistencyProof(1n, 16n), /beyond the log/);
  });

  it('answers latestCheckpoint from storage every time, and reuses nothing when told not to', async (t) => {
    const { log, append, counted } = await openLog(t, 4);
    const reader = createLogReader(log, describeLog(origin, logKey.publicKeySpki), {
      checkpointReuseMs: 0,
    });
    await reader.inclusionProof(1n);
    await reader.inclusionProof(2n);
    assert.equal(counted.checkpointReads, 2);
    await append(1, 4);
    assert.equal((await reader.latestCheckpoint()).treeSize, 5n);
    assert.equal(counted.checkpointReads, 3);
  });
});
