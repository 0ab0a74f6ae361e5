import assert from 'node:assert/strict';
import { after, describe, it } from 'node:test';
import type { TestContext } from 'node:test';
import { openCheckpoint } from '../core/tlog/checkpoint.ts';
import { verifyConsistencyProof, verifyInclusionProof } from '../core/tlog/proof.ts';
import { hashLeaf } from '../core/tlog/merkle.ts';
import { AppError } from '../core/errors.ts';
import type { ApiTokenRecord, Clock, Storage, StorageSession } from '../core/ports.ts';
import { requireComponentForSuite } from '../../test/support/components.ts';
import { createTestLogKey } from '../../test/support/log-key.ts';
import { createTestStorageEngines, openFreshStorage } from '../../test/support/storage-engines.ts';
import { checkLogIntegrity } from './check-log-integrity.ts';
import { createLogNoteVerifier, describeLog } from './log-keys.ts';
import { openLogSequencer } from './log-sequencer.ts';
import type { LogAppendResult, LogSequencer } from './log-sequencer.ts';
import { createLogReader } from './read-log.ts';
import { createEventLog } from './append-event.ts';

const { logKey, origin } = createTestLogKey('log');
const verifier = createLogNoteVerifier(origin, logKey.publicKeySpki);
const clock: Clock = { now: () => new Date('2026-11-23T12:00:00Z') };

/** An API token record: something for an effect or a write to store. */
function apiToken(id: string): ApiTokenRecord {
  return {
    id,
    name: id,
    role: 'admin',
    userId: null,
    secretHash: new Uint8Array(32),
    createdAt: new Date('2026-01-01T00:00:00Z'),
    expiresAt: null,
    revokedAt: null,
  };
}

function body(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}

/** Checks a result the way a client would: checkpoint signature, then the inclusion proof. */
function assertProven(result: LogAppendResult, entryBody: Uint8Array): void {
  const checkpoint = openCheckpoint(result.checkpoint, { origin, verifiers: [verifier] });
  assert.equal(checkpoint.treeSize, result.treeSize);
  verifyInclusionProof({
    index: result.index,
    treeSize: checkpoint.treeSize,
    leafHash: hashLeaf(entryBody),
    proof: result.inclusionProof,
    rootHash: checkpoint.rootHash,
  });
}

async function openSequencer(
  t: TestContext,
  storage: Storage,
  extra: { maxPendingEntries?: number } = {},
): Promise<LogSequencer> {
  const sequencer = await openLogSequencer({ storage, clock, logKey, origin, ...extra });
  t.after(() => sequencer.close());
  return sequencer;
}

