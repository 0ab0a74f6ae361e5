/**
 * RFC 9162 §2.1.3 inclusion proofs and §2.1.4 consistency proofs: planning (which stored
 * complete-subtree nodes to fetch), assembly (the proof from the fetched hashes) and verification.
 *
 * A proof hash is either a stored node or an *ephemeral* node: the root of an incomplete subtree
 * on the right edge of the tree, which the log never stores and rebuilds by folding the complete
 * subtrees covering the same leaves. Plans list the stored nodes in order plus how many of them
 * make up each proof hash, so planning and assembly are O(log n) with no tree walk.
 *
 * Verification follows RFC 9162 §2.1.3.2 and §2.1.4.2 literally. Proofs, sizes, indices and
 * hashes given to the verifiers are attacker-controlled.
 */
import { AppError } from '../errors.ts';
import { equalBytes } from './bytes.ts';
import type { MerkleNode } from './merkle.ts';
import {
  HASH_SIZE,
  MAX_TREE_SIZE,
  assertFetched,
  assertTreeSize,
  bitLength,
  decomposeRange,
  foldRight,
  hashChildren,
  hashEmptyTree,
  type NodeId,
} from './merkle.ts';

/** An inclusion proof has at most one hash per level: 64 in a tree of at most 2^64 - 1 leaves. */
export const MAX_INCLUSION_PROOF_HASHES = 64;
/**
 * A consistency proof has at most ceil(log2(size2)) + 1 hashes: the path of the old tree's last
 * complete subtree plus that subtree itself. 65 for a tree of at most 2^64 - 1 leaves.
 */
export const MAX_CONSISTENCY_PROOF_HASHES = 65;

/** Which stored nodes a proof needs and how they group into proof hashes. */
export interface ProofPlan {
  /** Stored nodes to fetch, in the order `assemble*` expects their hashes. */
  readonly nodes: readonly NodeId[];
  /**
   * For each proof hash, leaf to root: how many consecutive entries of `nodes` make it up.
   * 1 for a stored node; more for an ephemeral right-edge node, folded right to left.
   */
  readonly spans: readonly number[];
}

/** The plan of an inclusion proof for leaf `index` in the tree of `treeSize` leaves. */
export interface InclusionProofPlan extends ProofPlan {
  readonly index: bigint;
  readonly treeSize: bigint;
}

/** The plan of a consistency proof from the tree of `size1` leaves to the tree of `size2`. */
export interface ConsistencyProofPlan extends ProofPlan {
  readonly size1: bigint;
  readonly size2: bigint;
}

/** An inclusion proof to check (RFC 9162 §2.1.3.2). Every field is attacker-controlled. */
export interface InclusionProofInput {
  readonly index: bigint;
  readonly treeSize: bigint;
  readonly leafHash: Uint8Array;
  /** Audit path, leaf to root. */
  readonly proof: readonly Uint8Array[];
}

/** An inclusion proof and the root it must lead to. */
export interface InclusionProofClaim extends InclusionProofInput {
  readonly rootHash: Uint8Array;
}

/** A consistency proof to check (RFC 9162 §2.1.4.2). Every field is attacker-controlled. */
export interface ConsistencyProofClaim {
  readonly size1: bigint;
  readonly size2: bigint;
  /** Consistency path, leaf to root. */
  readonly proof: readonly Uint8Array[];
  readonly root1: Uint8Array;
  readonly root2: Uint8Array;
}

/**
 * Plans the inclusion proof of leaf `index` in the tree of `treeSize` leaves: RFC 9162 §2.1.3.1
 * PATH(index, D[treeSize]) as stored nodes.
 *
 * @throws {@link AppError} INVALID_INPUT when `treeSize` is outside 1..2^64 - 1 or `index` is not
 *   below it.
 */
export function planInclusionProof(index: bigint, treeSize: bigint): InclusionProofPlan {
  assertTreeSize(treeSize, 'treeSize');
  if (typeof index !== 'bigint' || index < 0n || index >= treeSize) {
    throw new AppError(
      'INVALID_INPUT',
      `leaf index must be in 0..treeSize-1 (treeSize ${treeSize})`,
    );
  }
  const nodes: NodeId[] = [];
  const spans: number[] = [];
  collectPath(nodes, spans, 0, index, treeSize);
  return { index, treeSize, nodes, spans };
}

