import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  EMPTY_FRONTIER,
  MAX_TREE_SIZE,
  appendLeafHashes,
  hashChildren,
  hashLeaf,
} from './merkle.ts';
import {
  MAX_ENTRY_SIZE,
  TILE_HEIGHT,
  TILE_WIDTH,
  decodeEntryBundle,
  encodeEntryBundle,
  formatEntryBundlePath,
  formatTilePath,
  parseTilePath,
  tileForNode,
  tileNodeRange,
  tileWidth,
  tilesForTreeSize,
} from './tiles.ts';

describe('formatTilePath', () => {
  it('encodes the tlog-tiles example index 1234067 as x001/x234/067', () => {
    assert.equal(formatTilePath(0, 1234067n), 'tile/0/x001/x234/067');
  });

  it('pads small indices to one 3-digit group', () => {
    assert.equal(formatTilePath(0, 0n), 'tile/0/000');
    assert.equal(formatTilePath(2, 7n), 'tile/2/007');
    assert.equal(formatTilePath(1, 1000n), 'tile/1/x001/000');
  });

  it('adds .p/<W> for partial tiles only', () => {
    assert.equal(formatTilePath(0, 1234067n, 8), 'tile/0/x001/x234/067.p/8');
    assert.equal(formatTilePath(0, 5n, 255), 'tile/0/005.p/255');
    assert.equal(formatTilePath(0, 5n, TILE_WIDTH), 'tile/0/005');
  });

  it('encodes indices beyond 2^53 exactly', () => {
    assert.equal(formatTilePath(0, MAX_TREE_SIZE), 'tile/0/x018/x446/x744/x073/x709/x551/615');
  });

  describe('when the level, index or width is out of range', () => {
    it('throws INVALID_INPUT', () => {
      assert.throws(() => formatTilePath(64, 0n), { code: 'INVALID_INPUT' });
      assert.throws(() => formatTilePath(-1, 0n), { code: 'INVALID_INPUT' });
      assert.throws(() => formatTilePath(0, -1n), { code: 'INVALID_INPUT' });
      assert.throws(() => formatTilePath(0, MAX_TREE_SIZE + 1n), { code: 'INVALID_INPUT' });
      assert.throws(() => formatTilePath(0, 0n, 0), { code: 'INVALID_INPUT' });
      assert.throws(() => formatTilePath(0, 0n, 257), { code: 'INVALID_INPUT' });
    });
  });
});

describe('formatEntryBundlePath', () => {
  it('uses tile/entries with the same index and width encoding', () => {
    assert.equal(formatEntryBundlePath(1234067n), 'tile/entries/x001/x234/067');
    assert.equal(formatEntryBundlePath(1234067n, 5), 'tile/entries/x001/x234/067.p/5');
  });
});

describe('parseTilePath', () => {
  it('reads back every path the formatters write', () => {
    const cases: [string, ReturnType<typeof parseTilePath>][] = [
      ['tile/0/x001/x234/067', { kind: 'tile', level: 0, index: 1234067n, width: 256 }],
      ['tile/0/x001/x234/067.p/8', { kind: 'tile', level: 0, index: 1234067n, width: 8 }],
      ['tile/63/000', { kind: 'tile', level: 63, index: 0n, width: 256 }],
      ['tile/entries/000.p/1', { kind: 'entries', index: 0n, width: 1 }],
      [
        'tile/entries/x018/x446/x744/x073/x709/x551/615',
        { kind: 'entries', index: MAX_TREE_SIZE, width: 256 },
      ],
    ];
    for (const [path, expected] of cases) assert.deepEqual(parseTilePath(path), expected, path);
  });

  const rejected: [string, string][] = [
    ['the index is not in groups', 'tile/0/1234067'],
    ['a group has two digits', 'tile/0/x001/x234/67'],
    ['an inner group lacks its x', 'tile/0/001/x234/067'],
    ['the last group has an x', 'tile/0/x001/x067'],
    ['the first group is all zeros', 'tile/0/x000/001'],
    ['the level has a leading zero', 'tile/00/000'],
    ['the level is 64', 'tile/64/000'],
    ['the level is not a number', 'tile/a/000'],
    ['the width is 0', 'tile/0/000.p/0'],
    ['the width is 256', 'tile/0/000.p/256'],
    ['the width has a leading zero', 'tile/0/000.p/08'],
    ['the width is missing', 'tile/0/000.p/'],
    ['the .p has no width segment', 'tile/0/000.p'],
    ['it starts with a slash', '/tile/0/000'],
    ['it ends with a slash', 'tile/0/000/'],
    ['it is not under tile/', 'tiles/0/000'],
    ['the index has no groups', 'tile/0'],
    ['the index exceeds 2^64 - 1', 'tile/0/x018/x446/x744/x073/x709/x551/616'],
    ['the index has eight groups', 'tile/0/x001/x000/x000/x000/x000/x000/x000/000'],
    ['it is empty', ''],
  ];
  for (const [when, path] of rejected) {
    describe(`when ${when}`, () => {
      it('throws INVALID_INPUT', () => {
        assert.throws(() => parseTilePath(path), { code: 'INVALID_INPUT' }, path);
      });
    });
  }
});

