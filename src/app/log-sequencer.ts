/**
 * The log sequencer: the writer of the transparency log (DESIGN.md §7).
 *
 * Callers hand it entries; it batches whatever is pending into one database transaction and one
 * checkpoint signature (group commit) and resolves each caller only once the batch is durably
 * committed, with the entry's index, its inclusion proof and the signed checkpoint covering it.
 * Nothing is acknowledged before COMMIT returns (threat-model INV-1). Small writes that must be
 * durable but add no entry (a signature's stored bundle) can ride in the same transaction
 * (`write`), so the service pays for one commit where it would pay for two.
 *
 * Every batch first takes the storage's append lock and compares the stored size with its own.
 * On SQLite this process is the only writer; on PostgreSQL replicas take turns through an
 * advisory lock, and a replica that finds the tree moved re-reads the frontier before appending,
 * so the tree never forks and a replica that dies mid-batch loses nothing that was acknowledged.
 */
import { AppError, isAppError, toAppError } from '../core/errors.ts';
import type {
  Clock,
  KeyHandle,
  LogCheckpointRecord,
  LogEntryRecord,
  LogRepository,
  Storage,
  StorageSession,
} from '../core/ports.ts';
import { formatCheckpoint } from '../core/tlog/checkpoint.ts';
import { appendLeafHashes, hashLeaf } from '../core/tlog/merkle.ts';
import type { MerkleNode } from '../core/tlog/merkle.ts';
import {
  assembleInclusionProof,
  planInclusionProof,
  proveTrailingLeavesFromNodes,
} from '../core/tlog/proof.ts';
import { equalBytes } from '../core/tlog/bytes.ts';
import { signNote } from '../core/tlog/signed-note.ts';
import { loadTreeState } from './check-log-integrity.ts';
import type { TreeState } from './check-log-integrity.ts';
import { createLogNoteSigner, createLogNoteVerifier } from './log-keys.ts';

/** One entry to append. */
export interface LogAppend {
  /** Entry kind, e.g. `hashedrekord/0.0.1` or `countersign.event/v1`. */
  readonly kind: string;
  /** The exact bytes that become the leaf. */
  readonly body: Uint8Array;
  /**
   * A retry with the same key returns the first entry instead of appending a second one
   * (threat-model INV-4). The same key with a different entry is a CONFLICT.
   */
  readonly idempotencyKey?: string;
  /**
   * Work that must commit atomically with the entry (consume an approval, write a signing record).
   * Runs inside the batch transaction; if it throws, only this entry fails (with that error) and
   * the batch is committed without it.
   */
  readonly effect?: (
    session: StorageSession,
    entry: { readonly index: bigint; readonly integratedTime: number },
  ) => Promise<void>;
}

/** What a caller gets once its entry is durably in the log. */
export interface LogAppendResult {
  readonly index: bigint;
  readonly leafHash: Uint8Array;
  /** Unix seconds at which the entry was integrated. */
  readonly integratedTime: number;
  /** Inclusion proof against `checkpoint` (hashes ordered leaf to root, RFC 9162 §2.1.3). */
  readonly inclusionProof: readonly Uint8Array[];
  readonly treeSize: bigint;
  readonly rootHash: Uint8Array;
  /** The C2SP signed note committing to `treeSize` and `rootHash`. */
  readonly checkpoint: string;
  /** True when an earlier entry with the same idempotency key was returned. */
  readonly isDuplicate: boolean;
}

export interface LogSequencerOptions {
  readonly storage: Storage;
  readonly clock: Clock;
  /** The log key: purpose `log`. */
  readonly logKey: KeyHandle;
  /** The checkpoint origin (see `defaultLogOrigin`). */
  readonly origin: string;
  /** Most entries in one batch (default 4096). */
  readonly maxBatchEntries?: number;
  /** Most entries waiting; beyond it `append` fails fast with 503 (default 65536). */
  readonly maxPendingEntries?: number;
  /**
   * Test-only fault injection (threat-model FT-1): called at named points of a batch with the
   * kinds of the entries it appends, so a test can kill the process exactly there.
   */
  readonly faultHook?: LogFaultHook;
}

