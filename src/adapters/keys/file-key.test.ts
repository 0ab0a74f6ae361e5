import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, verify } from 'node:crypto';
import { chmodSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { loadOrCreateFileKey } from './file-key.ts';

const root = mkdtempSync(join(tmpdir(), 'countersign-file-key-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('loadOrCreateFileKey', () => {
  it('creates an owner-only key file and loads the same key from it later', async () => {
    const path = join(root, 'new', 'log.pem');
    const created = loadOrCreateFileKey({ path, id: 'log', purpose: 'log' });
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const loaded = loadOrCreateFileKey({ path, id: 'log', purpose: 'log', create: false });
    assert.deepEqual(loaded.publicKeySpki, created.publicKeySpki);
    const message = new TextEncoder().encode('note');
    const key = createPublicKey({
      key: Buffer.from(created.publicKeySpki),
      format: 'der',
      type: 'spki',
    });
    assert.equal(
      verify('sha256', message, { key, dsaEncoding: 'der' }, await loaded.sign(message)),
      true,
    );
  });

  it('throws KEY_UNAVAILABLE for a missing file when create is false', () => {
    assert.throws(
      () =>
        loadOrCreateFileKey({
          path: join(root, 'absent.pem'),
          id: 'log',
          purpose: 'log',
          create: false,
        }),
      { code: 'KEY_UNAVAILABLE' },
    );
  });

  it('refuses a file other users can read, naming the chmod to run', () => {
    const path = join(root, 'open.pem');
    loadOrCreateFileKey({ path, id: 'log', purpose: 'log' });
    chmodSync(path, 0o644);
    assert.throws(() => loadOrCreateFileKey({ path, id: 'log', purpose: 'log' }), {
      code: 'KEY_UNAVAILABLE',
      message: new RegExp(`chmod 600 ${path}`),
    });
  });

  it('refuses a key that is not P-256', () => {
    const path = join(root, 'ed25519.pem');
    const { privateKey } = generateKeyPairSync('ed25519');
    writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    assert.throws(() => loadOrCreateFileKey({ path, id: 'log', purpose: 'log' }), {
      code: 'KEY_UNAVAILABLE',
    });
  });
});
