/**
 * Reading the transparency log: checkpoints, entries, proofs and C2SP tiles (issue "Transparency
 * log" item 6). Everything is served from stored nodes, or from their in-memory copy
 * (`log-node-cache.ts`); nothing recomputes the tree.
 */
import { AppError } from '../core/errors.ts';
import type { LogCheckpointRecord, LogEntryRecord, LogRepository } from '../core/ports.ts';
import { assembleRoot, planRoot } from '../core/tlog/merkle.ts';
import type { NodeId } from '../core/tlog/merkle.ts';
import {
  assembleConsistencyProof,
  assembleInclusionProof,
  planConsistencyProof,
  planInclusionProof,
} from '../core/tlog/proof.ts';
import { encodeEntryBundle, TILE_HEIGHT, TILE_WIDTH } from '../core/tlog/tiles.ts';
import type { LogNodeCache, LogNodeCacheState } from './log-node-cache.ts';

/** An inclusion proof as the API returns it. */
export interface InclusionProof {
  readonly index: bigint;
  readonly treeSize: bigint;
  readonly rootHash: Uint8Array;
  readonly leafHash: Uint8Array;
  /** Leaf to root (RFC 9162 §2.1.3). */
  readonly hashes: readonly Uint8Array[];
}

export interface ConsistencyProof {
  readonly from: bigint;
  readonly to: bigint;
  readonly fromRootHash: Uint8Array;
  readonly toRootHash: Uint8Array;
  readonly hashes: readonly Uint8Array[];
}

/** A tile's bytes and whether it can never change (full tiles are immutable). */
export interface TileContent {
  readonly bytes: Uint8Array;
  readonly isImmutable: boolean;
}

/** Who the log is: what a verifier needs to check its checkpoints. */
export interface LogInfo {
  readonly origin: string;
  /** SHA-256 of the log key's SPKI: the `logId` in bundles and trusted roots. */
  readonly logId: Uint8Array;
  /** The log key, DER SubjectPublicKeyInfo. */
  readonly publicKeySpki: Uint8Array;
}

export interface LogReader {
  /** The log's origin and key. */
  readonly info: LogInfo;
  /** The latest signed checkpoint; NOT_FOUND before the log has one. */
  latestCheckpoint(): Promise<LogCheckpointRecord>;
  /** The entry at `index` within the latest checkpoint, with its inclusion proof. */
  entry(
    index: bigint,
  ): Promise<{ entry: LogEntryRecord; proof: InclusionProof; checkpoint: LogCheckpointRecord }>;
  /** Inclusion proof of `index` in the tree of `treeSize` (the latest size when absent). */
  inclusionProof(index: bigint, treeSize?: bigint): Promise<InclusionProof>;
  /** Consistency proof between two published sizes. */
  consistencyProof(from: bigint, to: bigint): Promise<ConsistencyProof>;
  /** The hash tile at `level`/`index`, `width` hashes wide (C2SP tlog-tiles). */
  tile(level: number, index: bigint, width: number): Promise<TileContent>;
  /** The entry bundle `index`, `width` entries wide (C2SP tlog-tiles). */
  entryBundle(index: bigint, width: number): Promise<TileContent>;
  /** How much of the tree the node cache holds; undefined when the reader has none. */
  nodeCacheState(): LogNodeCacheState | undefined;
}

/**
 * How long proofs, entries and tiles may be served from the latest checkpoint already read
 * (milliseconds). A proof against a checkpoint a second old is as valid as one against the newest,
 * and saves a database round trip on every read; a request for anything that checkpoint does not
 * cover reads the newest one. `latestCheckpoint()` itself always reads storage.
 */
export const DEFAULT_CHECKPOINT_REUSE_MS = 1000;

export interface LogReaderOptions {
  /** Default `DEFAULT_CHECKPOINT_REUSE_MS`; 0 reads the latest checkpoint for every request. */
  readonly checkpointReuseMs?: number;
  /**
   * Node hashes held in memory: proofs and tiles read storage only for what it lacks. The reader
   * asks it to follow every newer checkpoint it reads; its owner closes it.
   */
  readonly nodeCache?: LogNodeCache;
}