describe('tilesForTreeSize', () => {
  it('matches the tlog-tiles example for 70,000 leaves', () => {
    assert.deepEqual(tilesForTreeSize(70_000n), [
      { level: 0, fullTiles: 273n, partialWidth: 112 },
      { level: 1, fullTiles: 1n, partialWidth: 17 },
      { level: 2, fullTiles: 0n, partialWidth: 1 },
    ]);
  });

  it('matches the tlog-tiles example for 256 leaves', () => {
    assert.deepEqual(tilesForTreeSize(256n), [
      { level: 0, fullTiles: 1n, partialWidth: 0 },
      { level: 1, fullTiles: 0n, partialWidth: 1 },
    ]);
  });

  it('lists nothing for the empty tree and eight levels for the largest', () => {
    assert.deepEqual(tilesForTreeSize(0n), []);
    assert.equal(tilesForTreeSize(MAX_TREE_SIZE).length, 8);
  });
});

describe('tileWidth', () => {
  it('is 256 for full tiles, the partial width for the rightmost, 0 past it', () => {
    assert.equal(tileWidth(0, 272n, 70_000n), 256);
    assert.equal(tileWidth(0, 273n, 70_000n), 112);
    assert.equal(tileWidth(0, 274n, 70_000n), 0);
    assert.equal(tileWidth(1, 1n, 70_000n), 17);
    assert.equal(tileWidth(2, 0n, 70_000n), 1);
    assert.equal(tileWidth(8, 0n, MAX_TREE_SIZE), 0);
  });
});

describe('tileNodeRange', () => {
  it('maps tile level L to tree level 8L and index N to nodes N*256 .. N*256+W-1', () => {
    assert.deepEqual(tileNodeRange({ level: 1, index: 2n, width: 17 }), {
      level: 8,
      from: 512n,
      to: 529n,
    });
    assert.deepEqual(tileNodeRange({ level: 0, index: 0n, width: 256 }), {
      level: 0,
      from: 0n,
      to: 256n,
    });
  });

  describe('when the tile level is above 7', () => {
    it('throws INVALID_INPUT', () => {
      assert.throws(() => tileNodeRange({ level: 8, index: 0n, width: 1 }), {
        code: 'INVALID_INPUT',
      });
    });
  });
});

describe('tileForNode', () => {
  it('finds the tile holding a leaf, which is also its entry bundle', () => {
    assert.deepEqual(tileForNode({ level: 0, index: 1234067n }, 1n << 30n), {
      level: 0,
      index: 4820n,
      width: 256,
    });
    assert.deepEqual(tileForNode({ level: 0, index: 69_999n }, 70_000n), {
      level: 0,
      index: 273n,
      width: 112,
    });
  });

  it('finds the tile whose hashes a node between tile levels is computed from', () => {
    assert.deepEqual(tileForNode({ level: 3, index: 5n }, 70_000n), {
      level: 0,
      index: 0n,
      width: 256,
    });
    assert.deepEqual(tileForNode({ level: 8, index: 272n }, 70_000n), {
      level: 1,
      index: 1n,
      width: 17,
    });
    assert.deepEqual(tileForNode({ level: 15, index: 0n }, 70_000n), {
      level: 1,
      index: 0n,
      width: 256,
    });
  });

  describe('when the node is not complete in the tree', () => {
    it('throws INVALID_INPUT', () => {
      assert.throws(() => tileForNode({ level: 1, index: 2n }, 5n), { code: 'INVALID_INPUT' });
    });
  });
});

