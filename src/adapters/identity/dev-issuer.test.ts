import assert from 'node:assert/strict';
import { chmod, mkdtemp, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createFakeClock } from '../../../test/identity/test-issuer.ts';
import {
  DEV_KEY_FILE,
  DEV_TOKEN_DEFAULTS,
  loadDevIssuerKey,
  startDevIssuer,
  type DevIssuer,
} from './dev-issuer.ts';
import { createMemoryTokenIdStore } from './memory-token-id-store.ts';
import { createOidcVerifier } from './oidc-verifier.ts';

describe('startDevIssuer', () => {
  const clock = createFakeClock();
  let issuer: DevIssuer;

  before(async () => {
    issuer = await startDevIssuer({ clock });
  });

  after(async () => {
    await issuer.close();
  });

  const verifierFor = (shape: 'github-actions' | 'gitlab') =>
    createOidcVerifier({
      issuers: [issuer.issuerConfig(shape)],
      clock,
      tokenIds: createMemoryTokenIdStore({ clock }),
    });

  it('listens on loopback and serves discovery and the key set', async () => {
    assert.match(issuer.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const discovery = (await (
      await fetch(`${issuer.url}/.well-known/openid-configuration`)
    ).json()) as Record<string, unknown>;
    assert.equal(discovery['issuer'], issuer.url);
    assert.equal(discovery['jwks_uri'], `${issuer.url}/jwks`);
    const gitlab = (await (
      await fetch(`${issuer.url}/gitlab/.well-known/openid-configuration`)
    ).json()) as Record<string, unknown>;
    assert.equal(gitlab['issuer'], `${issuer.url}/gitlab`);
    const jwks = (await (await fetch(`${issuer.url}/jwks`)).json()) as {
      keys: Record<string, unknown>[];
    };
    assert.deepEqual(
      jwks.keys.map((k) => [k['kid'], k['alg'], Object.hasOwn(k, 'd')]),
      [[issuer.key.kid, 'ES256', false]],
    );
    assert.equal((await fetch(`${issuer.url}/nope`)).status, 404);
  });

  it('mints GitHub-shaped demo tokens the verifier accepts', async () => {
    const workload = await verifierFor('github-actions').verify(await issuer.mintToken(), {
      purpose: 'sign',
    });
    assert.equal(workload.issuer, issuer.url);
    assert.equal(workload.repository, DEV_TOKEN_DEFAULTS.repository);
    assert.equal(workload.repositoryId, DEV_TOKEN_DEFAULTS.repositoryId);
    assert.equal(workload.ownerId, DEV_TOKEN_DEFAULTS.ownerId);
    assert.equal(workload.ref, DEV_TOKEN_DEFAULTS.ref);
    assert.equal(workload.event, 'push');
    assert.equal(
      workload.identityUri,
      'https://github.com/demo/hello/.github/workflows/release.yml@refs/heads/main',
    );
  });

  it('mints GitLab-shaped tokens under its /gitlab issuer', async () => {
    const token = await issuer.mintToken({
      shape: 'gitlab',
      ref: 'refs/tags/v1.0.0',
      environment: 'production',
    });
    const workload = await verifierFor('gitlab').verify(token, { purpose: 'sign' });
    assert.equal(workload.issuerType, 'gitlab');
    assert.equal(workload.repositoryId, DEV_TOKEN_DEFAULTS.repositoryId);
    assert.equal(workload.ref, 'refs/tags/v1.0.0');
    assert.equal(workload.environment, 'production');
    assert.equal(workload.refProtected, true);
    // A GitLab-shaped token is not a GitHub one, even from the same key.
    await assert.rejects(verifierFor('github-actions').verify(token, { purpose: 'read' }), {
      code: 'UNAUTHENTICATED',
      message: /issuer is not trusted/,
    });
  });

  it('gives every token a fresh jti', async () => {
    const verifier = verifierFor('github-actions');
    const first = await verifier.verify(await issuer.mintToken(), { purpose: 'sign' });
    const second = await verifier.verify(await issuer.mintToken(), { purpose: 'sign' });
    assert.ok(first.tokenId !== undefined && second.tokenId !== undefined);
    assert.notEqual(first.tokenId, second.tokenId);
  });

  it('refuses lifetimes over an hour', async () => {
    await assert.rejects(issuer.mintToken({ lifetimeSeconds: 7200 }), { code: 'INVALID_INPUT' });
  });

  for (const host of ['0.0.0.0', '::', '192.168.1.10', 'example.com']) {
    it(`refuses to listen on ${host}`, async () => {
      await assert.rejects(startDevIssuer({ host }), {
        code: 'CONFIG_INVALID',
        message: 'the development issuer is insecure and only listens on loopback',
      });
    });
  }
});

describe('loadDevIssuerKey', () => {
  let dir: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'countersign-dev-issuer-'));
  });

  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('creates the key with mode 0600 and loads the same key next time', async () => {
    const created = await loadDevIssuerKey(dir);
    assert.equal((await stat(join(dir, DEV_KEY_FILE))).mode & 0o777, 0o600);
    const loaded = await loadDevIssuerKey(dir);
    assert.equal(loaded.kid, created.kid);
  });

  it('refuses a key file other users can read', async () => {
    await loadDevIssuerKey(dir);
    await chmod(join(dir, DEV_KEY_FILE), 0o644);
    await assert.rejects(loadDevIssuerKey(dir), {
      code: 'CONFIG_INVALID',
      message: /readable by other users/,
    });
    await chmod(join(dir, DEV_KEY_FILE), 0o600);
  });

  it('makes an ephemeral key without a directory', async () => {
    const [a, b] = await Promise.all([loadDevIssuerKey(), loadDevIssuerKey()]);
    assert.notEqual(a.kid, b.kid);
  });
});
