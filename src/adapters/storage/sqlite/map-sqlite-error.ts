/**
 * The SQLite edge: what node:sqlite throws, as an `AppError` with the original kept as `cause`.
 * Result codes: https://www.sqlite.org/rescode.html
 */
import { AppError } from '../../../core/errors.ts';

/** Primary result codes we distinguish (the low byte of an extended code). */
const SQLITE_BUSY = 5;
const SQLITE_LOCKED = 6;
const SQLITE_READONLY = 8;
const SQLITE_IOERR = 10;
const SQLITE_CORRUPT = 11;
const SQLITE_FULL = 13;
const SQLITE_CANTOPEN = 14;
const SQLITE_PROTOCOL = 15;
const SQLITE_CONSTRAINT = 19;
const SQLITE_NOTADB = 26;
/** Extended constraint codes that mean "this key is taken" or "that row is gone". */
const SQLITE_CONSTRAINT_FOREIGNKEY = 787;
const SQLITE_CONSTRAINT_PRIMARYKEY = 1555;
const SQLITE_CONSTRAINT_UNIQUE = 2067;

/**
 * Maps an error thrown by node:sqlite: key collisions → CONFLICT; lock contention, I/O errors, a
 * full disk, an unopenable or corrupt file, a closed database → STORAGE_UNAVAILABLE; anything else
 * (a schema CHECK our own code should have prevented, a bad parameter) → INTERNAL.
 */
export function mapSqliteError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const code = errorProperty(error, 'code');
  if (code === 'ERR_INVALID_STATE') {
    return new AppError('STORAGE_UNAVAILABLE', 'storage is closed', { cause: error });
  }
  const errcode = errorProperty(error, 'errcode');
  if (code !== 'ERR_SQLITE_ERROR' || typeof errcode !== 'number') {
    return new AppError('INTERNAL', 'internal storage error', { cause: error });
  }
  switch (errcode) {
    case SQLITE_CONSTRAINT_PRIMARYKEY:
    case SQLITE_CONSTRAINT_UNIQUE:
      return new AppError('CONFLICT', 'a record with the same key already exists', {
        cause: error,
      });
    case SQLITE_CONSTRAINT_FOREIGNKEY:
      return new AppError('CONFLICT', 'a record this change refers to does not exist', {
        cause: error,
      });
    default:
      break;
  }
  switch (errcode & 0xff) {
    case SQLITE_BUSY:
    case SQLITE_LOCKED:
      return new AppError('STORAGE_UNAVAILABLE', 'the SQLite database is locked', {
        cause: error,
        retryAfterSeconds: 1,
      });
    case SQLITE_FULL:
      return new AppError('STORAGE_UNAVAILABLE', 'the disk holding the data directory is full', {
        cause: error,
        hint: 'free space on the data directory volume',
      });
    case SQLITE_IOERR:
    case SQLITE_CANTOPEN:
    case SQLITE_READONLY:
    case SQLITE_PROTOCOL:
      return new AppError('STORAGE_UNAVAILABLE', 'the SQLite database cannot be read or written', {
        cause: error,
        hint: 'check the data directory: permissions, free space, disk health',
      });
    case SQLITE_CORRUPT:
    case SQLITE_NOTADB:
      return new AppError('STORAGE_UNAVAILABLE', 'the SQLite database file is corrupt', {
        cause: error,
        hint: 'restore the data directory from a backup',
      });
    case SQLITE_CONSTRAINT:
    default:
      return new AppError('INTERNAL', 'internal storage error', { cause: error });
  }
}

/** True when node:sqlite failed because another connection holds a lock (SQLITE_BUSY/LOCKED). */
export function isSqliteBusy(error: unknown): boolean {
  const errcode = errorProperty(error, 'errcode');
  return (
    errorProperty(error, 'code') === 'ERR_SQLITE_ERROR' &&
    typeof errcode === 'number' &&
    ((errcode & 0xff) === SQLITE_BUSY || (errcode & 0xff) === SQLITE_LOCKED)
  );
}

function errorProperty(error: unknown, name: string): unknown {
  return typeof error === 'object' && error !== null
    ? (error as Record<string, unknown>)[name]
    : undefined;
}
