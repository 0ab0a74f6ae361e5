/**
 * Attacks on workload-token verification (threat model §2.A, INV-6), run against a real loopback
 * JWKS server. Every attack has a positive control beside it: the same token without the attack
 * is accepted, so a rejection proves the check, not a broken fixture.
 */

import assert from 'node:assert/strict';
import { createHmac } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { createMemoryTokenIdStore } from '../../src/adapters/identity/memory-token-id-store.ts';
import {
  createOidcVerifier,
  type OidcVerifierOptions,
} from '../../src/adapters/identity/oidc-verifier.ts';
import { validateIssuerConfig, type IssuerConfig } from '../../src/core/governance/issuer.ts';
import type { TokenPurpose, WorkloadVerifier } from '../../src/core/ports.ts';
import {
  base64urlJson,
  createEcKey,
  createFakeClock,
  createRsaKey,
  gitHubClaims,
  gitLabClaims,
  signRaw,
  signToken,
  startJwksServer,
  type FakeClock,
  type JwksServer,
  type TestKey,
} from './test-issuer.ts';

const GITHUB_ISS = 'https://token.actions.example.test';
const GITLAB_ISS = 'https://gitlab.example.test';
const RSA_ISS = 'https://rsa.example.test';

let server: JwksServer;
let githubKey: TestKey;
let rsaKey: TestKey;
let attackerKey: TestKey;
let pathCounter = 0;

before(async () => {
  server = await startJwksServer();
  githubKey = await createEcKey('gh-1');
  attackerKey = await createEcKey('attacker');
  rsaKey = await createRsaKey('rsa-1');
});

after(async () => {
  await server.close();
});

interface Harness {
  readonly verifier: WorkloadVerifier;
  readonly clock: FakeClock;
  readonly jwksPath: string;
  verify(token: string, purpose?: TokenPurpose): ReturnType<WorkloadVerifier['verify']>;
}

/**
 * A fresh verifier (own JWKS cache, own replay store) trusting one issuer whose JWKS is served
 * on a path of its own, so fetch counts belong to this test alone.
 */
function createHarness(
  issuer: Partial<Record<keyof IssuerConfig, unknown>> & { keys?: readonly TestKey[] } = {},
  options: Partial<Omit<OidcVerifierOptions, 'issuers' | 'clock' | 'tokenIds'>> = {},
): Harness {
  const { keys = [githubKey], ...fields } = issuer;
  pathCounter += 1;
  const jwksPath = `/jwks-${pathCounter}`;
  server.serve(jwksPath, { kind: 'json', body: { keys: keys.map((key) => key.jwk) } });
  const clock = createFakeClock();
  const config = validateIssuerConfig({
    name: 'github',
    type: 'github-actions',
    issuer: GITHUB_ISS,
    jwksUrl: `${server.url}${jwksPath}`,
    audiences: ['countersign'],
    algorithms: ['ES256'],
    allowInsecureLoopback: true,
    ...fields,
  });
  const verifier = createOidcVerifier({
    issuers: [config],
    clock,
    tokenIds: createMemoryTokenIdStore({ clock }),
    jwks: { timeoutMs: 300 },
    ...options,
  });
  return {
    verifier,
    clock,
    jwksPath,
    verify: (token, purpose = 'sign') => verifier.verify(token, { purpose }),
  };
}

async function assertRejected(promise: Promise<unknown>, message: RegExp): Promise<void> {
  await assert.rejects(promise, { name: 'AppError', code: 'UNAUTHENTICATED', message });
}

