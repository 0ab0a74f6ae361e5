/**
 * Embedded storage: one SQLite file in a data directory, through node:sqlite (DESIGN.md §4).
 *
 * Durability (threat model FT-4): WAL, and a transaction resolves only once its write-ahead log
 * frames have been fdatasynced, so it survives power loss on honest storage. The sync runs on
 * libuv's thread pool rather than inside COMMIT (`synchronous=NORMAL` plus `wal-sync.ts`), so a
 * disk flush no longer stalls the event loop; the driver holds the connection until it returns.
 * The pragmas are read back after being set and the open is refused if any is not in effect (a
 * file system without WAL support, for one). Exclusivity (E5): the data directory is locked for
 * the life of the storage.
 */
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { Kysely } from 'kysely';
import { AppError, type FieldError } from '../../../core/errors.ts';
import { readSchemaVersion, runMigrations } from '../migrations/run-migrations.ts';
import { ConnectionGuard } from '../sql-context.ts';
import { SqlStorage } from '../sql-storage.ts';
import type { StorageSchema } from '../storage-schema.ts';
import { lockDataDir } from './data-dir-lock.ts';
import { mapSqliteError } from './map-sqlite-error.ts';
import { NodeSqliteDialect } from './node-sqlite-dialect.ts';
import { startWalCheckpointer, type WalCheckpointer } from './wal-checkpointer.ts';
import { createWalSync } from './wal-sync.ts';

/** The database file inside the data directory. */
export const SQLITE_DATABASE_FILE_NAME = 'countersign.db';

/** How long a statement waits for a lock held by another connection (backup tools, mostly). */
const DEFAULT_BUSY_TIMEOUT_MS = 5000;

/**
 * `PRAGMA synchronous` value of NORMAL: COMMIT does not sync the write-ahead log itself, the
 * driver does it right after (`wal-sync.ts`). Checkpoints still sync as SQLite does under FULL.
 */
const SYNCHRONOUS_NORMAL = 1;

export interface SqliteStorageOptions {
  readonly dataDir: string;
  readonly busyTimeoutMs?: number;
  /**
   * Checkpoint the write-ahead log from a worker thread instead of inside commits (`serve`: see
   * `wal-checkpointer.ts`), reporting failed checkpoints to `onError`. Off when absent:
   * short-lived commands need no extra thread.
   */
  readonly backgroundCheckpoints?: { readonly onError: (message: string) => void };
}

/**
 * Opens (creating if needed) the SQLite storage in `options.dataDir`. Throws STORAGE_UNAVAILABLE
 * when another process holds the data directory (naming its pid) or the file cannot be used,
 * CONFIG_INVALID when the durability pragmas do not take effect or the schema is newer than the
 * code.
 */
export async function openSqliteStorage(
  options: SqliteStorageOptions,
  behaviour: { readonly migrate: boolean },
): Promise<SqlStorage> {
  const busyTimeoutMs = options.busyTimeoutMs ?? DEFAULT_BUSY_TIMEOUT_MS;
  const lock = lockDataDir(options.dataDir);
  let database: DatabaseSync | undefined;
  let checkpointer: WalCheckpointer | undefined;
  const path = join(options.dataDir, SQLITE_DATABASE_FILE_NAME);
  try {
    try {
      database = new DatabaseSync(path, {
        // Exact 64-bit integers for log sizes and indices: never a lossy JS number (INV-4).
        readBigInts: true,
        enableForeignKeyConstraints: true,
        timeout: busyTimeoutMs,
      });
      database.exec('PRAGMA journal_mode = WAL');
      database.exec('PRAGMA synchronous = NORMAL');
      database.exec('PRAGMA foreign_keys = ON');
      database.exec(`PRAGMA busy_timeout = ${busyTimeoutMs}`);
    } catch (error) {
      throw mapSqliteError(error);
    }
    verifySqlitePragmas(database, busyTimeoutMs);
    if (options.backgroundCheckpoints !== undefined) {
      checkpointer = startWalCheckpointer(database, path, {
        busyTimeoutMs,
        onError: options.backgroundCheckpoints.onError,
      });
    }
    const guard = new ConnectionGuard();
    const walSync = createWalSync(path);
    const db = new Kysely<StorageSchema>({
      dialect: new NodeSqliteDialect({
        database,
        mapError: mapSqliteError,
        beforeAcquire: () => guard.assertCanAcquire(),
        makeDurable: () => walSync.sync(),
      }),
    });
    try {
      const schemaVersion = behaviour.migrate
        ? (await runMigrations(db, 'sqlite')).to
        : await readSchemaVersion(db, 'sqlite');
      return new SqlStorage({
        engine: 'sqlite',
        db,
        guard,
        schemaVersion,
        onClose: async () => {
          try {
            await checkpointer?.stop();
            await walSync.close();
          } finally {
            lock.release();
          }
        },
      });
    } catch (error) {
      await db.destroy();
      await walSync.close();
      throw error;
    }
  } catch (error) {
    await checkpointer?.stop();
    if (database?.isOpen === true) database.close();
    lock.release();
    throw error;
  }
}

/**
 * Reads back the pragmas Countersign's durability depends on and throws CONFIG_INVALID, listing
 * every one not in effect, unless all are: `journal_mode=wal`, `synchronous=NORMAL` (the driver
 * syncs each commit itself), `foreign_keys=ON`, `busy_timeout=busyTimeoutMs`.
 */
export function verifySqlitePragmas(database: DatabaseSync, busyTimeoutMs: number): void {
  const read = (name: string): unknown => {
    try {
      const row = database.prepare(`PRAGMA ${name}`).get();
      const value = row === undefined ? undefined : Object.values(row)[0];
      // Integers come back as bigint or number depending on the connection's readBigInts.
      return typeof value === 'bigint' ? Number(value) : value;
    } catch (error) {
      throw mapSqliteError(error);
    }
  };
  const problems: FieldError[] = [];
  const journalMode = read('journal_mode');
  if (journalMode !== 'wal') {
    problems.push({
      path: 'journal_mode',
      message: `is ${String(journalMode)}, needs wal (is the data directory on a local file system?)`,
    });
  }
  const synchronous = read('synchronous');
  if (synchronous !== SYNCHRONOUS_NORMAL) {
    problems.push({ path: 'synchronous', message: `is ${String(synchronous)}, needs 1 (NORMAL)` });
  }
  const foreignKeys = read('foreign_keys');
  if (foreignKeys !== 1) {
    problems.push({ path: 'foreign_keys', message: `is ${String(foreignKeys)}, needs 1 (ON)` });
  }
  const busyTimeout = read('busy_timeout');
  if (busyTimeout !== busyTimeoutMs) {
    problems.push({
      path: 'busy_timeout',
      message: `is ${String(busyTimeout)}, needs ${busyTimeoutMs}`,
    });
  }
  if (problems.length > 0) {
    throw new AppError(
      'CONFIG_INVALID',
      `SQLite refused the settings Countersign needs for durable writes: ${problems
        .map((p) => `${p.path} ${p.message}`)
        .join('; ')}`,
      { errors: problems },
    );
  }
}