export interface LogSequencer {
  /** Appends entries; resolves, in order, when all are durably committed. */
  append(entries: readonly LogAppend[]): Promise<LogAppendResult[]>;
  /**
   * Runs `work` inside the transaction of the next batch, with or without entries, and resolves
   * once that batch has committed: a small write that must be durable but adds no entry (a
   * signature's stored bundle) shares the log's commit instead of paying for its own. Runs after
   * the batch's entries are written; if it throws, only this write fails (with that error) and the
   * batch commits without it.
   */
  write(work: LogWrite): Promise<void>;
  /** The last checkpoint this sequencer committed or loaded. */
  latestCheckpoint(): LogCheckpointRecord | undefined;
  /** Entries waiting for the next batch. */
  pendingCount(): number;
  /** Stops taking entries and waits for the batch in flight. */
  close(): Promise<void>;
}

/** Work for `LogSequencer.write`. */
export type LogWrite = (session: StorageSession) => Promise<void>;

/** Where a batch can be interrupted by a test: inside the transaction, or right after COMMIT. */
export type LogFaultPoint = 'before-commit' | 'after-commit';
export type LogFaultHook = (point: LogFaultPoint, entryKinds: readonly string[]) => void;

/** Bounds on what the log accepts (every input is bounded). */
export const MAX_ENTRY_BYTES = 65_535; // the C2SP entry bundle length prefix is 16 bits
export const MAX_IDEMPOTENCY_KEY_LENGTH = 200;
const DEFAULT_MAX_BATCH = 4096;
const DEFAULT_MAX_PENDING = 65_536;

interface Pending {
  readonly entry: LogAppend;
  readonly resolve: (result: LogAppendResult) => void;
  readonly reject: (error: unknown) => void;
}

