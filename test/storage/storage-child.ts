/**
 * A separate process for the storage tests that need one (data-directory lock, kill -9 crash
 * cycles). Run as `node storage-child.ts <mode> '<StorageOptions as JSON>' [arg]`:
 *
 * - `hold`: opens the storage, prints `ready <pid>`, keeps it open until stdin closes.
 * - `open`: tries to open it and prints `{"ok":true}` or `{"ok":false,"code":…,"message":…}`.
 * - `write <label>`: appends forever; after each transaction resolved (commit durable) prints
 *   `ack <token id> <tree size>`. The parent kills it with SIGKILL.
 * - `commit <count>`: opens existing storage without migrating, runs `count` small write
 *   transactions, printing after each one
 *   `{"ok":true}` or `{"ok":false,"code":…,"message":…}`, then the same for one read, and exits.
 */
import { isAppError } from '../../src/core/errors.ts';
import { openStorage, type StorageOptions } from '../../src/adapters/storage/open-storage.ts';
import type { ApiTokenRecord } from '../../src/core/ports.ts';
import { labelHash, makeLogBatch } from '../support/log-batch.ts';

const [mode, optionsJson = '{}', label = 'w'] = process.argv.slice(2);
const options = JSON.parse(optionsJson) as StorageOptions;

function print(line: string): void {
  // stdout to a pipe is synchronous on Linux: the line has left before the next write starts.
  process.stdout.write(`${line}\n`);
}

async function hold(): Promise<void> {
  const storage = await openStorage(options);
  print(`ready ${process.pid}`);
  process.stdin.resume();
  process.stdin.on('end', () => void storage.close());
}

async function tryOpen(): Promise<void> {
  try {
    const storage = await openStorage(options);
    await storage.close();
    print(JSON.stringify({ ok: true }));
  } catch (error) {
    const code = isAppError(error) ? error.code : 'UNKNOWN';
    const message = error instanceof Error ? error.message : String(error);
    print(JSON.stringify({ ok: false, code, message }));
  }
}

/** The API token row the `n`th write of a mode inserts, so each transaction writes something. */
function tokenRecord(id: string, n: number): ApiTokenRecord {
  return {
    id,
    name: id,
    role: 'auditor',
    userId: null,
    secretHash: labelHash(id),
    createdAt: new Date(1_700_000_000_000 + n),
    expiresAt: null,
    revokedAt: null,
  };
}

async function writeForever(): Promise<never> {
  const storage = await openStorage(options);
  for (let n = 0; ; n++) {
    const id = `${label}-${n}`;
    const size = await storage.transaction(async (session) => {
      await session.apiTokens.insert(tokenRecord(id, n));
      await session.log.lockForAppend();
      const previousSize = await session.log.treeSize();
      const batch = makeLogBatch(previousSize, 1 + (n % 8), {
        idempotencyKey: (index) => `${id}/${index}`,
      });
      await session.log.appendBatch(batch);
      return batch.checkpoint.treeSize;
    });
    print(`ack ${id} ${size}`);
  }
}

async function commitThenRead(count: number): Promise<void> {
  // Opened as it is, without migrating: nothing but these transactions writes.
  const storage = await openStorage(options, { migrate: false });
  const report = async (work: () => Promise<unknown>) => {
    try {
      await work();
      print(JSON.stringify({ ok: true }));
    } catch (error) {
      const code = isAppError(error) ? error.code : 'UNKNOWN';
      const message = error instanceof Error ? error.message : String(error);
      print(JSON.stringify({ ok: false, code, message }));
    }
  };
  for (let n = 0; n < count; n++) {
    const id = `commit-${n}`;
    await report(() =>
      storage.transaction((session) => session.apiTokens.insert(tokenRecord(id, n))),
    );
  }
  await report(() => storage.governance.latestVersion());
  await storage.close().catch(() => undefined);
}

if (mode === 'hold') await hold();
else if (mode === 'commit') await commitThenRead(Number(label));
else if (mode === 'open') await tryOpen();
else if (mode === 'write') await writeForever();
else throw new Error(`unknown mode ${String(mode)}`);