/** MTH of 2^k hashes: a balanced tree (the tile's 8 levels rebuilt, as a client would). */
function balancedRoot(hashes: readonly Uint8Array[]): Uint8Array {
  let level = hashes;
  while (level.length > 1) {
    level = level.flatMap((hash, i) =>
      i % 2 === 0 ? [hashChildren(hash, level[i + 1] as Uint8Array)] : [],
    );
  }
  return level[0] as Uint8Array;
}

describe('tiles over a real tree', () => {
  it('hash every full tile to the stored node one tile level up (tlog-tiles "Merkle Tree")', () => {
    const size = 2_000;
    const leaves = Array.from({ length: size }, (_, i) =>
      hashLeaf(Uint8Array.of(i & 0xff, (i >> 8) & 0xff, i >> 16)),
    );
    const { nodes } = appendLeafHashes(EMPTY_FRONTIER, leaves);
    const store = new Map(nodes.map((node) => [`${node.level}/${node.index}`, node.hash]));
    let checked = 0;
    for (const summary of tilesForTreeSize(BigInt(size))) {
      const tiles = [...Array(Number(summary.fullTiles)).keys()].map((n) => ({
        index: BigInt(n),
        width: TILE_WIDTH,
      }));
      if (summary.partialWidth > 0)
        tiles.push({ index: summary.fullTiles, width: summary.partialWidth });
      for (const tile of tiles) {
        const range = tileNodeRange({ level: summary.level, ...tile });
        const hashes: Uint8Array[] = [];
        for (let i = range.from; i < range.to; i++) {
          const hash = store.get(`${range.level}/${i}`);
          assert.ok(hash, `tile ${summary.level}/${tile.index} needs node ${range.level}/${i}`);
          hashes.push(hash);
        }
        if (tile.width === TILE_WIDTH) {
          const parent = store.get(`${range.level + TILE_HEIGHT}/${tile.index}`);
          assert.deepEqual(balancedRoot(hashes), parent);
          checked++;
        }
      }
    }
    assert.equal(checked, 7);
  });
});

describe('encodeEntryBundle and decodeEntryBundle', () => {
  it('prefix each entry with its big-endian uint16 length', () => {
    assert.deepEqual(
      encodeEntryBundle([Uint8Array.of(0xaa), new Uint8Array(0), new Uint8Array(258)]).subarray(
        0,
        7,
      ),
      Uint8Array.of(0, 1, 0xaa, 0, 0, 1, 2),
    );
  });

  it('round-trip full bundles with entries of every size up to 65,535 bytes', () => {
    const entries = Array.from({ length: TILE_WIDTH }, (_, i) =>
      new Uint8Array(i === 0 ? MAX_ENTRY_SIZE : i).fill(i),
    );
    const decoded = decodeEntryBundle(encodeEntryBundle(entries), TILE_WIDTH);
    assert.deepEqual(decoded, entries);
  });

  describe('when encoding no entries, more than 256, or one over 65,535 bytes', () => {
    it('throws INVALID_INPUT', () => {
      assert.throws(() => encodeEntryBundle([]), { code: 'INVALID_INPUT' });
      assert.throws(() => encodeEntryBundle(Array.from({ length: 257 }, () => new Uint8Array(1))), {
        code: 'INVALID_INPUT',
      });
      assert.throws(() => encodeEntryBundle([new Uint8Array(MAX_ENTRY_SIZE + 1)]), {
        code: 'INVALID_INPUT',
      });
    });
  });

  const malformed: [string, Uint8Array, number?][] = [
    ['the bundle is empty', new Uint8Array(0)],
    ['a length prefix is cut', Uint8Array.of(0, 1, 0xaa, 0)],
    ['an entry is cut', Uint8Array.of(0, 3, 0xaa, 0xbb)],
    ['it holds more than 256 entries', new Uint8Array(2 * 257)],
    ['it holds fewer entries than its width', Uint8Array.of(0, 0, 0, 0), 3],
    ['it holds more entries than its width', Uint8Array.of(0, 0, 0, 0), 1],
  ];
  for (const [when, bundle, width] of malformed) {
    describe(`when ${when}`, () => {
      it('decoding throws INVALID_INPUT', () => {
        assert.throws(() => decodeEntryBundle(bundle, width), { code: 'INVALID_INPUT' });
      });
    });
  }
});
