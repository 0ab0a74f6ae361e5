/**
 * Group commit for small independent writes (DESIGN.md §8): writes submitted while a transaction
 * is committing wait and then commit together in the next one, so N concurrent callers cost one
 * durable commit instead of N. Each caller's promise resolves once its write is durable.
 *
 * One failing write must not fail its neighbours: when a batch's transaction throws, each of its
 * writes is retried in a transaction of its own, and only the writes that fail again are rejected.
 */
import type { Storage, StorageSession } from '../core/ports.ts';

/** Submits one write; resolves when it has committed. */
export type GroupCommit<T> = (item: T) => Promise<void>;

interface Pending<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (error: unknown) => void;
}

/** Most writes per transaction: bounds how long one commit holds the storage. */
const MAX_BATCH = 256;

/**
 * Returns a submit function that runs `write` for every submitted item inside shared
 * transactions of `storage`.
 */
export function createGroupCommit<T>(
  storage: Pick<Storage, 'transaction'>,
  write: (session: StorageSession, item: T) => Promise<void>,
): GroupCommit<T> {
  const queue: Pending<T>[] = [];
  let draining = false;

  async function commitBatch(batch: readonly Pending<T>[]): Promise<void> {
    try {
      await storage.transaction(async (session) => {
        for (const pending of batch) await write(session, pending.item);
      });
      for (const pending of batch) pending.resolve();
    } catch (error) {
      if (batch.length === 1) {
        batch[0]?.reject(error);
        return;
      }
      for (const pending of batch) {
        try {
          await storage.transaction((session) => write(session, pending.item));
          pending.resolve();
        } catch (alone) {
          pending.reject(alone);
        }
      }
    }
  }

  async function drain(): Promise<void> {
    draining = true;
    try {
      while (queue.length > 0) await commitBatch(queue.splice(0, MAX_BATCH));
    } finally {
      draining = false;
    }
  }

  return (item) =>
    new Promise<void>((resolve, reject) => {
      queue.push({ item, resolve, reject });
      if (!draining) void drain();
    });
}
