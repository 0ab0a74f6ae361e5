import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openStorage } from '../adapters/storage/open-storage.ts';
import { cryptoRandom } from '../adapters/system/crypto-random.ts';
import { isAppError } from '../core/errors.ts';
import type { Clock, Storage } from '../core/ports.ts';
import { createApiTokens, requireRole, type ApiTokens } from './api-tokens.ts';

const hasCode = (code: string) => (error: unknown) => isAppError(error) && error.code === code;

describe('createApiTokens', () => {
  let dataDir: string;
  let storage: Storage;
  let now = Date.parse('2026-03-01T12:00:00Z');
  const clock: Clock = { now: () => new Date(now) };
  let tokens: ApiTokens;

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'countersign-tokens-'));
    storage = await openStorage({ engine: 'sqlite', dataDir });
    tokens = createApiTokens({ storage, clock, random: cryptoRandom });
  });
  after(async () => {
    await storage.close();
    await rm(dataDir, { recursive: true, force: true });
  });

  describe('createInitialAdminToken', () => {
    it('creates an admin token on an empty installation, then refuses with CONFLICT', async () => {
      const first = await tokens.createInitialAdminToken();
      assert.equal(first.view.role, 'admin');
      await assert.rejects(tokens.createInitialAdminToken(), hasCode('CONFLICT'));
    });
  });

  describe('createToken', () => {
    it('returns cs_<id>_<secret> and stores only the SHA-256 of the secret', async () => {
      const { token, view } = await tokens.createToken({ name: '  deploy bot ', role: 'security' });
      const match = /^cs_([a-z2-7]{16})_([A-Za-z0-9_-]{43})$/.exec(token);
      assert.ok(match, token);
      assert.equal(match[1], view.id);
      assert.equal(view.name, 'deploy bot');
      const stored = await storage.apiTokens.findById(view.id);
      const expected = createHash('sha256')
        .update(Buffer.from(match[2] ?? '', 'base64url'))
        .digest();
      assert.deepEqual(Buffer.from(stored?.secretHash ?? []), expected);
    });

    it('rejects an empty name, a control character and an expiry not in the future', async () => {
      await assert.rejects(
        tokens.createToken({ name: '   ', role: 'admin' }),
        hasCode('INVALID_INPUT'),
      );
      await assert.rejects(
        tokens.createToken({ name: 'a\u0007b', role: 'admin' }),
        hasCode('INVALID_INPUT'),
      );
      await assert.rejects(
        tokens.createToken({ name: 'late', role: 'admin', expiresAt: new Date(now) }),
        hasCode('INVALID_INPUT'),
      );
    });
  });

  describe('authenticateToken', () => {
    it('returns the principal of an active token', async () => {
      const { token, view } = await tokens.createToken({ name: 'reader', role: 'auditor' });
      assert.deepEqual(await tokens.authenticateToken(token), {
        kind: 'api-token',
        tokenId: view.id,
        name: 'reader',
        role: 'auditor',
        userId: null,
      });
    });

    it('throws UNAUTHENTICATED with one message for absent, malformed, non-canonical, wrong, revoked and expired tokens', async () => {
      const valid = (await tokens.createToken({ name: 'v', role: 'admin' })).token;
      const revoked = await tokens.createToken({ name: 'r', role: 'admin' });
      await tokens.revokeToken(revoked.view.id);
      const expiring = await tokens.createToken({
        name: 'e',
        role: 'admin',
        expiresAt: new Date(now + 1000),
      });
      now += 1000;

      // The last base64url character of 32 bytes carries 4 data bits and 2 zero bits.
      const last = valid.at(-1) ?? 'A';
      const nonCanonical = `${valid.slice(0, -1)}${String.fromCharCode(last.charCodeAt(0) + 1)}`;
      const wrongSecret = `${valid.slice(0, 20)}${valid.at(20) === 'A' ? 'B' : 'A'}${valid.slice(21)}`;
      const messages = new Set<string>();
      for (const presented of [
        undefined,
        '',
        'cs_',
        valid.toUpperCase(),
        nonCanonical,
        wrongSecret,
        revoked.token,
        expiring.token,
      ]) {
        await assert.rejects(tokens.authenticateToken(presented), (error: unknown) => {
          assert.ok(isAppError(error, 'UNAUTHENTICATED'), String(presented));
          messages.add(error.message);
          return true;
        });
      }
      assert.equal(messages.size, 1);
      assert.ok(await tokens.authenticateToken(valid));
    });
  });

  describe('revokeToken', () => {
    it('throws NOT_FOUND for an unknown or malformed id', async () => {
      await assert.rejects(tokens.revokeToken('aaaaaaaaaaaaaaaa'), hasCode('NOT_FOUND'));
      await assert.rejects(tokens.revokeToken('../../etc'), hasCode('NOT_FOUND'));
    });
  });

  describe('listTokens', () => {
    it('lists every token with its status and never its hash', async () => {
      const listed = await tokens.listTokens();
      assert.ok(listed.length >= 5);
      assert.ok(listed.some((view) => view.status === 'revoked'));
      assert.ok(listed.some((view) => view.status === 'expired'));
      for (const view of listed) assert.equal('secretHash' in view, false);
    });
  });
});

describe('requireRole', () => {
  it('passes a listed role and throws FORBIDDEN otherwise', () => {
    const principal = {
      kind: 'api-token',
      tokenId: 'x',
      name: 'n',
      role: 'auditor',
      userId: null,
    } as const;
    requireRole(principal, ['admin', 'auditor']);
    assert.throws(() => requireRole(principal, ['admin']), hasCode('FORBIDDEN'));
  });
});
