/**
 * Request budgets per client (threat model I8: many small requests from one identity or one
 * address must not grow the log, the policy engine's work or memory without bound).
 *
 * Each key — a client address, a workload identity, a person — has a token bucket holding at most
 * `perMinute` requests, refilled continuously at `perMinute` a minute: a client may spend a
 * minute's budget at once, then as fast as it refills. Buckets live in memory, per process; at
 * most `maxKeys` are kept, the least recently used dropped first (a dropped bucket is a full one,
 * so eviction can only ever be generous, never lock a client out).
 */
import type { Clock } from './ports.ts';

/** Buckets kept per limiter unless told otherwise: a few MiB at most. */
export const DEFAULT_RATE_LIMITER_KEYS = 100_000;

const MS_PER_MINUTE = 60_000;

/** What `take` answers. */
export type RateLimitOutcome =
  | { readonly allowed: true }
  | {
      readonly allowed: false;
      /** Whole seconds until the key's next request is admitted (at least 1). */
      readonly retryAfterSeconds: number;
    };

/** The budgets of one kind of key (e.g. client addresses). */
export interface RateLimiter {
  /** Spends one request of `key`'s budget, or says how long until there is one. */
  take(key: string): RateLimitOutcome;
  /** How many keys have a bucket now (bounded by `maxKeys`). */
  size(): number;
}

export interface RateLimiterOptions {
  /** Requests per minute per key, and the most a key may spend at once. At least 1. */
  readonly perMinute: number;
  /** Most keys remembered (default {@link DEFAULT_RATE_LIMITER_KEYS}). */
  readonly maxKeys?: number;
  readonly clock: Clock;
}

interface Bucket {
  /** What the key may still spend, in 1/60,000ths of a request (exact integer arithmetic). */
  credit: number;
  /** When `tokens` was last brought up to date, in ms. */
  updatedAt: number;
}

/**
 * A token-bucket limiter.
 *
 * @throws {@link RangeError} when `perMinute` or `maxKeys` is not a positive integer (a
 *   configuration bug: config validation admits neither).
 * @example
 * const perAddress = createRateLimiter({ perMinute: 6000, clock });
 * const outcome = perAddress.take('203.0.113.7');
 * if (!outcome.allowed) reply 429 with Retry-After: outcome.retryAfterSeconds
 */
export function createRateLimiter(options: RateLimiterOptions): RateLimiter {
  const { perMinute, clock } = options;
  const maxKeys = options.maxKeys ?? DEFAULT_RATE_LIMITER_KEYS;
  if (!Number.isSafeInteger(perMinute) || perMinute < 1) {
    throw new RangeError(`perMinute must be a positive integer, got ${String(perMinute)}`);
  }
  if (!Number.isSafeInteger(maxKeys) || maxKeys < 1) {
    throw new RangeError(`maxKeys must be a positive integer, got ${String(maxKeys)}`);
  }
  // Credit is counted in 1/60,000ths of a request, so a millisecond refills exactly `perMinute`
  // units and no rounding can admit a request early or late.
  const capacity = perMinute * MS_PER_MINUTE;
  if (!Number.isSafeInteger(capacity)) throw new RangeError('perMinute is too large');
  // A Map iterates in insertion order: re-inserting on every use keeps the least recently used
  // key first, where eviction finds it.
  const buckets = new Map<string, Bucket>();

  return {
    take(key) {
      const now = clock.now().getTime();
      let bucket = buckets.get(key);
      if (bucket === undefined) {
        bucket = { credit: capacity, updatedAt: now };
        if (buckets.size >= maxKeys) {
          const oldest = buckets.keys().next();
          if (oldest.done !== true) buckets.delete(oldest.value);
        }
      } else {
        buckets.delete(key);
        // A clock that steps back refills nothing rather than draining the bucket.
        const elapsed = Math.max(0, now - bucket.updatedAt);
        bucket.credit = Math.min(capacity, bucket.credit + elapsed * perMinute);
        bucket.updatedAt = Math.max(bucket.updatedAt, now);
      }
      buckets.set(key, bucket);
      if (bucket.credit >= MS_PER_MINUTE) {
        bucket.credit -= MS_PER_MINUTE;
        return { allowed: true };
      }
      const waitMs = Math.ceil((MS_PER_MINUTE - bucket.credit) / perMinute);
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(waitMs / 1000)) };
    },
    size: () => buckets.size,
  };
}
