/**
 * Where `countersign sign` finds the workload's OIDC identity token, in order:
 *
 * 1. `--identity-token TOKEN` (visible in the process list: prefer the variables below);
 * 2. `COUNTERSIGN_IDENTITY_TOKEN`;
 * 3. GitHub Actions: with `permissions: id-token: write` the runner sets
 *    `ACTIONS_ID_TOKEN_REQUEST_URL` and `ACTIONS_ID_TOKEN_REQUEST_TOKEN`; a GET of the URL with
 *    `&audience=<aud>` and `Authorization: bearer <request token>` answers `{ "value": <JWT> }`.
 *    Every request mints a fresh token;
 * 4. GitLab CI: `id_tokens:` puts a token in a variable the job names; we read
 *    `COUNTERSIGN_ID_TOKEN`, then `SIGSTORE_ID_TOKEN` (the name cosign reads).
 *
 * The server accepts each token for one signing only (its `jti` is consumed), so a source that
 * cannot mint new tokens signs one file. Tokens are secrets: they never appear in a message.
 */
import { AppError } from '../core/errors.ts';

/** The `aud` requested from GitHub when neither `--audience` nor `COUNTERSIGN_AUDIENCE` is set. */
export const DEFAULT_IDENTITY_TOKEN_AUDIENCE = 'countersign';

/** Environment variables read, by source. */
export const IDENTITY_TOKEN_VARIABLES = Object.freeze({
  countersign: 'COUNTERSIGN_IDENTITY_TOKEN',
  audience: 'COUNTERSIGN_AUDIENCE',
  githubRequestUrl: 'ACTIONS_ID_TOKEN_REQUEST_URL',
  githubRequestToken: 'ACTIONS_ID_TOKEN_REQUEST_TOKEN',
  gitlab: ['COUNTERSIGN_ID_TOKEN', 'SIGSTORE_ID_TOKEN'],
} as const);

/** Upper bound on a token and on the GitHub endpoint's answer. */
const MAX_TOKEN_CHARS = 16 * 1024;
const MAX_RESPONSE_BYTES = 64 * 1024;
const GITHUB_TIMEOUT_MS = 15_000;
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

/** Where a token came from. */
export type IdentityTokenSourceKind = 'flag' | 'environment' | 'github-actions' | 'gitlab-ci';

/** A supply of identity tokens. */
export interface IdentityTokenSource {
  readonly kind: IdentityTokenSourceKind;
  /** Human description without the token, e.g. `GitHub Actions (audience countersign)`. */
  readonly description: string;
  /** True when every `next()` mints a new token (GitHub Actions); else one signing only. */
  readonly canMint: boolean;
  /**
   * A token for one signing request.
   *
   * @throws {@link AppError} INVALID_INPUT when a single token was already handed out;
   *   UNAUTHENTICATED or UPSTREAM_UNAVAILABLE when GitHub refuses or cannot be reached.
   */
  next(): Promise<string>;
}

export interface ResolveIdentityTokenOptions {
  /** `--identity-token`, when given. */
  readonly flag?: string | undefined;
  /** `--audience`, when given. */
  readonly audience?: string | undefined;
  /** The environment (the CLI's `io.env`). */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `fetch`, or a stand-in in tests. */
  readonly fetch: typeof fetch;
}

/**
 * Picks the first identity token source present (see the module comment for the order).
 *
 * @throws {@link AppError} UNAUTHENTICATED when there is none, with a hint for the CI provider
 *   the environment looks like; INVALID_INPUT when a given token is empty or not a JWT.
 */
export function resolveIdentityTokenSource(
  options: ResolveIdentityTokenOptions,
): IdentityTokenSource {
  const { env } = options;
  if (options.flag !== undefined) {
    return singleToken('flag', '--identity-token', checkToken(options.flag, '--identity-token'));
  }
  const fromEnv = nonEmpty(env[IDENTITY_TOKEN_VARIABLES.countersign]);
  if (fromEnv !== undefined) {
    const name = IDENTITY_TOKEN_VARIABLES.countersign;
    return singleToken('environment', name, checkToken(fromEnv, name));
  }
  const requestUrl = nonEmpty(env[IDENTITY_TOKEN_VARIABLES.githubRequestUrl]);
  const requestToken = nonEmpty(env[IDENTITY_TOKEN_VARIABLES.githubRequestToken]);
  if (requestUrl !== undefined && requestToken !== undefined) {
    const audience = checkAudience(
      options.audience ??
        nonEmpty(env[IDENTITY_TOKEN_VARIABLES.audience]) ??
        DEFAULT_IDENTITY_TOKEN_AUDIENCE,
    );
    return githubActionsSource(requestUrl, requestToken, audience, options.fetch);
  }
  for (const name of IDENTITY_TOKEN_VARIABLES.gitlab) {
    const value = nonEmpty(env[name]);
    if (value !== undefined) return singleToken('gitlab-ci', name, checkToken(value, name));
  }
  throw new AppError('UNAUTHENTICATED', 'no identity token found for signing', {
    hint: missingTokenHint(env),
  });
}

function missingTokenHint(env: Readonly<Record<string, string | undefined>>): string {
  if (env['GITHUB_ACTIONS'] === 'true') {
    return 'give the job `permissions: id-token: write` so GitHub Actions can mint a token';
  }
  if (env['GITLAB_CI'] === 'true') {
    return 'declare `id_tokens: COUNTERSIGN_ID_TOKEN: aud: countersign` in the GitLab CI job';
  }
  return 'in CI, run on GitHub Actions (permissions: id-token: write) or GitLab CI (id_tokens: COUNTERSIGN_ID_TOKEN); elsewhere set COUNTERSIGN_IDENTITY_TOKEN';
}

