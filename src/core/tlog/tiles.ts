/**
 * C2SP tlog-tiles (c2sp.org/tlog-tiles): the static, cacheable layout of the Merkle tree and the
 * entries. A tile at level L is 256 consecutive node hashes at tree level 8·L; entry bundles hold
 * the entries behind a level-0 tile.
 *
 * Paths (relative to the log prefix):
 *
 * ```
 * tile/<L>/<N>[.p/<W>]          L in 0..63, N as zero-padded 3-digit groups (x001/x234/067)
 * tile/entries/<N>[.p/<W>]      W in 1..255 for partial tiles only
 * ```
 *
 * Requested paths and fetched bundles are attacker-controlled: parsing is strict and canonical,
 * so one resource has exactly one name.
 */
import { AppError } from '../errors.ts';
import { MAX_TREE_SIZE, type NodeId } from './merkle.ts';

/** Tree levels per tile level. */
export const TILE_HEIGHT = 8;
/** Hashes in a full tile, entries in a full entry bundle. */
export const TILE_WIDTH = 256;
/** Tile levels are 0..63 (tlog-tiles "Merkle Tree"). */
export const MAX_TILE_LEVEL = 63;
/** An entry is prefixed by a big-endian uint16 length, so it holds at most 65,535 bytes. */
export const MAX_ENTRY_SIZE = 0xffff;

/** A tile (or entry bundle): `width` is 256 when full, 1..255 when partial. */
export interface TileId {
  readonly level: number;
  readonly index: bigint;
  readonly width: number;
}

/** A parsed tile or entry-bundle path. */
export type TilePath =
  | {
      readonly kind: 'tile';
      readonly level: number;
      readonly index: bigint;
      readonly width: number;
    }
  | { readonly kind: 'entries'; readonly index: bigint; readonly width: number };

/** The tiles one level holds for a tree size. */
export interface TileLevelSummary {
  /** The tile level. */
  readonly level: number;
  /** Full tiles: indices `0 .. fullTiles - 1`. */
  readonly fullTiles: bigint;
  /** Width of the partial tile at index `fullTiles`, or 0 when there is none. */
  readonly partialWidth: number;
}

/** The tree nodes a tile holds: `level` = 8·L, indices `[from, to)`. */
export interface TileNodeRange {
  readonly level: number;
  readonly from: bigint;
  readonly to: bigint;
}

/**
 * The path of tile `(level, index)`, with `.p/<width>` when partial.
 *
 * @example formatTilePath(0, 1234067n) === 'tile/0/x001/x234/067'
 * @throws {@link AppError} INVALID_INPUT when the level is outside 0..63, the index is negative or
 *   past 2^64 - 1, or the width is outside 1..256.
 */
export function formatTilePath(level: number, index: bigint, width: number = TILE_WIDTH): string {
  if (!Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL) {
    invalid(`tile level must be an integer in 0..${MAX_TILE_LEVEL}`);
  }
  return `tile/${level}/${formatIndex(index)}${formatWidth(width)}`;
}

/**
 * The path of entry bundle `index`, with `.p/<width>` when partial.
 *
 * @throws {@link AppError} INVALID_INPUT as `formatTilePath`.
 */
export function formatEntryBundlePath(index: bigint, width: number = TILE_WIDTH): string {
  return `tile/entries/${formatIndex(index)}${formatWidth(width)}`;
}

/**
 * Parses a tile or entry-bundle path (without the log prefix or a leading slash), accepting only
 * the canonical spelling.
 *
 * @param path - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when the path is not canonical: leading zeros in L or W,
 *   a first index group of `x000`, a group not of 3 digits, a missing `x`, W outside 1..255, an
 *   index past 2^64 - 1, or anything else.
 */
export function parseTilePath(path: string): TilePath {
  if (typeof path !== 'string' || path.length > 64) invalid('not a tile path');
  const parts = path.split('/');
  if (parts[0] !== 'tile' || parts.length < 3) invalid('not a tile path');
  const head = parts[1] ?? '';
  let rest = parts.slice(2);
  let width = TILE_WIDTH;
  if (rest.length >= 2 && rest.at(-2)?.endsWith('.p') === true) {
    const widthText = rest.at(-1) ?? '';
    if (!/^[1-9][0-9]{0,2}$/.test(widthText) || Number(widthText) >= TILE_WIDTH) {
      invalid('partial tile width must be 1..255 without leading zeros');
    }
    width = Number(widthText);
    const last = rest.at(-2) ?? '';
    rest = [...rest.slice(0, -2), last.slice(0, -2)];
  }
  const index = parseIndex(rest);
  if (head === 'entries') return { kind: 'entries', index, width };
  if (!/^(?:0|[1-9][0-9]?)$/.test(head) || Number(head) > MAX_TILE_LEVEL) {
    invalid(`tile level must be 0..${MAX_TILE_LEVEL} without leading zeros`);
  }
  return { kind: 'tile', level: Number(head), index, width };
}

