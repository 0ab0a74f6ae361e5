/**
 * Background WAL checkpoints for the embedded database (DESIGN.md §8).
 *
 * SQLite copies its write-ahead log back into the database file (a checkpoint, with two fsyncs)
 * inside whichever COMMIT crosses `wal_autocheckpoint` pages. node:sqlite runs on the event loop,
 * so that one commit stalls every request for the whole copy. Instead, a worker thread with its
 * own connection checkpoints in the background (PASSIVE: it never blocks the writer), and the
 * writer's own threshold is raised to a safety net that only matters if the worker falls behind
 * or stops. Durability is unchanged: commits are fsynced to the log as before.
 */
import { Worker } from 'node:worker_threads';
import type { DatabaseSync } from 'node:sqlite';

/** How often the worker checkpoints. */
const CHECKPOINT_INTERVAL_MS = 250;
/** The writer still checkpoints by itself past this many log pages (64 MiB of 4 KiB pages). */
export const SAFETY_NET_AUTOCHECKPOINT_PAGES = 16_384;

export interface WalCheckpointer {
  /** Checkpoints once more, closes the worker's connection and waits for the thread to end. */
  stop(): Promise<void>;
}

/**
 * Starts checkpointing `path` (the database file `database` has open) from a worker thread.
 * `onError` hears each failed checkpoint; the next interval retries.
 */
export function startWalCheckpointer(
  database: DatabaseSync,
  path: string,
  options: { readonly busyTimeoutMs: number; readonly onError?: (message: string) => void },
): WalCheckpointer {
  database.exec(`PRAGMA wal_autocheckpoint = ${String(SAFETY_NET_AUTOCHECKPOINT_PAGES)}`);
  const worker = new Worker(new URL('./wal-checkpoint-worker.ts', import.meta.url), {
    workerData: { path, intervalMs: CHECKPOINT_INTERVAL_MS, busyTimeoutMs: options.busyTimeoutMs },
  });
  worker.on('message', (message: { readonly error?: string }) => {
    if (message.error !== undefined) options.onError?.(message.error);
  });
  const exited = new Promise<void>((resolve) => {
    worker.once('exit', () => resolve());
  });
  worker.on('error', (error: unknown) => {
    // The worker died: the writer's safety-net threshold keeps the log bounded from now on.
    options.onError?.(error instanceof Error ? error.message : String(error));
  });
  // Never what keeps the process alive; stop() ends it on close. After the listeners: adding a
  // 'message' listener refs the worker's port again.
  worker.unref();
  let stopping: Promise<void> | undefined;
  return {
    stop() {
      stopping ??= (async () => {
        worker.postMessage('stop');
        const timeout = setTimeout(() => void worker.terminate(), options.busyTimeoutMs + 1000);
        try {
          await exited;
        } finally {
          clearTimeout(timeout);
        }
      })();
      return stopping;
    },
  };
}
