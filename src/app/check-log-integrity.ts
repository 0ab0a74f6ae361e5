/**
 * Start-up integrity of the transparency log (issue "Transparency log" item 5, threat-model FT-10).
 *
 * Two levels: `loadTreeState` is cheap and runs before every resumption (the frontier must fold
 * into the root of the last signed checkpoint, whose signature must verify); `checkLogIntegrity`
 * re-hashes every stored entry and node and names the first bad index.
 */
import { AppError } from '../core/errors.ts';
import type { LogCheckpointRecord, LogRepository, Storage } from '../core/ports.ts';
import { openCheckpoint } from '../core/tlog/checkpoint.ts';
import {
  appendLeafHashes,
  EMPTY_FRONTIER,
  frontierFromNodes,
  hashLeaf,
  planFrontier,
  rootOfFrontier,
} from '../core/tlog/merkle.ts';
import type { Frontier, MerkleNode } from '../core/tlog/merkle.ts';
import { equalBytes } from '../core/tlog/bytes.ts';
import type { NoteVerifier } from '../core/tlog/signed-note.ts';

/** The committed tree as the sequencer holds it in memory. */
export interface TreeState {
  readonly frontier: Frontier;
  /** The checkpoint over `frontier.treeSize`; undefined only for a log that has never signed one. */
  readonly checkpoint: LogCheckpointRecord | undefined;
}

export interface LogIdentity {
  readonly origin: string;
  readonly verifier: NoteVerifier;
}

/**
 * Reads the committed tree: its size, frontier and last checkpoint, and checks that they agree
 * (the frontier folds into the checkpoint's root; the checkpoint is signed by the log key for the
 * configured origin). Throws VERIFICATION_FAILED when they do not: the log must not be extended.
 */
export async function loadTreeState(log: LogRepository, identity: LogIdentity): Promise<TreeState> {
  const treeSize = await log.treeSize();
  const checkpoint = await log.latestCheckpoint();
  if (checkpoint === undefined) {
    if (treeSize !== 0n) {
      throw new AppError(
        'VERIFICATION_FAILED',
        `the log holds ${treeSize} entries but no signed checkpoint`,
      );
    }
    return { frontier: EMPTY_FRONTIER, checkpoint: undefined };
  }
  if (checkpoint.treeSize !== treeSize) {
    throw new AppError(
      'VERIFICATION_FAILED',
      `the log size (${treeSize}) differs from its last checkpoint (${checkpoint.treeSize})`,
    );
  }
  const opened = openCheckpointOrExplain(checkpoint, identity);
  if (!equalBytes(opened.rootHash, checkpoint.rootHash)) {
    throw new AppError(
      'VERIFICATION_FAILED',
      `the stored root of checkpoint ${treeSize} differs from its signed note`,
    );
  }
  const frontier =
    treeSize === 0n
      ? EMPTY_FRONTIER
      : frontierFromNodes(treeSize, await log.nodes(planFrontier(treeSize)));
  if (!equalBytes(rootOfFrontier(frontier), checkpoint.rootHash)) {
    throw new AppError(
      'VERIFICATION_FAILED',
      `the stored tree of size ${treeSize} does not match its signed checkpoint; run countersign log verify to find the first bad entry`,
    );
  }
  return { frontier, checkpoint };
}

function openCheckpointOrExplain(
  checkpoint: LogCheckpointRecord,
  identity: LogIdentity,
): { rootHash: Uint8Array } {
  try {
    return openCheckpoint(checkpoint.note, {
      origin: identity.origin,
      verifiers: [identity.verifier],
    });
  } catch (cause) {
    throw new AppError(
      'VERIFICATION_FAILED',
      `the last checkpoint (size ${checkpoint.treeSize}) is not signed by this log key for origin "${identity.origin}"`,
      {
        cause,
        hint: 'check log.origin and the log key: they must not change over the life of a log',
      },
    );
  }
}

/** The outcome of a full integrity check. */
export interface LogIntegrityReport {
  readonly ok: boolean;
  readonly treeSize: bigint;
  /** The first entry whose stored bytes, leaf hash or tree nodes disagree with the rest. */
  readonly firstBadIndex?: bigint;
  readonly problem?: string;
}

/** Entries read per step of the full check; bounds memory whatever the log size. */
const INTEGRITY_CHUNK = 4096n;

/**
 * Re-hashes every entry and every stored node and compares the result with the last signed
 * checkpoint. Reports, rather than throws, so the service can stay up read-only and tell operators
 * exactly where the log was altered.
 */
