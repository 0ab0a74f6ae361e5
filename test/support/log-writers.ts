/**
 * Supervises `log-writer-process.ts` children for crash and fail-over tests, and checks the log
 * they leave behind against everything they acknowledged (threat-model §4.2, the checker).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { StorageOptions } from '../../src/adapters/storage/open-storage.ts';
import { checkLogIntegrity } from '../../src/app/check-log-integrity.ts';
import type { LogIdentity } from '../../src/app/check-log-integrity.ts';
import { createLogReader } from '../../src/app/read-log.ts';
import type { Storage } from '../../src/core/ports.ts';
import { openCheckpoint } from '../../src/core/tlog/checkpoint.ts';
import { hashLeaf } from '../../src/core/tlog/merkle.ts';
import { verifyConsistencyProof, verifyInclusionProof } from '../../src/core/tlog/proof.ts';

/** One entry a writer reported as durably committed. */
export interface Acknowledgement {
  readonly key: string;
  readonly index: bigint;
  readonly treeSize: bigint;
  readonly checkpoint: string;
}

export interface WriterHandle {
  readonly child: ChildProcess;
  readonly acks: Acknowledgement[];
  /** Resolves once the writer opened the log (or rejects if it exited first). */
  readonly ready: Promise<void>;
  /** Resolves once at least `count` more entries were acknowledged (or the writer exited). */
  waitForAcks(count: number): Promise<void>;
  /** kill -9, and wait for the exit. */
  kill(): Promise<void>;
  readonly exited: Promise<number | null>;
}

const WRITER = join(import.meta.dirname, 'log-writer-process.ts');

export function spawnWriter(args: {
  storage: StorageOptions;
  keyPath: string;
  origin: string;
  writer: string;
  concurrency: number;
}): WriterHandle {
  const child = spawn(process.execPath, [WRITER, JSON.stringify(args)], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const acks: Acknowledgement[] = [];
  let stderr = '';
  child.stderr?.on('data', (chunk: Buffer) => {
    stderr = (stderr + chunk.toString()).slice(-4000);
  });
  const waiters: { target: number; resolve: () => void }[] = [];
  let markReady: () => void = () => undefined;
  let failReady: (error: Error) => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    markReady = resolve;
    failReady = reject;
  });
  const lines = createInterface({ input: child.stdout as NodeJS.ReadableStream });
  lines.on('line', (line) => {
    // A line cut short by kill -9 is not an acknowledgement: it never fully reached us.
    let parsed: {
      ready?: boolean;
      key?: string;
      index?: string;
      treeSize?: string;
      checkpoint?: string;
    };
    try {
      parsed = JSON.parse(line) as typeof parsed;
    } catch {
      return;
    }
    if (parsed.ready === true) return markReady();
    if (
      parsed.key === undefined ||
      parsed.index === undefined ||
      parsed.treeSize === undefined ||
      parsed.checkpoint === undefined
    )
      return;
    acks.push({
      key: parsed.key,
      index: BigInt(parsed.index),
      treeSize: BigInt(parsed.treeSize),
      checkpoint: parsed.checkpoint,
    });
    for (const waiter of waiters.filter((w) => acks.length >= w.target)) {
      waiters.splice(waiters.indexOf(waiter), 1);
      waiter.resolve();
    }
  });
  const exited = new Promise<number | null>((resolve) => {
    child.on('exit', (code) => {
      failReady(new Error(`writer exited (${code}) before it was ready: ${stderr}`));
      for (const waiter of waiters.splice(0)) waiter.resolve();
      resolve(code);
    });
  });
  return {
    child,
    acks,
    ready,
    exited,
    waitForAcks(count) {
      const target = acks.length + count;
      if (child.exitCode !== null) return Promise.resolve();
      return new Promise((resolve) => waiters.push({ target, resolve }));
    },
    async kill() {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

/**
 * The checker: the log must hold every acknowledged entry at its acknowledged index with a proof
 * that verifies, every checkpoint ever returned must be consistent with the final one, the sizes
 * must never go backwards per writer, and the recomputed root must match the last checkpoint.
 */
export async function assertLogHoldsAcknowledged(
  storage: Storage,
  identity: LogIdentity,
  acks: readonly Acknowledgement[],
): Promise<void> {
  const report = await checkLogIntegrity(storage, identity);
  assert.equal(report.ok, true, `integrity: ${report.problem}`);
  const reader = createLogReader(storage.log, {
    origin: identity.origin,
    logId: new Uint8Array(32),
    publicKeySpki: new Uint8Array(),
  });
  const final = await reader.latestCheckpoint();
  const stored = await storage.log.findEntriesByIdempotencyKeys(acks.map((a) => a.key));
  const byKey = new Map(stored.map((e) => [e.idempotencyKey, e]));
  for (const ack of acks) {
    const entry = byKey.get(ack.key);
    assert.ok(entry, `acknowledged entry ${ack.key} is missing from the log`);
    assert.equal(entry.index, ack.index, `entry ${ack.key} moved`);
  }
  assert.equal(
    new Set(acks.map((a) => a.index)).size,
    acks.length,
    'two acknowledgements share an index',
  );
  const keys = new Set(stored.map((e) => e.idempotencyKey));
  assert.equal(keys.size, stored.length, 'an idempotency key is in the log twice');

  // Proofs: each acknowledged entry is included in the final tree.
  for (const ack of acks.filter((_, i) => i % Math.max(1, Math.floor(acks.length / 200)) === 0)) {
    const proof = await reader.inclusionProof(ack.index, final.treeSize);
    verifyInclusionProof({
      index: ack.index,
      treeSize: final.treeSize,
      leafHash: hashLeaf(new TextEncoder().encode(ack.key)),
      proof: proof.hashes,
      rootHash: final.rootHash,
    });
  }
  // Every checkpoint handed out is a prefix of the final tree.
  const checkpoints = new Map<bigint, Uint8Array>();
  for (const ack of acks) {
    const opened = openCheckpoint(ack.checkpoint, {
      origin: identity.origin,
      verifiers: [identity.verifier],
    });
    const seen = checkpoints.get(opened.treeSize);
    if (seen !== undefined)
      assert.deepEqual(seen, opened.rootHash, `two roots for tree size ${opened.treeSize}`);
    checkpoints.set(opened.treeSize, opened.rootHash);
  }
  for (const [size, root] of checkpoints) {
    if (size === 0n || size === final.treeSize) continue;
    const proof = await reader.consistencyProof(size, final.treeSize);
    verifyConsistencyProof({
      size1: size,
      size2: final.treeSize,
      proof: proof.hashes,
      root1: root,
      root2: final.rootHash,
    });
  }
}
