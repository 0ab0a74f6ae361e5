/**
 * Offline and remote verification of a whole log (`countersign log verify`, `log monitor`): the
 * log is trusted for nothing; every byte fetched is checked against a checkpoint signed by the
 * log key the caller names.
 */
import { AppError } from '../core/errors.ts';
import { openCheckpoint } from '../core/tlog/checkpoint.ts';
import type { Checkpoint } from '../core/tlog/checkpoint.ts';
import {
  appendLeafHashes,
  EMPTY_FRONTIER,
  foldRight,
  hashChildren,
  hashLeaf,
} from '../core/tlog/merkle.ts';
import type { NodeId } from '../core/tlog/merkle.ts';
import {
  assembleConsistencyProof,
  planConsistencyProof,
  verifyConsistencyProof,
} from '../core/tlog/proof.ts';
import { equalBytes } from '../core/tlog/bytes.ts';
import {
  decodeEntryBundle,
  formatEntryBundlePath,
  formatTilePath,
  TILE_HEIGHT,
  TILE_WIDTH,
  tileWidth,
} from '../core/tlog/tiles.ts';
import type { LogIdentity } from './check-log-integrity.ts';

/** Fetches a C2SP tlog-tiles path (e.g. `tile/entries/000.p/5`) relative to the log's prefix. */
export type FetchTile = (path: string) => Promise<Uint8Array>;

export interface LogVerification {
  readonly treeSize: bigint;
  readonly rootHash: Uint8Array;
}

/**
 * Recomputes the root of the tree a checkpoint commits to from every entry, fetched as entry
 * bundles, and compares it with the checkpoint. Throws VERIFICATION_FAILED naming the first
 * problem (bad signature, malformed bundle, root mismatch).
 */
export async function verifyLogFromTiles(
  checkpointNote: string,
  identity: LogIdentity,
  fetchTile: FetchTile,
  onProgress?: (checked: bigint, total: bigint) => void,
): Promise<LogVerification> {
  const checkpoint = openCheckpoint(checkpointNote, {
    origin: identity.origin,
    verifiers: [identity.verifier],
  });
  let frontier = EMPTY_FRONTIER;
  const width = BigInt(TILE_WIDTH);
  for (let index = 0n; index * width < checkpoint.treeSize; index += 1n) {
    const remaining = checkpoint.treeSize - index * width;
    const count = remaining < width ? Number(remaining) : TILE_WIDTH;
    const path = formatEntryBundlePath(index, count);
    let entries: Uint8Array[];
    try {
      entries = decodeEntryBundle(await fetchTile(path), count);
    } catch (cause) {
      throw new AppError(
        'VERIFICATION_FAILED',
        `entry bundle ${path} is not a valid bundle of ${count} entries`,
        { cause },
      );
    }
    frontier = appendLeafHashes(frontier, entries.map(hashLeaf)).frontier;
    onProgress?.(frontier.treeSize, checkpoint.treeSize);
  }
  const recomputed = appendLeafHashes(frontier, []).rootHash;
  if (!equalBytes(recomputed, checkpoint.rootHash)) {
    throw new AppError(
      'VERIFICATION_FAILED',
      `the entries do not hash to the root of checkpoint ${checkpoint.treeSize}`,
    );
  }
  return { treeSize: checkpoint.treeSize, rootHash: checkpoint.rootHash };
}

/** What a monitor remembers between runs: the last checkpoint it accepted. */
export interface MonitorState {
  readonly checkpoint: string;
}

export type MonitorOutcome =
  | {
      readonly status: 'first' | 'unchanged' | 'grew';
      readonly current: Checkpoint;
      readonly note: string;
    }
  | {
      readonly status: 'fork' | 'rollback';
      readonly reason: string;
      /** The two signed checkpoints that contradict each other: evidence anyone can check. */
      readonly previousNote: string;
      readonly currentNote: string;
    };

/**
 * One monitoring step (C2SP tlog-witness style): fetches the current checkpoint and proves it
 * extends the one seen last. A smaller size is a rollback; a different root for the same size, or
 * a consistency proof that fails, is a fork. The log's own proof hashes are untrusted input:
 * only the roots from the two signed checkpoints are believed.
 */
