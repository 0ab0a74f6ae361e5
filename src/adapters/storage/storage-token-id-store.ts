/**
 * The storage-backed `TokenIdStore`: workload-token ids are recorded in the database, so a token
 * presented for signing is accepted once across every replica sharing it (threat model A11), not
 * once per process as with the in-memory store.
 */
import type { Clock, Storage, TokenIdStore } from '../../core/ports.ts';

/** Expired ids are deleted at most this often per process: the purge is housekeeping, not safety. */
export const DEFAULT_PURGE_INTERVAL_MS = 60_000;

/** Storage, clock and purge interval of the store. */
export interface StorageTokenIdStoreOptions {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly purgeIntervalMs?: number;
}

/**
 * A `TokenIdStore` over `storage.usedTokenIds`. `consume` throws STORAGE_UNAVAILABLE when the
 * database cannot record the id; the verifier then fails closed. Expired ids are purged
 * opportunistically by a `consume` call at most once per `purgeIntervalMs`; correctness never
 * depends on the purge, because an expired record is replaced by the next use of its id.
 */
export function createStorageTokenIdStore(options: StorageTokenIdStoreOptions): TokenIdStore {
  const { storage, clock } = options;
  const interval = options.purgeIntervalMs ?? DEFAULT_PURGE_INTERVAL_MS;
  let lastPurge = Number.NEGATIVE_INFINITY;
  return {
    async consume(issuer, tokenId, expiresAt) {
      const now = clock.now();
      if (now.getTime() - lastPurge >= interval) {
        lastPurge = now.getTime();
        await storage.usedTokenIds.purgeExpired(now);
      }
      return storage.usedTokenIds.consume(issuer, tokenId, expiresAt, now);
    },
    isUsed(issuer, tokenId) {
      return storage.usedTokenIds.isUsed(issuer, tokenId, clock.now());
    },
  };
}
