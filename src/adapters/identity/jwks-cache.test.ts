import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { exportJWK, type JWK } from 'jose';
import type { IssuerConfig } from '../../core/governance/issuer.ts';
import {
  createEcKey,
  createFakeClock,
  startJwksServer,
  type JwksServer,
  type TestKey,
} from '../../../test/identity/test-issuer.ts';
import { createJwksCache, parseJwks } from './jwks-cache.ts';

let server: JwksServer;
let key: TestKey;

before(async () => {
  server = await startJwksServer();
  key = await createEcKey('k1');
});

after(async () => {
  await server.close();
});

/** Built by hand, without validateIssuerConfig, to prove the cache's own guards. */
function issuerAt(path: string, overrides: Partial<IssuerConfig> = {}): IssuerConfig {
  return {
    name: 'test',
    type: 'generic',
    issuer: `https://issuer.example.test${path}`,
    jwksUrl: `${server.url}${path}`,
    audiences: ['countersign'],
    algorithms: ['ES256'],
    maxTokenBytes: 16384,
    clockLeewaySeconds: 30,
    allowInsecureLoopback: true,
    ...overrides,
  };
}

describe('parseJwks', () => {
  it('keeps only the public members of usable signing keys', () => {
    const jwks = parseJwks({ keys: [{ ...key.jwk, x5c: ['MIIB'], extra: 1 }] });
    assert.deepEqual(Object.keys(jwks.keys[0] ?? {}).sort(), [
      'alg',
      'crv',
      'kid',
      'kty',
      'use',
      'x',
      'y',
    ]);
  });

  it('skips encryption keys and algorithms it never verifies with', () => {
    const jwks = parseJwks({
      keys: [
        { ...key.jwk, kid: 'enc', use: 'enc' },
        { ...key.jwk, kid: 'oaep', alg: 'RSA-OAEP' },
        { ...key.jwk, kid: 'wrap', key_ops: ['wrapKey'] },
        { kty: 'AKP', kid: 'pq', alg: 'ML-DSA-44', pub: 'AAAA' },
        key.jwk,
      ],
    });
    assert.deepEqual(
      jwks.keys.map((k) => k.kid),
      ['k1'],
    );
  });

  it('refuses a set holding private key material', async () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const privateJwk: JWK = await exportJWK(privateKey);
    assert.throws(() => parseJwks({ keys: [privateJwk] }), {
      code: 'UNAUTHENTICATED',
      message: /private key material/,
    });
  });

  it('refuses a set holding a symmetric key', () => {
    assert.throws(() => parseJwks({ keys: [key.jwk, { kty: 'oct', k: 'AAAA' }] }), {
      code: 'UNAUTHENTICATED',
      message: /symmetric \(oct\) key/,
    });
  });

  it('refuses documents that are not key sets, empty sets and oversized sets', () => {
    for (const document of [null, [], { keys: {} }, { jwks: [] }, { keys: [] }, { keys: ['x'] }]) {
      assert.throws(() => parseJwks(document), { code: 'UNAUTHENTICATED' });
    }
    assert.throws(() => parseJwks({ keys: [key.jwk, key.jwk, key.jwk] }, 2), {
      code: 'UNAUTHENTICATED',
      message: /more than 2 keys/,
    });
  });

  it('refuses a key missing a member', () => {
    const withoutY = { ...key.jwk };
    delete withoutY.y;
    assert.throws(() => parseJwks({ keys: [withoutY] }), { message: /lacks its y member/ });
  });
});