export async function checkLogProgress(
  previous: MonitorState | undefined,
  identity: LogIdentity,
  fetchCheckpoint: () => Promise<string>,
  fetchConsistencyProof: (from: bigint, to: bigint) => Promise<readonly Uint8Array[]>,
): Promise<MonitorOutcome> {
  const note = await fetchCheckpoint();
  const current = openCheckpoint(note, { origin: identity.origin, verifiers: [identity.verifier] });
  if (previous === undefined) return { status: 'first', current, note };
  const before = openCheckpoint(previous.checkpoint, {
    origin: identity.origin,
    verifiers: [identity.verifier],
  });
  const evidence = { previousNote: previous.checkpoint, currentNote: note };
  if (current.treeSize < before.treeSize) {
    return {
      status: 'rollback',
      reason: `the log shrank from ${before.treeSize} to ${current.treeSize} entries`,
      ...evidence,
    };
  }
  if (current.treeSize === before.treeSize) {
    if (equalBytes(current.rootHash, before.rootHash))
      return { status: 'unchanged', current, note };
    return {
      status: 'fork',
      reason: `two different roots signed for tree size ${current.treeSize}`,
      ...evidence,
    };
  }
  if (before.treeSize > 0n) {
    try {
      verifyConsistencyProof({
        size1: before.treeSize,
        size2: current.treeSize,
        proof: await fetchConsistencyProof(before.treeSize, current.treeSize),
        root1: before.rootHash,
        root2: current.rootHash,
      });
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'VERIFICATION_FAILED') throw error;
      return {
        status: 'fork',
        reason: `checkpoint ${current.treeSize} does not extend checkpoint ${before.treeSize}: ${error.message}`,
        ...evidence,
      };
    }
  }
  return { status: 'grew', current, note };
}

/**
 * Reads stored-node hashes of the tree of `treeSize` leaves through hash tiles (C2SP tlog-tiles):
 * node (h, i) lies in tile level ⌊h/8⌋, and is folded from the 2^(h mod 8) hashes of that tile
 * it covers. Tiles are fetched at the width the tree size implies and cached per call.
 */
export function createTileNodeReader(
  treeSize: bigint,
  fetchTile: FetchTile,
): (ids: readonly NodeId[]) => Promise<Uint8Array[]> {
  const tiles = new Map<string, Promise<Uint8Array>>();
  async function tileHashes(level: number, index: bigint): Promise<Uint8Array> {
    const width = tileWidth(level, index, treeSize);
    const path = formatTilePath(level, index, width);
    let tile = tiles.get(path);
    if (tile === undefined) {
      tile = fetchTile(path).then((bytes) => {
        if (bytes.length !== width * 32) {
          throw new AppError(
            'VERIFICATION_FAILED',
            `tile ${path} has ${bytes.length} bytes, expected ${width * 32}`,
          );
        }
        return bytes;
      });
      tiles.set(path, tile);
    }
    return tile;
  }
  return async (ids) =>
    Promise.all(
      ids.map(async ({ level, index }) => {
        const tileLevel = Math.floor(level / TILE_HEIGHT);
        const span = 1n << BigInt(level - tileLevel * TILE_HEIGHT);
        const first = index * span; // first covered node at tree level 8·tileLevel
        const tileIndex = first / BigInt(TILE_WIDTH);
        const bytes = await tileHashes(tileLevel, tileIndex);
        const offset = Number(first - tileIndex * BigInt(TILE_WIDTH));
        let row: Uint8Array[] = [];
        for (let k = 0; k < Number(span); k += 1)
          row.push(bytes.subarray((offset + k) * 32, (offset + k + 1) * 32));
        while (row.length > 1) {
          const next: Uint8Array[] = [];
          for (let k = 0; k < row.length; k += 2)
            next.push(hashChildren(row[k] as Uint8Array, row[k + 1] as Uint8Array));
          row = next;
        }
        return row[0] ?? foldRight([]);
      }),
    );
}

/** A consistency proof computed from hash tiles rather than asked of the log's JSON API. */
export async function fetchConsistencyProofFromTiles(
  from: bigint,
  to: bigint,
  fetchTile: FetchTile,
): Promise<Uint8Array[]> {
  const plan = planConsistencyProof(from, to);
  return assembleConsistencyProof(plan, await createTileNodeReader(to, fetchTile)(plan.nodes));
}
