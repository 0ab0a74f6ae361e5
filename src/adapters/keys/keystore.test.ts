import assert from 'node:assert/strict';
import { createPublicKey, randomBytes, verify } from 'node:crypto';
import {
  chmodSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
  unlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { KeyBackend, KeyHandle } from '../../core/ports.ts';
import { openKeystore } from './keystore.ts';

const PASSPHRASE = 'correct horse battery staple';
const MESSAGE = new TextEncoder().encode('the bytes to sign');

const roots: string[] = [];
after(() => {
  for (const root of roots) rmSync(root, { recursive: true, force: true });
});

function freshDir(): string {
  const root = mkdtempSync(join(tmpdir(), 'countersign-keystore-'));
  roots.push(root);
  return join(root, 'keys');
}

function assertVerifies(handle: KeyHandle, signature: Uint8Array): void {
  const publicKey = createPublicKey({
    key: Buffer.from(handle.publicKeySpki),
    format: 'der',
    type: 'spki',
  });
  assert.equal(verify('sha256', MESSAGE, { key: publicKey, dsaEncoding: 'der' }, signature), true);
}

/** A store at a fresh path holding one `log` key `log-1`, closed again. */
async function storeWithLogKey(): Promise<{ dir: string; keyPath: string; spki: Uint8Array }> {
  const dir = freshDir();
  const store = await openKeystore({ dir, passphrase: PASSPHRASE });
  const handle = await store.createKey('log-1', 'log');
  await store.close();
  return { dir, keyPath: join(dir, 'log-1.key'), spki: handle.publicKeySpki };
}

describe('openKeystore', () => {
  describe('with a passphrase', () => {
    let dir: string;
    let spki: Uint8Array;
    before(async () => {
      ({ dir, spki } = await storeWithLogKey());
    });

    it('creates keys that sign after the store is reopened, verifiable with node:crypto', async () => {
      const store = await openKeystore({ dir, passphrase: PASSPHRASE });
      const handle = await store.getKey('log-1', 'log');
      assert.deepEqual(handle.publicKeySpki, spki);
      assert.equal(handle.purpose, 'log');
      assert.equal(handle.algorithm, 'ecdsa-p256-sha256');
      assertVerifies(handle, await handle.sign(MESSAGE));
      await store.close();
    });

    it('records scrypt parameters of at least N = 2^15 with a random salt', () => {
      const store = JSON.parse(readFileSync(join(dir, 'keystore.json'), 'utf8')) as {
        kek: { kdf: string; N: number; salt: string };
      };
      assert.equal(store.kek.kdf, 'scrypt');
      assert.ok(store.kek.N >= 2 ** 15);
      assert.equal(Buffer.from(store.kek.salt, 'base64').length, 16);
    });

    it('keeps the directory 0700 and every file 0600', () => {
      assert.equal(statSync(dir).mode & 0o777, 0o700);
      for (const name of readdirSync(dir)) {
        assert.equal(statSync(join(dir, name)).mode & 0o777, 0o600, name);
      }
    });

    it('never writes the private key in the clear', () => {
      const file = readFileSync(join(dir, 'log-1.key'), 'utf8');
      assert.doesNotMatch(file, /PRIVATE KEY/);
      const parsed = JSON.parse(file) as Record<string, unknown>;
      assert.deepEqual(Object.keys(parsed).sort(), [
        'algorithm',
        'createdAt',
        'encryption',
        'format',
        'id',
        'publicKeySpki',
        'purpose',
      ]);
    });

    describe('when the passphrase is wrong', () => {
      it('throws KEY_UNAVAILABLE saying the passphrase is wrong', async () => {
        await assert.rejects(openKeystore({ dir, passphrase: 'not the passphrase at all' }), {
          code: 'KEY_UNAVAILABLE',
          message: /wrong passphrase \(AES-GCM authentication failed\)/,
        });
      });
    });

    describe('when a KEK file is configured for a passphrase store', () => {
      it('throws CONFIG_INVALID', async () => {
        const kekFile = join(dir, '..', 'kek');
        writeFileSync(kekFile, randomBytes(32), { mode: 0o600 });
        await assert.rejects(openKeystore({ dir, kekFile }), { code: 'CONFIG_INVALID' });
      });
    });
  });

  describe('with a KEK file', () => {
    it('creates, reopens and signs', async () => {
      const dir = freshDir();
      const kekFile = join(dir, '..', 'kek');
      writeFileSync(kekFile, randomBytes(32), { mode: 0o600 });
      const first = await openKeystore({ dir, kekFile });
      await first.createKey('tsa-1', 'tsa');
      await first.close();
      const store = await openKeystore({ dir, kekFile });
      const handle = await store.getKey('tsa-1', 'tsa');
      assertVerifies(handle, await handle.sign(MESSAGE));
    });

    it('refuses another KEK file with KEY_UNAVAILABLE', async () => {
      const dir = freshDir();
      const kekFile = join(dir, '..', 'kek');
      writeFileSync(kekFile, randomBytes(32), { mode: 0o600 });
      await (await openKeystore({ dir, kekFile })).close();
      writeFileSync(kekFile, randomBytes(32));
      await assert.rejects(openKeystore({ dir, kekFile }), {
        code: 'KEY_UNAVAILABLE',
        message: /wrong KEK file/,
      });
    });

    it('refuses a KEK file that is not 32 bytes with CONFIG_INVALID', async () => {
      const dir = freshDir();
      const kekFile = join(dir, '..', 'kek');
      writeFileSync(kekFile, `${randomBytes(32).toString('hex')}\n`, { mode: 0o600 });
      await assert.rejects(openKeystore({ dir, kekFile }), { code: 'CONFIG_INVALID' });
    });

    it('refuses a KEK file readable by others with KEY_UNAVAILABLE', async () => {
      const dir = freshDir();
      const kekFile = join(dir, '..', 'kek');
      writeFileSync(kekFile, randomBytes(32), { mode: 0o644 });
      chmodSync(kekFile, 0o644);
      await assert.rejects(openKeystore({ dir, kekFile }), {
        code: 'KEY_UNAVAILABLE',
        message: new RegExp(`chmod 600 ${kekFile}`),
      });
    });
  });

  describe('when the configuration is incomplete or weak', () => {
    it('throws CONFIG_INVALID without a secret, with two secrets, or with a short passphrase', async () => {
      const dir = freshDir();
      await assert.rejects(openKeystore({ dir }), { code: 'CONFIG_INVALID' });
      await assert.rejects(openKeystore({ dir, passphrase: PASSPHRASE, kekFile: '/dev/null' }), {
        code: 'CONFIG_INVALID',
      });
      await assert.rejects(openKeystore({ dir, passphrase: 'short' }), { code: 'CONFIG_INVALID' });
    });

    it('does not create a missing store when create is false', async () => {
      await assert.rejects(
        openKeystore({ dir: freshDir(), passphrase: PASSPHRASE, create: false }),
        {
          code: 'KEY_UNAVAILABLE',
        },
      );
    });
  });

  describe('when permissions are too open', () => {
    it('refuses a key file readable by group or others, naming it and the chmod to run', async () => {
      const { dir, keyPath } = await storeWithLogKey();
      chmodSync(keyPath, 0o644);
      await assert.rejects(openKeystore({ dir, passphrase: PASSPHRASE }), {
        code: 'KEY_UNAVAILABLE',
        message: new RegExp(
          `file ${keyPath} is accessible to group or others \\(mode 644\\); run: chmod 600 ${keyPath}`,
        ),
      });
    });

    it('refuses a group-readable directory, naming it and the chmod to run', async () => {
      const { dir } = await storeWithLogKey();
      chmodSync(dir, 0o750);
      await assert.rejects(openKeystore({ dir, passphrase: PASSPHRASE }), {
        code: 'KEY_UNAVAILABLE',
        message: new RegExp(`directory ${dir} .*run: chmod 700 ${dir}`),
      });
    });

    it('refuses a key whose file was opened up after the store was opened, and reports it in health', async () => {
      const { dir, keyPath } = await storeWithLogKey();
      const store = await openKeystore({ dir, passphrase: PASSPHRASE });
      assert.deepEqual(await store.health(), { ok: true });
      chmodSync(keyPath, 0o604);
      await assert.rejects(store.getKey('log-1', 'log'), {
        code: 'KEY_UNAVAILABLE',
        message: new RegExp(keyPath),
      });
      const health = await store.health();
      assert.equal(health.ok, false);
      assert.match(health.problem ?? '', /chmod 600/);
    });
  });

  describe('when a key file was tampered with', () => {
    let dir: string;
    let keyPath: string;
    let original: Buffer;
    let store: KeyBackend;
    before(async () => {
      ({ dir, keyPath } = await storeWithLogKey());
      original = readFileSync(keyPath);
      store = await openKeystore({ dir, passphrase: PASSPHRASE });
    });
    after(() => store.close());

    it('refuses every single-bit flip anywhere in the file with KEY_UNAVAILABLE', async () => {
      // Failed loads are not cached, so one open store re-reads the file on every attempt.
      for (let offset = 0; offset < original.length; offset += 1) {
        const flipped = Buffer.from(original);
        flipped[offset] = (flipped[offset] ?? 0) ^ 0x01;
        writeFileSync(keyPath, flipped);
        await assert.rejects(
          store.getKey('log-1', 'log'),
          { code: 'KEY_UNAVAILABLE' },
          `flip at byte ${offset} was accepted`,
        );
      }
      writeFileSync(keyPath, original);
      await store.getKey('log-1', 'log');
    });

    it('refuses a file whose ciphertext changed: GCM authentication fails', async () => {
      const other = await openKeystore({ dir, passphrase: PASSPHRASE });
      const file = JSON.parse(original.toString('utf8')) as { encryption: { ciphertext: string } };
      const bytes = Buffer.from(file.encryption.ciphertext, 'base64');
      bytes[10] = (bytes[10] ?? 0) ^ 0xff;
      file.encryption.ciphertext = bytes.toString('base64');
      writeFileSync(keyPath, JSON.stringify(file));
      await assert.rejects(other.getKey('log-1', 'log'), {
        code: 'KEY_UNAVAILABLE',
        message: /failed authentication/,
      });
      writeFileSync(keyPath, original);
    });

    it('refuses a log key re-labelled as a channel CA, under either purpose', async () => {
      const other = await openKeystore({ dir, passphrase: PASSPHRASE });
      const file = JSON.parse(original.toString('utf8')) as { purpose: string };
      file.purpose = 'channel-ca';
      writeFileSync(keyPath, JSON.stringify(file));
      await assert.rejects(other.getKey('log-1', 'channel-ca'), {
        code: 'KEY_UNAVAILABLE',
        message: /failed authentication/,
      });
      await assert.rejects(other.getKey('log-1', 'log'), { code: 'KEY_UNAVAILABLE' });
      await assert.rejects(other.listKeys(), { code: 'KEY_UNAVAILABLE' });
      writeFileSync(keyPath, original);
    });

    it('refuses a key file copied under another id', async () => {
      const other = await openKeystore({ dir, passphrase: PASSPHRASE });
      writeFileSync(join(dir, 'log-2.key'), original, { mode: 0o600 });
      await assert.rejects(other.getKey('log-2', 'log'), { code: 'KEY_UNAVAILABLE' });
      unlinkSync(join(dir, 'log-2.key'));
    });
  });

  describe('purpose enforcement', () => {
    it('refuses to hand out a log key as a channel-ca key, fresh or cached', async () => {
      const { dir } = await storeWithLogKey();
      const store = await openKeystore({ dir, passphrase: PASSPHRASE });
      await assert.rejects(store.getKey('log-1', 'channel-ca'), {
        code: 'KEY_UNAVAILABLE',
        message: /log-1 is a log key and cannot be used as a channel-ca key/,
      });
      await store.getKey('log-1', 'log');
      await assert.rejects(store.getKey('log-1', 'channel-ca'), { code: 'KEY_UNAVAILABLE' });
    });
  });

  describe('keys', () => {
    it('lists keys by id with their purpose and public key', async () => {
      const store = await openKeystore({ dir: freshDir(), passphrase: PASSPHRASE });
      const ca = await store.createKey('payments-prod-ca', 'channel-ca');
      const log = await store.createKey('log-1', 'log');
      assert.deepEqual(await store.listKeys(), [
        {
          id: 'log-1',
          purpose: 'log',
          algorithm: 'ecdsa-p256-sha256',
          publicKeySpki: log.publicKeySpki,
        },
        {
          id: 'payments-prod-ca',
          purpose: 'channel-ca',
          algorithm: 'ecdsa-p256-sha256',
          publicKeySpki: ca.publicKeySpki,
        },
      ]);
    });

    it('throws NOT_FOUND for a missing key and INVALID_INPUT for an id that is not a file name', async () => {
      const store = await openKeystore({ dir: freshDir(), passphrase: PASSPHRASE });
      await assert.rejects(store.getKey('absent', 'log'), { code: 'NOT_FOUND' });
      await assert.rejects(store.getKey('../keystore', 'log'), { code: 'INVALID_INPUT' });
      await assert.rejects(store.createKey('a/b', 'log'), { code: 'INVALID_INPUT' });
    });

    it('fails handles with KEY_UNAVAILABLE once the store is closed', async () => {
      const store = await openKeystore({ dir: freshDir(), passphrase: PASSPHRASE });
      const handle = await store.createKey('log-1', 'log');
      await store.close();
      await assert.rejects(handle.sign(MESSAGE), { code: 'KEY_UNAVAILABLE' });
      assert.equal((await store.health()).ok, false);
    });
  });

  describe('atomic writes', () => {
    it('never replaces an existing key: CONFLICT, and the file is unchanged', async () => {
      const { dir, keyPath } = await storeWithLogKey();
      const before = readFileSync(keyPath);
      const store = await openKeystore({ dir, passphrase: PASSPHRASE });
      await assert.rejects(store.createKey('log-1', 'log'), { code: 'CONFLICT' });
      assert.deepEqual(readFileSync(keyPath), before);
    });

    it('lets exactly one of two racing creators publish a key id', async () => {
      const dir = freshDir();
      await (await openKeystore({ dir, passphrase: PASSPHRASE })).close();
      const [a, b] = await Promise.all([
        openKeystore({ dir, passphrase: PASSPHRASE }),
        openKeystore({ dir, passphrase: PASSPHRASE }),
      ]);
      const results = await Promise.allSettled([
        a.createKey('log-1', 'log'),
        b.createKey('log-1', 'log'),
      ]);
      assert.deepEqual(results.map((r) => r.status).sort(), ['fulfilled', 'rejected']);
      const rejected = results.find((r) => r.status === 'rejected');
      assert.equal((rejected?.reason as { code?: string }).code, 'CONFLICT');
      const winner = results.find((r) => r.status === 'fulfilled');
      const reopened = await openKeystore({ dir, passphrase: PASSPHRASE });
      assert.deepEqual(
        (await reopened.getKey('log-1', 'log')).publicKeySpki,
        winner?.value.publicKeySpki,
      );
    });

    it('leaves no temp file behind and ignores one left by a crash mid-write', async () => {
      const dir = freshDir();
      const store = await openKeystore({ dir, passphrase: PASSPHRASE });
      await store.createKey('log-1', 'log');
      assert.deepEqual(readdirSync(dir).sort(), ['keystore.json', 'log-1.key']);
      // What a crash between write and rename leaves: a truncated dot-file.
      writeFileSync(join(dir, '.log-2.key.tmp-0123456789ab'), '{"format":"countersign-k', {
        mode: 0o600,
      });
      const reopened = await openKeystore({ dir, passphrase: PASSPHRASE });
      assert.deepEqual(
        (await reopened.listKeys()).map((key) => key.id),
        ['log-1'],
      );
      await reopened.createKey('log-2', 'log');
      assert.deepEqual(
        (await reopened.listKeys()).map((key) => key.id),
        ['log-1', 'log-2'],
      );
    });

    it('refuses to mint a new KEK over key files whose keystore.json is missing', async () => {
      const { dir } = await storeWithLogKey();
      unlinkSync(join(dir, 'keystore.json'));
      await assert.rejects(openKeystore({ dir, passphrase: PASSPHRASE }), {
        code: 'KEY_UNAVAILABLE',
        message: /no keystore.json/,
      });
    });
  });
});
