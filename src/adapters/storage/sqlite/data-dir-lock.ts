/**
 * One process per data directory (threat model E5): two servers writing one SQLite log would
 * fork it. The lock is an SQLite exclusive transaction held open on a dedicated lock file: SQLite
 * takes it with POSIX advisory locks, which the kernel drops when the holder exits for any reason
 * (kill -9 included), so a crash never leaves a stale lock that blocks the restart. SQLite also
 * tracks these locks per file inside one process, so a second open in the same process is refused
 * too. A pid file next to it only serves the error message; it is never trusted for locking.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { AppError } from '../../../core/errors.ts';
import { isSqliteBusy, mapSqliteError } from './map-sqlite-error.ts';

/** Files in the data directory. */
export const LOCK_FILE_NAME = 'countersign.lock';
export const PID_FILE_NAME = 'countersign.pid';

/** The held lock on a data directory. */
export interface DataDirLock {
  readonly dataDir: string;
  /** Releases the lock; idempotent. */
  release(): void;
}

/**
 * Creates `dataDir` (mode 0700) if needed and takes its exclusive lock. Throws
 * STORAGE_UNAVAILABLE naming the holder's pid when another process (or another open in this one)
 * holds it, and CONFIG_INVALID when the directory cannot be created or used.
 */
export function lockDataDir(dataDir: string): DataDirLock {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  } catch (error) {
    throw new AppError('CONFIG_INVALID', `cannot create data directory ${dataDir}`, {
      cause: error,
      errors: [{ path: 'dataDir', message: describeFsError(error) }],
    });
  }
  const pidPath = join(dataDir, PID_FILE_NAME);
  let lockDb: DatabaseSync;
  try {
    // timeout 0: fail at once instead of waiting for the holder, which may run for months.
    lockDb = new DatabaseSync(join(dataDir, LOCK_FILE_NAME), { timeout: 0 });
  } catch (error) {
    throw new AppError('CONFIG_INVALID', `cannot open the lock file in data directory ${dataDir}`, {
      cause: error,
      errors: [{ path: 'dataDir', message: describeFsError(error) }],
    });
  }
  try {
    lockDb.exec('BEGIN EXCLUSIVE');
  } catch (error) {
    lockDb.close();
    if (!isSqliteBusy(error)) throw mapSqliteError(error);
    const holder = readHolderPid(pidPath);
    const who = holder === undefined ? 'another process' : `process ${holder}`;
    throw new AppError(
      'STORAGE_UNAVAILABLE',
      `data directory ${dataDir} is in use by ${who}; stop it or choose another --data-dir`,
      { cause: error, hint: 'only one Countersign process may use a data directory' },
    );
  }
  try {
    writeFileSync(pidPath, `${process.pid}\n`, { mode: 0o600 });
  } catch (error) {
    lockDb.close();
    throw new AppError('CONFIG_INVALID', `cannot write to data directory ${dataDir}`, {
      cause: error,
      errors: [{ path: 'dataDir', message: describeFsError(error) }],
    });
  }
  let held = true;
  return {
    dataDir,
    release() {
      if (!held) return;
      held = false;
      // Remove the pid file while still holding the lock, so it never names a later holder.
      if (readHolderPid(pidPath) === process.pid) rmSync(pidPath, { force: true });
      lockDb.close();
    },
  };
}

function readHolderPid(pidPath: string): number | undefined {
  let text: string;
  try {
    text = readFileSync(pidPath, 'utf8');
  } catch {
    return undefined;
  }
  // The pid file is written by whoever holds the lock, but it is still just a file: accept only
  // a plain positive integer.
  const match = /^(\d{1,10})\n?$/.exec(text);
  if (match?.[1] === undefined) return undefined;
  const pid = Number(match[1]);
  return pid > 0 ? pid : undefined;
}

function describeFsError(error: unknown): string {
  const code =
    typeof error === 'object' && error !== null ? (error as Record<string, unknown>)['code'] : '';
  switch (code) {
    case 'EACCES':
    case 'EPERM':
      return 'permission denied';
    case 'ENOTDIR':
    case 'EEXIST':
      return 'not a directory';
    case 'EROFS':
      return 'read-only file system';
    case 'ENOSPC':
      return 'no space left on device';
    default:
      return 'not usable';
  }
}