/**
 * Plans the consistency proof from `size1` to `size2`: RFC 9162 §2.1.4.1 PROOF(size1, D[size2])
 * as stored nodes. Equal sizes give an empty proof.
 *
 * @throws {@link AppError} INVALID_INPUT when a size is out of range, `size1 > size2`, or
 *   `size1` is 0 while `size2` is not (nothing can be proven from the empty tree).
 */
export function planConsistencyProof(size1: bigint, size2: bigint): ConsistencyProofPlan {
  assertTreeSize(size1, 'size1');
  assertTreeSize(size2, 'size2');
  if (size1 > size2) throw new AppError('INVALID_INPUT', 'size1 must not exceed size2');
  const nodes: NodeId[] = [];
  const spans: number[] = [];
  if (size1 === size2) return { size1, size2, nodes, spans };
  if (size1 === 0n) {
    throw new AppError('INVALID_INPUT', 'a consistency proof from the empty tree proves nothing');
  }
  // The proof starts at the smallest complete subtree of the old tree, the one that ends at
  // size1 (level = trailing zeros of size1), and climbs the new tree from there (§2.1.4.1
  // SUBPROOF ends there). Its own hash is omitted when it is the whole old tree: the verifier
  // already has root1.
  const level = trailingZeros(size1);
  const index = (size1 >> BigInt(level)) - 1n;
  if (index !== 0n) {
    nodes.push({ level, index });
    spans.push(1);
  }
  collectPath(nodes, spans, level, index, size2);
  return { size1, size2, nodes, spans };
}

/**
 * The RFC 9162 inclusion proof (leaf to root) from the hashes of `plan.nodes`, in order.
 *
 * @throws {@link AppError} INTERNAL when the hashes do not match the plan (corrupt storage).
 */
export function assembleInclusionProof(
  plan: InclusionProofPlan,
  hashes: readonly Uint8Array[],
): Uint8Array[] {
  return assembleProof(plan, hashes);
}

/**
 * The RFC 9162 consistency proof (leaf to root) from the hashes of `plan.nodes`, in order.
 *
 * @throws {@link AppError} INTERNAL when the hashes do not match the plan (corrupt storage).
 */
export function assembleConsistencyProof(
  plan: ConsistencyProofPlan,
  hashes: readonly Uint8Array[],
): Uint8Array[] {
  return assembleProof(plan, hashes);
}

/**
 * The root an inclusion proof leads to (RFC 9162 §2.1.3.2), without comparing it to anything.
 *
 * @throws {@link AppError} VERIFICATION_FAILED when the index is not below the tree size, a hash is
 *   not 32 bytes, or the proof is longer than 64 hashes or has the wrong length for the index and
 *   size.
 */
