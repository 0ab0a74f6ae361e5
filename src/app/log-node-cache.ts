/**
 * An in-memory copy of the transparency log's complete-subtree hashes, so that proofs and tiles
 * are answered without a database round trip (issue "Transparency log": proof p99 at 1,000,000
 * entries).
 *
 * A complete subtree's hash never changes once committed (RFC 9162 §2.1), so the copy can never
 * be stale, only incomplete; whatever it lacks is read from storage as before. It is filled from
 * storage in the background up to each newer checkpoint the reader sees — the same path whether
 * this process sequenced the entries or a PostgreSQL peer did — and it is bounded: when the whole
 * tree does not fit in `maxBytes`, only the upper levels are kept (each level up halves the count),
 * and proofs read just their lower nodes from storage.
 */
import { AppError } from '../core/errors.ts';
import type { LogRepository } from '../core/ports.ts';

/** What `countersign serve` keeps by default: every node of a log of about 1,000,000 entries. */
export const DEFAULT_NODE_CACHE_BYTES = 64 * 1024 * 1024;

const HASH_BYTES = 32;
/** Hashes per storage chunk (128 KiB): no single huge allocation, no copying when a level grows. */
const CHUNK_HASHES = 4096;
/** The smallest chunk allocated: a level of a few hashes does not cost 128 KiB. */
const FIRST_CHUNK_HASHES = 16;
/**
 * Hashes read per query while filling. The fill yields to the event loop after each read (an
 * embedded database answers synchronously, so without that a large log's fill would hold the
 * loop for seconds); this bounds each pause to a few milliseconds.
 */
const FILL_ROWS = 1024;
/** Levels 0..63 hold every node of any tree below 2^64 leaves. */
const LEVELS = 64;

export interface LogNodeCacheOptions {
  /** Upper bound of the hashes kept (about 64 bytes per entry for a whole tree); 0 keeps none. */
  readonly maxBytes: number;
  /** A background fill failed (storage unreachable, a node missing); proofs fall back to storage. */
  readonly onError?: (error: unknown) => void;
}

export interface LogNodeCacheState {
  /** The tree size the cache has been filled to. */
  readonly treeSize: bigint;
  /** The lowest tree level kept; 64 when the cache keeps nothing. */
  readonly lowestLevel: number;
  /** Hash bytes held. */
  readonly bytes: number;
}

export interface LogNodeCache {
  /** The hash of node `level`/`index` (a fresh copy), or undefined when the cache lacks it. */
  get(level: number, index: bigint): Uint8Array | undefined;
  /** The hashes of nodes `from` to `to` (exclusive) at `level`, or undefined unless all are held. */
  range(level: number, from: bigint, to: bigint): Uint8Array[] | undefined;
  /** Fills up to `treeSize` in the background (one fill at a time; failures go to `onError`). */
  follow(treeSize: bigint): void;
  /** Fills up to `treeSize` and resolves when done; rejects when storage fails. */
  fill(treeSize: bigint): Promise<void>;
  state(): LogNodeCacheState;
  /** Stops filling and waits for the read in flight. */
  close(): Promise<void>;
}

/** One tree level's hashes, a contiguous prefix `0 … count-1` stored in chunks. */
interface Level {
  chunks: Uint8Array[];
  count: number;
}

