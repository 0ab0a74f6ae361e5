import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { resolveIdentityTokenSource, readUnverifiedClaims } from './ci-identity-token.ts';

/** A JWT-shaped token (unsigned; the CLI only passes it on). */
function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'ES256', typ: 'JWT' })}.${part(claims)}.c2lnbmF0dXJl`;
}

const STATIC = fakeJwt({ iss: 'https://issuer.example', sub: 'static', jti: '1' });
const REQUEST_TOKEN = 'gh-request-token-secret';

interface TokenRequest {
  readonly url: string;
  readonly authorization: string | undefined;
}

/** Stands in for the GitHub Actions OIDC token endpoint on loopback. */
class GitHubTokenEndpoint {
  readonly requests: TokenRequest[] = [];
  status = 200;
  body: ((n: number) => string) | undefined;
  private server: Server | undefined;
  url = '';

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      this.requests.push({
        url: request.url ?? '',
        authorization: request.headers.authorization,
      });
      const n = this.requests.length;
      response.writeHead(this.status, { 'content-type': 'application/json' });
      response.end(
        this.body?.(n) ??
          JSON.stringify({
            value: fakeJwt({ iss: 'https://token.actions.githubusercontent.com', jti: String(n) }),
          }),
      );
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    const { port } = this.server.address() as AddressInfo;
    this.url = `http://127.0.0.1:${String(port)}/token?api-version=2.0`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }
}