export function rootFromInclusionProof(input: InclusionProofInput): Uint8Array {
  const { index, treeSize, leafHash, proof } = input;
  checkSize(treeSize, 'treeSize');
  if (typeof index !== 'bigint' || index < 0n) fail('leaf index must be a non-negative integer');
  if (index >= treeSize) fail(`leaf index ${index} is not below tree size ${treeSize}`);
  checkHash(leafHash, 'leaf hash');
  checkProofHashes(proof, MAX_INCLUSION_PROOF_HASHES);

  // RFC 9162 §2.1.3.2 steps 2-6. fn is the node's index at the current level; sn the index of the
  // last node at that level. Each proof hash is the left or right sibling depending on where fn
  // sits; on the right edge a node without a right sibling is promoted, hence the extra shifts.
  let fn = index;
  let sn = treeSize - 1n;
  let r = leafHash;
  for (const p of proof) {
    if (sn === 0n) fail('inclusion proof has more hashes than the index and tree size need');
    if ((fn & 1n) === 1n || fn === sn) {
      r = hashChildren(p, r);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      r = hashChildren(r, p);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) fail('inclusion proof has too few hashes for the index and tree size');
  return r;
}

/**
 * Checks an RFC 9162 §2.1.3.2 inclusion proof.
 *
 * @throws {@link AppError} VERIFICATION_FAILED when the proof is malformed (see
 *   `rootFromInclusionProof`), `rootHash` is not 32 bytes, or the computed root differs.
 */
export function verifyInclusionProof(claim: InclusionProofClaim): void {
  checkHash(claim.rootHash, 'root hash');
  const root = rootFromInclusionProof(claim);
  if (!equalBytes(root, claim.rootHash)) {
    fail(
      `inclusion proof for leaf ${claim.index} does not lead to the root of tree size ${claim.treeSize}`,
    );
  }
}

/**
 * Checks an RFC 9162 §2.1.4.2 consistency proof between the trees of `size1` and `size2` leaves.
 *
 * Equal sizes need an empty proof and equal roots; for size 0 both roots must be the empty-tree
 * hash. A proof from size 0 to a larger size is rejected: it would prove nothing.
 *
 * @throws {@link AppError} VERIFICATION_FAILED on any of: a size outside 0..2^64 - 1,
 *   `size1 > size2`, a proof longer than 65 hashes, a hash that is not 32 bytes, a proof of the
 *   wrong length, or a root that the proof does not reproduce.
 */
export function verifyConsistencyProof(claim: ConsistencyProofClaim): void {
  const { size1, size2, proof, root1, root2 } = claim;
  checkSize(size1, 'size1');
  checkSize(size2, 'size2');
  if (size1 > size2) fail(`size1 ${size1} is larger than size2 ${size2}`);
  checkProofHashes(proof, MAX_CONSISTENCY_PROOF_HASHES);

  if (size1 === size2) {
    // §2.1.4.2 step 1 is only defined for size1 < size2; equal sizes mean "same tree", which
    // an empty proof and identical roots show. The roots are compared as given (as the RFC 6962
    // vectors of transparency-dev/merkle expect), except that the empty tree has one known root.
    if (proof.length !== 0) fail('consistency proof between equal sizes must be empty');
    if (size1 === 0n && !equalBytes(root1, hashEmptyTree())) {
      fail('root of the empty tree must be SHA-256 of the empty string');
    }
    if (!equalBytes(root1, root2)) fail(`roots differ for the same tree size ${size1}`);
    return;
  }
  if (size1 === 0n) fail('a consistency proof from the empty tree proves nothing');
  checkHash(root1, 'root1');
  checkHash(root2, 'root2');
  if (proof.length === 0) fail('consistency proof is empty');

  // RFC 9162 §2.1.4.2 steps 2-7.
  const path = isPowerOfTwo(size1) ? [root1, ...proof] : proof;
  let fn = size1 - 1n;
  let sn = size2 - 1n;
  while ((fn & 1n) === 1n) {
    fn >>= 1n;
    sn >>= 1n;
  }
  const [first, ...rest] = path;
  if (first === undefined) fail('consistency proof is empty');
  let fr = first;
  let sr = first;
  for (const c of rest) {
    if (sn === 0n) fail('consistency proof has more hashes than the sizes need');
    if ((fn & 1n) === 1n || fn === sn) {
      fr = hashChildren(c, fr);
      sr = hashChildren(c, sr);
      while ((fn & 1n) === 0n && fn !== 0n) {
        fn >>= 1n;
        sn >>= 1n;
      }
    } else {
      sr = hashChildren(sr, c);
    }
    fn >>= 1n;
    sn >>= 1n;
  }
  if (sn !== 0n) fail('consistency proof has too few hashes for the sizes');
  if (!equalBytes(fr, root1)) fail(`consistency proof does not reproduce root1 of size ${size1}`);
  if (!equalBytes(sr, root2)) fail(`consistency proof does not reproduce root2 of size ${size2}`);
}

/**
 * Appends the sibling hashes on the way from node `(level, index)` to the root of the tree of
 * `size` leaves. A left sibling is always complete; a right sibling may be complete, absent
 * (the node is promoted: RFC 6962 trees have no single-child nodes) or an ephemeral node
 * covering `[start, size)`, listed as its complete subtrees.
 */
function collectPath(
  nodes: NodeId[],
  spans: number[],
  level: number,
  index: bigint,
  size: bigint,
): void {
  let i = index;
  for (let l = level; i !== 0n || 1n << BigInt(l) < size; l++) {
    const shift = BigInt(l);
    const sibling = i ^ 1n;
    const start = sibling << shift;
    if (start < size) {
      if ((sibling + 1n) << shift <= size) {
        nodes.push({ level: l, index: sibling });
        spans.push(1);
      } else {
        const parts = decomposeRange(start, size);
        nodes.push(...parts);
        spans.push(parts.length);
      }
    }
    i >>= 1n;
  }
}

function assembleProof(plan: ProofPlan, hashes: readonly Uint8Array[]): Uint8Array[] {
  assertFetched(plan.nodes.length, hashes);
  const proof: Uint8Array[] = [];
  let offset = 0;
  for (const span of plan.spans) {
    if (!Number.isInteger(span) || span < 1 || offset + span > hashes.length) {
      throw new AppError('INTERNAL', 'proof plan spans do not match its nodes');
    }
    proof.push(foldRight(hashes.slice(offset, offset + span)));
    offset += span;
  }
  if (offset !== hashes.length)
    throw new AppError('INTERNAL', 'proof plan spans do not match its nodes');
  return proof;
}

function trailingZeros(value: bigint): number {
  return bitLength(value & -value) - 1;
}

function isPowerOfTwo(value: bigint): boolean {
  return value > 0n && (value & (value - 1n)) === 0n;
}

function checkSize(value: bigint, name: string): void {
  if (typeof value !== 'bigint' || value < 0n || value > MAX_TREE_SIZE) {
    fail(`${name} must be an integer in 0..2^64-1`);
  }
}

function checkHash(hash: Uint8Array, name: string): void {
  if (!(hash instanceof Uint8Array) || hash.byteLength !== HASH_SIZE) {
    fail(`${name} must be ${HASH_SIZE} bytes`);
  }
}

function checkProofHashes(proof: readonly Uint8Array[], max: number): void {
  const hashes: readonly unknown[] = proof;
  if (!Array.isArray(hashes)) fail('proof must be an array of hashes');
  if (hashes.length > max) fail(`proof has more than ${max} hashes`);
  hashes.forEach((hash, i) => checkHash(hash as Uint8Array, `proof hash ${i}`));
}

function fail(message: string): never {
  throw new AppError('VERIFICATION_FAILED', message);
}

/**
 * Inclusion proofs of every leaf in `[start, treeSize)` in the tree of `treeSize` leaves: what the
 * sequencer hands back for a batch it just committed. Equal, leaf by leaf, to
 * `planInclusionProof` + `assembleInclusionProof`, but faster for many leaves: at each level only
 * the rightmost node of the tree can be incomplete, so each such ephemeral node is folded once
 * for the whole batch instead of once per leaf.
 *
 * `lookup(level, index)` returns a stored complete-subtree hash; for a batch, the old frontier
 * plus the nodes the batch completed are enough (every left sibling outside the batch is a
 * maximal complete subtree of `[0, start)`).
 *
 * @throws {@link AppError} INVALID_INPUT when `start` is not below `treeSize` or a size is out of
 *   range; whatever `lookup` throws for a missing node.
 */
export function proveTrailingLeaves(
  start: bigint,
  treeSize: bigint,
  lookup: (level: number, index: bigint) => Uint8Array,
): Uint8Array[][] {
  assertTreeSize(treeSize, 'treeSize');
  if (start < 0n || start >= treeSize) {
    throw new AppError('INVALID_INPUT', `start must be in 0..treeSize-1 (treeSize ${treeSize})`);
  }
  if (treeSize <= MAX_NUMBER_TREE_SIZE) {
    return proveTrailingLeavesWithNumbers(Number(start), Number(treeSize), (level, index) =>
      lookup(level, BigInt(index)),
    );
  }
  const ephemeral = new Map<number, Uint8Array>();
  const proofs: Uint8Array[][] = [];
  for (let leaf = start; leaf < treeSize; leaf++) {
    const proof: Uint8Array[] = [];
    let index = leaf;
    for (let level = 0; index !== 0n || 1n << BigInt(level) < treeSize; level++) {
      const shift = BigInt(level);
      const sibling = index ^ 1n;
      const first = sibling << shift;
      if (first < treeSize) {
        if ((sibling + 1n) << shift <= treeSize) {
          proof.push(lookup(level, sibling));
        } else {
          let hash = ephemeral.get(level);
          if (hash === undefined) {
            hash = foldRight(
              decomposeRange(first, treeSize).map((node) => lookup(node.level, node.index)),
            );
            ephemeral.set(level, hash);
          }
          proof.push(hash);
        }
      }
      index >>= 1n;
    }
    proofs.push(proof);
  }
  return proofs;
}

/**
 * Trees up to this size take `proveTrailingLeavesWithNumbers`: every value it computes (at most
 * twice the size) stays an exact double. Sequencer batches are thousands of proofs of tens of
 * nodes each, and BigInt arithmetic made them a tenth of the append path.
 */
const MAX_NUMBER_TREE_SIZE = 2n ** 52n;

/** `proveTrailingLeaves` in Number arithmetic, for `treeSize` ≤ `MAX_NUMBER_TREE_SIZE`. */
function proveTrailingLeavesWithNumbers(
  start: number,
  treeSize: number,
  lookup: (level: number, index: number) => Uint8Array,
): Uint8Array[][] {
  const ephemeral = new Map<number, Uint8Array>();
  const proofs: Uint8Array[][] = [];
  for (let leaf = start; leaf < treeSize; leaf++) {
    const proof: Uint8Array[] = [];
    let index = leaf;
    // Not `^` and `<<`: JavaScript bit operators work on 32 bits.
    for (let level = 0, width = 1; index !== 0 || width < treeSize; level++, width *= 2) {
      const sibling = index % 2 === 0 ? index + 1 : index - 1;
      const first = sibling * width;
      if (first < treeSize) {
        if ((sibling + 1) * width <= treeSize) {
          proof.push(lookup(level, sibling));
        } else {
          let hash = ephemeral.get(level);
          if (hash === undefined) {
            hash = foldRight(
              decomposeRange(BigInt(first), BigInt(treeSize)).map((node) =>
                lookup(node.level, Number(node.index)),
              ),
            );
            ephemeral.set(level, hash);
          }
          proof.push(hash);
        }
      }
      index = Math.floor(index / 2);
    }
    proofs.push(proof);
  }
  return proofs;
}

/**
 * `proveTrailingLeaves` from the complete-subtree nodes at hand: for a batch the sequencer just
 * committed, the old frontier plus the nodes the batch completed hold every hash its proofs need.
 * Indexes them by level and position itself, in Number arithmetic when the tree allows.
 *
 * @throws {@link AppError} INVALID_INPUT as `proveTrailingLeaves`; INTERNAL when a needed node is
 *   not among `nodes`.
 */
export function proveTrailingLeavesFromNodes(
  start: bigint,
  treeSize: bigint,
  nodes: readonly MerkleNode[],
): Uint8Array[][] {
  const missing = (level: number, index: bigint | number): never => {
    throw new AppError(
      'INTERNAL',
      `a proof needs node ${String(level)}/${String(index)}, not at hand`,
    );
  };
  if (treeSize <= MAX_NUMBER_TREE_SIZE && start >= 0n && start < treeSize) {
    const byLevel: Map<number, Uint8Array>[] = [];
    for (const node of nodes)
      (byLevel[node.level] ??= new Map()).set(Number(node.index), node.hash);
    return proveTrailingLeavesWithNumbers(
      Number(start),
      Number(treeSize),
      (level, index) => byLevel[level]?.get(index) ?? missing(level, index),
    );
  }
  const byLevel = new Map<number, Map<bigint, Uint8Array>>();
  for (const node of nodes) {
    let level = byLevel.get(node.level);
    if (level === undefined) byLevel.set(node.level, (level = new Map<bigint, Uint8Array>()));
    level.set(node.index, node.hash);
  }
  return proveTrailingLeaves(
    start,
    treeSize,
    (level, index) => byLevel.get(level)?.get(index) ?? missing(level, index),
  );
}