/**
 * The tree nodes tile `(level, index, width)` holds: tree level 8·L, node indices
 * `index·256 .. index·256 + width - 1` (read them with `LogRepository.nodeRange`).
 *
 * @throws {@link AppError} INVALID_INPUT when the tile level is above 7 (tree level 64 and up has
 *   no nodes in a tree of at most 2^64 - 1 leaves), or the index or width is out of range.
 */
export function tileNodeRange(tile: TileId): TileNodeRange {
  assertTileId(tile);
  const level = tile.level * TILE_HEIGHT;
  if (level >= 64) invalid('tiles above level 7 hold no nodes');
  const from = tile.index * BigInt(TILE_WIDTH);
  return { level, from, to: from + BigInt(tile.width) };
}

/**
 * How many hashes tile `(level, index)` has in the tree of `treeSize` leaves: 256 when full,
 * 1..255 when partial, 0 when it does not exist yet. Its partial width is
 * `floor(treeSize / 256^level) mod 256` for the rightmost tile (tlog-tiles "Partial Tiles").
 *
 * @throws {@link AppError} INVALID_INPUT when an argument is out of range.
 */
export function tileWidth(level: number, index: bigint, treeSize: bigint): number {
  assertLevel(level);
  assertIndex(index);
  assertTreeSize(treeSize);
  const nodes = nodesAtTreeLevel(level * TILE_HEIGHT, treeSize);
  const start = index * BigInt(TILE_WIDTH);
  if (nodes <= start) return 0;
  const available = nodes - start;
  return available >= BigInt(TILE_WIDTH) ? TILE_WIDTH : Number(available);
}

/**
 * The tiles of every non-empty tile level for a tree size, bottom level first. Entry bundles
 * follow level 0. E.g. 70,000 leaves: level 0 has 273 full tiles and one of width 112, level 1
 * one full and one of width 17, level 2 one of width 1.
 *
 * @throws {@link AppError} INVALID_INPUT when `treeSize` is outside 0..2^64 - 1.
 */
export function tilesForTreeSize(treeSize: bigint): TileLevelSummary[] {
  assertTreeSize(treeSize);
  const summaries: TileLevelSummary[] = [];
  for (let level = 0; level * TILE_HEIGHT < 64; level++) {
    const nodes = nodesAtTreeLevel(level * TILE_HEIGHT, treeSize);
    if (nodes === 0n) break;
    summaries.push({
      level,
      fullTiles: nodes / BigInt(TILE_WIDTH),
      partialWidth: Number(nodes % BigInt(TILE_WIDTH)),
    });
  }
  return summaries;
}

/**
 * The tile a client fetches to learn the hash of stored node `node` in the tree of `treeSize`
 * leaves: the tile at level floor(level / 8) holding the node's descendants at tree level 8·L,
 * with its width at that size. For a leaf (level 0) it is also the entry bundle's index and width.
 *
 * @throws {@link AppError} INVALID_INPUT when the node is not a complete subtree of that tree.
 */
export function tileForNode(node: NodeId, treeSize: bigint): TileId {
  assertTreeSize(treeSize);
  if (!Number.isInteger(node.level) || node.level < 0 || node.level > 63 || node.index < 0n) {
    invalid('node level must be 0..63 and its index non-negative');
  }
  if ((node.index + 1n) << BigInt(node.level) > treeSize) {
    invalid(`node ${node.level}/${node.index} is not complete in a tree of ${treeSize} leaves`);
  }
  const level = Math.floor(node.level / TILE_HEIGHT);
  const below = BigInt(node.level - level * TILE_HEIGHT);
  // The node's first descendant at tree level 8·L; all 2^below of them share its tile, because
  // 2^below ≤ 128 divides 256.
  const index = (node.index << below) / BigInt(TILE_WIDTH);
  return { level, index, width: tileWidth(level, index, treeSize) };
}

/**
 * Encodes an entry bundle: each entry as a big-endian uint16 length and its bytes.
 *
 * @throws {@link AppError} INVALID_INPUT when there are no or more than 256 entries, or an entry
 *   is longer than 65,535 bytes.
 */