describe('resolveIdentityTokenSource', () => {
  const endpoint = new GitHubTokenEndpoint();
  before(() => endpoint.start());
  after(() => endpoint.stop());
  const github = () => ({
    ACTIONS_ID_TOKEN_REQUEST_URL: endpoint.url,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
  });

  describe('order of the sources', () => {
    it('takes --identity-token first', async () => {
      const source = resolveIdentityTokenSource({
        flag: STATIC,
        env: { COUNTERSIGN_IDENTITY_TOKEN: fakeJwt({ sub: 'env' }), ...github() },
        fetch,
      });
      assert.equal(source.kind, 'flag');
      assert.equal(await source.next(), STATIC);
    });

    it('then COUNTERSIGN_IDENTITY_TOKEN, before GitHub Actions', async () => {
      const source = resolveIdentityTokenSource({
        env: { COUNTERSIGN_IDENTITY_TOKEN: STATIC, ...github(), COUNTERSIGN_ID_TOKEN: 'x.y.z' },
        fetch,
      });
      assert.equal(source.kind, 'environment');
      assert.equal(await source.next(), STATIC);
    });

    it('then GitHub Actions, before GitLab CI variables', () => {
      const source = resolveIdentityTokenSource({
        env: { ...github(), SIGSTORE_ID_TOKEN: STATIC },
        fetch,
      });
      assert.equal(source.kind, 'github-actions');
      assert.equal(source.canMint, true);
    });

    it('then COUNTERSIGN_ID_TOKEN, then SIGSTORE_ID_TOKEN (GitLab id_tokens)', async () => {
      const ours = fakeJwt({ sub: 'project_path:group/app', jti: 'a' });
      const both = resolveIdentityTokenSource({
        env: { SIGSTORE_ID_TOKEN: STATIC, COUNTERSIGN_ID_TOKEN: ours },
        fetch,
      });
      assert.equal(both.kind, 'gitlab-ci');
      assert.equal(both.description, 'COUNTERSIGN_ID_TOKEN');
      assert.equal(await both.next(), ours);
      const sigstore = resolveIdentityTokenSource({ env: { SIGSTORE_ID_TOKEN: STATIC }, fetch });
      assert.equal(sigstore.description, 'SIGSTORE_ID_TOKEN');
      assert.equal(await sigstore.next(), STATIC);
    });

    it('ignores empty variables', () => {
      const source = resolveIdentityTokenSource({
        env: { COUNTERSIGN_IDENTITY_TOKEN: '', SIGSTORE_ID_TOKEN: STATIC },
        fetch,
      });
      assert.equal(source.kind, 'gitlab-ci');
    });
  });

  describe('a single token', () => {
    it('is handed out once: the server accepts each token for one signing', async () => {
      const source = resolveIdentityTokenSource({ env: { SIGSTORE_ID_TOKEN: STATIC }, fetch });
      assert.equal(source.canMint, false);
      await source.next();
      await assert.rejects(source.next(), (error: Error & { code?: string }) => {
        assert.equal(error.code, 'INVALID_INPUT');
        assert.match(error.message, /signs one file only/);
        assert.ok(!error.message.includes(STATIC));
        return true;
      });
    });

    it('that is not a JWT is refused without echoing it', () => {
      assert.throws(
        () => resolveIdentityTokenSource({ flag: 'not a token secret123', env: {}, fetch }),
        (error: Error & { code?: string }) => {
          assert.equal(error.code, 'INVALID_INPUT');
          assert.ok(!error.message.includes('secret123'));
          return true;
        },
      );
    });
  });

  describe('on GitHub Actions', () => {
    it('requests a fresh token per signing with the audience and the request token', async () => {
      const before = endpoint.requests.length;
      const source = resolveIdentityTokenSource({ env: github(), fetch });
      const first = await source.next();
      const second = await source.next();
      assert.notEqual(first, second);
      const requests = endpoint.requests.slice(before);
      assert.equal(requests.length, 2);
      for (const request of requests) {
        const url = new URL(request.url, 'http://x');
        assert.equal(url.pathname, '/token');
        assert.equal(url.searchParams.get('api-version'), '2.0');
        assert.equal(url.searchParams.get('audience'), 'countersign');
        assert.equal(request.authorization, `bearer ${REQUEST_TOKEN}`);
      }
      assert.match(source.description, /GitHub Actions \(audience countersign\)/);
    });

    it('takes the audience from --audience, else COUNTERSIGN_AUDIENCE', async () => {
      const before = endpoint.requests.length;
      await resolveIdentityTokenSource({
        audience: 'https://sign.example.com',
        env: { ...github(), COUNTERSIGN_AUDIENCE: 'ignored' },
        fetch,
      }).next();
      await resolveIdentityTokenSource({
        env: { ...github(), COUNTERSIGN_AUDIENCE: 'from-env' },
        fetch,
      }).next();
      const audiences = endpoint.requests
        .slice(before)
        .map((request) => new URL(request.url, 'http://x').searchParams.get('audience'));
      assert.deepEqual(audiences, ['https://sign.example.com', 'from-env']);
    });

    it('turns a refusal into UNAUTHENTICATED with the permissions hint', async () => {
      endpoint.status = 403;
      try {
        const source = resolveIdentityTokenSource({ env: github(), fetch });
        await assert.rejects(source.next(), (error: Error & { code?: string; hint?: string }) => {
          assert.equal(error.code, 'UNAUTHENTICATED');
          assert.match(error.hint ?? '', /id-token: write/);
          assert.ok(!error.message.includes(REQUEST_TOKEN));
          return true;
        });
      } finally {
        endpoint.status = 200;
      }
    });

    it('refuses an answer without a token', async () => {
      endpoint.body = () => JSON.stringify({ count: 1 });
      try {
        const source = resolveIdentityTokenSource({ env: github(), fetch });
        await assert.rejects(source.next(), { code: 'UPSTREAM_UNAVAILABLE' });
      } finally {
        endpoint.body = undefined;
      }
    });

    it('reports an unreachable endpoint as UPSTREAM_UNAVAILABLE', async () => {
      const source = resolveIdentityTokenSource({
        env: {
          ACTIONS_ID_TOKEN_REQUEST_URL: 'http://127.0.0.1:9/token?api-version=2.0',
          ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
        },
        fetch,
      });
      await assert.rejects(source.next(), { code: 'UPSTREAM_UNAVAILABLE' });
    });

    it('never sends the request token over plain http to a remote host', () => {
      assert.throws(
        () =>
          resolveIdentityTokenSource({
            env: {
              ACTIONS_ID_TOKEN_REQUEST_URL: 'http://actions.example.com/token?api-version=2.0',
              ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
            },
            fetch,
          }),
        { code: 'INVALID_INPUT' },
      );
    });
  });

  describe('when there is no token', () => {
    it('throws UNAUTHENTICATED with a general hint', () => {
      assert.throws(
        () => resolveIdentityTokenSource({ env: {}, fetch }),
        (error: Error & { code?: string; hint?: string }) => {
          assert.equal(error.code, 'UNAUTHENTICATED');
          assert.match(error.hint ?? '', /COUNTERSIGN_IDENTITY_TOKEN/);
          return true;
        },
      );
    });

    it('on GitHub Actions without id-token permission, says to add it', () => {
      assert.throws(() => resolveIdentityTokenSource({ env: { GITHUB_ACTIONS: 'true' }, fetch }), {
        hint: 'give the job `permissions: id-token: write` so GitHub Actions can mint a token',
      });
    });

    it('on GitLab CI without id_tokens, says to declare one', () => {
      assert.throws(
        () => resolveIdentityTokenSource({ env: { GITLAB_CI: 'true' }, fetch }),
        (error: Error & { hint?: string }) =>
          /id_tokens: COUNTERSIGN_ID_TOKEN/.test(error.hint ?? ''),
      );
    });
  });
});

describe('readUnverifiedClaims', () => {
  it('reads iss and sub for display, and nothing from garbage', () => {
    assert.deepEqual(readUnverifiedClaims(fakeJwt({ iss: 'https://i', sub: 'repo:a/b' })), {
      issuer: 'https://i',
      subject: 'repo:a/b',
    });
    assert.deepEqual(readUnverifiedClaims('a.b.c'), { issuer: undefined, subject: undefined });
  });
});
