/**
 * RFC 9457 problem details: the one shape of every error response. Translates `AppError` codes to
 * HTTP statuses exhaustively; anything that is not an `AppError` becomes a generic 500 whose
 * detail goes to the log only.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { AppError, type ErrorCode, type FieldError } from '../core/errors.ts';

/** The media type of problem responses (RFC 9457 §3). */
export const PROBLEM_CONTENT_TYPE = 'application/problem+json';

/** Base of the `type` URIs: `https://countersign.dev/problems/<kebab-code>`. */
export const PROBLEM_TYPE_BASE = 'https://countersign.dev/problems/';

interface ProblemKind {
  readonly status: number;
  readonly title: string;
}

/**
 * Status and title of each error code. Exhaustive by type: a new code does not compile until it
 * has a row here (and in `src/cli/exit-codes.ts`).
 */
export const PROBLEM_TABLE: Readonly<Record<ErrorCode, ProblemKind>> = {
  INVALID_INPUT: { status: 400, title: 'Invalid input' },
  UNAUTHENTICATED: { status: 401, title: 'Authentication required' },
  FORBIDDEN: { status: 403, title: 'Forbidden' },
  NOT_FOUND: { status: 404, title: 'Not found' },
  CONFLICT: { status: 409, title: 'Conflict' },
  POLICY_DENIED: { status: 403, title: 'Denied by policy' },
  // Not a failure: the request is accepted and waits for approvers (DESIGN.md §6 step 5).
  APPROVAL_PENDING: { status: 202, title: 'Approval pending' },
  VERIFICATION_FAILED: { status: 422, title: 'Verification failed' },
  KEY_UNAVAILABLE: { status: 503, title: 'Signing key unavailable' },
  STORAGE_UNAVAILABLE: { status: 503, title: 'Storage unavailable' },
  UPSTREAM_UNAVAILABLE: { status: 503, title: 'Upstream service unavailable' },
  RATE_LIMITED: { status: 429, title: 'Too many requests' },
  CONFIG_INVALID: { status: 500, title: 'Server misconfigured' },
  INTERNAL: { status: 500, title: 'Internal error' },
};

/** Seconds to wait before retrying when an `AppError` of these codes does not say. */
const DEFAULT_RETRY_AFTER_SECONDS: Partial<Record<ErrorCode, number>> = {
  RATE_LIMITED: 1,
  STORAGE_UNAVAILABLE: 5,
  KEY_UNAVAILABLE: 5,
  UPSTREAM_UNAVAILABLE: 5,
};

/** The body of a problem response. */
export interface ProblemDocument {
  readonly type: string;
  readonly title: string;
  readonly status: number;
  readonly detail: string;
  /** The stable Countersign error code; clients branch on this, not on `title` or `detail`. */
  readonly code: ErrorCode;
  /** The id under which the server logged this request (also in the `x-request-id` header). */
  readonly requestId: string;
  readonly errors?: readonly FieldError[];
  readonly hint?: string;
  readonly [extension: string]: unknown;
}

/** How to render one problem, beyond what its `AppError` says. */
export interface ProblemOverrides {
  /** A more precise 4xx status for INVALID_INPUT (413, 415, …) or a fixed status (readiness). */
  readonly status?: number;
  readonly title?: string;
  /** A detail known to be safe to show, even for a server fault (readiness problems are). */
  readonly detail?: string;
  /** Extension members (RFC 9457 §3.2), e.g. the readiness `checks`. */
  readonly extensions?: Readonly<Record<string, unknown>>;
}

/** A rendered problem: status, headers and body. */
export interface RenderedProblem {
  readonly status: number;
  readonly headers: Readonly<Record<string, string>>;
  readonly body: ProblemDocument;
}

/** The `type` URI of a code, e.g. `https://countersign.dev/problems/invalid-input`. */
export function problemTypeUri(code: ErrorCode): string {
  return `${PROBLEM_TYPE_BASE}${code.toLowerCase().replaceAll('_', '-')}`;
}

/**
 * Renders an `AppError` as a problem. INTERNAL and CONFIG_INVALID never show their message to the
 * client: it may name internals. Everything an `AppError` message says is safe by contract.
 */