function singleToken(
  kind: IdentityTokenSourceKind,
  origin: string,
  token: string,
): IdentityTokenSource {
  let used = false;
  return {
    kind,
    description: origin,
    canMint: false,
    next() {
      if (used) {
        return Promise.reject(
          new AppError('INVALID_INPUT', `the identity token from ${origin} signs one file only`, {
            hint: 'the server accepts each token once; sign one file per token (or a checksums file)',
          }),
        );
      }
      used = true;
      return Promise.resolve(token);
    },
  };
}

function githubActionsSource(
  requestUrl: string,
  requestToken: string,
  audience: string,
  fetchImpl: typeof fetch,
): IdentityTokenSource {
  const url = githubTokenUrl(requestUrl, audience);
  return {
    kind: 'github-actions',
    description: `GitHub Actions (audience ${audience})`,
    canMint: true,
    async next() {
      let response: Response;
      try {
        response = await fetchImpl(url, {
          headers: { authorization: `bearer ${requestToken}`, accept: 'application/json' },
          redirect: 'error',
          signal: AbortSignal.timeout(GITHUB_TIMEOUT_MS),
        });
      } catch (cause) {
        throw new AppError(
          'UPSTREAM_UNAVAILABLE',
          'cannot reach the GitHub Actions token endpoint',
          { cause, hint: 'retry the job; GitHub may be having an incident' },
        );
      }
      const body = await readBoundedText(response);
      if (!response.ok) {
        const status = response.status;
        throw new AppError(
          status >= 500 || status === 429 ? 'UPSTREAM_UNAVAILABLE' : 'UNAUTHENTICATED',
          `the GitHub Actions token endpoint answered ${String(status)}`,
          { hint: 'check that the job has `permissions: id-token: write`' },
        );
      }
      let value: unknown;
      try {
        value = (JSON.parse(body ?? '') as { value?: unknown }).value;
      } catch {
        value = undefined;
      }
      if (typeof value !== 'string' || value === '') {
        throw new AppError(
          'UPSTREAM_UNAVAILABLE',
          'the GitHub Actions token endpoint did not answer with a token',
        );
      }
      return checkToken(value, 'the GitHub Actions token endpoint');
    },
  };
}

/**
 * The token request URL: the runner's URL (it already has `?api-version=…`) with `audience`.
 * The request token is a secret, so it only goes over https, or plain http to a loopback host.
 */
function githubTokenUrl(requestUrl: string, audience: string): string {
  let url: URL;
  try {
    url = new URL(requestUrl);
  } catch {
    throw new AppError(
      'INVALID_INPUT',
      `${IDENTITY_TOKEN_VARIABLES.githubRequestUrl} is not a URL`,
    );
  }
  const loopback = ['127.0.0.1', '[::1]', 'localhost'].includes(url.hostname);
  if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) {
    throw new AppError(
      'INVALID_INPUT',
      `${IDENTITY_TOKEN_VARIABLES.githubRequestUrl} must be an https URL`,
    );
  }
  url.searchParams.set('audience', audience);
  return url.toString();
}

async function readBoundedText(response: Response): Promise<string | undefined> {
  const length = Number(response.headers.get('content-length') ?? '0');
  if (length > MAX_RESPONSE_BYTES) {
    await response.body?.cancel();
    return undefined;
  }
  const text = await response.text();
  return text.length > MAX_RESPONSE_BYTES ? undefined : text;
}

function checkToken(token: string, origin: string): string {
  const trimmed = token.trim();
  if (trimmed === '') {
    throw new AppError('INVALID_INPUT', `the identity token from ${origin} is empty`);
  }
  if (trimmed.length > MAX_TOKEN_CHARS || !JWT_SHAPE.test(trimmed)) {
    throw new AppError('INVALID_INPUT', `the identity token from ${origin} is not a JWT`, {
      hint: 'pass the OIDC token itself (three base64url parts separated by dots)',
    });
  }
  return trimmed;
}

function checkAudience(audience: string): string {
  if (audience.length > 256 || !/^[\x21-\x7e]+$/.test(audience)) {
    throw new AppError('INVALID_INPUT', 'the audience must be printable ASCII without spaces', {
      errors: [{ path: '--audience', message: 'must be 1 to 256 printable ASCII characters' }],
    });
  }
  return audience;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value;
}

/**
 * The `iss` and `sub` claims of a token, read WITHOUT verifying it: for telling the user who the
 * server will be asked to trust, never for a decision. Undefined fields when unreadable.
 */
export function readUnverifiedClaims(token: string): {
  readonly issuer: string | undefined;
  readonly subject: string | undefined;
} {
  try {
    const payload = token.split('.')[1] ?? '';
    const claims = JSON.parse(Buffer.from(payload, 'base64url').toString('utf8')) as Record<
      string,
      unknown
    >;
    const text = (value: unknown) =>
      typeof value === 'string' && value.length <= 512
        ? Array.from(value, (c) => (c < ' ' || c === '\u007f' ? '?' : c)).join('')
        : undefined;
    return { issuer: text(claims['iss']), subject: text(claims['sub']) };
  } catch {
    return { issuer: undefined, subject: undefined };
  }
}
