/**
 * In-memory `TokenIdStore`: single-use workload-token ids for one process (embedded mode and
 * tests). Bounded: when full of unexpired ids it refuses new ones rather than forgetting old ones,
 * because forgetting an unexpired id would let that token be replayed.
 */

import { AppError } from '../../core/errors.ts';
import type { Clock, TokenIdStore } from '../../core/ports.ts';

export const DEFAULT_MAX_TOKEN_IDS = 100_000;

/** Sweep expired ids at least this often, so memory follows the live set, not the peak. */
const SWEEP_INTERVAL_MS = 60_000;

export interface MemoryTokenIdStoreOptions {
  readonly clock: Clock;
  /** How many unexpired ids it holds at most. */
  readonly maxEntries?: number;
}

/**
 * Creates an in-memory token-id store.
 *
 * `consume` throws RATE_LIMITED (with `retryAfterSeconds`) when `maxEntries` unexpired ids are
 * held: signing pauses until some expire, and no token becomes replayable.
 */
export function createMemoryTokenIdStore(options: MemoryTokenIdStoreOptions): TokenIdStore {
  const { clock } = options;
  const maxEntries = options.maxEntries ?? DEFAULT_MAX_TOKEN_IDS;
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new AppError('CONFIG_INVALID', 'maxEntries must be a positive integer');
  }
  /** JSON of [issuer, tokenId] → expiry in ms since the epoch. JSON keeps the pair unambiguous. */
  const expiries = new Map<string, number>();
  let lastSweep = clock.now().getTime();

  const sweep = (now: number): void => {
    for (const [key, expiresAt] of expiries) if (expiresAt <= now) expiries.delete(key);
    lastSweep = now;
  };

  return {
    isUsed(issuer, tokenId) {
      const seenUntil = expiries.get(JSON.stringify([issuer, tokenId]));
      return Promise.resolve(seenUntil !== undefined && seenUntil > clock.now().getTime());
    },
    consume(issuer, tokenId, expiresAt) {
      const now = clock.now().getTime();
      if (now - lastSweep >= SWEEP_INTERVAL_MS) sweep(now);
      const key = JSON.stringify([issuer, tokenId]);
      const seenUntil = expiries.get(key);
      if (seenUntil !== undefined && seenUntil > now) return Promise.resolve(false);
      if (expiries.size >= maxEntries && seenUntil === undefined) sweep(now);
      if (expiries.size >= maxEntries && seenUntil === undefined) {
        let earliest = Number.POSITIVE_INFINITY;
        for (const value of expiries.values()) earliest = Math.min(earliest, value);
        return Promise.reject(
          new AppError('RATE_LIMITED', 'too many signing tokens are in use; retry shortly', {
            retryAfterSeconds: Math.max(1, Math.ceil((earliest - now) / 1000)),
          }),
        );
      }
      expiries.set(key, expiresAt.getTime());
      return Promise.resolve(true);
    },
  };
}
