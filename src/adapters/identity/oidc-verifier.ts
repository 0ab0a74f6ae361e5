/**
 * Workload-token verifier (DESIGN.md §6 step 1, threat model INV-6 and §2.A). The token is
 * attacker-controlled from its first byte: it is size-capped before parsing, its header is
 * checked by us before jose sees it (no `none`, no HMAC, no header-supplied keys, no `crit`),
 * its issuer is found by exact `iss` match, its signature is checked only with that issuer's
 * pinned keys and algorithms, its times with a small leeway, its claims are normalised per issuer
 * type, and a `sign` token's `jti` is consumed once.
 */

import { errors as joseErrors, jwtVerify, type JWTPayload, type JWTVerifyOptions } from 'jose';
import { AppError, isAppError } from '../../core/errors.ts';
import {
  ASYMMETRIC_JWS_ALGORITHMS,
  validateIssuerConfig,
  type IssuerConfig,
  type JwsAlgorithm,
} from '../../core/governance/issuer.ts';
import { normalizeClaims } from '../../core/governance/normalize-claims.ts';
import type { Workload } from '../../core/governance/workload.ts';
import type { Clock, TokenIdStore, TokenPurpose, WorkloadVerifier } from '../../core/ports.ts';
import { createJwksCache, type JwksCacheOptions, type JwksKeyResolver } from './jwks-cache.ts';

/** Longest accepted token lifetime (`exp - iat`) by default: CI tokens live minutes to an hour. */
export const DEFAULT_MAX_TOKEN_LIFETIME_SECONDS = 24 * 60 * 60;

/** Compact JWS: exactly three base64url segments; anything else is refused before splitting (A12). */
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;
/** Header parameters that carry or point at a key: keys come only from the pinned JWKS (A3). */
const HEADER_KEY_PARAMETERS = ['jwk', 'jku', 'x5u', 'x5c'] as const;
/** Header parameters of features we do not support and must not half-support. */
const UNSUPPORTED_HEADER_PARAMETERS = ['crit', 'b64', 'zip', 'enc'] as const;
const MAX_KID_CHARS = 256;
const PRINTABLE_ASCII = /^[\u0020-\u007e]+$/;
const MAX_TOKEN_ID_CHARS = 256;

