import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';
import {
  EMPTY_FRONTIER,
  MAX_TREE_SIZE,
  appendLeafHashes,
  assembleRoot,
  hashChildren,
  hashEmptyTree,
  hashLeaf,
  planRoot,
  type MerkleNode,
  type NodeId,
} from './merkle.ts';
import {
  MAX_CONSISTENCY_PROOF_HASHES,
  MAX_INCLUSION_PROOF_HASHES,
  assembleConsistencyProof,
  assembleInclusionProof,
  planConsistencyProof,
  planInclusionProof,
  proveTrailingLeaves,
  proveTrailingLeavesFromNodes,
  rootFromInclusionProof,
  verifyConsistencyProof,
  verifyInclusionProof,
  type ProofPlan,
} from './proof.ts';
import { requireSharedData, sharedPath } from '../../../test/support/shared-data.ts';

const VECTORS_DIR = sharedPath('vectors', 'rfc6962');

/** Seeded xorshift32, so a failing run can be replayed. */
function createRandom(seed: number): (bound: number) => number {
  let state = seed >>> 0 || 1;
  return (bound) => {
    state ^= state << 13;
    state >>>= 0;
    state ^= state >>> 17;
    state ^= state << 5;
    state >>>= 0;
    return state % bound;
  };
}

function randomBigInt(random: (bound: number) => number, below: bigint): bigint {
  let value = 0n;
  for (let i = 0; i < 3; i++) value = (value << 32n) | BigInt(random(2 ** 32));
  return value % below;
}

/**
 * RFC 6962 §2.1 straight from the definitions: MTH, PATH (§2.1.1) and PROOF/SUBPROOF (§2.1.2),
 * over an array of leaf hashes. MTH is memoised by range only to keep 10,000-leaf trees fast.
 */
class ReferenceTree {
  readonly #leaves: readonly Uint8Array[];
  readonly #memo = new Map<string, Uint8Array>();

  constructor(leaves: readonly Uint8Array[]) {
    this.#leaves = leaves;
  }

  mth(lo: number, hi: number): Uint8Array {
    if (hi - lo === 0) return hashEmptyTree();
    if (hi - lo === 1) return this.#leaves[lo] as Uint8Array;
    const key = `${lo}:${hi}`;
    const cached = this.#memo.get(key);
    if (cached) return cached;
    const k = largestPowerOfTwoBelow(hi - lo);
    const hash = hashChildren(this.mth(lo, lo + k), this.mth(lo + k, hi));
    this.#memo.set(key, hash);
    return hash;
  }

  path(m: number, lo: number, hi: number): Uint8Array[] {
    if (hi - lo <= 1) return [];
    const k = largestPowerOfTwoBelow(hi - lo);
    return m < k
      ? [...this.path(m, lo, lo + k), this.mth(lo + k, hi)]
      : [...this.path(m - k, lo + k, hi), this.mth(lo, lo + k)];
  }

  proof(m: number, n: number): Uint8Array[] {
    return this.#subproof(m, 0, n, true);
  }

