/**
 * JWKS cache: each trusted issuer's JSON Web Key Set, fetched from its pinned URL and kept in
 * memory (DESIGN.md §8: parse keys once). Everything a JWKS endpoint sends is untrusted: the
 * fetch is bounded in time and size, follows no redirects, refuses link-local and (unless the
 * issuer is a development one) loopback addresses after DNS resolution, and the body must be a
 * set of asymmetric public keys (threat model A14, A15, I11, J1, J3).
 *
 * Refresh rules: a set older than `refreshAfterSeconds` is fetched again; a token naming a key
 * the set lacks triggers a refresh at most once per `minRefreshIntervalSeconds` per issuer; a
 * refresh replaces the whole set (a key removed by the issuer is gone at once, never merged);
 * when a refresh fails the last good set is used until it is `maxStaleSeconds` old, then the
 * issuer fails closed. Concurrent refreshes of one issuer share one request.
 */

import { lookup as dnsLookup, type LookupAddress } from 'node:dns';
import { request as httpRequest, type IncomingMessage } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { isIP, type LookupFunction } from 'node:net';
import { createLocalJWKSet, importJWK, type JSONWebKeySet, type JWK, type LocalJWKSet } from 'jose';
import { AppError } from '../../core/errors.ts';
import {
  ASYMMETRIC_JWS_ALGORITHMS,
  isLinkLocalOrUnspecifiedHost,
  isLoopbackHost,
  type IssuerConfig,
} from '../../core/governance/issuer.ts';
import type { Clock } from '../../core/ports.ts';

export const DEFAULT_JWKS_TIMEOUT_MS = 5_000;
export const DEFAULT_JWKS_MAX_BYTES = 256 * 1024;
export const DEFAULT_JWKS_MAX_KEYS = 64;
export const DEFAULT_JWKS_REFRESH_AFTER_SECONDS = 300;
export const DEFAULT_JWKS_MIN_REFRESH_INTERVAL_SECONDS = 30;
export const DEFAULT_JWKS_MAX_STALE_SECONDS = 3_600;

/** Media types a JWKS may be served as (RFC 7517 §8.5.2, and plain JSON as most issuers do). */
const JWKS_MEDIA_TYPES: ReadonlySet<string> = new Set([
  'application/json',
  'application/jwk-set+json',
]);
/** JWK members that carry private or symmetric key material (RFC 7518 §6). */
const SECRET_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;
const EC_CURVES: Readonly<Record<string, string>> = {
  'P-256': 'ES256',
  'P-384': 'ES384',
  'P-521': 'ES512',
};
const MAX_KID_CHARS = 256;

export interface JwksCacheOptions {
  readonly clock: Clock;
  /** Deadline for one fetch, connection to last byte. */
  readonly timeoutMs?: number;
  /** Largest accepted response body, enforced while streaming. */
  readonly maxResponseBytes?: number;
  /** Most keys a set may hold. */
  readonly maxKeys?: number;
  /** Age after which a set is fetched again before use. */
  readonly refreshAfterSeconds?: number;
  /** At most one fetch per issuer per this many seconds (unknown `kid`, or after a failure). */
  readonly minRefreshIntervalSeconds?: number;
  /** How long the last good set may be used while refreshes fail. */
  readonly maxStaleSeconds?: number;
}

/** Resolves the verification key for a token header; jose's local JWKS function. */
export type JwksKeyResolver = LocalJWKSet;

/** One fetched key set. */
export interface JwksKeys {
  readonly resolve: JwksKeyResolver;
  readonly keyCount: number;
  readonly fetchedAt: Date;
}

export interface JwksCache {
  /**
   * The issuer's current key set, fetched or refreshed first when missing or old.
   * @throws AppError UNAUTHENTICATED when no usable set is available (the message says why)
   */
  getKeys(issuer: IssuerConfig): Promise<JwksKeys>;
  /**
   * Fetches the set again because a token named a key it lacks. Rate-limited per issuer.
   * @returns true when a new set was loaded, false when rate-limited or the fetch failed
   */
  refreshForUnknownKey(issuer: IssuerConfig): Promise<boolean>;
}