interface PendingWrite {
  readonly work: LogWrite;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Marks an error thrown by a caller's effect or write, so the batch can drop just that one. */
class EffectFailure extends Error {
  readonly pending: Pending | PendingWrite;
  constructor(pending: Pending | PendingWrite, cause: unknown) {
    super('effect failed', { cause });
    this.pending = pending;
  }
}

/** What one committed batch produced, kept until its callers are answered. */
interface CommittedBatch {
  readonly base: TreeState;
  readonly state: TreeState;
  readonly checkpoint: LogCheckpointRecord;
  readonly fresh: readonly Pending[];
  readonly entries: readonly LogEntryRecord[];
  readonly nodes: readonly MerkleNode[];
  readonly duplicates: readonly { pending: Pending; record: LogEntryRecord }[];
  readonly aliases: readonly { pending: Pending; first: Pending }[];
}

/**
 * Opens the sequencer over the stored log, after checking that the stored tree matches its last
 * signed checkpoint (`loadTreeState`): throws VERIFICATION_FAILED rather than extend a log that
 * was altered.
 */
export async function openLogSequencer(options: LogSequencerOptions): Promise<LogSequencer> {
  const maxBatch = options.maxBatchEntries ?? DEFAULT_MAX_BATCH;
  const maxPending = options.maxPendingEntries ?? DEFAULT_MAX_PENDING;
  const signer = createLogNoteSigner(options.origin, options.logKey);
  const identity = {
    origin: options.origin,
    verifier: createLogNoteVerifier(options.origin, options.logKey.publicKeySpki),
  };

  // Read size, checkpoint and frontier under the append lock: on PostgreSQL another replica may
  // commit between two unlocked reads.
  let state = await options.storage.transaction(async (session) => {
    await session.log.lockForAppend();
    return loadTreeState(session.log, identity);
  });
  let queue: Pending[] = [];
  let writes: PendingWrite[] = [];
  let running: Promise<void> | undefined;
  let closed = false;

  function schedule(): void {
    if (running !== undefined || (queue.length === 0 && writes.length === 0)) return;
    running = (async () => {
      // Let callers already on their way in this turn of the event loop join the batch.
      await new Promise<void>((resolve) => setImmediate(resolve));
      while (queue.length > 0 || writes.length > 0) {
        const batch = queue.slice(0, maxBatch);
        queue = queue.slice(batch.length);
        const batchWrites = writes.slice(0, maxBatch);
        writes = writes.slice(batchWrites.length);
        await commitBatch(batch, batchWrites);
      }
    })().finally(() => {
      running = undefined;
      schedule();
    });
  }

  async function commitBatch(
    batch: readonly Pending[],
    batchWrites: readonly PendingWrite[],
  ): Promise<void> {
    let live = batch;
    let liveWrites = batchWrites;
    while (live.length > 0 || liveWrites.length > 0) {
      try {
        const committed = await commitOnce(live, liveWrites);
        for (const pending of liveWrites) pending.resolve();
        await answer(committed);
        return;
      } catch (error) {
        if (error instanceof EffectFailure) {
          error.pending.reject(error.cause);
          live = live.filter((p) => p !== error.pending);
          liveWrites = liveWrites.filter((p) => p !== error.pending);
          continue;
        }
        const failure = asAppendError(error);
        for (const pending of [...live, ...liveWrites]) pending.reject(failure);
        return;
      }
    }
  }

  /**
   * One attempt: lock, resync if needed, dedupe, hash, sign, write entries and then `batchWrites`;
   * all in one transaction.
   */
  async function commitOnce(
    batch: readonly Pending[],
    batchWrites: readonly PendingWrite[],
  ): Promise<CommittedBatch> {
    const integratedTime = Math.floor(options.clock.now().getTime() / 1000);
    let outcome: CommittedBatch | undefined;
    try {
      await options.storage.transaction(async (session) => {
        await session.log.lockForAppend();
        let base = state;
        if ((await session.log.treeSize()) !== base.frontier.treeSize) {
          base = await loadTreeState(session.log, identity); // another replica appended
        }
        const { fresh, duplicates, aliases } = await partitionByIdempotency(session.log, batch);
        const leafHashes = fresh.map((p) => hashLeaf(p.entry.body));
        const appended = appendLeafHashes(base.frontier, leafHashes);
        const entries: LogEntryRecord[] = fresh.map((p, i) => ({
          index: base.frontier.treeSize + BigInt(i),
          leafHash: leafHashes[i] as Uint8Array,
          body: p.entry.body,
          kind: p.entry.kind,
          idempotencyKey: p.entry.idempotencyKey ?? null,
          integratedTime,
        }));
        let checkpoint = base.checkpoint;
        if (fresh.length > 0 || checkpoint === undefined) {
          const text = formatCheckpoint({
            origin: options.origin,
            treeSize: appended.frontier.treeSize,
            rootHash: appended.rootHash,
          });
          checkpoint = {
            treeSize: appended.frontier.treeSize,
            rootHash: appended.rootHash,
            note: await signNote(text, [signer]),
            createdAt: options.clock.now(),
          };
          for (const [i, pending] of fresh.entries()) {
            if (pending.entry.effect === undefined) continue;
            try {
              await pending.entry.effect(session, {
                index: base.frontier.treeSize + BigInt(i),
                integratedTime,
              });
            } catch (error) {
              throw new EffectFailure(pending, error);
            }
          }
          await session.log.appendBatch({
            previousSize: base.frontier.treeSize,
            entries,
            nodes: appended.nodes,
            checkpoint,
          });
          options.faultHook?.(
            'before-commit',
            entries.map((e) => e.kind),
          );
        }
        for (const pending of batchWrites) {
          try {
            await pending.work(session);
          } catch (error) {
            throw new EffectFailure(pending, error);
          }
        }
        outcome = {
          base,
          state: { frontier: appended.frontier, checkpoint },
          checkpoint,
          fresh,
          entries,
          nodes: appended.nodes,
          duplicates,
          aliases,
        };
      });
    } catch (error) {
      if (
        error instanceof EffectFailure ||
        outcome === undefined ||
        !isAppError(error, 'STORAGE_UNAVAILABLE')
      )
        throw error;
      // The commit may have happened even though we saw an error (connection lost after COMMIT
      // was sent, threat-model FT-2). Re-read before answering: if our checkpoint is there, it did.
      // A batch that appended nothing signed no checkpoint of its own, so nothing can prove that
      // its writes committed: they fail.
      if (outcome.fresh.length === 0 && batchWrites.length > 0) throw error;
      if (!(await isCommitted(outcome.checkpoint))) throw error;
    }
    if (outcome === undefined)
      throw new AppError('INTERNAL', 'the log transaction produced no batch');
    state = outcome.state;
    options.faultHook?.(
      'after-commit',
      outcome.entries.map((e) => e.kind),
    );
    return outcome;
  }

  async function isCommitted(checkpoint: LogCheckpointRecord): Promise<boolean> {
    try {
      const stored = await options.storage.log.checkpoint(checkpoint.treeSize);
      return (
        stored !== undefined &&
        equalBytes(stored.rootHash, checkpoint.rootHash) &&
        stored.note === checkpoint.note
      );
    } catch {
      return false;
    }
  }

  /** Resolves every caller of a committed batch with its index, proof and checkpoint. */
  async function answer(batch: CommittedBatch): Promise<void> {
    const { checkpoint } = batch;
    const results = new Map<Pending, LogAppendResult>();
    if (batch.fresh.length > 0) {
      // Every node a new entry's proof needs is on the old frontier or was completed by this
      // batch (a left sibling outside the batch is a maximal subtree of [0, start): a frontier node).
      const proofs = proveTrailingLeavesFromNodes(
        batch.base.frontier.treeSize,
        checkpoint.treeSize,
        [...batch.base.frontier.nodes, ...batch.nodes],
      );
      batch.fresh.forEach((pending, i) => {
        results.set(
          pending,
          resultOf(batch.entries[i] as LogEntryRecord, checkpoint, proofs[i] ?? [], false),
        );
      });
    }
    for (const { pending, record } of batch.duplicates) {
      try {
        const plan = planInclusionProof(record.index, checkpoint.treeSize);
        const proof = assembleInclusionProof(plan, await options.storage.log.nodes(plan.nodes));
        results.set(pending, resultOf(record, checkpoint, proof, true));
      } catch (error) {
        pending.reject(toAppError(error));
      }
    }
    for (const { pending, first } of batch.aliases) {
      const result = results.get(first);
      if (result === undefined)
        pending.reject(new AppError('INTERNAL', 'duplicate entry lost its original'));
      else results.set(pending, { ...result, isDuplicate: true });
    }
    for (const [pending, result] of results) pending.resolve(result);
  }

  return {
    append(entries: readonly LogAppend[]): Promise<LogAppendResult[]> {
      if (closed) {
        return Promise.reject(
          new AppError('STORAGE_UNAVAILABLE', 'the log is shutting down', { retryAfterSeconds: 1 }),
        );
      }
      if (queue.length + entries.length > maxPending) {
        return Promise.reject(
          new AppError(
            'STORAGE_UNAVAILABLE',
            `the log is busy (${queue.length} entries waiting); retry shortly`,
            {
              retryAfterSeconds: 1,
            },
          ),
        );
      }
      try {
        entries.forEach(validateAppend);
      } catch (error) {
        return Promise.reject(toAppError(error));
      }
      const promises = entries.map(
        (entry) =>
          new Promise<LogAppendResult>((resolve, reject) => queue.push({ entry, resolve, reject })),
      );
      schedule();
      return Promise.all(promises);
    },
    write(work: LogWrite): Promise<void> {
      if (closed) {
        return Promise.reject(
          new AppError('STORAGE_UNAVAILABLE', 'the log is shutting down', { retryAfterSeconds: 1 }),
        );
      }
      if (writes.length >= maxPending) {
        return Promise.reject(
          new AppError(
            'STORAGE_UNAVAILABLE',
            `the log is busy (${writes.length} writes waiting); retry shortly`,
            { retryAfterSeconds: 1 },
          ),
        );
      }
      const done = new Promise<void>((resolve, reject) => writes.push({ work, resolve, reject }));
      schedule();
      return done;
    },
    latestCheckpoint: () => state.checkpoint,
    pendingCount: () => queue.length,
    async close(): Promise<void> {
      closed = true;
      while (running !== undefined) await running;
    },
  };
}

/**
 * Splits a batch into entries to append, entries whose idempotency key is already in the log, and
 * entries repeating a key earlier in the same batch. Runs under the append lock, so no other
 * writer can add a key between this check and the insert.
 */
async function partitionByIdempotency(
  log: LogRepository,
  batch: readonly Pending[],
): Promise<Pick<CommittedBatch, 'fresh' | 'duplicates' | 'aliases'>> {
  const keys = [
    ...new Set(
      batch.flatMap((p) => (p.entry.idempotencyKey === undefined ? [] : [p.entry.idempotencyKey])),
    ),
  ];
  const stored = new Map<string, LogEntryRecord>();
  if (keys.length > 0) {
    for (const record of await log.findEntriesByIdempotencyKeys(keys)) {
      if (record.idempotencyKey !== null) stored.set(record.idempotencyKey, record);
    }
  }
  const fresh: Pending[] = [];
  const duplicates: { pending: Pending; record: LogEntryRecord }[] = [];
  const aliases: { pending: Pending; first: Pending }[] = [];
  const firstInBatch = new Map<string, Pending>();
  for (const pending of batch) {
    const key = pending.entry.idempotencyKey;
    if (key === undefined) {
      fresh.push(pending);
      continue;
    }
    const record = stored.get(key);
    const first = firstInBatch.get(key);
    const original = record ?? first?.entry;
    if (original !== undefined && !isSameEntry(original, pending.entry)) {
      pending.reject(
        new AppError(
          'CONFLICT',
          `idempotency key ${JSON.stringify(key)} was already used for a different entry`,
        ),
      );
    } else if (record !== undefined) {
      duplicates.push({ pending, record });
    } else if (first !== undefined) {
      aliases.push({ pending, first });
    } else {
      firstInBatch.set(key, pending);
      fresh.push(pending);
    }
  }
  return { fresh, duplicates, aliases };
}

function validateAppend(entry: LogAppend): void {
  if (entry.body.length === 0 || entry.body.length > MAX_ENTRY_BYTES) {
    throw new AppError(
      'INVALID_INPUT',
      `a log entry must be 1 to ${MAX_ENTRY_BYTES} bytes, got ${entry.body.length}`,
    );
  }
  const key = entry.idempotencyKey;
  if (key !== undefined && (key.length === 0 || key.length > MAX_IDEMPOTENCY_KEY_LENGTH)) {
    throw new AppError(
      'INVALID_INPUT',
      `an idempotency key must be 1 to ${MAX_IDEMPOTENCY_KEY_LENGTH} characters`,
    );
  }
}

function isSameEntry(
  first: { kind: string; body: Uint8Array },
  second: { kind: string; body: Uint8Array },
): boolean {
  return first.kind === second.kind && equalBytes(first.body, second.body);
}

function resultOf(
  entry: LogEntryRecord,
  checkpoint: LogCheckpointRecord,
  inclusionProof: readonly Uint8Array[],
  isDuplicate: boolean,
): LogAppendResult {
  return {
    index: entry.index,
    leafHash: entry.leafHash,
    integratedTime: entry.integratedTime,
    inclusionProof,
    treeSize: checkpoint.treeSize,
    rootHash: checkpoint.rootHash,
    checkpoint: checkpoint.note,
    isDuplicate,
  };
}

function asAppendError(error: unknown): AppError {
  if (isAppError(error, 'CONFLICT')) {
    // The compare-and-set failed: the tree moved under us without the lock. Refuse rather than fork.
    return new AppError('STORAGE_UNAVAILABLE', 'the log changed under this writer; retry', {
      retryAfterSeconds: 1,
      cause: error,
    });
  }
  return toAppError(error);
}
