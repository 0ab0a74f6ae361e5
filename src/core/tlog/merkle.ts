/**
 * RFC 6962 / RFC 9162 §2.1 Merkle tree hashing for the transparency log, shaped for a sequencer
 * that stores every complete-subtree hash (`LogRepository` node `(level, index)` is the root of
 * the 2^level leaves starting at leaf `index · 2^level`).
 *
 * Tree sizes and indices are `bigint` everywhere: RFC 9162 sizes are uint64 and `number` loses
 * exactness past 2^53.
 */
import { createHash, hash } from 'node:crypto';
import { AppError } from '../errors.ts';
import { viewBytes } from './bytes.ts';

/** RFC 6962 §2.1: the byte prepended to a leaf before hashing (domain separation from nodes). */
export const RFC6962_LEAF_PREFIX = 0x00;
/** RFC 6962 §2.1: the byte prepended to two child hashes before hashing. */
export const RFC6962_NODE_PREFIX = 0x01;
/** SHA-256 output size: every leaf, node and root hash is this long. */
export const HASH_SIZE = 32;
/** RFC 9162 §4.1 tree sizes are uint64. */
export const MAX_TREE_SIZE = (1n << 64n) - 1n;

/** A stored node: the root of the complete subtree of 2^level leaves starting at leaf `index · 2^level`. */
export interface NodeId {
  readonly level: number;
  readonly index: bigint;
}

/** A node with its hash, as the sequencer stores it (`LogNodeRecord`). */
export interface MerkleNode extends NodeId {
  readonly hash: Uint8Array;
}

/**
 * The compact range `[0, treeSize)`: one complete-subtree root per set bit of `treeSize`, left to
 * right (levels strictly decreasing). Everything needed to append leaves and compute the root.
 */
export interface Frontier {
  readonly treeSize: bigint;
  readonly nodes: readonly MerkleNode[];
}

/** What appending one batch of leaves produces. */
export interface AppendResult {
  /** The frontier of the grown tree. */
  readonly frontier: Frontier;
  /** RFC 6962 Merkle Tree Hash of the grown tree. */
  readonly rootHash: Uint8Array;
  /**
   * Every complete subtree the batch completed, at every level, leaves (level 0) included, in
   * the order they were completed. The sequencer stores exactly these.
   */
  readonly nodes: readonly MerkleNode[];
}

/** The stored nodes whose hashes make up the root of a past tree size. */
export interface RootPlan {
  readonly treeSize: bigint;
  /** Fetch these (left to right); `assembleRoot` folds them into the root. */
  readonly nodes: readonly NodeId[];
}

/** The frontier of the empty tree. */
export const EMPTY_FRONTIER: Frontier = Object.freeze({ treeSize: 0n, nodes: Object.freeze([]) });

/** RFC 6962 §2.1: the leaf hash `SHA-256(0x00 || leaf)`. */
export function hashLeaf(leaf: Uint8Array): Uint8Array {
  const input = hashInput(1 + leaf.byteLength);
  input[0] = RFC6962_LEAF_PREFIX;
  input.set(leaf, 1);
  return sha256(input);
}

/**
 * RFC 6962 §2.1: the interior node hash `SHA-256(0x01 || left || right)`. Callers pass 32-byte
 * hashes; functions taking attacker-controlled hashes check their length before calling this.
 */
export function hashChildren(left: Uint8Array, right: Uint8Array): Uint8Array {
  const input = hashInput(1 + left.byteLength + right.byteLength);
  input[0] = RFC6962_NODE_PREFIX;
  input.set(left, 1);
  input.set(right, 1 + left.byteLength);
  return sha256(input);
}

/**
 * The log hashes two inputs per entry, so their cost is the append path's. Hashing is synchronous,
 * so one reused input buffer serves every call (allocating one per hash cost as much as the hash),
 * and the digest comes back as a 'binary' (latin1) string copied into a fresh array:
 * `hash(…, 'buffer')` takes twice as long on Node 24.
 */
let inputBuffer = new Uint8Array(1024);

