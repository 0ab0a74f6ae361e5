import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import {
  EMPTY_FRONTIER,
  MAX_TREE_SIZE,
  RFC6962_LEAF_PREFIX,
  RFC6962_NODE_PREFIX,
  appendLeafHashes,
  assembleRoot,
  frontierFromNodes,
  hashChildren,
  hashEmptyTree,
  hashLeaf,
  planFrontier,
  planRoot,
  rootOfFrontier,
  type Frontier,
  type MerkleNode,
} from './merkle.ts';

const hex = (bytes: Uint8Array): string => Buffer.from(bytes).toString('hex');
const fromHex = (text: string): Uint8Array => new Uint8Array(Buffer.from(text, 'hex'));

/** The 8-leaf tree of the RFC 6962 test data (certificate-transparency, transparency-dev). */
const RFC6962_LEAVES = [
  '',
  '00',
  '10',
  '2021',
  '3031',
  '40414243',
  '5051525354555657',
  '606162636465666768696a6b6c6d6e6f',
].map(fromHex);

/** MTH(D[0:n]) for n = 1..8 of that tree. */
const RFC6962_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
];

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

/** RFC 6962 §2.1 MTH, recursively, straight from the definition. */
function referenceRoot(leafHashes: readonly Uint8Array[]): Uint8Array {
  const n = leafHashes.length;
  if (n === 0) return new Uint8Array(createHash('sha256').digest());
  if (n === 1) return leafHashes[0] as Uint8Array;
  let k = 1;
  while (k * 2 < n) k *= 2;
  return hashChildren(referenceRoot(leafHashes.slice(0, k)), referenceRoot(leafHashes.slice(k)));
}

function leafHashesFor(count: number): Uint8Array[] {
  return Array.from({ length: count }, (_, i) => hashLeaf(Uint8Array.of(i & 0xff, i >> 8, 7)));
}

function appendInBatches(
  leafHashes: readonly Uint8Array[],
  random: (bound: number) => number,
): { frontier: Frontier; nodes: MerkleNode[]; roots: Uint8Array[] } {
  let frontier = EMPTY_FRONTIER;
  const nodes: MerkleNode[] = [];
  const roots: Uint8Array[] = [];
  for (let at = 0; at < leafHashes.length;) {
    const batch = leafHashes.slice(at, at + 1 + random(40));
    const result = appendLeafHashes(frontier, batch);
    frontier = result.frontier;
    nodes.push(...result.nodes);
    roots.push(result.rootHash);
    at += batch.length;
  }
  return { frontier, nodes, roots };
}

describe('hashLeaf and hashChildren', () => {
  it('prefix leaves with 0x00 and nodes with 0x01 (RFC 6962 §2.1)', () => {
    assert.equal(RFC6962_LEAF_PREFIX, 0x00);
    assert.equal(RFC6962_NODE_PREFIX, 0x01);
    const leaf = fromHex('40414243');
    assert.deepEqual(
      hashLeaf(leaf),
      new Uint8Array(
        createHash('sha256')
          .update(Uint8Array.of(0, 0x40, 0x41, 0x42, 0x43))
          .digest(),
      ),
    );
    const left = hashLeaf(fromHex('00'));
    const right = hashLeaf(fromHex('10'));
    assert.deepEqual(
      hashChildren(left, right),
      new Uint8Array(
        createHash('sha256').update(Uint8Array.of(1)).update(left).update(right).digest(),
      ),
    );
  });

  it('hash the empty leaf to the RFC 6962 known answer', () => {
    assert.equal(
      hex(hashLeaf(new Uint8Array())),
      '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
    );
  });
});

describe('hashEmptyTree', () => {
  it('is SHA-256 of the empty string', () => {
    assert.equal(
      hex(hashEmptyTree()),
      'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855',
    );
  });

  it('returns a fresh copy each time, so no caller can corrupt it', () => {
    const first = hashEmptyTree();
    first.fill(0);
    assert.equal(hashEmptyTree()[0], 0xe3);
  });
});

