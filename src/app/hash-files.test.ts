import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { hashFile, statRegularFile } from './hash-files.ts';

describe('hashFile', () => {
  let dir: string;
  let bigPath: string;
  let content: Buffer;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'countersign-hash-'));
    // Multi-megabyte and not a multiple of the chunk size, so the last chunk is short.
    content = randomBytes(5 * 1024 * 1024 + 12_345);
    bigPath = join(dir, 'big.bin');
    await writeFile(bigPath, content);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  describe('on a multi-megabyte file', () => {
    it('streams it in bounded chunks and returns the digest of the whole content', async () => {
      const chunkBytes = 64 * 1024;
      const seen: number[] = [];
      const result = await hashFile(bigPath, ['sha256'], {
        chunkBytes,
        onProgress: (bytes) => seen.push(bytes),
      });
      assert.equal(result.size, content.byteLength);
      assert.deepEqual(result.digests.get('sha256'), hash('sha256', content, 'buffer'));
      // Read chunk by chunk: many reports, each step at most one chunk, ending at the size.
      assert.ok(seen.length >= Math.ceil(content.byteLength / chunkBytes), String(seen.length));
      let previous = 0;
      for (const bytes of seen) {
        assert.ok(bytes > previous && bytes - previous <= chunkBytes, `${previous} → ${bytes}`);
        previous = bytes;
      }
      assert.equal(previous, content.byteLength);
    });

    it('computes several algorithms in one pass', async () => {
      const result = await hashFile(bigPath, ['sha256', 'sha384', 'sha512']);
      for (const algorithm of ['sha256', 'sha384', 'sha512'] as const) {
        assert.deepEqual(result.digests.get(algorithm), hash(algorithm, content, 'buffer'));
      }
    });
  });

  describe('on an empty file', () => {
    it('returns the digest of nothing', async () => {
      const path = join(dir, 'empty');
      await writeFile(path, '');
      const result = await hashFile(path, ['sha256']);
      assert.equal(result.size, 0);
      assert.deepEqual(result.digests.get('sha256'), hash('sha256', '', 'buffer'));
    });
  });

  describe('when the file does not exist', () => {
    it('throws INVALID_INPUT naming the path, with a hint', async () => {
      const path = join(dir, 'missing.tgz');
      await assert.rejects(
        hashFile(path, ['sha256']),
        (error: Error & { code?: string; hint?: string }) => {
          assert.equal(error.code, 'INVALID_INPUT');
          assert.match(error.message, /missing\.tgz: no such file/);
          assert.ok(error.hint !== undefined);
          return true;
        },
      );
    });
  });

  describe('when the path is a directory', () => {
    it('throws INVALID_INPUT', async () => {
      await assert.rejects(statRegularFile(dir), { code: 'INVALID_INPUT' });
      await assert.rejects(hashFile(dir, ['sha256']), /is not a regular file/);
    });
  });
});
