import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '../adapters/storage/open-storage.ts';
import { cryptoRandom } from '../adapters/system/crypto-random.ts';
import { openSecretFile } from '../adapters/system/secret-file.ts';
import { systemClock } from '../adapters/system/system-clock.ts';
import type { Storage } from '../core/ports.ts';
import { createApiTokens, type ApiTokens } from './api-tokens.ts';
import { ensureDemoWorkspace } from './demo-workspace.ts';

describe('ensureDemoWorkspace', () => {
  let dataDir: string;
  let storage: Storage;
  let apiTokens: ApiTokens;
  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'countersign-demo-'));
    storage = await openStorage({ engine: 'sqlite', dataDir });
    apiTokens = createApiTokens({ storage, clock: systemClock, random: cryptoRandom });
  });
  after(async () => {
    await storage.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  const ensure = () =>
    ensureDemoWorkspace({
      apiTokens,
      adminTokenFile: openSecretFile(join(dataDir, 'demo-admin-token')),
    });

  describe('on a fresh data directory', () => {
    it('creates an admin token in an owner-only file', async () => {
      const demo = await ensure();
      assert.equal(demo.created, true);
      assert.equal((await apiTokens.authenticateToken(demo.adminToken)).role, 'admin');
      assert.equal((await stat(demo.adminTokenPath)).mode & 0o777, 0o600);
    });
  });

  describe('run again', () => {
    it('reuses the stored token', async () => {
      const first = await ensure();
      const second = await ensure();
      assert.equal(second.created, false);
      assert.equal(second.adminToken, first.adminToken);
      assert.equal((await apiTokens.listTokens()).length, 1);
    });
  });

  describe('when the stored token was revoked', () => {
    it('replaces it', async () => {
      const before = await ensure();
      await apiTokens.revokeToken((await apiTokens.authenticateToken(before.adminToken)).tokenId);
      const after = await ensure();
      assert.equal(after.created, true);
      assert.notEqual(after.adminToken, before.adminToken);
    });
  });
});
