/**
 * Conversions between domain values and SQL column values, shared by both engines.
 *
 * Both engines return 64-bit integers as `bigint` (node:sqlite with `readBigInts`, `pg` with our
 * int8 parser), 32-bit integers as `number` (PostgreSQL `integer`) and binary columns as
 * `Uint8Array` (node:sqlite) or `Buffer` (`pg`). Repositories read rows through these helpers so
 * they never depend on which engine produced a row, and a value the schema does not allow is
 * reported as corruption instead of flowing on as a wrong type.
 */
import { AppError } from '../../core/errors.ts';

/** Largest value of a signed 64-bit SQL integer (SQLite INTEGER, PostgreSQL BIGINT). */
export const SQL_INT64_MAX = 2n ** 63n - 1n;

/** Reads an integer column as an exact `bigint`. Throws INTERNAL on anything else. */
export function readBigInt(value: unknown, column: string): bigint {
  if (typeof value === 'bigint') return value;
  if (typeof value === 'number' && Number.isSafeInteger(value)) return BigInt(value);
  throw corrupt(column, value);
}

/** Reads an integer column that must fit a JS number exactly. Throws INTERNAL otherwise. */
export function readSafeInteger(value: unknown, column: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value)) return value;
  if (
    typeof value === 'bigint' &&
    value <= BigInt(Number.MAX_SAFE_INTEGER) &&
    value >= BigInt(Number.MIN_SAFE_INTEGER)
  ) {
    return Number(value);
  }
  throw corrupt(column, value);
}

/** Reads a binary column as a plain `Uint8Array` (a `pg` `Buffer` is copied out). */
export function readBytes(value: unknown, column: string): Uint8Array {
  if (!(value instanceof Uint8Array)) throw corrupt(column, value);
  // Buffer is a Uint8Array subclass whose memory may be a shared pool slab: hand out a copy with
  // the plain prototype so callers compare and keep bytes the same way on both engines.
  return Object.getPrototypeOf(value) === Uint8Array.prototype ? value : new Uint8Array(value);
}

/** Reads a text column. */
export function readString(value: unknown, column: string): string {
  if (typeof value !== 'string') throw corrupt(column, value);
  return value;
}

/** Reads a nullable text column. */
export function readNullableString(value: unknown, column: string): string | null {
  return value === null ? null : readString(value, column);
}

/** Reads an epoch-milliseconds column as a `Date`. */
export function readDate(value: unknown, column: string): Date {
  return new Date(readSafeInteger(value, column));
}

/** Reads a nullable epoch-milliseconds column. */
export function readNullableDate(value: unknown, column: string): Date | null {
  return value === null ? null : readDate(value, column);
}

/**
 * Times are stored as integer epoch milliseconds on both engines (no time zones, no engine date
 * types). Throws INVALID_INPUT for an invalid `Date`.
 */
export function toMillis(date: Date, field: string): bigint {
  const millis = date.getTime();
  if (!Number.isSafeInteger(millis)) {
    throw new AppError('INVALID_INPUT', `${field} is not a valid date`, {
      errors: [{ path: field, message: 'invalid date' }],
    });
  }
  return BigInt(millis);
}

/** Like {@link toMillis} for a nullable date. */
export function toNullableMillis(date: Date | null, field: string): bigint | null {
  return date === null ? null : toMillis(date, field);
}

/**
 * Checks that a log index or size fits a signed 64-bit column. Sizes are uint64 in the log's
 * formats (C2SP checkpoints), but both engines store signed 64-bit integers: 2^63 - 1 entries is
 * the storage limit. Throws INVALID_INPUT beyond it or below 0.
 */
export function checkInt64(value: bigint, field: string): bigint {
  if (value < 0n || value > SQL_INT64_MAX) {
    throw new AppError('INVALID_INPUT', `${field} ${value} is outside 0..2^63-1`, {
      errors: [{ path: field, message: 'out of range' }],
    });
  }
  return value;
}

function corrupt(column: string, value: unknown): AppError {
  const type = value === null ? 'null' : typeof value;
  return new AppError('INTERNAL', `storage returned an unexpected ${type} in column ${column}`);
}
