/**
 * Test fixtures for workload identity: a real loopback HTTP server whose JWKS responses the test
 * controls (and counts), signing keys, token builders and a fake clock.
 */

import { generateKeyPairSync, randomUUID, sign, type KeyObject } from 'node:crypto';
import { createServer, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { exportJWK, SignJWT, type JWK, type JWTHeaderParameters } from 'jose';
import type { Clock } from '../../src/core/ports.ts';

export interface FakeClock extends Clock {
  advance(seconds: number): void;
}

export function createFakeClock(start = new Date('2026-03-01T12:00:00Z')): FakeClock {
  let now = start.getTime();
  return {
    now: () => new Date(now),
    advance(seconds) {
      now += seconds * 1000;
    },
  };
}

/** What the server answers on one path. */
export type Route =
  | { readonly kind: 'json'; readonly body: unknown; readonly contentType?: string }
  | {
      readonly kind: 'raw';
      readonly status: number;
      readonly headers: Record<string, string>;
      readonly body: string;
    }
  /** Accepts the request and never answers. */
  | { readonly kind: 'hang' }
  /** Streams `bytes` bytes of JSON-looking data without a Content-Length. */
  | { readonly kind: 'stream'; readonly bytes: number };

export interface JwksServer {
  /** `http://127.0.0.1:<port>` */
  readonly url: string;
  serve(path: string, route: Route): void;
  /** Requests received on `path` so far. */
  hits(path: string): number;
  close(): Promise<void>;
}

export async function startJwksServer(): Promise<JwksServer> {
  const routes = new Map<string, Route>();
  const counts = new Map<string, number>();
  const answer = (route: Route, response: ServerResponse): void => {
    switch (route.kind) {
      case 'json':
        response.writeHead(200, { 'content-type': route.contentType ?? 'application/json' });
        response.end(JSON.stringify(route.body));
        return;
      case 'raw':
        response.writeHead(route.status, route.headers);
        response.end(route.body);
        return;
      case 'hang':
        return;
      case 'stream': {
        response.writeHead(200, { 'content-type': 'application/json' });
        const chunk = Buffer.alloc(16 * 1024, 0x20);
        let left = route.bytes;
        const pump = (): void => {
          while (left > 0) {
            left -= chunk.length;
            if (!response.write(chunk)) {
              response.once('drain', pump);
              return;
            }
          }
          response.end();
        };
        response.write('{"keys":[');
        pump();
        return;
      }
    }
  };
  const server = createServer((request, response) => {
    const path = request.url ?? '/';
    counts.set(path, (counts.get(path) ?? 0) + 1);
    const route = routes.get(path);
    if (route === undefined) {
      response.writeHead(404).end();
      return;
    }
    answer(route, response);
  });
  await new Promise<void>((resolve) => server.listen({ host: '127.0.0.1', port: 0 }, resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    serve: (path, route) => void routes.set(path, route),
    hits: (path) => counts.get(path) ?? 0,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export interface TestKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** Public JWK with kid, alg, use. */
  readonly jwk: JWK;
  readonly kid: string;
  readonly alg: string;
}

export async function createEcKey(
  kid: string,
  curve: 'P-256' | 'P-384' = 'P-256',
): Promise<TestKey> {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  const alg = curve === 'P-256' ? 'ES256' : 'ES384';
  return {
    privateKey,
    publicKey,
    kid,
    alg,
    jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' },
  };
}

export async function createRsaKey(kid: string): Promise<TestKey> {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  return {
    privateKey,
    publicKey,
    kid,
    alg: 'RS256',
    jwk: { ...(await exportJWK(publicKey)), kid, alg: 'RS256', use: 'sig' },
  };
}

/** Signs `claims` with jose; `header` overrides the default `{ alg, kid, typ }`. */
export function signToken(
  key: TestKey,
  claims: Record<string, unknown>,
  header: Partial<JWTHeaderParameters> = {},
): Promise<string> {
  return new SignJWT(claims)
    .setProtectedHeader({ alg: key.alg, kid: key.kid, typ: 'JWT', ...header })
    .sign(key.privateKey);
}

export function base64urlJson(value: unknown): string {
  return Buffer.from(JSON.stringify(value)).toString('base64url');
}

/**
 * Signs exactly the given header and payload text with node:crypto, for tokens jose refuses to
 * produce (non-finite numbers, `crit` with unknown parameters).
 */
export function signRaw(
  key: TestKey,
  header: Record<string, unknown>,
  payloadJson: string,
): string {
  const input = `${base64urlJson(header)}.${Buffer.from(payloadJson).toString('base64url')}`;
  const hash = key.alg === 'ES384' ? 'sha384' : 'sha256';
  const signature = sign(hash, Buffer.from(input), {
    key: key.privateKey,
    dsaEncoding: 'ieee-p1363',
  });
  return `${input}.${signature.toString('base64url')}`;
}

/** Realistic GitHub Actions claims (times relative to `now`, in seconds). */
export function gitHubClaims(issuer: string, now: Date, overrides: Record<string, unknown> = {}) {
  const iat = Math.floor(now.getTime() / 1000);
  return {
    iss: issuer,
    aud: 'countersign',
    sub: 'repo:acme/payments:ref:refs/heads/main',
    jti: randomUUID(),
    iat,
    nbf: iat - 5,
    exp: iat + 300,
    ref: 'refs/heads/main',
    ref_type: 'branch',
    sha: '0123456789abcdef0123456789abcdef01234567',
    repository: 'acme/payments',
    repository_id: '7001',
    repository_owner: 'acme',
    repository_owner_id: '7000',
    run_id: '42424242',
    event_name: 'push',
    workflow_ref: 'acme/payments/.github/workflows/release.yml@refs/heads/main',
    job_workflow_ref: 'acme/payments/.github/workflows/release.yml@refs/heads/main',
    runner_environment: 'github-hosted',
    ...overrides,
  };
}

/** Realistic GitLab CI claims. */
export function gitLabClaims(issuer: string, now: Date, overrides: Record<string, unknown> = {}) {
  const iat = Math.floor(now.getTime() / 1000);
  return {
    iss: issuer,
    aud: 'countersign',
    sub: 'project_path:acme/payments:ref_type:branch:ref:main',
    jti: randomUUID(),
    iat,
    nbf: iat - 5,
    exp: iat + 300,
    namespace_id: '8000',
    namespace_path: 'acme',
    project_id: '8001',
    project_path: 'acme/payments',
    pipeline_id: '9001',
    pipeline_source: 'push',
    job_id: '9002',
    ref: 'main',
    ref_type: 'branch',
    ref_protected: 'true',
    sha: '0123456789abcdef0123456789abcdef01234567',
    ci_config_ref_uri: `${new URL(issuer).host}/acme/payments//.gitlab-ci.yml@refs/heads/main`,
    runner_environment: 'gitlab-hosted',
    ...overrides,
  };
}