export function renderProblem(
  error: AppError,
  requestId: string,
  overrides: ProblemOverrides = {},
): RenderedProblem {
  const kind = PROBLEM_TABLE[error.code];
  const status = overrides.status ?? kind.status;
  const isServerFault = error.code === 'INTERNAL' || error.code === 'CONFIG_INVALID';
  const headers: Record<string, string> = { 'content-type': PROBLEM_CONTENT_TYPE };
  const retryAfter = error.retryAfterSeconds ?? DEFAULT_RETRY_AFTER_SECONDS[error.code];
  if (retryAfter !== undefined) headers['retry-after'] = String(Math.max(0, Math.ceil(retryAfter)));
  if (error.code === 'UNAUTHENTICATED') headers['www-authenticate'] = 'Bearer realm="countersign"';
  const body: ProblemDocument = {
    type: problemTypeUri(error.code),
    title: overrides.title ?? kind.title,
    status,
    detail:
      overrides.detail ??
      (isServerFault
        ? 'the server failed to handle this request; its log has the details under this requestId'
        : error.message),
    code: error.code,
    requestId,
    ...(error.errors.length > 0 && !isServerFault ? { errors: error.errors } : {}),
    ...(error.hint !== undefined && !isServerFault ? { hint: error.hint } : {}),
    ...overrides.extensions,
  };
  return { status, headers, body };
}

/** Sends `error` as a problem response and logs it: server faults at error level with the cause. */
export function sendProblem(
  request: FastifyRequest,
  reply: FastifyReply,
  error: AppError,
  overrides: ProblemOverrides = {},
): FastifyReply {
  const problem = renderProblem(error, request.id, overrides);
  if (problem.status >= 500) {
    request.log.error({ err: error, code: error.code }, 'request failed');
  } else {
    request.log.info({ code: error.code, status: problem.status }, error.message);
  }
  return reply
    .code(problem.status)
    .headers({ ...problem.headers, 'x-request-id': request.id })
    .send(problem.body);
}

/** Fastify's own client-error codes, with messages of our own (theirs may echo the request). */
const FRAMEWORK_ERRORS: Readonly<
  Record<string, { readonly status: number; readonly message: string }>
> = {
  FST_ERR_CTP_INVALID_MEDIA_TYPE: {
    status: 415,
    message: 'the request body must be application/json',
  },
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: {
    status: 400,
    message: 'the Content-Length header does not match the body',
  },
  FST_ERR_CTP_EMPTY_JSON_BODY: {
    status: 400,
    message: 'the request body is empty; send a JSON object',
  },
  FST_ERR_CTP_INVALID_JSON_BODY: { status: 400, message: 'the request body is not valid JSON' },
  FST_ERR_CTP_BODY_TOO_LARGE: {
    status: 413,
    message: 'the request body is larger than this route accepts',
  },
  FST_ERR_CTP_INVALID_TYPE: { status: 400, message: 'the Content-Type header is invalid' },
  FST_ERR_BAD_URL: { status: 400, message: 'the request URL is malformed' },
  FST_ERR_MAX_PARAM_LENGTH: { status: 414, message: 'a path segment of the URL is too long' },
  FST_ERR_ASYNC_CONSTRAINT: {
    status: 400,
    message: 'the request does not satisfy the route constraints',
  },
  FST_ERR_VALIDATION: { status: 400, message: 'the request does not match the schema' },
};

const STATUS_TITLES: Readonly<Record<number, string>> = {
  413: 'Payload too large',
  414: 'URI too long',
  415: 'Unsupported media type',
};

/**
 * Classifies anything thrown while handling a request. Client mistakes the framework detects
 * (bad JSON, wrong content type, oversized body) become INVALID_INPUT with their own 4xx status,
 * never a 5xx; anything unrecognised becomes INTERNAL.
 */
export function classifyError(error: unknown): { error: AppError; overrides: ProblemOverrides } {
  if (error instanceof AppError) return { error, overrides: {} };
  if (error instanceof Error) {
    const code = 'code' in error && typeof error.code === 'string' ? error.code : undefined;
    const statusCode =
      'statusCode' in error && typeof error.statusCode === 'number' ? error.statusCode : undefined;
    const known = code === undefined ? undefined : FRAMEWORK_ERRORS[code];
    // The JSON body parser throws a SyntaxError with a 400 status and no code.
    const isJsonSyntax = error instanceof SyntaxError && statusCode === 400;
    if (known !== undefined || isJsonSyntax) {
      const status = known?.status ?? 400;
      const message = known?.message ?? 'the request body is not valid JSON';
      const title = STATUS_TITLES[status];
      return {
        error: new AppError('INVALID_INPUT', message, { cause: error }),
        overrides: { status, ...(title === undefined ? {} : { title }) },
      };
    }
    if (statusCode !== undefined && statusCode >= 400 && statusCode < 500) {
      const mapped: ErrorCode =
        statusCode === 401
          ? 'UNAUTHENTICATED'
          : statusCode === 403
            ? 'FORBIDDEN'
            : statusCode === 404
              ? 'NOT_FOUND'
              : statusCode === 429
                ? 'RATE_LIMITED'
                : 'INVALID_INPUT';
      return {
        error: new AppError(mapped, 'the request was rejected', { cause: error }),
        overrides: mapped === 'INVALID_INPUT' ? { status: statusCode } : {},
      };
    }
  }
  return { error: new AppError('INTERNAL', 'internal error', { cause: error }), overrides: {} };
}