interface IssuerState {
  current: JwksKeys | undefined;
  lastAttemptAt: number | undefined;
  lastError: AppError | undefined;
  inflight: Promise<JwksKeys> | undefined;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function problem(message: string, cause?: unknown): AppError {
  return new AppError('UNAUTHENTICATED', message, cause === undefined ? {} : { cause });
}

/** The public members we keep of one usable signing key, or undefined when it is not one. */
function sanitizeKey(value: unknown, index: number): JWK | undefined {
  if (!isRecord(value)) throw problem(`the key set entry ${index} is not an object`);
  const { kty, kid, use, alg } = value;
  if (typeof kty !== 'string') throw problem(`the key set entry ${index} has no key type (kty)`);
  // A symmetric or private key in a *public* key set is a misconfiguration or an attack
  // (HMAC confusion, threat model A2): refuse the whole set rather than skip the entry.
  if (kty === 'oct') throw problem('the key set contains a symmetric (oct) key');
  if (SECRET_MEMBERS.some((member) => Object.hasOwn(value, member))) {
    throw problem('the key set contains private key material');
  }
  if (kid !== undefined && (typeof kid !== 'string' || kid.length > MAX_KID_CHARS)) {
    throw problem(`the key set entry ${index} has a malformed key id (kid)`);
  }
  if (alg !== undefined && typeof alg !== 'string') {
    throw problem(`the key set entry ${index} has a malformed algorithm (alg)`);
  }
  // Encryption keys and algorithms we never verify with are not errors, just not ours to use.
  if (use !== undefined && use !== 'sig') return undefined;
  if (alg !== undefined && !(ASYMMETRIC_JWS_ALGORITHMS as readonly string[]).includes(alg)) {
    return undefined;
  }
  const keyOps = value['key_ops'];
  if (keyOps !== undefined && !(Array.isArray(keyOps) && keyOps.includes('verify'))) {
    return undefined;
  }
  const common = {
    ...(typeof kid === 'string' ? { kid } : {}),
    ...(typeof alg === 'string' ? { alg } : {}),
    use: 'sig',
  };
  const member = (name: string): string => {
    const member = value[name];
    if (typeof member !== 'string' || member === '') {
      throw problem(`the key set entry ${index} lacks its ${name} member`);
    }
    return member;
  };
  switch (kty) {
    case 'RSA':
      if (alg !== undefined && !/^(?:RS|PS)/.test(alg)) return undefined;
      return { kty, n: member('n'), e: member('e'), ...common };
    case 'EC': {
      const crv = member('crv');
      const curveAlg = EC_CURVES[crv];
      if (curveAlg === undefined || (alg !== undefined && alg !== curveAlg)) return undefined;
      return { kty, crv, x: member('x'), y: member('y'), ...common };
    }
    case 'OKP': {
      const crv = member('crv');
      if (crv !== 'Ed25519' || (alg !== undefined && alg !== 'EdDSA')) return undefined;
      return { kty, crv, x: member('x'), ...common };
    }
    default:
      return undefined;
  }
}

/**
 * Checks a parsed JWKS document (untrusted) and keeps only the public members of its usable
 * asymmetric signing keys.
 *
 * @throws AppError UNAUTHENTICATED when it is not a key set, holds more than `maxKeys` keys,
 *   contains symmetric or private key material, or has no usable signing key
 */
export function parseJwks(document: unknown, maxKeys = DEFAULT_JWKS_MAX_KEYS): JSONWebKeySet {
  if (!isRecord(document) || !Array.isArray(document['keys'])) {
    throw problem('the key set is not a JSON Web Key Set (no "keys" array)');
  }
  const entries: unknown[] = document['keys'];
  if (entries.length > maxKeys) throw problem(`the key set holds more than ${maxKeys} keys`);
  const keys = entries
    .map((entry, index) => sanitizeKey(entry, index))
    .filter((key): key is JWK => key !== undefined);
  if (keys.length === 0) throw problem('the key set contains no usable signing key');
  return { keys };
}

/** The algorithm to trial-import a key with when the set does not name one. */
function importAlgorithm(key: JWK): string {
  if (key.alg !== undefined) return key.alg;
  if (key.kty === 'RSA') return 'RS256';
  if (key.kty === 'OKP') return 'EdDSA';
  return EC_CURVES[key.crv ?? ''] ?? 'ES256';
}

function isForbiddenAddress(address: string, allowLoopback: boolean): boolean {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(address);
  const plain = mapped?.[1] ?? address;
  if (isLinkLocalOrUnspecifiedHost(plain)) return true;
  return isLoopbackHost(plain) && !allowLoopback;
}

/**
 * DNS lookup that refuses link-local/unspecified addresses, and loopback unless allowed. The
 * socket connects to the address checked here, so a rebinding DNS answer cannot swap it (J3).
 */
function createGuardedLookup(allowLoopback: boolean): LookupFunction {
  return (hostname, options, callback) => {
    dnsLookup(hostname, { ...options, all: true }, (error, addresses: LookupAddress[]) => {
      if (error !== null) {
        callback(error, '', 0);
        return;
      }
      const first = addresses[0];
      if (
        first === undefined ||
        addresses.some((a) => isForbiddenAddress(a.address, allowLoopback))
      ) {
        const refused = Object.assign(new Error('refused address'), { code: 'EADDRREFUSED' });
        callback(refused, '', 0);
        return;
      }
      if (options.all === true) callback(null, addresses);
      else callback(null, first.address, first.family);
    });
  };
}

interface FetchLimits {
  readonly timeoutMs: number;
  readonly maxBytes: number;
  readonly allowLoopback: boolean;
}

/** The media type of a Content-Type header, lower-cased, without parameters. */
function mediaType(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/** GETs `url` and parses the body as JSON, within the limits. Rejects with a safe message. */
function fetchJsonDocument(url: URL, limits: FetchLimits): Promise<unknown> {
  // Literal IP hosts never reach the DNS lookup guard, so check them here.
  const literal = url.hostname.replace(/^\[(.*)\]$/, '$1');
  if (isIP(literal) !== 0 && isForbiddenAddress(literal, limits.allowLoopback)) {
    return Promise.reject(
      problem('the key set URL points at a forbidden (loopback or link-local) address'),
    );
  }
  return new Promise((resolve, reject) => {
    let settled = false;
    const settle = (error: AppError | undefined, value?: unknown): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      if (error === undefined) resolve(value);
      else {
        reject(error);
        request.destroy();
      }
    };
    const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
    const request = send(url, {
      method: 'GET',
      headers: {
        accept: 'application/jwk-set+json, application/json',
        'user-agent': 'countersign',
      },
      agent: false,
      lookup: createGuardedLookup(limits.allowLoopback),
    });
    const timer = setTimeout(() => {
      settle(problem(`the key set request timed out after ${limits.timeoutMs} ms`));
    }, limits.timeoutMs);

    request.on('error', (error: NodeJS.ErrnoException) => {
      const code = typeof error.code === 'string' ? ` (${error.code})` : '';
      const reason =
        error.code === 'EADDRREFUSED'
          ? 'the key set URL resolves to a forbidden (loopback or link-local) address'
          : `the key set could not be fetched${code}`;
      settle(problem(reason, error));
    });
    request.on('response', (response: IncomingMessage) => {
      const status = response.statusCode ?? 0;
      if (status >= 300 && status < 400) {
        settle(
          problem(
            `the key set URL answered with a redirect (${status}); redirects are not followed, configure the final URL`,
          ),
        );
        return;
      }
      if (status !== 200) {
        settle(problem(`the key set URL answered with status ${status}`));
        return;
      }
      const type = mediaType(response.headers['content-type']);
      if (!JWKS_MEDIA_TYPES.has(type)) {
        // Echo the media type only when it is a plain token: the header is remote input.
        const shown = /^[a-z0-9.+-]+\/[a-z0-9.+-]+$/.test(type) ? type : 'not JSON';
        settle(problem(`the key set response has content-type ${shown}, not JSON`));
        return;
      }
      const declared = Number(response.headers['content-length'] ?? '0');
      if (declared > limits.maxBytes) {
        settle(problem(`the key set response exceeds ${limits.maxBytes} bytes`));
        return;
      }
      const chunks: Buffer[] = [];
      let size = 0;
      response.on('data', (chunk: Buffer) => {
        size += chunk.length;
        if (size > limits.maxBytes) {
          settle(problem(`the key set response exceeds ${limits.maxBytes} bytes`));
          return;
        }
        chunks.push(chunk);
      });
      response.on('error', (error) => {
        settle(problem('the key set response was cut off', error));
      });
      response.on('close', () => {
        settle(problem('the key set response was cut off'));
      });
      response.on('end', () => {
        let document: unknown;
        try {
          const text = new TextDecoder('utf-8', { fatal: true }).decode(Buffer.concat(chunks));
          document = JSON.parse(text);
        } catch (error) {
          settle(problem('the key set response is not valid JSON', error));
          return;
        }
        settle(undefined, document);
      });
    });
    request.end();
  });
}

/**
 * Creates a JWKS cache. Timers are real (network deadlines); ages and rate limits use `clock`.
 */
export function createJwksCache(options: JwksCacheOptions): JwksCache {
  const { clock } = options;
  const limits = {
    timeoutMs: options.timeoutMs ?? DEFAULT_JWKS_TIMEOUT_MS,
    maxBytes: options.maxResponseBytes ?? DEFAULT_JWKS_MAX_BYTES,
  };
  const maxKeys = options.maxKeys ?? DEFAULT_JWKS_MAX_KEYS;
  const refreshAfterMs = (options.refreshAfterSeconds ?? DEFAULT_JWKS_REFRESH_AFTER_SECONDS) * 1000;
  const minRefreshMs =
    (options.minRefreshIntervalSeconds ?? DEFAULT_JWKS_MIN_REFRESH_INTERVAL_SECONDS) * 1000;
  const maxStaleMs = (options.maxStaleSeconds ?? DEFAULT_JWKS_MAX_STALE_SECONDS) * 1000;
  /** Keyed by the exact `iss`: keys belong to (issuer, kid), never to a kid alone (INV-6). */
  const states = new Map<string, IssuerState>();

  const stateOf = (issuer: IssuerConfig): IssuerState => {
    let state = states.get(issuer.issuer);
    if (state === undefined) {
      state = {
        current: undefined,
        lastAttemptAt: undefined,
        lastError: undefined,
        inflight: undefined,
      };
      states.set(issuer.issuer, state);
    }
    return state;
  };

  const describe = (issuer: IssuerConfig, error: unknown): AppError => {
    const reason = error instanceof AppError ? error.message : 'the key set could not be loaded';
    return new AppError(
      'UNAUTHENTICATED',
      `cannot verify tokens from issuer ${issuer.name}: ${reason}`,
      {
        cause: error,
      },
    );
  };

  const load = async (issuer: IssuerConfig): Promise<JwksKeys> => {
    const document = await fetchJsonDocument(new URL(issuer.jwksUrl), {
      ...limits,
      allowLoopback: issuer.allowInsecureLoopback,
    });
    const jwks = parseJwks(document, maxKeys);
    // Import every key once now, so a malformed key fails the fetch, not a later request.
    for (const key of jwks.keys) {
      try {
        await importJWK(key, importAlgorithm(key));
      } catch (error) {
        throw problem('the key set contains a key that cannot be imported', error);
      }
    }
    return {
      resolve: createLocalJWKSet(jwks),
      keyCount: jwks.keys.length,
      fetchedAt: clock.now(),
    };
  };

  /** Starts (or joins) a fetch; on success the new set replaces the old one whole. */
  const refresh = (issuer: IssuerConfig, state: IssuerState): Promise<JwksKeys> => {
    if (state.inflight !== undefined) return state.inflight;
    state.lastAttemptAt = clock.now().getTime();
    const inflight = load(issuer).then(
      (keys) => {
        state.current = keys;
        state.lastError = undefined;
        state.inflight = undefined;
        return keys;
      },
      (error: unknown) => {
        const failure = describe(issuer, error);
        state.lastError = failure;
        state.inflight = undefined;
        throw failure;
      },
    );
    state.inflight = inflight;
    return inflight;
  };

  const isUsable = (keys: JwksKeys | undefined, now: number): keys is JwksKeys =>
    keys !== undefined && now - keys.fetchedAt.getTime() < maxStaleMs;

  const mayAttempt = (state: IssuerState, now: number): boolean =>
    state.lastAttemptAt === undefined || now - state.lastAttemptAt >= minRefreshMs;

  return {
    async getKeys(issuer) {
      const state = stateOf(issuer);
      const now = clock.now().getTime();
      const { current } = state;
      if (current !== undefined && now - current.fetchedAt.getTime() < refreshAfterMs) {
        return current;
      }
      if (state.inflight !== undefined || mayAttempt(state, now)) {
        try {
          return await refresh(issuer, state);
        } catch (error) {
          // Last known good: an issuer outage does not stop signing at once, but only for a
          // bounded time after which we fail closed (threat model A15, FT-7).
          if (isUsable(current, clock.now().getTime())) return current;
          throw error;
        }
      }
      if (isUsable(current, now)) return current;
      throw state.lastError ?? describe(issuer, undefined);
    },

    async refreshForUnknownKey(issuer) {
      const state = stateOf(issuer);
      if (state.inflight === undefined && !mayAttempt(state, clock.now().getTime())) return false;
      try {
        await refresh(issuer, state);
        return true;
      } catch {
        return false;
      }
    },
  };
}