export interface OidcVerifierOptions {
  /** The trusted issuers; each is validated again here. */
  readonly issuers: readonly IssuerConfig[];
  readonly clock: Clock;
  /** Where `sign` tokens' ids are consumed. */
  readonly tokenIds: TokenIdStore;
  /** JWKS fetch and refresh limits (the clock is the verifier's). */
  readonly jwks?: Omit<JwksCacheOptions, 'clock'>;
  /** Tokens whose `exp - iat` exceeds this are refused as far-future tokens. */
  readonly maxTokenLifetimeSeconds?: number;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function reject(message: string, cause?: unknown): AppError {
  return new AppError('UNAUTHENTICATED', message, cause === undefined ? {} : { cause });
}

/** Decodes one base64url JSON segment into an object; the segment is attacker-controlled. */
function decodeSegment(segment: string, what: 'header' | 'payload'): Record<string, unknown> {
  let value: unknown;
  try {
    const text = new TextDecoder('utf-8', { fatal: true }).decode(
      Buffer.from(segment, 'base64url'),
    );
    value = JSON.parse(text);
  } catch (error) {
    throw reject(`the token ${what} is not valid base64url JSON`, error);
  }
  if (!isRecord(value)) throw reject(`the token ${what} is not a JSON object`);
  return value;
}

/** Checks the protected header before any key is looked up; returns its algorithm. */
function checkHeader(header: Record<string, unknown>): JwsAlgorithm {
  const { alg, kid } = header;
  if (typeof alg !== 'string' || alg === '') throw reject('the token header lacks an algorithm');
  if (alg.toLowerCase() === 'none') throw reject('unsigned tokens (alg "none") are not accepted');
  if (!(ASYMMETRIC_JWS_ALGORITHMS as readonly string[]).includes(alg)) {
    // Name the algorithm only when it is a registered HMAC one; other values are arbitrary text.
    const shown = /^HS(?:256|384|512)$/.test(alg) ? ` ${alg} (symmetric)` : '';
    throw reject(
      `the token algorithm${shown} is not allowed: only asymmetric signatures are accepted`,
    );
  }
  for (const parameter of HEADER_KEY_PARAMETERS) {
    if (Object.hasOwn(header, parameter)) {
      throw reject(
        `the token header carries its own key (${parameter}); keys come only from the issuer's pinned key set`,
      );
    }
  }
  for (const parameter of UNSUPPORTED_HEADER_PARAMETERS) {
    if (Object.hasOwn(header, parameter)) {
      throw reject(`the token header uses the unsupported parameter ${parameter}`);
    }
  }
  if (
    kid !== undefined &&
    (typeof kid !== 'string' || kid.length > MAX_KID_CHARS || !PRINTABLE_ASCII.test(kid))
  ) {
    throw reject('the token key id (kid) is malformed');
  }
  return alg as JwsAlgorithm;
}

/** Translates a jose failure into a specific message that never echoes token content. */
function describeJoseError(issuer: IssuerConfig, error: unknown): AppError {
  const from = `token from issuer ${issuer.name}`;
  if (error instanceof joseErrors.JWTExpired) return reject(`${from} has expired`, error);
  if (error instanceof joseErrors.JWTClaimValidationFailed) {
    const claim = error.claim;
    if (error.reason === 'missing') return reject(`${from} lacks required claim ${claim}`, error);
    if (error.reason === 'invalid') {
      return reject(`${from} has claim ${claim} of the wrong type`, error);
    }
    switch (claim) {
      case 'nbf':
        return reject(`${from} is not yet valid (nbf is in the future)`, error);
      case 'iat':
        return reject(`${from} was issued in the future (iat)`, error);
      case 'aud':
        return reject(`${from} is not meant for this service (audience not accepted)`, error);
      case 'iss':
        return reject(`${from} names another issuer`, error);
      default:
        return reject(`${from} has an unacceptable claim ${claim}`, error);
    }
  }
  if (error instanceof joseErrors.JWSSignatureVerificationFailed) {
    return reject(`${from} has an invalid signature`, error);
  }
  if (error instanceof joseErrors.JOSEAlgNotAllowed) {
    return reject(`${from} uses an algorithm the issuer is not allowed`, error);
  }
  if (error instanceof joseErrors.JWTInvalid || error instanceof joseErrors.JWSInvalid) {
    return reject(`${from} is malformed`, error);
  }
  if (error instanceof joseErrors.JOSENotSupported) {
    return reject(`${from} uses an unsupported key or algorithm`, error);
  }
  return reject(`${from} could not be verified`, error);
}

/** A JSON NumericDate we accept: a finite integer (threat model A6: no NaN, 1e400, fractions). */
function readSeconds(claims: JWTPayload, name: 'exp' | 'iat' | 'nbf'): number | undefined {
  const value = claims[name];
  if (value === undefined) return undefined;
  if (typeof value !== 'number' || !Number.isSafeInteger(value)) {
    throw reject(`the token claim ${name} is not an integer number of seconds`);
  }
  return value;
}

/**
 * Creates the workload-token verifier.
 *
 * @throws AppError CONFIG_INVALID when an issuer is invalid, or two issuers share a name or `iss`
 *
 * `verify` throws AppError UNAUTHENTICATED for every unacceptable token (malformed, oversized,
 * unknown issuer, disallowed algorithm or header, bad signature, unknown key, expired, not yet
 * valid, far-future, wrong audience, missing or malformed claims, replayed or missing `jti` for
 * `sign`), and passes through STORAGE_UNAVAILABLE / RATE_LIMITED from the token-id store.
 */
export function createOidcVerifier(options: OidcVerifierOptions): WorkloadVerifier {
  const { clock, tokenIds } = options;
  const maxLifetime = options.maxTokenLifetimeSeconds ?? DEFAULT_MAX_TOKEN_LIFETIME_SECONDS;
  const byIssuer = new Map<string, IssuerConfig>();
  const names = new Set<string>();
  options.issuers.forEach((input, index) => {
    const issuer = validateIssuerConfig(input, `issuers[${index}]`);
    if (byIssuer.has(issuer.issuer) || names.has(issuer.name)) {
      throw new AppError('CONFIG_INVALID', 'issuer configuration is invalid', {
        errors: [
          { path: `issuers[${index}]`, message: 'repeats the name or issuer of another entry' },
        ],
      });
    }
    byIssuer.set(issuer.issuer, issuer);
    names.add(issuer.name);
  });
  // Before we know the issuer, the largest per-issuer cap applies; after, the issuer's own.
  const globalMaxBytes = Math.max(0, ...[...byIssuer.values()].map((i) => i.maxTokenBytes));
  const jwks = createJwksCache({ ...options.jwks, clock });
  const recentlyVerified = createVerifiedTokens();

  /** Signature and registered-claim checks by jose, with one rate-limited refresh on unknown kid. */
  const verifySignature = async (
    issuer: IssuerConfig,
    token: string,
    now: Date,
  ): Promise<JWTPayload> => {
    const verifyOptions: JWTVerifyOptions = {
      algorithms: [...issuer.algorithms],
      issuer: issuer.issuer,
      audience: [...issuer.audiences],
      clockTolerance: issuer.clockLeewaySeconds,
      currentDate: now,
      requiredClaims: ['exp', 'iat', 'sub'],
    };
    const attempt = async (resolve: JwksKeyResolver): Promise<JWTPayload> => {
      try {
        return (await jwtVerify(token, resolve, verifyOptions)).payload;
      } catch (error) {
        if (!(error instanceof joseErrors.JWKSMultipleMatchingKeys)) throw error;
        // Several keys fit the header (no kid, or a repeated kid): try each, first valid wins.
        for await (const key of error) {
          try {
            return (await jwtVerify(token, key, verifyOptions)).payload;
          } catch (inner) {
            if (!(inner instanceof joseErrors.JWSSignatureVerificationFailed)) throw inner;
          }
        }
        throw new joseErrors.JWSSignatureVerificationFailed();
      }
    };
    try {
      return await attempt((await jwks.getKeys(issuer)).resolve);
    } catch (error) {
      if (!(error instanceof joseErrors.JWKSNoMatchingKey)) throw error;
    }
    // The issuer may have rotated keys; the refresh is rate-limited so that tokens with random
    // kids cannot make us hammer the issuer (threat model A4).
    const noKey = reject(
      `no key of issuer ${issuer.name} matches the token's key id and algorithm`,
    );
    if (!(await jwks.refreshForUnknownKey(issuer))) throw noKey;
    try {
      return await attempt((await jwks.getKeys(issuer)).resolve);
    } catch (error) {
      if (error instanceof joseErrors.JWKSNoMatchingKey) throw noKey;
      throw error;
    }
  };

  const checkTimes = (issuer: IssuerConfig, claims: JWTPayload, now: Date): number => {
    const from = `token from issuer ${issuer.name}`;
    const exp = readSeconds(claims, 'exp');
    const iat = readSeconds(claims, 'iat');
    readSeconds(claims, 'nbf');
    if (exp === undefined) throw reject(`${from} lacks required claim exp`);
    if (iat === undefined) throw reject(`${from} lacks required claim iat`);
    const nowSeconds = Math.floor(now.getTime() / 1000);
    if (iat > nowSeconds + issuer.clockLeewaySeconds) {
      throw reject(`${from} was issued in the future (iat)`);
    }
    if (exp <= iat) throw reject(`${from} expires before it was issued`);
    if (exp - iat > maxLifetime) {
      throw reject(`${from} lives longer than ${maxLifetime} seconds (far-future token)`);
    }
    return exp;
  };

  /** Every audience of the token must be ours: a token also meant for another relying party
   * could be replayed to us by that party (threat model A7). */
  const checkAudience = (issuer: IssuerConfig, claims: JWTPayload): void => {
    const audiences = typeof claims.aud === 'string' ? [claims.aud] : claims.aud;
    if (
      !Array.isArray(audiences) ||
      audiences.length === 0 ||
      !audiences.every((aud) => typeof aud === 'string' && issuer.audiences.includes(aud))
    ) {
      throw reject(`token from issuer ${issuer.name} is also meant for other audiences`);
    }
  };

  const verifyToken = async (token: string, purpose: TokenPurpose): Promise<Workload> => {
    if (purpose !== 'sign' && purpose !== 'read' && purpose !== 'sign-later') {
      throw new AppError('INTERNAL', 'token purpose must be "sign", "sign-later" or "read"');
    }
    if (typeof token !== 'string' || token === '') throw reject('no token was presented');
    if (token.length > globalMaxBytes) {
      throw reject(`the token is larger than ${globalMaxBytes} bytes`);
    }
    if (!COMPACT_JWS.test(token)) {
      throw reject('the token is not a signed JWT (three base64url segments)');
    }
    const [headerSegment = '', payloadSegment = '', signatureSegment = ''] = token.split('.');
    if (signatureSegment === '') throw reject('the token is not signed');
    const alg = checkHeader(decodeSegment(headerSegment, 'header'));
    // This unverified payload is used for one thing only: choosing the issuer whose keys will
    // verify it. Claims are read later from jose's verified payload.
    const { iss } = decodeSegment(payloadSegment, 'payload');
    if (typeof iss !== 'string') throw reject('the token lacks an issuer (iss)');
    // Exact byte match: trailing slashes, case and scheme variants are different issuers (A8).
    const issuer = byIssuer.get(iss);
    if (issuer === undefined) throw reject('the token issuer is not trusted');
    if (token.length > issuer.maxTokenBytes) {
      throw reject(`token from issuer ${issuer.name} is larger than ${issuer.maxTokenBytes} bytes`);
    }
    if (!issuer.algorithms.includes(alg)) {
      throw reject(
        `token from issuer ${issuer.name} uses algorithm ${alg}, which it is not allowed`,
      );
    }

    const now = clock.now();
    let claims: JWTPayload;
    try {
      // A signing route authenticates the token before reading the body, and the signing
      // checks it again: the second time, its signature is not verified twice.
      claims = recentlyVerified.get(token, now) ?? (await verifySignature(issuer, token, now));
      recentlyVerified.remember(token, claims, now, issuer.clockLeewaySeconds);
    } catch (error) {
      if (isAppError(error)) throw error;
      throw describeJoseError(issuer, error);
    }
    const exp = checkTimes(issuer, claims, now);
    checkAudience(issuer, claims);
    const workload = normalizeClaims(issuer, claims);

    if (purpose === 'sign' || purpose === 'sign-later') {
      const jti = claims.jti;
      if (jti === undefined || jti === '') {
        throw reject(
          `token from issuer ${issuer.name} has no token id (jti); signing requires single-use tokens`,
        );
      }
      if (
        typeof jti !== 'string' ||
        jti.length > MAX_TOKEN_ID_CHARS ||
        !PRINTABLE_ASCII.test(jti)
      ) {
        throw reject(`token from issuer ${issuer.name} has a malformed token id (jti)`);
      }
      // Remember the id for as long as the token could still be accepted.
      const keepUntil = new Date((exp + issuer.clockLeewaySeconds) * 1000);
      if (purpose === 'sign-later') {
        // Refused now if already spent (no decision, request or log event for a replay); the
        // atomic consumption happens in the signing transaction.
        if (await tokenIds.isUsed(issuer.issuer, jti)) {
          throw reject(`token from issuer ${issuer.name} was already used (replayed jti)`);
        }
        return { ...workload, tokenId: jti, tokenExpiresAt: keepUntil };
      }
      if (!(await tokenIds.consume(issuer.issuer, jti, keepUntil))) {
        throw reject(`token from issuer ${issuer.name} was already used (replayed jti)`);
      }
    }
    return workload;
  };

  return {
    verify(token, { purpose }) {
      return verifyToken(token, purpose);
    },
  };
}

/** Tokens kept after their signature verified, and for how long. */
const VERIFIED_TOKENS_MAX = 256;
const VERIFIED_TOKENS_MS = 30_000;

/**
 * The claims of tokens whose signature verified in the last 30 s, by the exact token text
 * (at most 256, oldest dropped), while the token's own exp and nbf (with the issuer's leeway)
 * still accept it, as jose checked them. Only jose's check is skipped on a hit: the claims,
 * audience and jti are checked again each time. One per verifier, so a governance change
 * (another issuer set) starts empty.
 */
function createVerifiedTokens(): {
  get(token: string, now: Date): JWTPayload | undefined;
  remember(token: string, claims: JWTPayload, now: Date, leewaySeconds: number): void;
} {
  const tokens = new Map<
    string,
    { readonly claims: JWTPayload; readonly from: number; readonly until: number }
  >();
  return {
    get(token, now) {
      const entry = tokens.get(token);
      if (entry === undefined) return undefined;
      const at = now.getTime();
      if (at < entry.from || at >= entry.until) {
        tokens.delete(token);
        return undefined;
      }
      return entry.claims;
    },
    remember(token, claims, now, leewaySeconds) {
      if (tokens.has(token) || typeof claims.exp !== 'number') return;
      if (tokens.size >= VERIFIED_TOKENS_MAX) {
        const oldest = tokens.keys().next().value;
        if (oldest !== undefined) tokens.delete(oldest);
      }
      const at = now.getTime();
      const nbf = typeof claims.nbf === 'number' ? (claims.nbf - leewaySeconds) * 1000 : at;
      tokens.set(token, {
        claims,
        from: Math.max(at, nbf),
        until: Math.min(at + VERIFIED_TOKENS_MS, (claims.exp + leewaySeconds) * 1000),
      });
    },
  };
}
