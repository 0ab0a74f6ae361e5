/**
 * The worker thread of `startWalCheckpointer`: its own connection to the database, copying the
 * write-ahead log back into the database file every few hundred milliseconds with a PASSIVE
 * checkpoint, which never blocks the writer. Messages: `'stop'` (checkpoint once more, close,
 * exit). Failures are posted as `{ error }` and retried at the next interval.
 */
import { DatabaseSync } from 'node:sqlite';
import { parentPort, workerData } from 'node:worker_threads';

interface CheckpointWorkerData {
  readonly path: string;
  readonly intervalMs: number;
  readonly busyTimeoutMs: number;
}

const { path, intervalMs, busyTimeoutMs } = workerData as CheckpointWorkerData;
const port = parentPort;
if (port === null) throw new Error('wal-checkpoint-worker runs as a worker thread only');

const database = new DatabaseSync(path, { timeout: busyTimeoutMs });
// A checkpoint fsyncs the log before copying and the database file after: FULL like the writer.
database.exec('PRAGMA synchronous = FULL');
const checkpoint = database.prepare('PRAGMA wal_checkpoint(PASSIVE)');

function runCheckpoint(): void {
  try {
    checkpoint.get();
  } catch (error) {
    port?.postMessage({ error: error instanceof Error ? error.message : String(error) });
  }
}

const timer = setInterval(runCheckpoint, intervalMs);
port.on('message', (message: unknown) => {
  if (message !== 'stop') return;
  clearInterval(timer);
  runCheckpoint();
  database.close();
  port.close();
});