export function createLogNodeCache(
  log: Pick<LogRepository, 'nodeRange'>,
  options: LogNodeCacheOptions,
): LogNodeCache {
  if (!Number.isSafeInteger(options.maxBytes) || options.maxBytes < 0) {
    throw new AppError('INVALID_INPUT', 'the node cache size must be a whole number of bytes ≥ 0');
  }
  const levels: Level[] = Array.from({ length: LEVELS }, () => ({ chunks: [], count: 0 }));
  let lowestLevel = 0;
  let filledTo = 0n;
  let wanted = 0n;
  let running: Promise<void> | undefined;
  let closed = false;

  /** The level's hashes when the cache keeps that level. */
  function kept(level: number): Level | undefined {
    return level >= lowestLevel && level < LEVELS ? levels[level] : undefined;
  }

  function hashAt(level: Level, position: number): Uint8Array {
    const chunk = level.chunks[Math.floor(position / CHUNK_HASHES)];
    const offset = (position % CHUNK_HASHES) * HASH_BYTES;
    // A copy: callers own what they get, and the cache's bytes stay as stored.
    return (chunk as Uint8Array).slice(offset, offset + HASH_BYTES);
  }

  function push(level: Level, hash: Uint8Array): void {
    const chunkIndex = Math.floor(level.count / CHUNK_HASHES);
    const offset = (level.count % CHUNK_HASHES) * HASH_BYTES;
    let chunk = level.chunks[chunkIndex];
    if (chunk === undefined || chunk.length < offset + HASH_BYTES) {
      // The last chunk grows by doubling up to its full size; full chunks are never copied again.
      const capacity = Math.min(
        CHUNK_HASHES,
        Math.max(FIRST_CHUNK_HASHES, ((chunk?.length ?? 0) / HASH_BYTES) * 2),
      );
      const grown = new Uint8Array(capacity * HASH_BYTES);
      if (chunk !== undefined) grown.set(chunk);
      level.chunks[chunkIndex] = grown;
      chunk = grown;
    }
    chunk.set(hash, offset);
    level.count++;
  }

  async function fillTo(target: bigint): Promise<void> {
    if (target <= filledTo) return;
    if (target > BigInt(Number.MAX_SAFE_INTEGER)) {
      throw new AppError('INTERNAL', 'the node cache holds trees of at most 2^53 - 1 entries');
    }
    const size = Number(target);
    const lowest = lowestLevelWithin(size, options.maxBytes);
    for (let level = lowestLevel; level < lowest && level < LEVELS; level++) {
      // The tree outgrew the budget: drop the lowest levels (the largest) to stay within it.
      levels[level] = { chunks: [], count: 0 };
    }
    lowestLevel = Math.max(lowestLevel, lowest);
    for (let level = LEVELS - 1; level >= lowestLevel; level--) {
      const hashesOfLevel = levels[level] as Level;
      const complete = Math.floor(size / 2 ** level);
      while (hashesOfLevel.count < complete) {
        if (closed) return;
        const from = hashesOfLevel.count;
        const to = Math.min(complete, from + FILL_ROWS);
        const hashes = await log.nodeRange(level, BigInt(from), BigInt(to));
        if (hashes.length !== to - from) {
          throw new AppError(
            'INTERNAL',
            `tree node ${level}/${from + hashes.length} is missing from storage`,
          );
        }
        if (closed) return;
        for (const hash of hashes) push(hashesOfLevel, hash);
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
    }
    filledTo = target;
  }

  async function fillWanted(): Promise<void> {
    while (!closed && wanted > filledTo) await fillTo(wanted);
  }

  /** The fill in flight, or a new one; a failure is reported once, through `onError`. */
  function start(): Promise<void> {
    if (running !== undefined) return running;
    const run = fillWanted().finally(() => {
      running = undefined;
    });
    run.catch((error: unknown) => {
      options.onError?.(error);
    });
    running = run;
    return run;
  }

  return {
    get(level, index) {
      const hashes = kept(level);
      if (hashes === undefined || index < 0n || index >= BigInt(hashes.count)) return undefined;
      return hashAt(hashes, Number(index));
    },

    range(level, from, to) {
      const hashes = kept(level);
      if (hashes === undefined || from < 0n || from > to || to > BigInt(hashes.count)) {
        return undefined;
      }
      const copies: Uint8Array[] = [];
      for (let position = Number(from); position < Number(to); position++) {
        copies.push(hashAt(hashes, position));
      }
      return copies;
    },

    follow(treeSize) {
      if (closed || options.maxBytes === 0) return;
      if (treeSize > wanted) wanted = treeSize;
      if (wanted > filledTo) void start();
    },

    async fill(treeSize) {
      if (closed || options.maxBytes === 0) return;
      if (treeSize > wanted) wanted = treeSize;
      // Wait for the fill in flight, then make sure `treeSize` itself was reached.
      while (!closed && filledTo < treeSize) await start();
    },

    state() {
      let bytes = 0;
      for (let level = lowestLevel; level < LEVELS; level++) {
        bytes += (levels[level] as Level).count * HASH_BYTES;
      }
      return {
        treeSize: filledTo,
        lowestLevel: options.maxBytes === 0 ? LEVELS : lowestLevel,
        bytes,
      };
    },

    async close() {
      closed = true;
      await running?.catch(() => undefined);
    },
  };
}

/**
 * The lowest level from which every complete node of a tree of `size` leaves fits in `maxBytes`:
 * level ℓ holds ⌊size / 2^ℓ⌋ hashes. Returns 64 (nothing) when not even the top fits.
 */
export function lowestLevelWithin(size: number, maxBytes: number): number {
  let bytes = 0;
  let level = LEVELS;
  while (level > 0) {
    const next = bytes + Math.floor(size / 2 ** (level - 1)) * HASH_BYTES;
    if (next > maxBytes) break;
    bytes = next;
    level--;
  }
  return level;
}
