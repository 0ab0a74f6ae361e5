/**
 * The transparency log's read API over HTTP: C2SP checkpoint and tiles, JSON entries and proofs,
 * and what bad input gets.
 */
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createLogNoteVerifier } from '../../src/app/log-keys.ts';
import { openCheckpoint } from '../../src/core/tlog/checkpoint.ts';
import { hashLeaf } from '../../src/core/tlog/merkle.ts';
import { verifyConsistencyProof, verifyInclusionProof } from '../../src/core/tlog/proof.ts';
import { decodeEntryBundle } from '../../src/core/tlog/tiles.ts';
import { startTestServer, type TestServer } from './fixture.ts';

let t: TestServer;
const bodies: Uint8Array[] = [];

before(async () => {
  t = await startTestServer({ withoutAdmin: true });
  // 300 entries: one full entry bundle and level-0 tile, one partial of 44.
  for (let i = 0; i < 300; i += 100) {
    const batch = Array.from({ length: 100 }, (_, k) => new TextEncoder().encode(`entry ${i + k}`));
    bodies.push(...batch);
    await t.service.log.append(batch.map((body) => ({ kind: 'test/v1', body })));
  }
});
after(() => t.close());

async function get(url: string) {
  return t.service.server.inject({ method: 'GET', url });
}

function b64(text: string): Uint8Array {
  return new Uint8Array(Buffer.from(text, 'base64'));
}

describe('GET /v1/log', () => {
  it('names the origin and key, and the checkpoint verifies with that key', async () => {
    const response = await get('/v1/log');
    assert.equal(response.statusCode, 200);
    const info = JSON.parse(response.body) as {
      origin: string;
      publicKey: string;
      treeSize: string;
      checkpoint: string;
    };
    assert.equal(BigInt(info.treeSize), await t.service.storage.log.treeSize());
    const spki = new Uint8Array(
      createPublicKey(info.publicKey).export({ type: 'spki', format: 'der' }),
    );
    const opened = openCheckpoint(info.checkpoint, {
      origin: info.origin,
      verifiers: [createLogNoteVerifier(info.origin, spki)],
    });
    assert.equal(opened.treeSize, BigInt(info.treeSize));
    assert.match(info.origin, /^localhost - [0-9]+$/);
  });
});

describe('GET /log/checkpoint', () => {
  it('serves the signed note as text, not cached', async () => {
    const response = await get('/log/checkpoint');
    assert.equal(response.statusCode, 200);
    assert.match(String(response.headers['content-type']), /^text\/plain/);
    assert.equal(response.headers['cache-control'], 'no-cache');
    assert.match(response.body, /\n\n\u2014 localhost /);
  });
});

describe('GET /log/tile/…', () => {
  it('serves a full entry bundle as immutable and a partial one as short-lived', async () => {
    const size = await t.service.storage.log.treeSize();
    const full = await get('/log/tile/entries/000');
    assert.equal(full.statusCode, 200);
    assert.equal(full.headers['cache-control'], 'public, max-age=31536000, immutable');
    const entries = decodeEntryBundle(new Uint8Array(full.rawPayload), 256);
    assert.deepEqual(entries[0], bodies[0]);
    const partialWidth = Number(size - 256n);
    const partial = await get(`/log/tile/entries/001.p/${partialWidth}`);
    assert.equal(partial.statusCode, 200, partial.body);
    assert.match(String(partial.headers['cache-control']), /max-age=1/);
  });

  it('serves a level-0 hash tile whose hashes are the leaf hashes', async () => {
    const response = await get('/log/tile/0/000');
    assert.equal(response.statusCode, 200);
    assert.equal(response.rawPayload.length, 256 * 32);
    assert.deepEqual(
      new Uint8Array(response.rawPayload.subarray(0, 32)),
      hashLeaf(bodies[0] as Uint8Array),
    );
  });

  for (const [path, status] of [
    ['/log/tile/entries/002', 404], // beyond the published tree
    ['/log/tile/0/001.p/255', 404], // wider than what exists
    ['/log/tile/0/0001', 400], // non-canonical
    ['/log/tile/0/x000/001', 400], // non-canonical
    ['/log/tile/99/000', 400], // level out of range
    ['/log/tile/../../etc/passwd', 404], // normalised by the router: never reaches a file
  ] as const) {
    it(`answers ${status} problem+json for ${path}`, async () => {
      const response = await get(path);
      assert.equal(response.statusCode, status, response.body);
      assert.match(String(response.headers['content-type']), /^application\/problem\+json/);
    });
  }
});

describe('GET /v1/log/entries/{index}', () => {
  it('returns the entry with an inclusion proof that verifies against its checkpoint', async () => {
    const response = await get('/v1/log/entries/123');
    assert.equal(response.statusCode, 200);
    const entry = JSON.parse(response.body) as {
      body: string;
      inclusionProof: { logIndex: string; treeSize: string; rootHash: string; hashes: string[] };
    };
    assert.deepEqual(b64(entry.body), bodies[123]);
    verifyInclusionProof({
      index: 123n,
      treeSize: BigInt(entry.inclusionProof.treeSize),
      leafHash: hashLeaf(b64(entry.body)),
      proof: entry.inclusionProof.hashes.map(b64),
      rootHash: b64(entry.inclusionProof.rootHash),
    });
  });

  it('answers 404 for an index beyond the log and 400 for one that is not a uint64', async () => {
    assert.equal((await get('/v1/log/entries/100000')).statusCode, 404);
    assert.equal((await get('/v1/log/entries/-1')).statusCode, 400);
    assert.equal((await get('/v1/log/entries/99999999999999999999')).statusCode, 400);
    assert.equal((await get('/v1/log/entries/012')).statusCode, 400);
  });
});

describe('GET /v1/log/proofs/…', () => {
  it('gives inclusion proofs in past tree sizes', async () => {
    const response = await get('/v1/log/proofs/inclusion?index=7&treeSize=100');
    assert.equal(response.statusCode, 200);
    const proof = JSON.parse(response.body) as {
      rootHash: string;
      leafHash: string;
      hashes: string[];
    };
    verifyInclusionProof({
      index: 7n,
      treeSize: 100n,
      leafHash: hashLeaf(bodies[7] as Uint8Array),
      proof: proof.hashes.map(b64),
      rootHash: b64(proof.rootHash),
    });
  });

  it('gives consistency proofs that verify between the two roots it names', async () => {
    const response = await get('/v1/log/proofs/consistency?from=100&to=300');
    assert.equal(response.statusCode, 200);
    const proof = JSON.parse(response.body) as {
      fromRootHash: string;
      toRootHash: string;
      hashes: string[];
    };
    verifyConsistencyProof({
      size1: 100n,
      size2: 300n,
      proof: proof.hashes.map(b64),
      root1: b64(proof.fromRootHash),
      root2: b64(proof.toRootHash),
    });
  });

  it('refuses impossible requests with 4xx problem+json, never 5xx', async () => {
    for (const url of [
      '/v1/log/proofs/inclusion?index=5&treeSize=5',
      '/v1/log/proofs/inclusion?index=1&treeSize=999999',
      '/v1/log/proofs/consistency?from=0&to=10',
      '/v1/log/proofs/consistency?from=20&to=10',
      '/v1/log/proofs/consistency?from=1&to=999999',
      '/v1/log/proofs/inclusion?index=1&extra=1',
      '/v1/log/proofs/inclusion',
    ]) {
      const response = await get(url);
      assert.ok(
        response.statusCode >= 400 && response.statusCode < 500,
        `${url}: ${response.statusCode} ${response.body}`,
      );
    }
  });
});
