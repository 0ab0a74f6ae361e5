/**
 * Synthetic log batches for storage tests and benchmarks: the shape the sequencer writes (entries,
 * the nodes they complete, level 0 included, and a checkpoint) with deterministic hashes that
 * identify each row. Storage never checks Merkle math, so none is done here.
 */
import { createHash } from 'node:crypto';
import type { LogCheckpointRecord, LogEntryRecord, LogNodeRecord } from '../../src/core/ports.ts';

export interface LogBatch {
  readonly previousSize: bigint;
  readonly entries: readonly LogEntryRecord[];
  readonly nodes: readonly LogNodeRecord[];
  readonly checkpoint: LogCheckpointRecord;
}

export interface LogBatchOptions {
  /** Idempotency key of the entry at an index (null for none). Default `key-<index>`. */
  readonly idempotencyKey?: (index: bigint) => string | null;
  /** Body size in bytes. Default 64. */
  readonly bodySize?: number;
  /** Integrated time (Unix seconds). Default 1_700_000_000. */
  readonly integratedTime?: number;
  /** Checkpoint time. Default 2023-11-14T22:13:20Z. */
  readonly createdAt?: Date;
}

/** A deterministic 32-byte hash naming a thing: `sha256(label)`. */
export function labelHash(label: string): Uint8Array {
  return new Uint8Array(createHash('sha256').update(label).digest());
}

/** The hash `makeLogBatch` stores for node (level, index). */
export function nodeHash(level: number, index: bigint): Uint8Array {
  return labelHash(`node ${level}/${index}`);
}

/**
 * `count` entries appended to a log of `previousSize`, with every node they complete: the leaf
 * (level 0) and each level-k node whose last leaf is in the batch.
 */
export function makeLogBatch(
  previousSize: bigint,
  count: number,
  options: LogBatchOptions = {},
): LogBatch {
  const bodySize = options.bodySize ?? 64;
  const entries: LogEntryRecord[] = [];
  const nodes: LogNodeRecord[] = [];
  for (let i = 0; i < count; i++) {
    const index = previousSize + BigInt(i);
    const body = new Uint8Array(bodySize);
    body.set(labelHash(`body ${index}`).subarray(0, Math.min(32, bodySize)));
    const leafHash = nodeHash(0, index);
    entries.push({
      index,
      leafHash,
      body,
      kind: 'countersign.event/v1',
      idempotencyKey: options.idempotencyKey ? options.idempotencyKey(index) : `key-${index}`,
      integratedTime: options.integratedTime ?? 1_700_000_000,
    });
    nodes.push({ level: 0, index, hash: leafHash });
    // Leaf `index` completes the level-k node ending at it when its low k bits are all ones.
    for (let level = 1; ((index + 1n) & ((1n << BigInt(level)) - 1n)) === 0n; level++) {
      const nodeIndex = index >> BigInt(level);
      nodes.push({ level, index: nodeIndex, hash: nodeHash(level, nodeIndex) });
    }
  }
  const treeSize = previousSize + BigInt(count);
  return {
    previousSize,
    entries,
    nodes,
    checkpoint: {
      treeSize,
      rootHash: labelHash(`root ${treeSize}`),
      note: `countersign.test/log\n${treeSize}\nroot\n\n— test sig\n`,
      createdAt: options.createdAt ?? new Date(1_700_000_000_000),
    },
  };
}