describe('workload token verification attacks', () => {
  describe('a well-formed GitHub Actions token (positive control)', () => {
    it('is accepted and normalised to immutable ids', async () => {
      const h = createHarness();
      const workload = await h.verify(
        await signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now())),
      );
      assert.equal(workload.issuer, GITHUB_ISS);
      assert.equal(workload.issuerType, 'github-actions');
      assert.equal(workload.repositoryId, '7001');
      assert.equal(workload.ownerId, '7000');
      assert.equal(
        workload.identityUri,
        'https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main',
      );
    });
  });

  describe('A1: alg none', () => {
    for (const alg of ['none', 'None', 'NONE']) {
      it(`rejects alg "${alg}" with an empty signature`, async () => {
        const h = createHarness();
        const claims = gitHubClaims(GITHUB_ISS, h.clock.now());
        const token = `${base64urlJson({ alg, typ: 'JWT' })}.${base64urlJson(claims)}.`;
        await assertRejected(h.verify(token), /not signed|alg "none"/);
      });
    }

    it('rejects alg "none" even with a signature segment', async () => {
      const h = createHarness();
      const claims = gitHubClaims(GITHUB_ISS, h.clock.now());
      const token = `${base64urlJson({ alg: 'none' })}.${base64urlJson(claims)}.c2ln`;
      await assertRejected(h.verify(token), /alg "none"/);
    });

    it('rejects an ES256 header with the signature stripped', async () => {
      const h = createHarness();
      const token = await signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now()));
      await assertRejected(h.verify(`${token.slice(0, token.lastIndexOf('.'))}.`), /not signed/);
    });
  });

  describe('A2: RS256 issuer key re-used as an HS256 secret', () => {
    const rsaIssuer = { name: 'rsa', type: 'generic', issuer: RSA_ISS, algorithms: ['RS256'] };

    it('accepts the genuine RS256 token (positive control)', async () => {
      const h = createHarness({ ...rsaIssuer, keys: [rsaKey] });
      const claims = { iss: RSA_ISS, aud: 'countersign', sub: 'svc', jti: 'j1', iat: 1, exp: 2 };
      const now = Math.floor(h.clock.now().getTime() / 1000);
      const workload = await h.verify(
        await signToken(rsaKey, { ...claims, iat: now, exp: now + 60 }),
      );
      assert.equal(workload.subject, 'svc');
    });

    const secrets: Record<string, () => Buffer> = {
      'the PEM public key': () =>
        Buffer.from(rsaKey.publicKey.export({ type: 'spki', format: 'pem' }) as string),
      'the PEM with leading whitespace': () =>
        Buffer.from(`\n  ${rsaKey.publicKey.export({ type: 'spki', format: 'pem' }) as string}`),
      'the JWK JSON': () => Buffer.from(JSON.stringify(rsaKey.jwk)),
    };
    for (const [label, secret] of Object.entries(secrets)) {
      it(`rejects an HS256 token keyed with ${label}`, async () => {
        const h = createHarness({ ...rsaIssuer, keys: [rsaKey] });
        const now = Math.floor(h.clock.now().getTime() / 1000);
        const header = base64urlJson({ alg: 'HS256', typ: 'JWT', kid: 'rsa-1' });
        const payload = base64urlJson({
          iss: RSA_ISS,
          aud: 'countersign',
          sub: 'svc',
          jti: 'j',
          iat: now,
          exp: now + 60,
        });
        const mac = createHmac('sha256', secret())
          .update(`${header}.${payload}`)
          .digest('base64url');
        await assertRejected(h.verify(`${header}.${payload}.${mac}`), /HS256 \(symmetric\)/);
        assert.equal(server.hits(h.jwksPath), 0, 'rejected before any key was looked up');
      });
    }
  });

  describe('A3: header-supplied keys', () => {
    it('rejects a token signed by an attacker key embedded as jwk', async () => {
      const h = createHarness();
      const token = await signToken(attackerKey, gitHubClaims(GITHUB_ISS, h.clock.now()), {
        kid: 'gh-1',
        jwk: attackerKey.jwk,
      });
      await assertRejected(h.verify(token), /carries its own key \(jwk\)/);
    });

    for (const parameter of ['jku', 'x5u'] as const) {
      it(`rejects a token pointing at a key URL (${parameter}), even when genuinely signed`, async () => {
        const h = createHarness();
        const token = await signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now()), {
          [parameter]: 'https://attacker.example/keys',
        });
        await assertRejected(h.verify(token), new RegExp(`carries its own key \\(${parameter}\\)`));
      });
    }

    it('rejects an x5c certificate chain in the header', async () => {
      const h = createHarness();
      const token = await signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now()), {
        x5c: ['MIIB'],
      });
      await assertRejected(h.verify(token), /carries its own key \(x5c\)/);
    });

    it('rejects critical header extensions', async () => {
      const h = createHarness();
      const payload = JSON.stringify(gitHubClaims(GITHUB_ISS, h.clock.now()));
      const token = signRaw(githubKey, { alg: 'ES256', kid: 'gh-1', crit: ['exp'] }, payload);
      await assertRejected(h.verify(token), /unsupported parameter crit/);
    });
  });

  describe('A4/A14: unknown kid and key rotation', () => {
    it('rejects a token signed with a key the issuer does not publish', async () => {
      const h = createHarness();
      const token = await signToken(attackerKey, gitHubClaims(GITHUB_ISS, h.clock.now()));
      await assertRejected(h.verify(token), /no key of issuer github matches/);
    });

    it('rejects a token whose kid names the issuer key but is signed by another key', async () => {
      const h = createHarness();
      const token = await signToken(attackerKey, gitHubClaims(GITHUB_ISS, h.clock.now()), {
        kid: 'gh-1',
      });
      await assertRejected(h.verify(token), /invalid signature/);
    });

    it('refreshes the key set at most once per interval however many unknown kids arrive', async () => {
      const h = createHarness();
      const forged = async (kid: string): Promise<string> =>
        signToken(attackerKey, gitHubClaims(GITHUB_ISS, h.clock.now()), { kid });
      await assertRejected(h.verify(await forged('attacker')), /no key of issuer/);
      assert.equal(server.hits(h.jwksPath), 1);
      for (const kid of ['../../dev/null', "' OR 1=1 --", 'k2', 'k3', 'k4', 'k5']) {
        await assertRejected(h.verify(await forged(kid)), /no key of issuer/);
      }
      assert.equal(server.hits(h.jwksPath), 1, 'no refresh within the interval');
      h.clock.advance(31);
      await assertRejected(h.verify(await forged('k6')), /no key of issuer/);
      await assertRejected(h.verify(await forged('k7')), /no key of issuer/);
      assert.equal(server.hits(h.jwksPath), 2, 'one refresh after the interval');
    });

    it('rejects malformed kids without fetching anything', async () => {
      const h = createHarness();
      for (const kid of ['k'.repeat(300), 'k\u0000ey', 'ключ']) {
        const token = await signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now()), { kid });
        await assertRejected(h.verify(token), /key id \(kid\) is malformed/);
      }
      assert.equal(server.hits(h.jwksPath), 0);
    });

    it('picks up a rotated-in key and drops a removed one (the set is replaced, not merged)', async () => {
      const h = createHarness();
      await h.verify(await signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now())));
      const rotated = await createEcKey('gh-2');
      server.serve(h.jwksPath, { kind: 'json', body: { keys: [rotated.jwk] } });
      h.clock.advance(31);
      const workload = await h.verify(
        await signToken(rotated, gitHubClaims(GITHUB_ISS, h.clock.now())),
      );
      assert.equal(workload.repositoryId, '7001');
      await assertRejected(
        h.verify(await signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now()))),
        /no key of issuer github matches/,
      );
    });
  });

  describe('A5: key and algorithm mismatch', () => {
    it('rejects an ES256 token whose kid names a P-384 key', async () => {
      const p384 = await createEcKey('shared-kid', 'P-384');
      const p256 = await createEcKey('shared-kid');
      const h = createHarness({ keys: [p384], algorithms: ['ES256', 'ES384'] });
      const token = await signToken(p256, gitHubClaims(GITHUB_ISS, h.clock.now()));
      await assertRejected(h.verify(token), /no key of issuer github matches/);
    });

    it('rejects an algorithm outside the issuer allowlist even when the key would fit', async () => {
      const p384 = await createEcKey('p384', 'P-384');
      const h = createHarness({ keys: [p384] });
      const token = await signToken(p384, gitHubClaims(GITHUB_ISS, h.clock.now()));
      await assertRejected(h.verify(token), /uses algorithm ES384, which it is not allowed/);
    });
  });

  describe('A6: time claims', () => {
    const at = (h: Harness, overrides: Record<string, unknown>) =>
      signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now(), overrides));
    const now = (h: Harness): number => Math.floor(h.clock.now().getTime() / 1000);

    it('accepts a token that expired within the leeway (positive control)', async () => {
      const h = createHarness();
      await h.verify(await at(h, { iat: now(h) - 300, exp: now(h) - 10 }));
    });

    it('rejects an expired token', async () => {
      const h = createHarness();
      await assertRejected(
        h.verify(await at(h, { iat: now(h) - 3600, exp: now(h) - 60 })),
        /has expired/,
      );
    });

    it('rejects a token verified moments ago once it has expired (no stale verification)', async () => {
      const h = createHarness();
      // Authenticated before the body is read, then checked again when signing: the second check
      // still sees the token's own expiry.
      const token = await at(h, { iat: now(h) - 60, exp: now(h) + 5 });
      await h.verify(token, 'read');
      await h.verify(token, 'read');
      h.clock.advance(5 + 30); // past exp and the 30 s leeway
      await assertRejected(h.verify(token, 'read'), /has expired/);
    });

    it('rejects a token that is not yet valid', async () => {
      const h = createHarness();
      await assertRejected(h.verify(await at(h, { nbf: now(h) + 120 })), /not yet valid/);
    });

    it('rejects a token issued in the future', async () => {
      const h = createHarness();
      const iat = now(h) + 120;
      await assertRejected(
        h.verify(await at(h, { iat, nbf: undefined, exp: iat + 300 })),
        /issued in the future/,
      );
    });

    it('rejects a far-future token', async () => {
      const h = createHarness();
      await assertRejected(
        h.verify(await at(h, { exp: now(h) + 30 * 24 * 3600 })),
        /lives longer than 86400 seconds/,
      );
    });

    it('rejects a token without exp, or without iat', async () => {
      const h = createHarness();
      await assertRejected(h.verify(await at(h, { exp: undefined })), /lacks required claim exp/);
      await assertRejected(h.verify(await at(h, { iat: undefined })), /lacks required claim iat/);
    });

    it('rejects exp given as a string, a fraction or 1e400', async () => {
      const h = createHarness();
      await assertRejected(h.verify(await at(h, { exp: String(now(h) + 60) })), /exp/);
      await assertRejected(h.verify(await at(h, { exp: now(h) + 60.5 })), /exp is not an integer/);
      const payload = JSON.stringify(gitHubClaims(GITHUB_ISS, h.clock.now())).replace(
        /"exp":\d+/,
        '"exp":1e400',
      );
      const token = signRaw(githubKey, { alg: 'ES256', kid: 'gh-1' }, payload);
      await assertRejected(h.verify(token), /exp is not an integer/);
    });
  });

  describe('A7: audience', () => {
    it('rejects a token minted for another relying party', async () => {
      const h = createHarness();
      const token = await signToken(
        githubKey,
        gitHubClaims(GITHUB_ISS, h.clock.now(), { aud: 'https://github.com/acme' }),
      );
      await assertRejected(h.verify(token), /audience not accepted/);
    });

    it('accepts an audience array holding only ours, rejects one that also names another party', async () => {
      const h = createHarness();
      await h.verify(
        await signToken(
          githubKey,
          gitHubClaims(GITHUB_ISS, h.clock.now(), { aud: ['countersign'] }),
        ),
      );
      const shared = await signToken(
        githubKey,
        gitHubClaims(GITHUB_ISS, h.clock.now(), { aud: ['countersign', 'sts.amazonaws.com'] }),
      );
      await assertRejected(h.verify(shared), /also meant for other audiences/);
    });
  });

  describe('A8: issuer variants', () => {
    const variants = {
      'a trailing slash': `${GITHUB_ISS}/`,
      'upper case': GITHUB_ISS.toUpperCase(),
      'a mixed-case host': 'https://Token.Actions.Example.Test',
      'http instead of https': GITHUB_ISS.replace('https:', 'http:'),
      'a default port': 'https://token.actions.example.test:443',
    };
    for (const [label, iss] of Object.entries(variants)) {
      it(`treats the issuer with ${label} as unknown`, async () => {
        const h = createHarness();
        const token = await signToken(githubKey, gitHubClaims(iss, h.clock.now()));
        await assertRejected(h.verify(token), /issuer is not trusted/);
      });
    }
  });

  describe('A10: claim-shape confusion', () => {
    it('rejects a GitLab-shaped token presented to a GitHub Actions issuer', async () => {
      const h = createHarness();
      const claims = gitLabClaims(GITLAB_ISS, h.clock.now(), { iss: GITHUB_ISS });
      await assertRejected(
        h.verify(await signToken(githubKey, claims)),
        /token from issuer github lacks required claim repository_id/,
      );
    });

    it('rejects a GitHub-shaped token presented to a GitLab issuer', async () => {
      const h = createHarness({ name: 'gitlab', type: 'gitlab', issuer: GITLAB_ISS });
      const claims = gitHubClaims(GITLAB_ISS, h.clock.now());
      await assertRejected(
        h.verify(await signToken(githubKey, claims)),
        /token from issuer gitlab lacks required claim project_id/,
      );
    });

    it('rejects a token lacking one required claim', async () => {
      const h = createHarness();
      const claims = gitHubClaims(GITHUB_ISS, h.clock.now(), { repository_owner_id: undefined });
      await assertRejected(
        h.verify(await signToken(githubKey, claims)),
        /lacks required claim repository_owner_id/,
      );
    });

    it('rejects a numeric id given as a JSON number', async () => {
      const h = createHarness();
      const claims = gitHubClaims(GITHUB_ISS, h.clock.now(), { repository_id: 7001 });
      await assertRejected(
        h.verify(await signToken(githubKey, claims)),
        /repository_id of the wrong type/,
      );
    });
  });

  describe('A11: replay', () => {
    it('accepts a sign token once and rejects the replay', async () => {
      const h = createHarness();
      const token = await signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now()));
      await h.verify(token, 'sign');
      await assertRejected(h.verify(token, 'sign'), /already used/);
    });

    it('lets read tokens be presented again', async () => {
      const h = createHarness();
      const token = await signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now()));
      await h.verify(token, 'read');
      await h.verify(token, 'read');
    });

    it('rejects a sign token without jti but accepts it for reading', async () => {
      const h = createHarness();
      const token = await signToken(
        githubKey,
        gitHubClaims(GITHUB_ISS, h.clock.now(), { jti: undefined }),
      );
      await assertRejected(h.verify(token, 'sign'), /no token id \(jti\)/);
      const workload = await h.verify(token, 'read');
      assert.equal(workload.tokenId, undefined);
    });
  });

  describe('A12: oversized and malformed tokens', () => {
    it('rejects a token over the size cap before parsing or fetching keys', async () => {
      const h = createHarness();
      const big = await signToken(
        githubKey,
        gitHubClaims(GITHUB_ISS, h.clock.now(), { padding: 'x'.repeat(17 * 1024) }),
      );
      await assertRejected(h.verify(big), /larger than 16384 bytes/);
      await assertRejected(h.verify('a'.repeat(1024 * 1024)), /larger than 16384 bytes/);
      assert.equal(server.hits(h.jwksPath), 0);
    });

    it('applies the issuer’s own lower cap', async () => {
      const h = createHarness({ maxTokenBytes: 1024 });
      const token = await signToken(
        githubKey,
        gitHubClaims(GITHUB_ISS, h.clock.now(), { padding: 'x'.repeat(1024) }),
      );
      await assertRejected(h.verify(token), /larger than 1024 bytes/);
    });

    it('rejects tokens that are not three base64url segments', async () => {
      const h = createHarness();
      const token = await signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now()));
      for (const bad of [`${token}.x.y`, token.replace('.', '..'), `${token}=`, ` ${token}`]) {
        await assertRejected(h.verify(bad), /three base64url segments/);
      }
    });

    it('never echoes the token in the error', async () => {
      const h = createHarness();
      const token = await signToken(attackerKey, gitHubClaims(GITHUB_ISS, h.clock.now()));
      await assert.rejects(
        h.verify(token),
        (error: Error) => !error.message.includes(token.slice(0, 20)),
      );
    });
  });

  describe('A15: hostile JWKS endpoints', () => {
    const token = (h: Harness) => signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now()));

    it('gives up on a slow JWKS endpoint after the timeout', async () => {
      const h = createHarness();
      server.serve(h.jwksPath, { kind: 'hang' });
      const started = performance.now();
      await assertRejected(h.verify(await token(h)), /timed out after 300 ms/);
      assert.ok(performance.now() - started < 2000);
    });

    it('stops reading a huge JWKS response at the size cap', async () => {
      const h = createHarness();
      server.serve(h.jwksPath, { kind: 'stream', bytes: 4 * 1024 * 1024 });
      await assertRejected(h.verify(await token(h)), /exceeds 262144 bytes/);
    });

    it('rejects a JWKS response that declares a huge Content-Length', async () => {
      const h = createHarness();
      server.serve(h.jwksPath, {
        kind: 'raw',
        status: 200,
        headers: { 'content-type': 'application/json', 'content-length': String(10 * 1024 * 1024) },
        body: '',
      });
      await assertRejected(h.verify(await token(h)), /exceeds 262144 bytes/);
    });

    it('rejects an HTML page served instead of a JWKS', async () => {
      const h = createHarness();
      server.serve(h.jwksPath, {
        kind: 'raw',
        status: 200,
        headers: { 'content-type': 'text/html; charset=utf-8' },
        body: '<html><body>Sign in</body></html>',
      });
      await assertRejected(h.verify(await token(h)), /content-type text\/html, not JSON/);
    });

    it('does not follow redirects', async () => {
      const h = createHarness();
      const target = `/moved-${h.jwksPath.slice(1)}`;
      server.serve(target, { kind: 'json', body: { keys: [githubKey.jwk] } });
      server.serve(h.jwksPath, {
        kind: 'raw',
        status: 302,
        headers: { location: `${server.url}${target}` },
        body: '',
      });
      await assertRejected(
        h.verify(await token(h)),
        /redirect \(302\); redirects are not followed/,
      );
      assert.equal(server.hits(target), 0);
    });

    it('rejects an empty key set and a key set with a symmetric key', async () => {
      const empty = createHarness();
      server.serve(empty.jwksPath, { kind: 'json', body: { keys: [] } });
      await assertRejected(empty.verify(await token(empty)), /no usable signing key/);
      const symmetric = createHarness();
      server.serve(symmetric.jwksPath, {
        kind: 'json',
        body: { keys: [githubKey.jwk, { kty: 'oct', k: 'c2VjcmV0', kid: 'hmac' }] },
      });
      await assertRejected(symmetric.verify(await token(symmetric)), /symmetric \(oct\) key/);
    });

    it('keeps the last good key set for a bounded time while the endpoint fails', async () => {
      const h = createHarness();
      await h.verify(await token(h));
      server.serve(h.jwksPath, { kind: 'raw', status: 500, headers: {}, body: 'oops' });
      h.clock.advance(600); // past refreshAfter: the refresh fails, the last good set is used
      await h.verify(await token(h));
      assert.equal(server.hits(h.jwksPath), 2);
      h.clock.advance(3600); // past maxStale: fail closed
      await assertRejected(h.verify(await token(h)), /answered with status 500/);
    });

    it('shares one fetch between concurrent verifications', async () => {
      const h = createHarness();
      const tokens = await Promise.all([1, 2, 3, 4, 5].map(() => token(h)));
      await Promise.all(tokens.map((t) => h.verify(t)));
      assert.equal(server.hits(h.jwksPath), 1);
    });
  });

  describe('C1: a renamed repository re-registered under the old name', () => {
    it('carries the new immutable ids, so selectors on the old ids do not match', async () => {
      const h = createHarness();
      const original = await h.verify(
        await signToken(githubKey, gitHubClaims(GITHUB_ISS, h.clock.now())),
      );
      const impostor = await h.verify(
        await signToken(
          githubKey,
          gitHubClaims(GITHUB_ISS, h.clock.now(), {
            repository_id: '9001',
            repository_owner_id: '9000',
          }),
        ),
      );
      assert.equal(impostor.repository, original.repository, 'same display name');
      assert.equal(original.repositoryId, '7001');
      assert.equal(impostor.repositoryId, '9001');
      assert.equal(impostor.ownerId, '9000');
      assert.notEqual(impostor.repositoryId, original.repositoryId);
    });
  });

  describe('positive cases per issuer type', () => {
    const sign = (h: Harness, claims: Record<string, unknown>) => {
      const now = Math.floor(h.clock.now().getTime() / 1000);
      return signToken(githubKey, {
        aud: 'countersign',
        jti: `j-${now}`,
        iat: now,
        exp: now + 300,
        ...claims,
      });
    };

    it('accepts a GitLab CI token', async () => {
      const h = createHarness({ name: 'gitlab', type: 'gitlab', issuer: GITLAB_ISS });
      const workload = await h.verify(
        await signToken(githubKey, gitLabClaims(GITLAB_ISS, h.clock.now())),
      );
      assert.equal(workload.repositoryId, '8001');
      assert.equal(workload.ownerId, '8000');
      assert.equal(workload.ref, 'refs/heads/main');
      assert.equal(workload.refProtected, true);
      assert.equal(
        workload.identityUri,
        'https://gitlab.example.test/acme/payments//.gitlab-ci.yml@refs/heads/main',
      );
    });

    it('accepts a Buildkite token', async () => {
      const iss = 'https://agent.buildkite.example.test';
      const h = createHarness({ name: 'buildkite', type: 'buildkite', issuer: iss });
      const workload = await h.verify(
        await sign(h, {
          iss,
          sub: 'organization:acme:pipeline:payments:ref:refs/heads/main:commit:0123456789abcdef0123456789abcdef01234567:step:build',
          organization_slug: 'acme',
          pipeline_slug: 'payments',
          organization_id: '0184990a-477b-4fa8-9968-496074483c77',
          pipeline_id: '0184990a-4782-42b5-afc1-16715b10b110',
          build_number: 12,
          build_branch: 'main',
          build_commit: '0123456789abcdef0123456789abcdef01234567',
          step_key: 'build',
          job_id: '0184990a-477b-4fa8-9968-496074483cee',
          agent_id: '0184990a-4782-42b5-afc1-16715b10b8ff',
        }),
      );
      assert.equal(workload.repositoryId, '0184990a-4782-42b5-afc1-16715b10b110');
      assert.equal(workload.identityUri, 'https://buildkite.com/acme/payments');
    });

    it('accepts a CircleCI token', async () => {
      const iss = 'https://oidc.circleci.example.test/org/3f1d0a3e-1111-4a4a-9a9a-111111111111';
      const h = createHarness({ name: 'circleci', type: 'circleci', issuer: iss });
      const workload = await h.verify(
        await sign(h, {
          iss,
          sub: 'org/3f1d0a3e-1111-4a4a-9a9a-111111111111/project/5e0b7e2c-2222-4b4b-8b8b-222222222222/user/6a6a6a6a-3333-4c4c-8c8c-333333333333',
          'oidc.circleci.com/project-id': '5e0b7e2c-2222-4b4b-8b8b-222222222222',
          'oidc.circleci.com/vcs-origin': 'github.com/acme/payments',
          'oidc.circleci.com/vcs-ref': 'refs/heads/main',
          'oidc.circleci.com/ssh-rerun': false,
        }),
      );
      assert.equal(workload.repositoryId, '5e0b7e2c-2222-4b4b-8b8b-222222222222');
      assert.equal(workload.isInteractive, false);
    });

    it('accepts a Kubernetes service-account token', async () => {
      const iss = 'https://k8s.example.test';
      const h = createHarness({ name: 'cluster', type: 'kubernetes', issuer: iss });
      const workload = await h.verify(
        await sign(h, {
          iss,
          sub: 'system:serviceaccount:release:signer',
          'kubernetes.io': {
            namespace: 'release',
            serviceaccount: { name: 'signer', uid: '4b1e6f3c-4444-4d4d-9d9d-444444444444' },
          },
        }),
      );
      assert.equal(workload.serviceAccountUid, '4b1e6f3c-4444-4d4d-9d9d-444444444444');
      assert.equal(
        workload.identityUri,
        'https://kubernetes.io/namespaces/release/serviceaccounts/signer',
      );
    });

    it('accepts a SPIFFE JWT-SVID', async () => {
      const iss = 'https://spire.example.test';
      const h = createHarness({ name: 'spire', type: 'spiffe', issuer: iss });
      const workload = await h.verify(
        await sign(h, { iss, sub: 'spiffe://example.test/ci/release' }),
      );
      assert.equal(workload.identityUri, 'spiffe://example.test/ci/release');
    });

    it('accepts a generic token', async () => {
      const iss = 'https://idp.example.test';
      const h = createHarness({ name: 'idp', type: 'generic', issuer: iss });
      const workload = await h.verify(await sign(h, { iss, sub: 'build-bot' }));
      assert.equal(workload.subject, 'build-bot');
      assert.equal(workload.identityUri, 'https://idp.example.test#build-bot');
    });
  });
});