function hashInput(length: number): Uint8Array {
  if (inputBuffer.byteLength < length) {
    inputBuffer = new Uint8Array(Math.max(length, inputBuffer.byteLength * 2));
  }
  return inputBuffer.subarray(0, length);
}

function sha256(input: Uint8Array): Uint8Array {
  const digest = hash('sha256', input, 'binary'); // latin1: one character per byte
  const out = new Uint8Array(HASH_SIZE);
  for (let i = 0; i < HASH_SIZE; i++) out[i] = digest.charCodeAt(i);
  return out;
}

/** RFC 6962 §2.1: the root of the empty tree, `SHA-256("")`. A fresh copy on every call. */
export function hashEmptyTree(): Uint8Array {
  return viewBytes(createHash('sha256').digest());
}

/**
 * Appends a batch of leaf hashes to the tree described by `frontier`.
 *
 * Runs in O(batch + log n): each leaf is pushed once and merged with equal-level neighbours
 * (binary carry), so every complete subtree is hashed exactly once over the life of the log.
 *
 * @throws {@link AppError} INVALID_INPUT when a leaf hash is not 32 bytes, the frontier does not
 *   match its size, or the tree would exceed 2^64 - 1 leaves.
 */
export function appendLeafHashes(
  frontier: Frontier,
  leafHashes: readonly Uint8Array[],
): AppendResult {
  assertFrontier(frontier);
  let treeSize = frontier.treeSize;
  if (treeSize + BigInt(leafHashes.length) > MAX_TREE_SIZE) {
    throw new AppError('INVALID_INPUT', 'appending would grow the tree past 2^64 - 1 leaves');
  }
  const stack: MerkleNode[] = [...frontier.nodes];
  const completed: MerkleNode[] = [];
  for (const leafHash of leafHashes) {
    if (leafHash.byteLength !== HASH_SIZE) {
      throw new AppError('INVALID_INPUT', `leaf hash must be ${HASH_SIZE} bytes`);
    }
    let node: MerkleNode = { level: 0, index: treeSize, hash: leafHash };
    completed.push(node);
    // Binary carry: while the rightmost stored subtree has the same height, they are siblings.
    for (let top = stack.at(-1); top?.level === node.level; top = stack.at(-1)) {
      stack.pop();
      node = {
        level: node.level + 1,
        index: top.index >> 1n,
        hash: hashChildren(top.hash, node.hash),
      };
      completed.push(node);
    }
    stack.push(node);
    treeSize += 1n;
  }
  return {
    frontier: { treeSize, nodes: stack },
    rootHash: foldRight(stack.map((node) => node.hash)),
    nodes: completed,
  };
}

/**
 * The stored nodes that make up the frontier of a tree of `treeSize` leaves (left to right), to
 * resume appending after a restart: fetch them and call `frontierFromNodes`.
 *
 * @throws {@link AppError} INVALID_INPUT when `treeSize` is outside 0..2^64 - 1.
 */
export function planFrontier(treeSize: bigint): NodeId[] {
  assertTreeSize(treeSize, 'treeSize');
  return decomposeRange(0n, treeSize);
}

/**
 * Rebuilds the frontier of a tree of `treeSize` leaves from the hashes of `planFrontier(treeSize)`.
 *
 * @throws {@link AppError} INVALID_INPUT when `treeSize` is out of range.
 * @throws {@link AppError} INTERNAL when the hashes do not match the plan (corrupt storage).
 */
export function frontierFromNodes(treeSize: bigint, hashes: readonly Uint8Array[]): Frontier {
  const ids = planFrontier(treeSize);
  assertFetched(ids.length, hashes);
  return {
    treeSize,
    nodes: ids.map((id, i) => ({ level: id.level, index: id.index, hash: hashAt(hashes, i) })),
  };
}

/** The RFC 6962 Merkle Tree Hash of the tree a frontier describes. */
export function rootOfFrontier(frontier: Frontier): Uint8Array {
  return foldRight(frontier.nodes.map((node) => node.hash));
}

/**
 * The stored nodes needed for the root of the tree at any past `treeSize`.
 *
 * @throws {@link AppError} INVALID_INPUT when `treeSize` is outside 0..2^64 - 1.
 */