describe('appendLeafHashes', () => {
  describe('when leaves are appended one by one to the RFC 6962 test tree', () => {
    it('reports the known root of every size 1..8', () => {
      let frontier = EMPTY_FRONTIER;
      const roots: string[] = [];
      for (const leaf of RFC6962_LEAVES) {
        const result = appendLeafHashes(frontier, [hashLeaf(leaf)]);
        frontier = result.frontier;
        roots.push(hex(result.rootHash));
      }
      assert.deepEqual(roots, RFC6962_ROOTS);
    });
  });

  describe('when the batch is empty', () => {
    it('keeps the frontier and reports the current root', () => {
      const empty = appendLeafHashes(EMPTY_FRONTIER, []);
      assert.deepEqual(empty.rootHash, hashEmptyTree());
      assert.deepEqual(empty.nodes, []);
      const three = appendLeafHashes(EMPTY_FRONTIER, RFC6962_LEAVES.slice(0, 3).map(hashLeaf));
      const again = appendLeafHashes(three.frontier, []);
      assert.equal(hex(again.rootHash), RFC6962_ROOTS[2]);
      assert.deepEqual(again.frontier, three.frontier);
    });
  });

  describe('when leaves arrive in random batches', () => {
    it('reports each batch root as the reference MTH and every complete subtree exactly once', () => {
      const random = createRandom(0x5eed);
      for (const count of [1, 2, 3, 7, 64, 65, 255, 1000, 1537]) {
        const leafHashes = leafHashesFor(count);
        const { frontier, nodes, roots } = appendInBatches(leafHashes, random);
        assert.equal(frontier.treeSize, BigInt(count));
        assert.deepEqual(roots.at(-1), referenceRoot(leafHashes));
        assert.deepEqual(rootOfFrontier(frontier), referenceRoot(leafHashes));

        // Exactly the complete subtrees: floor(count / 2^level) nodes at each level.
        const seen = new Set<string>();
        for (const node of nodes) {
          const key = `${node.level}/${node.index}`;
          assert.ok(!seen.has(key), `node ${key} reported twice`);
          seen.add(key);
          assert.ok(
            (node.index + 1n) << BigInt(node.level) <= BigInt(count),
            `${key} is incomplete`,
          );
        }
        let expected = 0;
        for (let level = 0; 2 ** level <= count; level++)
          expected += Math.floor(count / 2 ** level);
        assert.equal(nodes.length, expected);

        // Spot-check stored hashes against the reference: node (l, i) = MTH of its leaves.
        for (let s = 0; s < 20; s++) {
          const node = nodes[random(nodes.length)] as MerkleNode;
          const start = Number(node.index) * 2 ** node.level;
          assert.deepEqual(
            node.hash,
            referenceRoot(leafHashes.slice(start, start + 2 ** node.level)),
            `node ${node.level}/${node.index}`,
          );
        }
      }
    });
  });

  describe('when a leaf hash is not 32 bytes', () => {
    it('throws INVALID_INPUT', () => {
      assert.throws(() => appendLeafHashes(EMPTY_FRONTIER, [new Uint8Array(31)]), {
        code: 'INVALID_INPUT',
      });
    });
  });

  describe('when the frontier does not match its tree size', () => {
    it('throws INVALID_INPUT', () => {
      const bogus: Frontier = {
        treeSize: 3n,
        nodes: [{ level: 1, index: 0n, hash: new Uint8Array(32) }],
      };
      assert.throws(() => appendLeafHashes(bogus, []), { code: 'INVALID_INPUT' });
    });
  });

  describe('when the tree would grow past 2^64 - 1 leaves', () => {
    it('throws INVALID_INPUT', () => {
      const full = frontierFromNodes(
        MAX_TREE_SIZE,
        Array.from({ length: 64 }, () => new Uint8Array(32)),
      );
      assert.throws(() => appendLeafHashes(full, [new Uint8Array(32)]), { code: 'INVALID_INPUT' });
    });
  });
});

describe('planFrontier and frontierFromNodes', () => {
  it('plan the set bits of the size, largest subtree first', () => {
    assert.deepEqual(planFrontier(0n), []);
    assert.deepEqual(planFrontier(13n), [
      { level: 3, index: 0n },
      { level: 2, index: 2n },
      { level: 0, index: 12n },
    ]);
  });

  it('plan exact node indices beyond 2^53', () => {
    const size = (1n << 60n) + (1n << 54n) + 3n;
    assert.deepEqual(planFrontier(size), [
      { level: 60, index: 0n },
      { level: 54, index: 64n },
      { level: 1, index: ((1n << 60n) + (1n << 54n)) >> 1n },
      { level: 0, index: (1n << 60n) + (1n << 54n) + 2n },
    ]);
    const largest = planFrontier(MAX_TREE_SIZE);
    assert.equal(largest.length, 64);
    assert.deepEqual(largest.at(-1), { level: 0, index: MAX_TREE_SIZE - 1n });
  });

  it('rebuild, from stored nodes, a frontier that appends exactly like the original', () => {
    const random = createRandom(42);
    const leafHashes = leafHashesFor(300);
    const { nodes } = appendInBatches(leafHashes.slice(0, 213), random);
    const store = new Map(nodes.map((node) => [`${node.level}/${node.index}`, node.hash]));
    const ids = planFrontier(213n);
    const frontier = frontierFromNodes(
      213n,
      ids.map((id) => store.get(`${id.level}/${id.index}`) as Uint8Array),
    );
    const resumed = appendLeafHashes(frontier, leafHashes.slice(213));
    assert.deepEqual(resumed.rootHash, referenceRoot(leafHashes));
  });

  describe('when the stored hashes do not match the plan', () => {
    it('throws INTERNAL', () => {
      assert.throws(() => frontierFromNodes(3n, [new Uint8Array(32)]), { code: 'INTERNAL' });
      assert.throws(() => frontierFromNodes(1n, [new Uint8Array(33)]), { code: 'INTERNAL' });
    });
  });

  describe('when the size is negative or past 2^64 - 1', () => {
    it('throws INVALID_INPUT', () => {
      assert.throws(() => planFrontier(-1n), { code: 'INVALID_INPUT' });
      assert.throws(() => planFrontier(MAX_TREE_SIZE + 1n), { code: 'INVALID_INPUT' });
    });
  });
});

describe('planRoot and assembleRoot', () => {
  it('compute the root of every past size from stored nodes', () => {
    const random = createRandom(7);
    const leafHashes = leafHashesFor(200);
    const { nodes } = appendInBatches(leafHashes, random);
    const store = new Map(nodes.map((node) => [`${node.level}/${node.index}`, node.hash]));
    for (let size = 0; size <= 200; size++) {
      const plan = planRoot(BigInt(size));
      const hashes = plan.nodes.map((id) => store.get(`${id.level}/${id.index}`) as Uint8Array);
      assert.deepEqual(
        assembleRoot(plan, hashes),
        referenceRoot(leafHashes.slice(0, size)),
        `size ${size}`,
      );
    }
  });

  describe('when fewer hashes than planned are given', () => {
    it('throws INTERNAL', () => {
      assert.throws(() => assembleRoot(planRoot(5n), [new Uint8Array(32)]), { code: 'INTERNAL' });
    });
  });
});