export async function checkLogIntegrity(
  storage: Pick<Storage, 'log' | 'transaction'>,
  identity: LogIdentity,
  onProgress?: (checked: bigint, total: bigint) => void,
): Promise<LogIntegrityReport> {
  // Snapshot size and checkpoint under the append lock (a PostgreSQL peer may be appending), then
  // scan that prefix: entries below a committed size never change, so the scan needs no lock.
  const snapshot = await storage.transaction(async (session) => {
    await session.log.lockForAppend();
    const treeSize = await session.log.treeSize();
    try {
      return { treeSize, state: await loadTreeState(session.log, identity), problem: undefined };
    } catch (error) {
      if (!(error instanceof AppError) || error.code !== 'VERIFICATION_FAILED') throw error;
      return { treeSize, state: undefined, problem: error.message };
    }
  });
  const { treeSize } = snapshot;
  const scan = await scanEntries(storage.log, treeSize, onProgress);
  if (scan.firstBadIndex !== undefined) {
    return {
      ok: false,
      treeSize,
      firstBadIndex: scan.firstBadIndex,
      ...(scan.problem === undefined ? {} : { problem: scan.problem }),
    };
  }
  if (snapshot.state === undefined) {
    // The entries are intact but the tree nodes or checkpoint disagree with them.
    return {
      ok: false,
      treeSize,
      problem: scan.problem ?? snapshot.problem ?? 'the log does not match its checkpoint',
    };
  }
  const checkpoint = snapshot.state.checkpoint;
  if (checkpoint !== undefined && !equalBytes(scan.rootHash, checkpoint.rootHash)) {
    return {
      ok: false,
      treeSize,
      problem: 'the recomputed root differs from the last signed checkpoint',
    };
  }
  return { ok: true, treeSize };
}

async function scanEntries(
  log: LogRepository,
  treeSize: bigint,
  onProgress?: (checked: bigint, total: bigint) => void,
): Promise<{ rootHash: Uint8Array; firstBadIndex?: bigint; problem?: string }> {
  let frontier = EMPTY_FRONTIER;
  for (let from = 0n; from < treeSize; from += INTEGRITY_CHUNK) {
    const to = from + INTEGRITY_CHUNK < treeSize ? from + INTEGRITY_CHUNK : treeSize;
    const entries = await log.entries(from, to);
    if (entries.length !== Number(to - from)) {
      const missing =
        from + BigInt(entries.findIndex((e, i) => e.index !== from + BigInt(i)) >>> 0);
      return {
        rootHash: rootOfFrontier(frontier),
        firstBadIndex: entries.length === 0 ? from : missing,
        problem: `entries are missing from index ${from}`,
      };
    }
    const leafHashes: Uint8Array[] = [];
    for (const entry of entries) {
      const recomputed = hashLeaf(entry.body);
      if (!equalBytes(recomputed, entry.leafHash)) {
        return {
          rootHash: rootOfFrontier(frontier),
          firstBadIndex: entry.index,
          problem: `entry ${entry.index} does not hash to its stored leaf hash (its bytes were altered)`,
        };
      }
      leafHashes.push(recomputed);
    }
    const appended = appendLeafHashes(frontier, leafHashes);
    const bad = await firstMismatchedNode(log, appended.nodes);
    if (bad !== undefined) {
      return {
        rootHash: appended.rootHash,
        firstBadIndex: bad.index << BigInt(bad.level),
        problem: `stored tree node ${bad.level}/${bad.index} differs from the entries it covers`,
      };
    }
    frontier = appended.frontier;
    onProgress?.(to, treeSize);
  }
  return { rootHash: rootOfFrontier(frontier) };
}

/** Compares recomputed nodes with the stored ones, level by level, in ranges. */
async function firstMismatchedNode(
  log: LogRepository,
  nodes: readonly MerkleNode[],
): Promise<MerkleNode | undefined> {
  const byLevel = new Map<number, MerkleNode[]>();
  for (const node of nodes) {
    const list = byLevel.get(node.level) ?? [];
    list.push(node);
    byLevel.set(node.level, list);
  }
  let first: MerkleNode | undefined;
  for (const [level, list] of byLevel) {
    const start = list[0]?.index ?? 0n;
    const stored = await log.nodeRange(level, start, start + BigInt(list.length));
    list.forEach((node, i) => {
      const hash = stored[i];
      if (hash === undefined || !equalBytes(hash, node.hash)) {
        const leaf = node.index << BigInt(node.level);
        if (first === undefined || leaf < first.index << BigInt(first.level)) first = node;
      }
    });
  }
  return first;
}
