/**
 * The CLI's HTTP client for a running server. Problem responses come back as `AppError`s with the
 * server's code, so a 401 from the server exits 3 here too. A request refused for its rate limit
 * (429, RATE_LIMITED: the server did nothing) is sent again after the server's `Retry-After`, a
 * few times, as long as that wait is short.
 */
import { setTimeout as delay } from 'node:timers/promises';
import { toDisplaySafe } from '../core/display-text.ts';
import {
  AppError,
  ERROR_CODES,
  isAppError,
  type ErrorCode,
  type FieldError,
} from '../core/errors.ts';

/** Requests to the Countersign API. */
export interface ApiClient {
  readonly server: string;
  /**
   * Sends a request and resolves to the parsed JSON body of a 2xx answer. Throws the server's
   * problem as an AppError; UPSTREAM_UNAVAILABLE when the server cannot be reached; UNAUTHENTICATED
   * when `auth` is set and no token was given.
   */
  request(
    method: 'GET' | 'POST' | 'DELETE' | 'PUT' | 'PATCH',
    path: string,
    options?: { readonly body?: unknown; readonly auth?: boolean },
  ): Promise<unknown>;
}

export interface ApiClientOptions {
  readonly server: string;
  readonly token: string | undefined;
  readonly timeoutMs?: number;
  /** Hears why the client waits (a rate-limited request about to be retried). */
  readonly notify?: (message: string) => void;
  /** Waits `ms` milliseconds (tests pass a fake). */
  readonly sleep?: (ms: number) => Promise<void>;
}

/** Retries of a rate-limited request, each after the server's Retry-After. */
export const RATE_LIMIT_RETRIES = 3;
/** A longer Retry-After is not waited for: the error (with its hint) is the better answer. */
export const RATE_LIMIT_MAX_WAIT_SECONDS = 60;

const TOKEN_HINT =
  'set COUNTERSIGN_TOKEN (or pass --token, which other local users can see in the process list)';

/** A client of `server`, authenticating with `token` where a request asks for it. */
export function createApiClient(options: ApiClientOptions): ApiClient {
  const { server, token } = options;
  const timeoutMs = options.timeoutMs ?? 30_000;
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  const send = async (
    method: Parameters<ApiClient['request']>[0],
    path: string,
    body: unknown,
    auth: boolean,
  ): Promise<unknown> => {
    const headers: Record<string, string> = { accept: 'application/json' };
    if (auth && token !== undefined) headers['authorization'] = `Bearer ${token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let response: Response;
    try {
      response = await fetch(`${server}${path}`, {
        method,
        headers,
        ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        signal: AbortSignal.timeout(timeoutMs),
      });
    } catch (error) {
      throw new AppError(
        'UPSTREAM_UNAVAILABLE',
        `cannot reach the Countersign server at ${server}`,
        {
          cause: error,
          hint: 'is `countersign serve` running there? Point at it with --server or COUNTERSIGN_SERVER',
        },
      );
    }
    const text = await response.text();
    const parsed = parseJson(text);
    if (response.ok) {
      if (parsed === undefined && text !== '') {
        throw new AppError(
          'INTERNAL',
          `the server at ${server} answered ${method} ${path} with a body that is not JSON`,
        );
      }
      return parsed;
    }
    throw problemToError(response, parsed, { auth, server, method, path });
  };
  return {
    server,
    async request(method, path, { body, auth = false } = {}) {
      if (auth && token === undefined) {
        throw new AppError('UNAUTHENTICATED', 'this command needs an API token', {
          hint: TOKEN_HINT,
        });
      }
      for (let retries = 0; ; retries++) {
        try {
          return await send(method, path, body, auth);
        } catch (error) {
          const wait = isAppError(error, 'RATE_LIMITED') ? error.retryAfterSeconds : undefined;
          if (
            wait === undefined ||
            wait > RATE_LIMIT_MAX_WAIT_SECONDS ||
            retries >= RATE_LIMIT_RETRIES
          ) {
            throw error;
          }
          options.notify?.(
            `${server} is rate limiting this client; retrying ${method} ${path} in ${String(wait)} s`,
          );
          await sleep(wait * 1000);
        }
      }
    },
  };
}

/**
 * The error a failed answer means. Text from the server is shown escaped (`toDisplaySafe`): a
 * hostile or intercepted server must not write terminal escapes or bidi overrides to the user.
 */
function problemToError(
  response: Response,
  body: unknown,
  call: {
    readonly auth: boolean;
    readonly server: string;
    readonly method: string;
    readonly path: string;
  },
): AppError {
  const problem =
    typeof body === 'object' && body !== null ? (body as Record<string, unknown>) : undefined;
  const isProblem =
    problem !== undefined &&
    ((response.headers.get('content-type') ?? '').startsWith('application/problem+json') ||
      isErrorCode(problem['code']));
  if (!isProblem) {
    // Not a Countersign error document: a proxy, another service, or the wrong URL.
    return new AppError(
      'UPSTREAM_UNAVAILABLE',
      `the server at ${call.server} answered ${call.method} ${call.path} with HTTP ${String(response.status)}, not a Countersign error`,
      {
        hint: 'is --server (or COUNTERSIGN_SERVER) the URL of countersign serve, with nothing in between rewriting answers?',
      },
    );
  }
  const code = isErrorCode(problem['code']) ? problem['code'] : codeForStatus(response.status);
  const detail =
    typeof problem['detail'] === 'string'
      ? toDisplaySafe(problem['detail'])
      : `the server answered ${String(response.status)}`;
  const retryAfter = Number(response.headers.get('retry-after') ?? Number.NaN);
  const hint =
    code === 'UNAUTHENTICATED' && call.auth
      ? 'check the token: it may be mistyped, revoked or expired'
      : typeof problem['hint'] === 'string'
        ? toDisplaySafe(problem['hint'])
        : Number.isFinite(retryAfter)
          ? `retry in ${String(retryAfter)} s`
          : undefined;
  return new AppError(code, detail, {
    errors: fieldErrorsOf(problem['errors']),
    ...(hint === undefined ? {} : { hint }),
    ...(Number.isFinite(retryAfter) ? { retryAfterSeconds: retryAfter } : {}),
  });
}

function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && (ERROR_CODES as readonly string[]).includes(value);
}

function codeForStatus(status: number): ErrorCode {
  if (status === 400 || status === 413 || status === 415 || status === 422) return 'INVALID_INPUT';
  if (status === 401) return 'UNAUTHENTICATED';
  if (status === 403) return 'FORBIDDEN';
  if (status === 404) return 'NOT_FOUND';
  if (status === 409) return 'CONFLICT';
  if (status === 429) return 'RATE_LIMITED';
  if (status === 502 || status === 503 || status === 504) return 'UPSTREAM_UNAVAILABLE';
  return 'INTERNAL';
}

function fieldErrorsOf(value: unknown): FieldError[] {
  if (!Array.isArray(value)) return [];
  const errors: FieldError[] = [];
  for (const item of value.slice(0, 50)) {
    if (typeof item !== 'object' || item === null) continue;
    const { path, message, source } = item as Record<string, unknown>;
    if (typeof path !== 'string' || typeof message !== 'string') continue;
    errors.push({
      path: toDisplaySafe(path),
      message: toDisplaySafe(message),
      ...(typeof source === 'string' ? { source: toDisplaySafe(source) } : {}),
    });
  }
  return errors;
}

function parseJson(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}
