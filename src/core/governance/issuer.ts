/**
 * Trusted OIDC issuers (DESIGN.md §5 "Issuer"): who may present workload tokens, how their tokens
 * are checked, and where their keys live. Configuration is validated once, at load time; token
 * checks then match the configured values exactly (threat model INV-6, A8, J1, J4).
 */

import { AppError, type FieldError } from '../errors.ts';
import { ISSUER_TYPES, type IssuerType } from './workload.ts';

/**
 * JWS algorithms an issuer may be allowed to use: asymmetric only (RFC 8725 §3.1). HMAC (`HS*`)
 * and `none` are never accepted, whatever the configuration says (threat model A1, A2).
 */
export const ASYMMETRIC_JWS_ALGORITHMS = [
  'RS256',
  'RS384',
  'RS512',
  'PS256',
  'PS384',
  'PS512',
  'ES256',
  'ES384',
  'ES512',
  'EdDSA',
] as const;

export type JwsAlgorithm = (typeof ASYMMETRIC_JWS_ALGORITHMS)[number];

/** Default and ceiling for `maxTokenBytes`: tokens are capped before any parsing (threat model A12). */
export const MAX_TOKEN_BYTES = 16 * 1024;
/** Smallest `maxTokenBytes` we accept: real CI tokens are 1–3 KiB. */
export const MIN_TOKEN_BYTES = 1024;
/** Default clock leeway for `exp`/`nbf`/`iat`. */
export const DEFAULT_CLOCK_LEEWAY_SECONDS = 30;
/** Ceiling for the clock leeway (threat model A6: leeway ≤ 60 s). */
export const MAX_CLOCK_LEEWAY_SECONDS = 60;

const MAX_URL_CHARS = 2048;
const MAX_AUDIENCE_CHARS = 256;
const MAX_AUDIENCES = 16;
const ISSUER_NAME_PATTERN = /^[a-z0-9][a-z0-9-]{0,62}$/;
/** Whitespace, C0/C1 controls and DEL: never part of an issuer, URL or audience we match exactly. */
const UNSAFE_CHARS = /[\s\u0000-\u001f\u007f-\u009f]/u;

/** One trusted issuer, validated and frozen. */
export interface IssuerConfig {
  /** Short name used in governance files, logs and error messages, e.g. `github`. */
  readonly name: string;
  /** How the issuer's claims are read (see `normalizeClaims`). */
  readonly type: IssuerType;
  /** The exact `iss` value; compared byte for byte, never normalised (threat model A8). */
  readonly issuer: string;
  /** Pinned JWKS URL; keys never come from discovery documents or token headers (A3, A16). */
  readonly jwksUrl: string;
  /** Accepted `aud` values; every audience of a token must be one of them. */
  readonly audiences: readonly string[];
  /** Algorithm allowlist for this issuer, asymmetric only. */
  readonly algorithms: readonly JwsAlgorithm[];
  /** Tokens longer than this are rejected before parsing. At most `MAX_TOKEN_BYTES`. */
  readonly maxTokenBytes: number;
  /** Tolerance for `exp`, `nbf` and `iat`, 0–60 seconds. */
  readonly clockLeewaySeconds: number;
  /**
   * Development only: allow an `http://` issuer and JWKS URL on a loopback address
   * (127.0.0.0/8, ::1, localhost). Never set it in production.
   */
  readonly allowInsecureLoopback: boolean;
}

const ISSUER_CONFIG_KEYS: ReadonlySet<string> = new Set([
  'name',
  'type',
  'issuer',
  'jwksUrl',
  'audiences',
  'algorithms',
  'maxTokenBytes',
  'clockLeewaySeconds',
  'allowInsecureLoopback',
]);

/**
 * True when `host` names the loopback interface: `localhost`, an address in 127.0.0.0/8, or `::1`
 * (with or without brackets). Other spellings (decimal, hex, IPv4-mapped) are not recognised and
 * so are treated as non-loopback, which fails safe.
 */
export function isLoopbackHost(host: string): boolean {
  const bare = host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host;
  if (bare === 'localhost' || bare === '::1') return true;
  const octets = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(bare);
  return octets !== null && octets.slice(1).every((octet) => Number(octet) <= 255);
}