describe('createJwksCache', () => {
  describe('when the issuer’s set is fetched', () => {
    it('serves it from memory until it is old, then fetches it again', async () => {
      const path = '/cache-age';
      server.serve(path, { kind: 'json', body: { keys: [key.jwk] } });
      const clock = createFakeClock();
      const cache = createJwksCache({ clock, refreshAfterSeconds: 300 });
      const first = await cache.getKeys(issuerAt(path));
      assert.equal(first.keyCount, 1);
      clock.advance(299);
      assert.equal(await cache.getKeys(issuerAt(path)), first);
      assert.equal(server.hits(path), 1);
      clock.advance(2);
      assert.notEqual(await cache.getKeys(issuerAt(path)), first);
      assert.equal(server.hits(path), 2);
    });

    it('refuses a key that does not import', async () => {
      const path = '/cache-bad-key';
      server.serve(path, { kind: 'json', body: { keys: [{ ...key.jwk, x: 'AAAA' }] } });
      const cache = createJwksCache({ clock: createFakeClock() });
      await assert.rejects(cache.getKeys(issuerAt(path)), {
        code: 'UNAUTHENTICATED',
        message:
          /cannot verify tokens from issuer test: the key set contains a key that cannot be imported/,
      });
    });

    it('refuses a body that is not UTF-8 JSON', async () => {
      const path = '/cache-not-json';
      server.serve(path, {
        kind: 'raw',
        status: 200,
        headers: { 'content-type': 'application/json' },
        body: '{"keys": [',
      });
      const cache = createJwksCache({ clock: createFakeClock() });
      await assert.rejects(cache.getKeys(issuerAt(path)), { message: /not valid JSON/ });
    });
  });

  describe('after a failed fetch', () => {
    it('does not fetch again before the minimum interval', async () => {
      const path = '/cache-failing';
      server.serve(path, { kind: 'raw', status: 503, headers: {}, body: '' });
      const clock = createFakeClock();
      const cache = createJwksCache({ clock, minRefreshIntervalSeconds: 30 });
      for (let i = 0; i < 5; i += 1) {
        await assert.rejects(cache.getKeys(issuerAt(path)), { message: /status 503/ });
      }
      assert.equal(server.hits(path), 1);
      clock.advance(30);
      await assert.rejects(cache.getKeys(issuerAt(path)), { message: /status 503/ });
      assert.equal(server.hits(path), 2);
    });
  });

  describe('refreshForUnknownKey', () => {
    it('refreshes once per interval and reports whether it did', async () => {
      const path = '/cache-unknown-kid';
      server.serve(path, { kind: 'json', body: { keys: [key.jwk] } });
      const clock = createFakeClock();
      const cache = createJwksCache({ clock, minRefreshIntervalSeconds: 60 });
      await cache.getKeys(issuerAt(path));
      assert.equal(await cache.refreshForUnknownKey(issuerAt(path)), false);
      clock.advance(60);
      assert.equal(await cache.refreshForUnknownKey(issuerAt(path)), true);
      assert.equal(await cache.refreshForUnknownKey(issuerAt(path)), false);
      assert.equal(server.hits(path), 2);
    });
  });

  describe('when the JWKS URL is on loopback but the issuer is not a development one', () => {
    it('refuses a literal loopback address without connecting', async () => {
      const path = '/cache-literal-loopback';
      server.serve(path, { kind: 'json', body: { keys: [key.jwk] } });
      const cache = createJwksCache({ clock: createFakeClock() });
      await assert.rejects(cache.getKeys(issuerAt(path, { allowInsecureLoopback: false })), {
        message: /forbidden \(loopback or link-local\) address/,
      });
      assert.equal(server.hits(path), 0);
    });

    it('refuses a host name that resolves to loopback', async () => {
      const path = '/cache-resolved-loopback';
      server.serve(path, { kind: 'json', body: { keys: [key.jwk] } });
      const cache = createJwksCache({ clock: createFakeClock() });
      const jwksUrl = `${server.url.replace('127.0.0.1', 'localhost')}${path}`;
      await assert.rejects(
        cache.getKeys(issuerAt(path, { jwksUrl, allowInsecureLoopback: false })),
        {
          message: /forbidden \(loopback or link-local\) address/,
        },
      );
      assert.equal(server.hits(path), 0);
    });
  });
});
