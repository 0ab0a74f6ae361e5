/**
 * The one error type of Countersign. Every failure that crosses a layer is an `AppError` with a
 * stable `code`; `src/http/problem.ts` and `src/cli/exit-codes.ts` translate codes exhaustively.
 */

/** The closed set of error codes (STYLE.md "Errors"). Extend with care: both tables must follow. */
export const ERROR_CODES = [
  'INVALID_INPUT',
  'UNAUTHENTICATED',
  'FORBIDDEN',
  'NOT_FOUND',
  'CONFLICT',
  'POLICY_DENIED',
  'APPROVAL_PENDING',
  'VERIFICATION_FAILED',
  'KEY_UNAVAILABLE',
  'STORAGE_UNAVAILABLE',
  'RATE_LIMITED',
  // A service we depend on is unreachable: an OIDC issuer's JWKS, a timestamp authority, a witness,
  // or, seen from the CLI, the Countersign server itself.
  'UPSTREAM_UNAVAILABLE',
  'CONFIG_INVALID',
  'INTERNAL',
] as const;

export type ErrorCode = (typeof ERROR_CODES)[number];

/** One problem with one field of an input (a request body, a config file, a flag). */
export interface FieldError {
  /** Where: a JSON pointer (`/subject/digest`), a config key (`storage.url`) or a flag (`--port`). */
  readonly path: string;
  readonly message: string;
  /** Where the value came from when it matters (`countersign.yaml:12`, `COUNTERSIGN_PORT`). */
  readonly source?: string;
}

export interface AppErrorOptions {
  /** Field-level details, reported all at once. */
  readonly errors?: readonly FieldError[];
  /** What the user can do about it, in one line. */
  readonly hint?: string;
  /** Seconds a client should wait before retrying (RATE_LIMITED, STORAGE_UNAVAILABLE, UPSTREAM_UNAVAILABLE). */
  readonly retryAfterSeconds?: number;
  /** The underlying driver, network or crypto error; logged, never shown to clients. */
  readonly cause?: unknown;
}

/**
 * An error with a stable `code`. The `message` is safe to show to the caller: it never carries
 * secrets, tokens or stack traces. Put internal detail in `cause`.
 */
export class AppError extends Error {
  readonly code: ErrorCode;
  readonly errors: readonly FieldError[];
  readonly hint: string | undefined;
  readonly retryAfterSeconds: number | undefined;

  constructor(code: ErrorCode, message: string, options: AppErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'AppError';
    this.code = code;
    this.errors = options.errors ?? [];
    this.hint = options.hint;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** True when `error` is an `AppError`, optionally with the given code. */
export function isAppError(error: unknown, code?: ErrorCode): error is AppError {
  return error instanceof AppError && (code === undefined || error.code === code);
}

/**
 * Turns anything thrown into an `AppError`. Unknown errors become INTERNAL with a generic message;
 * the original is kept as `cause` for the log.
 */
export function toAppError(error: unknown): AppError {
  if (error instanceof AppError) return error;
  return new AppError('INTERNAL', 'internal error', { cause: error });
}