/** Reads the log through its repository; only what a published checkpoint covers is served. */
export function createLogReader(
  log: LogRepository,
  info: LogInfo,
  options: LogReaderOptions = {},
): LogReader {
  const reuseMs = options.checkpointReuseMs ?? DEFAULT_CHECKPOINT_REUSE_MS;
  const cache = options.nodeCache;
  let known: { readonly checkpoint: LogCheckpointRecord; readonly readAt: number } | undefined;

  async function latest(): Promise<LogCheckpointRecord> {
    const readAt = performance.now();
    const checkpoint = await log.latestCheckpoint();
    if (checkpoint === undefined) throw new AppError('NOT_FOUND', 'the log has no checkpoint yet');
    if (known === undefined || checkpoint.treeSize >= known.checkpoint.treeSize) {
      known = { checkpoint, readAt };
    }
    cache?.follow(checkpoint.treeSize);
    return checkpoint;
  }

  /** Node hashes from the cache, and in one query from storage whatever it lacks. */
  async function nodes(ids: readonly NodeId[]): Promise<Uint8Array[]> {
    if (cache === undefined) return log.nodes(ids);
    const cached = ids.map((id) => cache.get(id.level, id.index));
    const missing = ids.filter((_, i) => cached[i] === undefined);
    if (missing.length === 0) return cached as Uint8Array[];
    const fetched = await log.nodes(missing);
    let next = 0;
    return cached.map((hash) => hash ?? (fetched[next++] as Uint8Array));
  }

  /** A recent checkpoint of at least `minimumSize` entries, or the latest one. */
  async function recent(minimumSize: bigint): Promise<LogCheckpointRecord> {
    if (
      known !== undefined &&
      known.checkpoint.treeSize >= minimumSize &&
      performance.now() - known.readAt < reuseMs
    ) {
      return known.checkpoint;
    }
    return latest();
  }

  /**
   * Fetches, in at most ONE query, the nodes of a proof plan plus those of the root of `treeSize`
   * when it is not the latest checkpoint's (whose root is at hand): proofs are on the hot read path.
   */
  async function fetchWithRoot(
    proofNodes: readonly NodeId[],
    treeSize: bigint,
    latestCheckpoint: LogCheckpointRecord,
    extra: readonly NodeId[] = [],
  ): Promise<{ proof: Uint8Array[]; rootHash: Uint8Array; extra: Uint8Array[] }> {
    const rootPlan = treeSize === latestCheckpoint.treeSize ? undefined : planRoot(treeSize);
    const rootNodes = rootPlan?.nodes ?? [];
    const hashes = await nodes([...proofNodes, ...rootNodes, ...extra]);
    const proof = hashes.slice(0, proofNodes.length);
    const root = hashes.slice(proofNodes.length, proofNodes.length + rootNodes.length);
    return {
      proof,
      rootHash: rootPlan === undefined ? latestCheckpoint.rootHash : assembleRoot(rootPlan, root),
      extra: hashes.slice(proofNodes.length + rootNodes.length),
    };
  }

  function assertWithin(value: bigint, name: string, limit: bigint, inclusive: boolean): void {
    if (value < 0n || (inclusive ? value > limit : value >= limit)) {
      throw new AppError('NOT_FOUND', `${name} ${value} is beyond the log (size ${limit})`);
    }
  }

  async function inclusionProof(index: bigint, treeSize?: bigint): Promise<InclusionProof> {
    const checkpoint = await recent(treeSize ?? index + 1n);
    const size = treeSize ?? checkpoint.treeSize;
    assertWithin(size, 'tree size', checkpoint.treeSize, true);
    if (index < 0n || index >= size) {
      throw new AppError('INVALID_INPUT', `index ${index} is not below tree size ${size}`);
    }
    const plan = planInclusionProof(index, size);
    const fetched = await fetchWithRoot(plan.nodes, size, checkpoint, [{ level: 0, index }]);
    const leafHash = fetched.extra[0];
    if (leafHash === undefined) throw new AppError('INTERNAL', `leaf ${index} is missing`);
    return {
      index,
      treeSize: size,
      rootHash: fetched.rootHash,
      leafHash,
      hashes: assembleInclusionProof(plan, fetched.proof),
    };
  }

  return {
    info,
    latestCheckpoint: latest,

    async entry(index) {
      const checkpoint = await recent(index + 1n);
      assertWithin(index, 'index', checkpoint.treeSize, false);
      const [entry] = await log.entries(index, index + 1n);
      if (entry === undefined) throw new AppError('NOT_FOUND', `no entry at index ${index}`);
      return { entry, proof: await inclusionProof(index, checkpoint.treeSize), checkpoint };
    },

    inclusionProof,

    nodeCacheState: () => cache?.state(),

    async consistencyProof(from, to) {
      const checkpoint = await recent(to);
      assertWithin(to, 'tree size', checkpoint.treeSize, true);
      if (from < 1n || from > to) {
        throw new AppError(
          'INVALID_INPUT',
          `a consistency proof needs 1 <= from <= to, got from=${from} to=${to}`,
        );
      }
      const plan = planConsistencyProof(from, to);
      // The proof's own nodes, plus both roots: the latest comes with the checkpoint.
      const toRoot = to === checkpoint.treeSize ? undefined : planRoot(to);
      const fetched = await fetchWithRoot(plan.nodes, from, checkpoint, toRoot?.nodes ?? []);
      return {
        from,
        to,
        fromRootHash: fetched.rootHash,
        toRootHash:
          toRoot === undefined ? checkpoint.rootHash : assembleRoot(toRoot, fetched.extra),
        hashes: assembleConsistencyProof(plan, fetched.proof),
      };
    },

    async tile(level, index, width) {
      const checkpoint = await recent(
        (index * BigInt(TILE_WIDTH) + BigInt(width)) << BigInt(level * TILE_HEIGHT),
      );
      const available = hashesAtTileLevel(checkpoint.treeSize, level) - index * BigInt(TILE_WIDTH);
      assertTileWidth(width, available, `tile ${level}/${index}`);
      const start = index * BigInt(TILE_WIDTH);
      const end = start + BigInt(width);
      const hashes =
        cache?.range(level * TILE_HEIGHT, start, end) ??
        (await log.nodeRange(level * TILE_HEIGHT, start, end));
      if (hashes.length !== width)
        throw new AppError('INTERNAL', `tile ${level}/${index} is incomplete in storage`);
      return { bytes: Buffer.concat(hashes), isImmutable: width === TILE_WIDTH };
    },

    async entryBundle(index, width) {
      const checkpoint = await recent(index * BigInt(TILE_WIDTH) + BigInt(width));
      const available = checkpoint.treeSize - index * BigInt(TILE_WIDTH);
      assertTileWidth(width, available, `entry bundle ${index}`);
      const start = index * BigInt(TILE_WIDTH);
      const entries = await log.entries(start, start + BigInt(width));
      if (entries.length !== width)
        throw new AppError('INTERNAL', `entry bundle ${index} is incomplete in storage`);
      return {
        bytes: encodeEntryBundle(entries.map((e) => e.body)),
        isImmutable: width === TILE_WIDTH,
      };
    },
  };
}

/** How many complete nodes exist at tree level `8·tileLevel` for a tree of `treeSize` leaves. */
function hashesAtTileLevel(treeSize: bigint, tileLevel: number): bigint {
  return treeSize >> BigInt(tileLevel * TILE_HEIGHT);
}

/** A tile may be served at `width` only if that many hashes exist under the published checkpoint. */
function assertTileWidth(width: number, available: bigint, what: string): void {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) {
    throw new AppError('INVALID_INPUT', `tile width must be 1 to ${TILE_WIDTH}`);
  }
  if (available < BigInt(width)) {
    throw new AppError(
      'NOT_FOUND',
      `${what} is not available at width ${width} in the published tree`,
    );
  }
}