/**
 * True when `host` is a literal link-local or unspecified address (169.254.0.0/16, 0.0.0.0/8,
 * fe80::/10, ::): cloud metadata services live there and no real issuer does (threat model J1).
 */
export function isLinkLocalOrUnspecifiedHost(host: string): boolean {
  const bare = (
    host.startsWith('[') && host.endsWith(']') ? host.slice(1, -1) : host
  ).toLowerCase();
  if (bare === '::' || /^fe[89ab][0-9a-f]?:/.test(bare)) return true;
  return /^169\.254\.\d{1,3}\.\d{1,3}$/.test(bare) || /^0\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(bare);
}

function joinPath(path: string, key: string): string {
  return path === '' ? key : `${path}.${key}`;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Problems with a URL that must be fetched or matched exactly, or `undefined` when it is fine. */
function checkUrl(
  value: string,
  options: { allowInsecureLoopback: boolean; allowQuery: boolean },
): string | undefined {
  if (value.length > MAX_URL_CHARS) return `must be at most ${MAX_URL_CHARS} characters`;
  if (UNSAFE_CHARS.test(value)) return 'must not contain whitespace or control characters';
  if (!URL.canParse(value)) return 'must be an absolute URL';
  const url = new URL(value);
  if (url.protocol !== 'https:' && url.protocol !== 'http:') return 'must be an https:// URL';
  if (url.username !== '' || url.password !== '') return 'must not contain credentials';
  if (value.includes('#')) return 'must not contain a fragment';
  if (!options.allowQuery && value.includes('?')) return 'must not contain a query';
  if (isLinkLocalOrUnspecifiedHost(url.hostname)) {
    return 'must not point at a link-local or unspecified address';
  }
  const isLoopback = isLoopbackHost(url.hostname);
  if (isLoopback && !options.allowInsecureLoopback) {
    return 'points at a loopback address, which is allowed only with allowInsecureLoopback (development)';
  }
  if (url.protocol === 'http:' && !isLoopback) return 'must be an https:// URL';
  return undefined;
}

/**
 * Validates one issuer entry of a governance file and fills in defaults. Reports every problem at
 * once; unknown keys are errors so a typo never silently weakens a check.
 *
 * @param input - the parsed entry (untrusted: comes from a file an operator edits)
 * @param path - config path of the entry for error reports, e.g. `issuers[0]`
 * @returns a frozen `IssuerConfig`
 * @throws AppError CONFIG_INVALID with one `FieldError` per problem
 *
 * @example
 * validateIssuerConfig({
 *   name: 'github', type: 'github-actions',
 *   issuer: 'https://token.actions.githubusercontent.com',
 *   jwksUrl: 'https://token.actions.githubusercontent.com/.well-known/jwks',
 *   audiences: ['countersign'], algorithms: ['RS256'],
 * }, 'issuers[0]');
 */
export function validateIssuerConfig(input: unknown, path = ''): IssuerConfig {
  const errors: FieldError[] = [];
  const report = (key: string, message: string): void => {
    errors.push({ path: joinPath(path, key), message });
  };
  if (!isRecord(input)) {
    throw new AppError('CONFIG_INVALID', 'issuer configuration is invalid', {
      errors: [{ path: path === '' ? '/' : path, message: 'must be an object' }],
    });
  }
  for (const key of Object.keys(input)) {
    if (!ISSUER_CONFIG_KEYS.has(key)) report(key, 'is not a known issuer setting');
  }

  const allowInsecureLoopback = input['allowInsecureLoopback'] ?? false;
  if (typeof allowInsecureLoopback !== 'boolean') {
    report('allowInsecureLoopback', 'must be true or false');
  }
  const loopbackAllowed = allowInsecureLoopback === true;

  const name = input['name'];
  if (typeof name !== 'string' || !ISSUER_NAME_PATTERN.test(name)) {
    report(
      'name',
      'must be 1-63 lowercase letters, digits or "-", starting with a letter or digit',
    );
  }

  const type = input['type'];
  if (typeof type !== 'string' || !(ISSUER_TYPES as readonly string[]).includes(type)) {
    report('type', `must be one of ${ISSUER_TYPES.join(', ')}`);
  }

  const issuer = input['issuer'];
  if (typeof issuer !== 'string' || issuer === '') {
    report('issuer', 'must be the exact `iss` value of the issuer’s tokens');
  } else {
    const problem = checkUrl(issuer, { allowInsecureLoopback: loopbackAllowed, allowQuery: false });
    if (problem !== undefined) report('issuer', problem);
  }

  const jwksUrl = input['jwksUrl'];
  if (typeof jwksUrl !== 'string' || jwksUrl === '') {
    report('jwksUrl', 'must be the pinned URL of the issuer’s JSON Web Key Set');
  } else {
    const problem = checkUrl(jwksUrl, { allowInsecureLoopback: loopbackAllowed, allowQuery: true });
    if (problem !== undefined) report('jwksUrl', problem);
  }

  const audiences = input['audiences'];
  if (!Array.isArray(audiences) || audiences.length === 0 || audiences.length > MAX_AUDIENCES) {
    report('audiences', `must be a list of 1-${MAX_AUDIENCES} audience strings`);
  } else {
    const seen = new Set<string>();
    audiences.forEach((audience: unknown, index) => {
      const key = `audiences[${index}]`;
      if (typeof audience !== 'string' || audience === '')
        report(key, 'must be a non-empty string');
      else if (audience.length > MAX_AUDIENCE_CHARS) {
        report(key, `must be at most ${MAX_AUDIENCE_CHARS} characters`);
      } else if (UNSAFE_CHARS.test(audience)) {
        report(key, 'must not contain whitespace or control characters');
      } else if (seen.has(audience)) report(key, 'is listed twice');
      else seen.add(audience);
    });
  }

  const algorithms = input['algorithms'];
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    report(
      'algorithms',
      `must list the allowed algorithms (${ASYMMETRIC_JWS_ALGORITHMS.join(', ')})`,
    );
  } else {
    const seen = new Set<string>();
    algorithms.forEach((algorithm: unknown, index) => {
      const key = `algorithms[${index}]`;
      if (typeof algorithm !== 'string') report(key, 'must be a string');
      else if (!(ASYMMETRIC_JWS_ALGORITHMS as readonly string[]).includes(algorithm)) {
        // HS* would let anyone holding the (public) verification key mint tokens; none is no
        // signature at all. Neither can be switched on (threat model A1, A2).
        report(
          key,
          `${JSON.stringify(algorithm)} is not allowed: only asymmetric algorithms (${ASYMMETRIC_JWS_ALGORITHMS.join(', ')}) are accepted`,
        );
      } else if (seen.has(algorithm)) report(key, 'is listed twice');
      else seen.add(algorithm);
    });
  }

  const maxTokenBytes = input['maxTokenBytes'] ?? MAX_TOKEN_BYTES;
  if (
    typeof maxTokenBytes !== 'number' ||
    !Number.isInteger(maxTokenBytes) ||
    maxTokenBytes < MIN_TOKEN_BYTES ||
    maxTokenBytes > MAX_TOKEN_BYTES
  ) {
    report('maxTokenBytes', `must be an integer from ${MIN_TOKEN_BYTES} to ${MAX_TOKEN_BYTES}`);
  }

  const clockLeewaySeconds = input['clockLeewaySeconds'] ?? DEFAULT_CLOCK_LEEWAY_SECONDS;
  if (
    typeof clockLeewaySeconds !== 'number' ||
    !Number.isInteger(clockLeewaySeconds) ||
    clockLeewaySeconds < 0 ||
    clockLeewaySeconds > MAX_CLOCK_LEEWAY_SECONDS
  ) {
    report('clockLeewaySeconds', `must be an integer from 0 to ${MAX_CLOCK_LEEWAY_SECONDS}`);
  }

  if (errors.length > 0) {
    throw new AppError('CONFIG_INVALID', 'issuer configuration is invalid', { errors });
  }
  return Object.freeze({
    name: name as string,
    type: type as IssuerType,
    issuer: issuer as string,
    jwksUrl: jwksUrl as string,
    audiences: Object.freeze([...(audiences as string[])]),
    algorithms: Object.freeze([...(algorithms as JwsAlgorithm[])]),
    maxTokenBytes: maxTokenBytes as number,
    clockLeewaySeconds: clockLeewaySeconds as number,
    allowInsecureLoopback: loopbackAllowed,
  });
}