for (const engine of createTestStorageEngines()) {
  describe(`log sequencer on ${engine.engine}`, () => {
    after(() => engine.dispose());
    if (!requireComponentForSuite(engine.component, engine.isAvailable, engine.missingReason))
      return;

    it('resolves each append with an index, a signed checkpoint and a proof that verifies', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      const sequencer = await openSequencer(t, storage);
      const bodies = Array.from({ length: 37 }, (_, i) => body(`entry ${i}`));
      const results = await Promise.all(
        bodies.map((b) => sequencer.append([{ kind: 'test/v1', body: b }]).then((r) => r[0])),
      );
      const indices = results.map((r) => Number(r?.index)).sort((a, b) => a - b);
      assert.deepEqual(
        indices,
        Array.from({ length: 37 }, (_, i) => i),
      );
      results.forEach((result, i) =>
        assertProven(result as LogAppendResult, bodies[i] as Uint8Array),
      );
      assert.equal(await storage.log.treeSize(), 37n);
    });

    it('commits concurrent appends in fewer batches than entries (group commit)', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      const sequencer = await openSequencer(t, storage);
      const results = await Promise.all(
        Array.from({ length: 200 }, (_, i) =>
          sequencer.append([{ kind: 'test/v1', body: body(`g${i}`) }]),
        ),
      );
      const checkpointSizes = new Set(results.map(([r]) => r?.treeSize));
      assert.ok(
        checkpointSizes.size < 200,
        `expected batching, got ${checkpointSizes.size} checkpoints`,
      );
    });

    describe('when an idempotency key repeats', () => {
      it('returns the first entry instead of appending a second', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const sequencer = await openSequencer(t, storage);
        const [first] = await sequencer.append([
          { kind: 'test/v1', body: body('once'), idempotencyKey: 'k1' },
        ]);
        await sequencer.append([{ kind: 'test/v1', body: body('other') }]);
        const [again] = await sequencer.append([
          { kind: 'test/v1', body: body('once'), idempotencyKey: 'k1' },
        ]);
        assert.equal(again?.index, first?.index);
        assert.equal(again?.isDuplicate, true);
        assert.equal(await storage.log.treeSize(), 2n);
        assert.ok(again);
        assertProven(again, body('once'));
      });

      it('returns one entry for duplicates inside the same batch', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const sequencer = await openSequencer(t, storage);
        const results = await Promise.all(
          Array.from({ length: 5 }, () =>
            sequencer.append([{ kind: 'test/v1', body: body('same'), idempotencyKey: 'dup' }]),
          ),
        );
        assert.equal(new Set(results.map(([r]) => r?.index)).size, 1);
        assert.equal(await storage.log.treeSize(), 1n);
      });

      it('refuses a different entry under the same key with CONFLICT', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const sequencer = await openSequencer(t, storage);
        await sequencer.append([{ kind: 'test/v1', body: body('a'), idempotencyKey: 'k' }]);
        await assert.rejects(
          sequencer.append([{ kind: 'test/v1', body: body('b'), idempotencyKey: 'k' }]),
          {
            code: 'CONFLICT',
          },
        );
      });
    });

    describe('when one entry’s effect throws', () => {
      it('fails that entry alone and commits the rest without its effect', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const sequencer = await openSequencer(t, storage);
        const good = sequencer.append([
          {
            kind: 'test/v1',
            body: body('good'),
            effect: (s) => s.apiTokens.insert(apiToken('t-good')),
          },
        ]);
        const bad = sequencer.append([
          {
            kind: 'test/v1',
            body: body('bad'),
            effect: async (s) => {
              await s.apiTokens.insert(apiToken('t-bad'));
              throw new Error('approval already consumed');
            },
          },
        ]);
        await assert.rejects(bad, /approval already consumed/);
        const [result] = await good;
        assert.equal(result?.index, 0n);
        assert.equal(await storage.log.treeSize(), 1n);
        assert.ok(await storage.apiTokens.findById('t-good'));
        assert.equal(await storage.apiTokens.findById('t-bad'), undefined);
      });
    });

    describe('writes that share a batch (write)', () => {
      it('commits writes with the entries appended beside them, in one transaction', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const sequencer = await openSequencer(t, storage);
        let transactions = 0;
        const counting = new Proxy(storage, {
          get(target, property) {
            if (property === 'transaction') {
              return (work: Parameters<Storage['transaction']>[0]) => {
                transactions += 1;
                return target.transaction(work);
              };
            }
            const value: unknown = Reflect.get(target, property);
            return typeof value === 'function' ? (value.bind(target) as unknown) : value;
          },
        });
        const counted = await openSequencer(t, counting);
        await sequencer.close(); // only `counted` writes from here on
        transactions = 0;
        const ids = Array.from({ length: 20 }, (_, i) => `t-${String(i)}`);
        await Promise.all([
          counted.append([{ kind: 'test/v1', body: body('beside the writes') }]),
          ...ids.map((id) => counted.write((session) => session.apiTokens.insert(apiToken(id)))),
        ]);
        assert.equal(transactions, 1, 'the entry and all 20 writes share one commit');
        for (const id of ids) assert.ok(await storage.apiTokens.findById(id), id);
        assert.equal(await storage.log.treeSize(), 1n);
      });

      it('commits a write when no entry is waiting, and adds no checkpoint for it', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const sequencer = await openSequencer(t, storage);
        await sequencer.append([{ kind: 'test/v1', body: body('first') }]);
        const before = sequencer.latestCheckpoint();
        await sequencer.write((session) => session.apiTokens.insert(apiToken('alone')));
        assert.ok(await storage.apiTokens.findById('alone'));
        assert.equal(await storage.log.treeSize(), 1n);
        assert.deepEqual(sequencer.latestCheckpoint(), before);
        assert.equal((await storage.log.latestCheckpoint())?.treeSize, 1n);
      });

      it('fails a throwing write alone; its neighbours and the entries still commit', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const sequencer = await openSequencer(t, storage);
        const entry = sequencer.append([{ kind: 'test/v1', body: body('kept') }]);
        const good = sequencer.write((session) => session.apiTokens.insert(apiToken('w-good')));
        const bad = sequencer.write(async (session) => {
          await session.apiTokens.insert(apiToken('w-bad'));
          throw new Error('bundle refused');
        });
        await assert.rejects(bad, /bundle refused/);
        await good;
        assert.equal((await entry)[0]?.index, 0n);
        assert.ok(await storage.apiTokens.findById('w-good'));
        assert.equal(await storage.apiTokens.findById('w-bad'), undefined);
      });

      it('answers an entry batch whose COMMIT reply was lost by its checkpoint, but fails writes alone in a batch', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        // The next transaction commits, and then the connection "drops" before the reply.
        let loseReply = false;
        const flaky = new Proxy(storage, {
          get(target, property) {
            if (property === 'transaction') {
              return async <T>(work: (session: StorageSession) => Promise<T>): Promise<T> => {
                const result = await target.transaction(work);
                if (loseReply) {
                  loseReply = false;
                  throw new AppError('STORAGE_UNAVAILABLE', 'connection lost after COMMIT');
                }
                return result;
              };
            }
            const value: unknown = Reflect.get(target, property);
            return typeof value === 'function' ? (value.bind(target) as unknown) : value;
          },
        });
        const sequencer = await openSequencer(t, flaky);
        // Entries and writes together: the batch's checkpoint proves the commit, for both.
        loseReply = true;
        const [[entry]] = await Promise.all([
          sequencer.append([{ kind: 'test/v1', body: body('proven') }]),
          sequencer.write((session) => session.apiTokens.insert(apiToken('with-entry'))),
        ]);
        assert.equal(entry?.index, 0n);
        // Writes alone: no checkpoint of their own proves anything, so they fail (even though
        // this simulated commit went through).
        loseReply = true;
        await assert.rejects(
          sequencer.write((session) => session.apiTokens.insert(apiToken('alone'))),
          (error: { code?: string }) => error.code === 'STORAGE_UNAVAILABLE',
        );
      });

      it('refuses writes once closed, with STORAGE_UNAVAILABLE', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const sequencer = await openSequencer(t, storage);
        await sequencer.close();
        await assert.rejects(
          sequencer.write((session) => session.apiTokens.insert(apiToken('late'))),
          (error: { code?: string }) => error.code === 'STORAGE_UNAVAILABLE',
        );
        assert.equal(await storage.apiTokens.findById('late'), undefined);
      });
    });

    it('refuses entries beyond its queue bound with STORAGE_UNAVAILABLE and a retry hint', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      const sequencer = await openSequencer(t, storage, { maxPendingEntries: 3 });
      await assert.rejects(
        sequencer.append(
          Array.from({ length: 4 }, (_, i) => ({ kind: 'test/v1', body: body(`q${i}`) })),
        ),
        (error: { code?: string; retryAfterSeconds?: number }) =>
          error.code === 'STORAGE_UNAVAILABLE' && error.retryAfterSeconds === 1,
      );
    });

    it('resumes after a restart with checkpoints that stay consistent', async (t) => {
      const { storage, options } = await openFreshStorage(t, engine);
      let sequencer = await openLogSequencer({ storage, clock, logKey, origin });
      const [early] = await sequencer.append([{ kind: 'test/v1', body: body('before restart') }]);
      await sequencer.append(
        Array.from({ length: 10 }, (_, i) => ({ kind: 'test/v1', body: body(`b${i}`) })),
      );
      await sequencer.close();
      await storage.close();
      const { openStorage } = await import('../adapters/storage/open-storage.ts');
      const reopened = await openStorage(options);
      t.after(() => reopened.close());
      sequencer = await openSequencer(t, reopened);
      const [late] = await sequencer.append([{ kind: 'test/v1', body: body('after restart') }]);
      assert.equal(late?.index, 11n);
      const reader = createLogReader(reopened.log, describeLog(origin, logKey.publicKeySpki));
      const proof = await reader.consistencyProof(early?.treeSize ?? 0n, late?.treeSize ?? 0n);
      verifyConsistencyProof({
        size1: proof.from,
        size2: proof.to,
        proof: proof.hashes,
        root1: early?.rootHash ?? new Uint8Array(),
        root2: late?.rootHash ?? new Uint8Array(),
      });
    });

    it('appends governance events as canonical JSON of kind countersign.event/v1', async (t) => {
      const { storage } = await openFreshStorage(t, engine);
      const events = createEventLog(await openSequencer(t, storage));
      const result = await events.appendEvent('token.created', { id: 'abc', role: 'admin' });
      const [entry] = await storage.log.entries(result.index, result.index + 1n);
      assert.equal(entry?.kind, 'countersign.event/v1');
      assert.equal(
        new TextDecoder().decode(entry?.body),
        '{"apiVersion":"countersign.event/v1","body":{"id":"abc","role":"admin"},"kind":"token.created"}',
      );
      await assert.rejects(events.appendEvent('Not A Kind', {}), { code: 'INVALID_INPUT' });
    });

    describe('when a stored entry was altered while stopped', () => {
      it('the integrity check names the first bad index', async (t) => {
        const { storage } = await openFreshStorage(t, engine);
        const sequencer = await openSequencer(t, storage);
        await sequencer.append(
          Array.from({ length: 300 }, (_, i) => ({ kind: 'test/v1', body: body(`e${i}`) })),
        );
        const identity = { origin, verifier };
        assert.deepEqual(await checkLogIntegrity(storage, identity), { ok: true, treeSize: 300n });
        await storage.db
          .updateTable('log_entries')
          .set({ body: body('e271 but altered') })
          .where('idx', '=', 271n)
          .execute();
        const report = await checkLogIntegrity(storage, identity);
        assert.equal(report.ok, false);
        assert.equal(report.firstBadIndex, 271n);
        assert.match(report.problem ?? '', /entry 271/);
      });
    });
  });
}
