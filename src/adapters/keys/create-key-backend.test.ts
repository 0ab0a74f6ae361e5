import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { createKeyBackend, type KeyBackendOptions } from './create-key-backend.ts';

const root = mkdtempSync(join(tmpdir(), 'countersign-key-backend-'));
after(() => rmSync(root, { recursive: true, force: true }));

describe('createKeyBackend', () => {
  it('opens a keystore for kind keystore', async () => {
    const backend = await createKeyBackend({
      kind: 'keystore',
      dir: join(root, 'keys'),
      passphrase: 'a long enough passphrase',
    });
    assert.equal(backend.kind, 'keystore');
    const handle = await backend.createKey('log-1', 'log');
    assert.equal((await backend.getKey('log-1', 'log')).id, handle.id);
    await backend.close();
  });

  it('throws CONFIG_INVALID for an unknown kind', async () => {
    const options = { kind: 'vault', dir: root } as unknown as KeyBackendOptions;
    await assert.rejects(createKeyBackend(options), { code: 'CONFIG_INVALID' });
  });

  it('throws CONFIG_INVALID for a PKCS#11 module that cannot be loaded', async () => {
    await assert.rejects(
      createKeyBackend({
        kind: 'pkcs11',
        module: join(root, 'missing.so'),
        tokenLabel: 't',
        pin: '1234',
      }),
      { code: 'CONFIG_INVALID' },
    );
  });
});