  #subproof(m: number, lo: number, hi: number, b: boolean): Uint8Array[] {
    if (m === hi - lo) return b ? [] : [this.mth(lo, hi)];
    const k = largestPowerOfTwoBelow(hi - lo);
    return m <= k
      ? [...this.#subproof(m, lo, lo + k, b), this.mth(lo + k, hi)]
      : [...this.#subproof(m - k, lo + k, hi, false), this.mth(lo, lo + k)];
  }
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** The same §2.1.1/§2.1.2 recursions over leaf ranges only: exact for any uint64 size. */
function referencePathRanges(m: bigint, lo: bigint, hi: bigint): [bigint, bigint][] {
  if (hi - lo <= 1n) return [];
  const k = largestBigPowerOfTwoBelow(hi - lo);
  return m < k
    ? [...referencePathRanges(m, lo, lo + k), [lo + k, hi]]
    : [...referencePathRanges(m - k, lo + k, hi), [lo, lo + k]];
}

function referenceSubproofRanges(
  m: bigint,
  lo: bigint,
  hi: bigint,
  b: boolean,
): [bigint, bigint][] {
  if (m === hi - lo) return b ? [] : [[lo, hi]];
  const k = largestBigPowerOfTwoBelow(hi - lo);
  return m <= k
    ? [...referenceSubproofRanges(m, lo, lo + k, b), [lo + k, hi]]
    : [...referenceSubproofRanges(m - k, lo + k, hi, false), [lo, lo + k]];
}

function largestBigPowerOfTwoBelow(n: bigint): bigint {
  return 1n << BigInt((n - 1n).toString(2).length - 1);
}

/** The leaf range each proof hash of a plan covers, checking its nodes are adjacent. */
function planRanges(plan: ProofPlan): [bigint, bigint][] {
  const ranges: [bigint, bigint][] = [];
  let offset = 0;
  for (const span of plan.spans) {
    const nodes = plan.nodes.slice(offset, offset + span);
    offset += span;
    let end: bigint | undefined;
    let start: bigint | undefined;
    for (const node of nodes) {
      const nodeStart = node.index << BigInt(node.level);
      if (end !== undefined) assert.equal(nodeStart, end, 'ephemeral node parts must be adjacent');
      start ??= nodeStart;
      end = nodeStart + (1n << BigInt(node.level));
    }
    ranges.push([start as bigint, end as bigint]);
  }
  assert.equal(offset, plan.nodes.length);
  return ranges;
}

/**
 * A tree whose leaves are all equal has one hash per level, so any node of any size is known
 * without building the tree: enough to run plan, assemble and verify end to end at 2^64 scale.
 */
function uniformTree() {
  const levelHashes = [hashLeaf(new Uint8Array())];
  for (let l = 1; l < 64; l++) {
    const below = levelHashes[l - 1] as Uint8Array;
    levelHashes.push(hashChildren(below, below));
  }
  const fetch = (ids: readonly NodeId[]) => ids.map((id) => levelHashes[id.level] as Uint8Array);
  const rootAt = (size: bigint) => assembleRoot(planRoot(size), fetch(planRoot(size).nodes));
  return { levelHashes, fetch, rootAt };
}

/** A log built the way the sequencer builds it: random batches, every completed node stored. */
function buildLog(count: number, random: (bound: number) => number) {
  const leaves = Array.from({ length: count }, (_, i) =>
    hashLeaf(new TextEncoder().encode(`entry ${i}`)),
  );
  const store = new Map<string, Uint8Array>();
  let frontier = EMPTY_FRONTIER;
  for (let at = 0; at < count;) {
    const batch = leaves.slice(at, at + 1 + random(300));
    const result = appendLeafHashes(frontier, batch);
    for (const node of result.nodes) store.set(`${node.level}/${node.index}`, node.hash);
    frontier = result.frontier;
    at += batch.length;
  }
  const fetch = (ids: readonly NodeId[]): Uint8Array[] =>
    ids.map((id) => {
      const hash = store.get(`${id.level}/${id.index}`);
      assert.ok(hash, `plan asked for node ${id.level}/${id.index}, which was never stored`);
      return hash;
    });
  const rootAt = (size: bigint): Uint8Array => {
    const plan = planRoot(size);
    return assembleRoot(plan, fetch(plan.nodes));
  };
  return { leaves, reference: new ReferenceTree(leaves), fetch, rootAt };
}

type Log = ReturnType<typeof buildLog>;

function checkInclusion(log: Log, index: number, size: number): void {
  const plan = planInclusionProof(BigInt(index), BigInt(size));
  const proof = assembleInclusionProof(plan, log.fetch(plan.nodes));
  assert.deepEqual(proof, log.reference.path(index, 0, size), `inclusion ${index} in ${size}`);
  const rootHash = log.reference.mth(0, size);
  const leafHash = log.leaves[index] as Uint8Array;
  verifyInclusionProof({ index: BigInt(index), treeSize: BigInt(size), leafHash, proof, rootHash });
  const wrongLeaf = log.leaves[(index + 1) % log.leaves.length] as Uint8Array;
  if (size > 1) {
    assert.throws(
      () =>
        verifyInclusionProof({
          index: BigInt(index),
          treeSize: BigInt(size),
          leafHash: wrongLeaf,
          proof,
          rootHash,
        }),
      { code: 'VERIFICATION_FAILED' },
    );
  }
}

function checkConsistency(log: Log, size1: number, size2: number): void {
  const plan = planConsistencyProof(BigInt(size1), BigInt(size2));
  const proof = assembleConsistencyProof(plan, log.fetch(plan.nodes));
  const expected = size1 === size2 ? [] : log.reference.proof(size1, size2);
  assert.deepEqual(proof, expected, `consistency ${size1} -> ${size2}`);
  const root1 = log.rootAt(BigInt(size1));
  const root2 = log.rootAt(BigInt(size2));
  assert.deepEqual(root1, log.reference.mth(0, size1));
  assert.deepEqual(root2, log.reference.mth(0, size2));
  verifyConsistencyProof({ size1: BigInt(size1), size2: BigInt(size2), proof, root1, root2 });
  if (size1 < size2) {
    assert.throws(
      () =>
        verifyConsistencyProof({
          size1: BigInt(size1),
          size2: BigInt(size2),
          proof,
          root1: root2,
          root2,
        }),
      { code: 'VERIFICATION_FAILED' },
    );
  }
}

interface InclusionVector {
  readonly leafIdx: number;
  readonly treeSize: number;
  readonly root: string;
  readonly leafHash: string;
  readonly proof: readonly string[] | null;
  readonly desc: string;
  readonly wantErr: boolean;
}

interface ConsistencyVector {
  readonly size1: number;
  readonly size2: number;
  readonly root1: string;
  readonly root2: string;
  readonly proof: readonly string[] | null;
  readonly desc: string;
  readonly wantErr: boolean;
}

const bytes = (base64: string): Uint8Array => new Uint8Array(Buffer.from(base64, 'base64'));

function readVectors(kind: 'inclusion' | 'consistency'): { file: string; vector: unknown }[] {
  const dir = path.join(VECTORS_DIR, kind);
  return readdirSync(dir, { recursive: true, encoding: 'utf8' })
    .filter((file) => file.endsWith('.json'))
    .sort()
    .map((file) => ({
      file: `${kind}/${file}`,
      vector: JSON.parse(readFileSync(path.join(dir, file), 'utf8')) as unknown,
    }));
}

describe('RFC 6962 proof vectors (transparency-dev/merkle)', () => {
  if (!requireSharedData(VECTORS_DIR, 'the RFC 6962 proof vectors')) return;

  const inclusion = readVectors('inclusion');
  const consistency = readVectors('consistency');

  it('include both kinds, with failures and successes', () => {
    assert.ok(inclusion.length >= 90, `only ${inclusion.length} inclusion vectors`);
    assert.ok(consistency.length >= 90, `only ${consistency.length} consistency vectors`);
  });

  describe('verifyInclusionProof', () => {
    for (const { file, vector } of inclusion) {
      const v = vector as InclusionVector;
      it(`${v.wantErr ? 'rejects' : 'accepts'} ${file} (${v.desc})`, () => {
        assert.equal(typeof v.wantErr, 'boolean');
        const claim = {
          index: BigInt(v.leafIdx),
          treeSize: BigInt(v.treeSize),
          leafHash: bytes(v.leafHash),
          proof: (v.proof ?? []).map(bytes),
          rootHash: bytes(v.root),
        };
        if (v.wantErr)
          assert.throws(() => verifyInclusionProof(claim), { code: 'VERIFICATION_FAILED' });
        else verifyInclusionProof(claim);
      });
    }
  });

  describe('verifyConsistencyProof', () => {
    for (const { file, vector } of consistency) {
      const v = vector as ConsistencyVector;
      it(`${v.wantErr ? 'rejects' : 'accepts'} ${file} (${v.desc})`, () => {
        assert.equal(typeof v.wantErr, 'boolean');
        const claim = {
          size1: BigInt(v.size1),
          size2: BigInt(v.size2),
          proof: (v.proof ?? []).map(bytes),
          root1: bytes(v.root1),
          root2: bytes(v.root2),
        };
        if (v.wantErr)
          assert.throws(() => verifyConsistencyProof(claim), { code: 'VERIFICATION_FAILED' });
        else verifyConsistencyProof(claim);
      });
    }
  });
});

describe('planInclusionProof and assembleInclusionProof', () => {
  describe('for every leaf of every tree up to 48 leaves', () => {
    it('produce the RFC 6962 PATH, which verifies', () => {
      const log = buildLog(48, createRandom(1));
      for (let size = 1; size <= 48; size++) {
        for (let index = 0; index < size; index++) checkInclusion(log, index, size);
      }
    });
  });

  describe('for sampled leaves of random trees up to 10,000 leaves', () => {
    it('produce the RFC 6962 PATH, which verifies', () => {
      const random = createRandom(0xc0ffee);
      for (const count of [10_000, 1 + random(10_000), 1 + random(10_000)]) {
        const log = buildLog(count, random);
        for (let s = 0; s < 30; s++) {
          const size = s === 0 ? count : 1 + random(count);
          const index = s % 3 === 0 ? size - 1 : random(size);
          checkInclusion(log, index, size);
        }
      }
    });
  });

  describe('when the index and size are beyond 2^53', () => {
    it('plan the same subtrees as the RFC 6962 PATH recursion', () => {
      const random = createRandom(99);
      const sizes = [MAX_TREE_SIZE, 1n << 63n, (1n << 63n) + 1n, (1n << 53n) + 1n];
      for (let s = 0; s < 40; s++)
        sizes.push((1n << 53n) + randomBigInt(random, MAX_TREE_SIZE - (1n << 53n)));
      for (const size of sizes) {
        for (const index of [0n, size - 1n, randomBigInt(random, size), size >> 1n]) {
          const plan = planInclusionProof(index, size);
          assert.deepEqual(
            planRanges(plan),
            referencePathRanges(index, 0n, size),
            `${index} in ${size}`,
          );
          assert.ok(plan.spans.length <= MAX_INCLUSION_PROOF_HASHES);
        }
      }
    });

    it('assemble proofs that verify against the assembled root', () => {
      const { levelHashes, fetch } = uniformTree();
      const random = createRandom(5);
      for (let s = 0; s < 30; s++) {
        const treeSize = (1n << 53n) + randomBigInt(random, MAX_TREE_SIZE - (1n << 53n));
        const index = randomBigInt(random, treeSize);
        const rootPlan = planRoot(treeSize);
        const rootHash = assembleRoot(rootPlan, fetch(rootPlan.nodes));
        const plan = planInclusionProof(index, treeSize);
        const proof = assembleInclusionProof(plan, fetch(plan.nodes));
        const leafHash = levelHashes[0] as Uint8Array;
        verifyInclusionProof({ index, treeSize, leafHash, proof, rootHash });
        assert.throws(
          () =>
            verifyInclusionProof({
              index,
              treeSize,
              leafHash: levelHashes[1] as Uint8Array,
              proof,
              rootHash,
            }),
          { code: 'VERIFICATION_FAILED' },
        );

        const size1 = 1n + randomBigInt(random, treeSize);
        const root1Plan = planRoot(size1);
        const root1 = assembleRoot(root1Plan, fetch(root1Plan.nodes));
        const consistencyPlan = planConsistencyProof(size1, treeSize);
        const consistency = assembleConsistencyProof(consistencyPlan, fetch(consistencyPlan.nodes));
        verifyConsistencyProof({
          size1,
          size2: treeSize,
          proof: consistency,
          root1,
          root2: rootHash,
        });
      }
    });
  });

  describe('when the tree has a million leaves', () => {
    it('plans O(log n) stored nodes', () => {
      const random = createRandom(3);
      for (let s = 0; s < 100; s++) {
        const treeSize = 1_000_000n + BigInt(random(1000));
        const plan = planInclusionProof(BigInt(random(1_000_000)), treeSize);
        // 20 levels: at most one proof hash per level, an ephemeral one made of at most 20 nodes.
        assert.ok(plan.spans.length <= 20 && plan.nodes.length <= 40, `${plan.nodes.length} nodes`);
      }
    });
  });

  describe('when the index is not below the tree size', () => {
    it('throws INVALID_INPUT', () => {
      assert.throws(() => planInclusionProof(5n, 5n), { code: 'INVALID_INPUT' });
      assert.throws(() => planInclusionProof(0n, 0n), { code: 'INVALID_INPUT' });
      assert.throws(() => planInclusionProof(-1n, 5n), { code: 'INVALID_INPUT' });
      assert.throws(() => planInclusionProof(0n, MAX_TREE_SIZE + 1n), { code: 'INVALID_INPUT' });
    });
  });

  describe('when the fetched hashes do not match the plan', () => {
    it('throws INTERNAL', () => {
      const plan = planInclusionProof(2n, 7n);
      assert.throws(() => assembleInclusionProof(plan, []), { code: 'INTERNAL' });
      const short = plan.nodes.map(() => new Uint8Array(31));
      assert.throws(() => assembleInclusionProof(plan, short), { code: 'INTERNAL' });
    });
  });
});

/**
 * A made-up hash per node id, for trees too large to build: only which nodes a proof picks, and in
 * which order, is compared.
 */
function syntheticNode(level: number, index: bigint): Uint8Array {
  return new Uint8Array(
    createHash('sha256')
      .update(`${String(level)}/${String(index)}`)
      .digest(),
  );
}

describe('proveTrailingLeaves', () => {
  describe('for every batch boundary of trees up to 70 leaves', () => {
    it('gives each leaf the RFC 6962 PATH, as plan + assemble does', () => {
      const log = buildLog(70, createRandom(5));
      for (let size = 1; size <= 70; size++) {
        for (let start = 0; start < size; start++) {
          const proofs = proveTrailingLeaves(BigInt(start), BigInt(size), (level, index) => {
            const [hash] = log.fetch([{ level, index }]);
            return hash as Uint8Array;
          });
          assert.equal(proofs.length, size - start);
          proofs.forEach((proof, i) =>
            assert.deepEqual(
              proof,
              log.reference.path(start + i, 0, size),
              `${start + i} in ${size}`,
            ),
          );
        }
      }
    });
  });

  describe('on both sides of 2^52 leaves, where it switches from Number to BigInt arithmetic', () => {
    it('gives the same proofs as plan + assemble', () => {
      const lookup = syntheticNode;
      for (const size of [2n ** 52n - 3n, 2n ** 52n, 2n ** 52n + 5n, 2n ** 63n + 77n]) {
        const start = size - 9n;
        const proofs = proveTrailingLeaves(start, size, lookup);
        proofs.forEach((proof, i) => {
          const plan = planInclusionProof(start + BigInt(i), size);
          const expected = assembleInclusionProof(
            plan,
            plan.nodes.map((node) => lookup(node.level, node.index)),
          );
          assert.deepEqual(proof, expected, `${String(start + BigInt(i))} in ${String(size)}`);
        });
      }
    });
  });

  describe('FromNodes, given exactly the nodes the proofs use', () => {
    it('gives the same proofs, in Number and in BigInt arithmetic, and names a missing node', () => {
      const synthetic = syntheticNode;
      for (const [start, size] of [
        [0n, 1n],
        [3n, 70n],
        [1000n, 1337n],
        [2n ** 52n - 40n, 2n ** 52n],
        [2n ** 60n + 1n, 2n ** 60n + 33n],
      ] as const) {
        const used = new Map<string, MerkleNode>();
        const expected = proveTrailingLeaves(start, size, (level, index) => {
          used.set(`${String(level)}/${String(index)}`, {
            level,
            index,
            hash: synthetic(level, index),
          });
          return synthetic(level, index);
        });
        const nodes = [...used.values()];
        assert.deepEqual(proveTrailingLeavesFromNodes(start, size, nodes), expected);
        if (nodes.length > 0) {
          assert.throws(() => proveTrailingLeavesFromNodes(start, size, nodes.slice(1)), {
            code: 'INTERNAL',
          });
        }
      }
    });
  });

  describe('when start is not below the tree size', () => {
    it('throws INVALID_INPUT', () => {
      assert.throws(() => proveTrailingLeavesFromNodes(5n, 5n, []), { code: 'INVALID_INPUT' });
      assert.throws(() => proveTrailingLeaves(5n, 5n, () => new Uint8Array(32)), {
        code: 'INVALID_INPUT',
      });
    });
  });
});

describe('planConsistencyProof and assembleConsistencyProof', () => {
  describe('for every pair of sizes up to 48 leaves', () => {
    it('produce the RFC 6962 PROOF, which verifies', () => {
      const log = buildLog(48, createRandom(2));
      for (let size2 = 1; size2 <= 48; size2++) {
        for (let size1 = 1; size1 <= size2; size1++) checkConsistency(log, size1, size2);
      }
    });
  });

  describe('for sampled sizes of random trees up to 10,000 leaves', () => {
    it('produce the RFC 6962 PROOF, which verifies', () => {
      const random = createRandom(0xbeef);
      for (const count of [10_000, 1 + random(10_000)]) {
        const log = buildLog(count, random);
        for (let s = 0; s < 30; s++) {
          const size2 = s === 0 ? count : 1 + random(count);
          const size1 = s % 4 === 0 ? 2 ** Math.floor(Math.log2(size2)) : 1 + random(size2);
          checkConsistency(log, size1, size2);
        }
      }
    });
  });

  describe('when the sizes are beyond 2^53', () => {
    it('plan the same subtrees as the RFC 6962 SUBPROOF recursion', () => {
      const random = createRandom(11);
      for (let s = 0; s < 60; s++) {
        const size2 =
          s === 0 ? MAX_TREE_SIZE : (1n << 53n) + randomBigInt(random, MAX_TREE_SIZE - (1n << 53n));
        const size1 = s % 5 === 0 ? 1n << BigInt(random(53)) : 1n + randomBigInt(random, size2);
        const plan = planConsistencyProof(size1, size2);
        const expected = size1 === size2 ? [] : referenceSubproofRanges(size1, 0n, size2, true);
        assert.deepEqual(planRanges(plan), expected, `${size1} -> ${size2}`);
        assert.ok(plan.spans.length <= MAX_CONSISTENCY_PROOF_HASHES);
      }
    });
  });

  describe('when size1 is odd and size2 is past 2^63', () => {
    it('plans and verifies the longest possible proof, 65 hashes', () => {
      const { fetch, rootAt } = uniformTree();
      const plan = planConsistencyProof(3n, MAX_TREE_SIZE);
      assert.equal(plan.spans.length, MAX_CONSISTENCY_PROOF_HASHES);
      const proof = assembleConsistencyProof(plan, fetch(plan.nodes));
      const claim = {
        size1: 3n,
        size2: MAX_TREE_SIZE,
        proof,
        root1: rootAt(3n),
        root2: rootAt(MAX_TREE_SIZE),
      };
      verifyConsistencyProof(claim);
      assert.throws(
        () => verifyConsistencyProof({ ...claim, proof: [...proof, proof[0] as Uint8Array] }),
        {
          code: 'VERIFICATION_FAILED',
        },
      );
    });
  });

  describe('when the sizes are equal', () => {
    it('plans an empty proof', () => {
      assert.deepEqual(assembleConsistencyProof(planConsistencyProof(9n, 9n), []), []);
      assert.deepEqual(assembleConsistencyProof(planConsistencyProof(0n, 0n), []), []);
    });
  });

  describe('when size1 is larger than size2 or is 0 below a non-empty size2', () => {
    it('throws INVALID_INPUT', () => {
      assert.throws(() => planConsistencyProof(4n, 3n), { code: 'INVALID_INPUT' });
      assert.throws(() => planConsistencyProof(0n, 3n), { code: 'INVALID_INPUT' });
      assert.throws(() => planConsistencyProof(1n, MAX_TREE_SIZE + 1n), { code: 'INVALID_INPUT' });
    });
  });
});

describe('verifyInclusionProof', () => {
  const log = buildLog(11, createRandom(4));
  const valid = () => {
    const plan = planInclusionProof(3n, 11n);
    return {
      index: 3n,
      treeSize: 11n,
      leafHash: log.leaves[3] as Uint8Array,
      proof: assembleInclusionProof(plan, log.fetch(plan.nodes)),
      rootHash: log.reference.mth(0, 11),
    };
  };

  it('accepts a proof the log produced', () => {
    verifyInclusionProof(valid());
    assert.deepEqual(rootFromInclusionProof(valid()), log.reference.mth(0, 11));
  });

  const rejections: [string, (claim: ReturnType<typeof valid>) => object][] = [
    ['the index is past the tree size', (c) => ({ ...c, index: 11n })],
    ['the index is negative', (c) => ({ ...c, index: -1n })],
    ['the tree size is 0', (c) => ({ ...c, index: 0n, treeSize: 0n })],
    ['the tree size is past 2^64 - 1', (c) => ({ ...c, treeSize: MAX_TREE_SIZE + 1n })],
    ['the leaf hash is not 32 bytes', (c) => ({ ...c, leafHash: c.leafHash.subarray(1) })],
    ['the root hash is not 32 bytes', (c) => ({ ...c, rootHash: new Uint8Array(33) })],
    [
      'a proof hash is not 32 bytes',
      (c) => ({ ...c, proof: [c.proof[0]?.subarray(0, 31), ...c.proof.slice(1)] }),
    ],
    ['the proof has a hash too many', (c) => ({ ...c, proof: [...c.proof, c.leafHash] })],
    ['the proof has a hash too few', (c) => ({ ...c, proof: c.proof.slice(0, -1) })],
    [
      'the proof has more than 64 hashes',
      (c) => ({ ...c, proof: Array.from({ length: 65 }, () => c.leafHash) }),
    ],
    [
      'two proof hashes are swapped',
      (c) => ({ ...c, proof: [c.proof[1], c.proof[0], ...c.proof.slice(2)] }),
    ],
    ['the index is another leaf of the same tree', (c) => ({ ...c, index: 2n })],
  ];
  for (const [when, tamper] of rejections) {
    describe(`when ${when}`, () => {
      it('throws VERIFICATION_FAILED', () => {
        const claim = tamper(valid()) as Parameters<typeof verifyInclusionProof>[0];
        assert.throws(() => verifyInclusionProof(claim), { code: 'VERIFICATION_FAILED' });
      });
    });
  }
});

describe('verifyConsistencyProof', () => {
  const log = buildLog(13, createRandom(6));
  const valid = () => {
    const plan = planConsistencyProof(6n, 13n);
    return {
      size1: 6n,
      size2: 13n,
      proof: assembleConsistencyProof(plan, log.fetch(plan.nodes)),
      root1: log.reference.mth(0, 6),
      root2: log.reference.mth(0, 13),
    };
  };

  it('accepts a proof the log produced', () => {
    verifyConsistencyProof(valid());
  });

  it('accepts two empty trees with the empty-tree root', () => {
    verifyConsistencyProof({
      size1: 0n,
      size2: 0n,
      proof: [],
      root1: hashEmptyTree(),
      root2: hashEmptyTree(),
    });
  });

  const rejections: [string, (claim: ReturnType<typeof valid>) => object][] = [
    ['size1 is larger than size2', (c) => ({ ...c, size1: 14n })],
    ['size1 is 0 and size2 is not', (c) => ({ ...c, size1: 0n, root1: hashEmptyTree() })],
    ['a size is past 2^64 - 1', (c) => ({ ...c, size2: MAX_TREE_SIZE + 1n })],
    [
      'the sizes are equal but the proof is not empty',
      (c) => ({ ...c, size1: 13n, root1: c.root2 }),
    ],
    ['the sizes are equal but the roots differ', (c) => ({ ...c, size1: 13n, proof: [] })],
    [
      'both sizes are 0 but the roots are not the empty-tree hash',
      (c) => ({ ...c, size1: 0n, size2: 0n, proof: [], root2: c.root1 }),
    ],
    ['root1 is not 32 bytes', (c) => ({ ...c, root1: c.root1.subarray(2) })],
    [
      'a proof hash is not 32 bytes',
      (c) => ({ ...c, proof: [new Uint8Array(64), ...c.proof.slice(1)] }),
    ],
    ['the proof is empty', (c) => ({ ...c, proof: [] })],
    ['the proof has a hash too many', (c) => ({ ...c, proof: [...c.proof, c.root1] })],
    ['the proof has a hash too few', (c) => ({ ...c, proof: c.proof.slice(0, -1) })],
    [
      'the proof has more than 65 hashes',
      (c) => ({ ...c, proof: Array.from({ length: 66 }, () => c.root1) }),
    ],
    ['root2 belongs to another size', (c) => ({ ...c, root2: log.reference.mth(0, 12) })],
    ['root1 belongs to another size', (c) => ({ ...c, root1: log.reference.mth(0, 5) })],
  ];
  for (const [when, tamper] of rejections) {
    describe(`when ${when}`, () => {
      it('throws VERIFICATION_FAILED', () => {
        const claim = tamper(valid()) as Parameters<typeof verifyConsistencyProof>[0];
        assert.throws(() => verifyConsistencyProof(claim), { code: 'VERIFICATION_FAILED' });
      });
    });
  }
});
