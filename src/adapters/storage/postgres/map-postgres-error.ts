/**
 * The PostgreSQL edge: what `pg` throws, as an `AppError` with the original kept as `cause`.
 * SQLSTATE codes: https://www.postgresql.org/docs/current/errcodes-appendix.html
 */
import { AppError } from '../../../core/errors.ts';

/** Seconds to suggest before retrying after lock contention or a timed-out statement. */
const RETRY_SOON_SECONDS = 1;
/** Seconds to suggest before retrying when the server is down or restarting. */
const RETRY_LATER_SECONDS = 5;

/** Node.js socket errors that mean the server cannot be reached. */
const NETWORK_ERROR_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ECONNABORTED',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);

/**
 * Maps an error thrown by `pg`: key collisions and lost serialization races → CONFLICT; the server
 * down, restarting, unreachable, out of disk or too slow → STORAGE_UNAVAILABLE with
 * `retryAfterSeconds`; credentials, missing database, missing privileges → CONFIG_INVALID;
 * anything else → INTERNAL.
 */
export function mapPostgresError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  const sqlState = sqlStateOf(error);
  if (sqlState === undefined) return mapClientError(error);
  switch (sqlState) {
    case '23505':
      return new AppError('CONFLICT', 'a record with the same key already exists', {
        cause: error,
      });
    case '23503':
      return new AppError('CONFLICT', 'a record this change refers to does not exist', {
        cause: error,
      });
    case '40001':
    case '40P01':
      return new AppError('CONFLICT', 'a concurrent transaction changed the same records', {
        cause: error,
      });
    case '55P03':
      return unavailable('PostgreSQL could not take a lock in time', error, RETRY_SOON_SECONDS);
    case '57014':
      return unavailable('PostgreSQL did not answer in time', error, RETRY_SOON_SECONDS);
    case '25006':
      return unavailable('PostgreSQL is read-only (a standby?)', error, RETRY_LATER_SECONDS);
    case '28000':
    case '28P01':
      return new AppError('CONFIG_INVALID', 'PostgreSQL rejected the credentials', {
        cause: error,
        errors: [{ path: 'storage.url', message: 'authentication failed' }],
      });
    case '3D000':
      return new AppError('CONFIG_INVALID', 'the PostgreSQL database does not exist', {
        cause: error,
        errors: [{ path: 'storage.url', message: 'no such database' }],
      });
    case '42501':
      return new AppError(
        'CONFIG_INVALID',
        'the PostgreSQL role lacks a privilege Countersign needs',
        {
          cause: error,
        },
      );
    default:
      break;
  }
  switch (sqlState.slice(0, 2)) {
    case '08': // connection exception
    case '57': // operator intervention: shutdown, crash, cannot connect now
      return unavailable('PostgreSQL is not reachable', error, RETRY_LATER_SECONDS);
    case '53': // insufficient resources: disk full, out of memory, too many connections
      return unavailable('PostgreSQL is out of resources', error, RETRY_LATER_SECONDS);
    case '58': // system error (I/O)
    case 'XX': // internal error, data corrupted
      return unavailable('PostgreSQL reported a system error', error, RETRY_LATER_SECONDS);
    default:
      return new AppError('INTERNAL', 'internal storage error', { cause: error });
  }
}

/**
 * True when the connection that produced `error` must not be reused: anything that is not a
 * server-reported SQL error (socket errors, timeouts on our side that leave a query in flight)
 * and server errors that end the session.
 */
export function isConnectionBroken(error: unknown): boolean {
  const sqlState = sqlStateOf(error);
  if (sqlState === undefined) return true;
  return sqlState.startsWith('08') || sqlState.startsWith('57P') || sqlState.startsWith('XX');
}

function mapClientError(error: unknown): AppError {
  const code = property(error, 'code');
  if (typeof code === 'string' && NETWORK_ERROR_CODES.has(code)) {
    return unavailable('PostgreSQL is not reachable', error, RETRY_LATER_SECONDS);
  }
  // pg reports its own timeouts and lost connections as plain Errors with these messages.
  const message = error instanceof Error ? error.message : '';
  if (/timeout/i.test(message)) {
    return unavailable('PostgreSQL did not answer in time', error, RETRY_SOON_SECONDS);
  }
  if (/connection|not queryable|terminated|after calling end/i.test(message)) {
    return unavailable('PostgreSQL is not reachable', error, RETRY_LATER_SECONDS);
  }
  return new AppError('INTERNAL', 'internal storage error', { cause: error });
}

/** The five-character SQLSTATE of an error the server reported, if it is one. */
function sqlStateOf(error: unknown): string | undefined {
  const code = property(error, 'code');
  const severity = property(error, 'severity');
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) && typeof severity === 'string'
    ? code
    : undefined;
}

function unavailable(message: string, cause: unknown, retryAfterSeconds: number): AppError {
  return new AppError('STORAGE_UNAVAILABLE', message, { cause, retryAfterSeconds });
}

function property(value: unknown, name: string): unknown {
  return typeof value === 'object' && value !== null
    ? (value as Record<string, unknown>)[name]
    : undefined;
}