export function planRoot(treeSize: bigint): RootPlan {
  return { treeSize, nodes: planFrontier(treeSize) };
}

/**
 * The root hash of `plan.treeSize` from the hashes of `plan.nodes`, in order. The empty tree's
 * root is `SHA-256("")` (RFC 6962 §2.1).
 *
 * @throws {@link AppError} INTERNAL when the hashes do not match the plan (corrupt storage).
 */
export function assembleRoot(plan: RootPlan, hashes: readonly Uint8Array[]): Uint8Array {
  assertFetched(plan.nodes.length, hashes);
  return foldRight(hashes);
}

/**
 * The complete subtrees covering leaves `[start, end)`, left to right, when `start` is aligned to
 * a power of two larger than `end - start` (true for `[0, n)` and for the right-edge remainder of
 * any node). They are the set bits of `end - start`, largest first.
 */
export function decomposeRange(start: bigint, end: bigint): NodeId[] {
  const nodes: NodeId[] = [];
  let position = start;
  const width = end - start;
  for (let level = bitLength(width) - 1; level >= 0; level--) {
    const size = 1n << BigInt(level);
    if ((width & size) !== 0n) {
      nodes.push({ level, index: position >> BigInt(level) });
      position += size;
    }
  }
  return nodes;
}

/**
 * RFC 6962 §2.1 MTH of adjacent complete subtrees listed left to right: the rightmost two are
 * joined first, because the split point of MTH is the largest power of two below the size.
 * An empty list is the empty tree.
 */
export function foldRight(hashes: readonly Uint8Array[]): Uint8Array {
  let root = hashes.at(-1);
  if (root === undefined) return hashEmptyTree();
  for (let i = hashes.length - 2; i >= 0; i--) root = hashChildren(hashAt(hashes, i), root);
  return root;
}

/** Number of bits needed to write `value` (0 for 0). */
export function bitLength(value: bigint): number {
  return value === 0n ? 0 : value.toString(2).length;
}

/**
 * Throws INVALID_INPUT unless `value` is a bigint in 0..2^64 - 1.
 *
 * @throws {@link AppError} INVALID_INPUT
 */
export function assertTreeSize(value: bigint, name: string): void {
  if (typeof value !== 'bigint' || value < 0n || value > MAX_TREE_SIZE) {
    throw new AppError('INVALID_INPUT', `${name} must be an integer in 0..2^64-1`);
  }
}

/**
 * Throws INTERNAL unless `hashes` has `count` 32-byte entries: fetched node hashes come from
 * storage, so a mismatch means corrupt storage or a plan used with the wrong fetch.
 *
 * @throws {@link AppError} INTERNAL
 */
export function assertFetched(count: number, hashes: readonly Uint8Array[]): void {
  if (hashes.length !== count) {
    throw new AppError('INTERNAL', `expected ${count} node hashes, got ${hashes.length}`);
  }
  for (const hash of hashes) {
    if (hash.byteLength !== HASH_SIZE) {
      throw new AppError('INTERNAL', `stored node hash is ${hash.byteLength} bytes, not 32`);
    }
  }
}

function hashAt(hashes: readonly Uint8Array[], i: number): Uint8Array {
  const hash = hashes[i];
  if (hash === undefined) throw new AppError('INTERNAL', `missing node hash ${i}`);
  return hash;
}

function assertFrontier(frontier: Frontier): void {
  assertTreeSize(frontier.treeSize, 'frontier.treeSize');
  const expected = decomposeRange(0n, frontier.treeSize);
  const matches =
    expected.length === frontier.nodes.length &&
    expected.every((id, i) => {
      const node = frontier.nodes[i];
      return (
        node !== undefined &&
        node.level === id.level &&
        node.index === id.index &&
        node.hash.byteLength === HASH_SIZE
      );
    });
  if (!matches) {
    throw new AppError(
      'INVALID_INPUT',
      `frontier nodes do not match tree size ${frontier.treeSize}`,
    );
  }
}