export function encodeEntryBundle(entries: readonly Uint8Array[]): Uint8Array {
  if (entries.length === 0 || entries.length > TILE_WIDTH) {
    invalid(`an entry bundle holds 1..${TILE_WIDTH} entries`);
  }
  let size = 0;
  for (const entry of entries) {
    if (entry.byteLength > MAX_ENTRY_SIZE) invalid(`an entry is at most ${MAX_ENTRY_SIZE} bytes`);
    size += 2 + entry.byteLength;
  }
  const bundle = new Uint8Array(size);
  let offset = 0;
  for (const entry of entries) {
    bundle[offset] = entry.byteLength >> 8;
    bundle[offset + 1] = entry.byteLength & 0xff;
    bundle.set(entry, offset + 2);
    offset += 2 + entry.byteLength;
  }
  return bundle;
}

/**
 * Decodes an entry bundle. The entries are views into `bundle`, not copies.
 *
 * @param bundle - attacker-controlled.
 * @param width - when given, the exact number of entries the bundle must hold (its tile width).
 * @throws {@link AppError} INVALID_INPUT when the bundle is empty, truncated, holds more than 256
 *   entries, or holds a different number of entries than `width`.
 */
export function decodeEntryBundle(bundle: Uint8Array, width?: number): Uint8Array[] {
  if (width !== undefined && (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH)) {
    invalid(`entry bundle width must be 1..${TILE_WIDTH}`);
  }
  const entries: Uint8Array[] = [];
  let offset = 0;
  while (offset < bundle.byteLength) {
    if (entries.length === TILE_WIDTH)
      invalid(`entry bundle holds more than ${TILE_WIDTH} entries`);
    if (offset + 2 > bundle.byteLength) invalid('entry bundle is truncated in a length prefix');
    const length = ((bundle[offset] ?? 0) << 8) | (bundle[offset + 1] ?? 0);
    const start = offset + 2;
    if (start + length > bundle.byteLength) invalid('entry bundle is truncated in an entry');
    entries.push(bundle.subarray(start, start + length));
    offset = start + length;
  }
  if (entries.length === 0) invalid('entry bundle is empty');
  if (width !== undefined && entries.length !== width) {
    invalid(`entry bundle holds ${entries.length} entries, expected ${width}`);
  }
  return entries;
}

function nodesAtTreeLevel(level: number, treeSize: bigint): bigint {
  return level >= 64 ? 0n : treeSize >> BigInt(level);
}

function formatIndex(index: bigint): string {
  assertIndex(index);
  const digits = index.toString();
  const padded = digits.padStart(Math.ceil(digits.length / 3) * 3, '0');
  const groups = padded.match(/.{3}/g) ?? [];
  return groups.map((group, i) => (i < groups.length - 1 ? `x${group}` : group)).join('/');
}

function formatWidth(width: number): string {
  if (!Number.isInteger(width) || width < 1 || width > TILE_WIDTH) {
    invalid(`tile width must be an integer in 1..${TILE_WIDTH}`);
  }
  return width === TILE_WIDTH ? '' : `.p/${width}`;
}

function parseIndex(groups: readonly string[]): bigint {
  // 2^64 - 1 has 20 digits: 7 groups.
  if (groups.length === 0 || groups.length > 7)
    invalid('tile index has the wrong number of groups');
  let digits = '';
  groups.forEach((group, i) => {
    const last = i === groups.length - 1;
    const pattern = last ? /^[0-9]{3}$/ : /^x[0-9]{3}$/;
    if (!pattern.test(group)) invalid('tile index groups must be x### ... ###');
    digits += last ? group : group.slice(1);
  });
  // Canonical: no all-zero leading group, so each index has one spelling.
  if (groups.length > 1 && groups[0] === 'x000') invalid('tile index has a leading zero group');
  const index = BigInt(digits);
  if (index > MAX_TREE_SIZE) invalid('tile index exceeds 2^64-1');
  return index;
}

function assertTileId(tile: TileId): void {
  assertLevel(tile.level);
  assertIndex(tile.index);
  if (!Number.isInteger(tile.width) || tile.width < 1 || tile.width > TILE_WIDTH) {
    invalid(`tile width must be an integer in 1..${TILE_WIDTH}`);
  }
}

function assertLevel(level: number): void {
  if (!Number.isInteger(level) || level < 0 || level > MAX_TILE_LEVEL) {
    invalid(`tile level must be an integer in 0..${MAX_TILE_LEVEL}`);
  }
}

function assertIndex(index: bigint): void {
  if (typeof index !== 'bigint' || index < 0n || index > MAX_TREE_SIZE) {
    invalid('tile index must be an integer in 0..2^64-1');
  }
}

function assertTreeSize(treeSize: bigint): void {
  if (typeof treeSize !== 'bigint' || treeSize < 0n || treeSize > MAX_TREE_SIZE) {
    invalid('tree size must be an integer in 0..2^64-1');
  }
}

function invalid(message: string): never {
  throw new AppError('INVALID_INPUT', message);
}
