/**
 * Development OIDC issuer: a tiny, insecure stand-in for a CI provider so the quick-start demo
 * can sign without GitHub or GitLab. It serves a discovery document and a JWKS over plain HTTP on
 * loopback only, and mints realistic GitHub- or GitLab-shaped tokens with an ES256 key.
 *
 * Two issuers share one key and one JWKS: `<url>` issues GitHub Actions-shaped tokens and
 * `<url>/gitlab` GitLab-shaped ones, because an issuer has exactly one type (threat model A10).
 */

import { randomBytes, randomInt, randomUUID } from 'node:crypto';
import { chmod, mkdir, readFile, stat, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import {
  calculateJwkThumbprint,
  exportJWK,
  generateKeyPair,
  importJWK,
  SignJWT,
  type CryptoKey,
  type JWK,
} from 'jose';
import { AppError } from '../../core/errors.ts';
import {
  isLoopbackHost,
  validateIssuerConfig,
  type IssuerConfig,
} from '../../core/governance/issuer.ts';
import type { Clock } from '../../core/ports.ts';

/** Claims of the quick-start demo workload; the demo workspace entitles exactly these. */
export const DEV_TOKEN_DEFAULTS = Object.freeze({
  repository: 'demo/hello',
  repositoryId: '100001',
  ownerId: '100000',
  ref: 'refs/heads/main',
  workflow: '.github/workflows/release.yml',
  audience: 'countersign',
  lifetimeSeconds: 300,
});

/** Issuer names the demo workspace uses for the two shapes. */
export const DEV_ISSUER_NAMES = Object.freeze({ 'github-actions': 'dev', gitlab: 'dev-gitlab' });

/** File holding the development private key (a JWK), created with mode 0600. */
export const DEV_KEY_FILE = 'dev-issuer-key.json';

const DEV_ALGORITHM = 'ES256';
const MAX_DEV_TOKEN_LIFETIME_SECONDS = 3_600;
const LOOPBACK_ONLY = 'the development issuer is insecure and only listens on loopback';
const systemClock: Clock = { now: () => new Date() };

export type DevTokenShape = keyof typeof DEV_ISSUER_NAMES;

/** The development issuer's signing key. */
export interface DevIssuerKey {
  readonly privateKey: CryptoKey;
  /** Public JWK with `kid`, `alg` and `use`, as served in the JWKS. */
  readonly publicJwk: JWK;
  readonly kid: string;
}

export interface DevTokenOptions {
  readonly shape?: DevTokenShape;
  /** `owner/name` (GitLab: `group/project`). */
  readonly repository?: string;
  readonly repositoryId?: string;
  readonly ownerId?: string;
  /** Full ref, `refs/heads/…` or `refs/tags/…`. */
  readonly ref?: string;
  /** Workflow path in the repository (GitLab: the CI config file, default `.gitlab-ci.yml`). */
  readonly workflow?: string;
  readonly audience?: string;
  /** 1–3600 seconds. */
  readonly lifetimeSeconds?: number;
  readonly environment?: string;
  /** GitHub `event_name` / GitLab `pipeline_source`; default `push`. */
  readonly event?: string;
  readonly sha?: string;
  /** Who started the job (GitHub `actor`, GitLab `user_login`); default `dev`. */
  readonly actor?: string;
}

export interface MintDevTokenOptions extends DevTokenOptions {
  readonly key: DevIssuerKey;
  /** The development issuer's base URL, as returned by `startDevIssuer`. */
  readonly issuerUrl: string;
  readonly clock?: Clock;
}

/** The `iss` of one shape of the development issuer. */
export function getDevIssuerId(issuerUrl: string, shape: DevTokenShape = 'github-actions'): string {
  return shape === 'gitlab' ? `${issuerUrl}/gitlab` : issuerUrl;
}

/**
 * The issuer entry that trusts the development issuer (for the demo workspace and tests).
 * @throws AppError CONFIG_INVALID when `issuerUrl` is not a loopback http URL
 */
export function createDevIssuerConfig(
  issuerUrl: string,
  shape: DevTokenShape = 'github-actions',
): IssuerConfig {
  return validateIssuerConfig(
    {
      name: DEV_ISSUER_NAMES[shape],
      type: shape,
      issuer: getDevIssuerId(issuerUrl, shape),
      jwksUrl: `${issuerUrl}/jwks`,
      audiences: [DEV_TOKEN_DEFAULTS.audience],
      algorithms: [DEV_ALGORITHM],
      allowInsecureLoopback: true,
    },
    `dev issuer (${shape})`,
  );
}

async function toDevIssuerKey(privateJwk: JWK): Promise<DevIssuerKey> {
  const { kty, crv, x, y, d } = privateJwk;
  if (kty !== 'EC' || crv !== 'P-256' || x === undefined || y === undefined || d === undefined) {
    throw new AppError('CONFIG_INVALID', `${DEV_KEY_FILE} is not an ES256 private key`);
  }
  const publicParts: JWK = { kty, crv, x, y };
  const kid = await calculateJwkThumbprint(publicParts);
  const privateKey = await importJWK(privateJwk, DEV_ALGORITHM);
  if (privateKey instanceof Uint8Array || privateKey.type !== 'private') {
    throw new AppError('CONFIG_INVALID', `${DEV_KEY_FILE} is not an ES256 private key`);
  }
  return { privateKey, kid, publicJwk: { ...publicParts, kid, alg: DEV_ALGORITHM, use: 'sig' } };
}

/**
 * Loads the development key from `keyDir`, creating it (mode 0600, directory 0700) when absent.
 * Without `keyDir` the key lives in memory only.
 * @throws AppError CONFIG_INVALID when the key file is readable by others or is not an ES256 key
 */
export async function loadDevIssuerKey(keyDir?: string): Promise<DevIssuerKey> {
  if (keyDir === undefined) {
    const { privateKey } = await generateKeyPair(DEV_ALGORITHM, { extractable: true });
    return toDevIssuerKey(await exportJWK(privateKey));
  }
  const path = join(keyDir, DEV_KEY_FILE);
  const info = await stat(path).catch((error: NodeJS.ErrnoException) => {
    if (error.code === 'ENOENT') return undefined;
    throw error;
  });
  if (info !== undefined) {
    // A private key others can read is not a private key, even a development one.
    if ((info.mode & 0o077) !== 0) {
      throw new AppError('CONFIG_INVALID', `${path} is readable by other users`, {
        hint: `run: chmod 600 ${path}`,
      });
    }
    let jwk: unknown;
    try {
      jwk = JSON.parse(await readFile(path, 'utf8'));
    } catch (error) {
      throw new AppError('CONFIG_INVALID', `${path} is not valid JSON`, { cause: error });
    }
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) {
      throw new AppError('CONFIG_INVALID', `${path} is not a JWK`);
    }
    return toDevIssuerKey(jwk);
  }
  const { privateKey } = await generateKeyPair(DEV_ALGORITHM, { extractable: true });
  const privateJwk = await exportJWK(privateKey);
  await mkdir(keyDir, { recursive: true, mode: 0o700 });
  // `wx`: never overwrite a key another process created meanwhile; mode applies on creation.
  await writeFile(path, `${JSON.stringify(privateJwk)}\n`, { mode: 0o600, flag: 'wx' });
  await chmod(path, 0o600); // the umask may have narrowed it further; make it exact
  return toDevIssuerKey(privateJwk);
}

function splitRef(ref: string): { refType: 'branch' | 'tag'; name: string } {
  if (ref.startsWith('refs/tags/')) return { refType: 'tag', name: ref.slice('refs/tags/'.length) };
  if (ref.startsWith('refs/heads/')) {
    return { refType: 'branch', name: ref.slice('refs/heads/'.length) };
  }
  throw new AppError('INVALID_INPUT', 'ref must start with refs/heads/ or refs/tags/');
}

/**
 * Mints a development token with realistic GitHub Actions or GitLab CI claims and a fresh `jti`.
 * @throws AppError INVALID_INPUT when the lifetime is outside 1–3600 s or the ref is not a full ref
 */
export async function mintDevToken(options: MintDevTokenOptions): Promise<string> {
  const shape = options.shape ?? 'github-actions';
  const repository = options.repository ?? DEV_TOKEN_DEFAULTS.repository;
  const repositoryId = options.repositoryId ?? DEV_TOKEN_DEFAULTS.repositoryId;
  const ownerId = options.ownerId ?? DEV_TOKEN_DEFAULTS.ownerId;
  const ref = options.ref ?? DEV_TOKEN_DEFAULTS.ref;
  const audience = options.audience ?? DEV_TOKEN_DEFAULTS.audience;
  const lifetime = options.lifetimeSeconds ?? DEV_TOKEN_DEFAULTS.lifetimeSeconds;
  const event = options.event ?? 'push';
  const sha = options.sha ?? randomBytes(20).toString('hex');
  if (!Number.isInteger(lifetime) || lifetime < 1 || lifetime > MAX_DEV_TOKEN_LIFETIME_SECONDS) {
    throw new AppError(
      'INVALID_INPUT',
      `lifetimeSeconds must be an integer from 1 to ${MAX_DEV_TOKEN_LIFETIME_SECONDS}`,
    );
  }
  const { refType, name: refName } = splitRef(ref);
  const owner = repository.split('/')[0] ?? repository;
  const now = Math.floor((options.clock ?? systemClock).now().getTime() / 1000);
  const issuer = getDevIssuerId(options.issuerUrl, shape);
  const environment = options.environment;
  const runId = String(randomInt(1_000_000_000, 9_999_999_999));

  let claims: Record<string, unknown>;
  if (shape === 'github-actions') {
    const workflow = options.workflow ?? DEV_TOKEN_DEFAULTS.workflow;
    const workflowRef = `${repository}/${workflow}@${ref}`;
    claims = {
      sub: `repo:${repository}:${environment === undefined ? `ref:${ref}` : `environment:${environment}`}`,
      ref,
      ref_type: refType,
      sha,
      repository,
      repository_id: repositoryId,
      repository_owner: owner,
      repository_owner_id: ownerId,
      repository_visibility: 'private',
      actor: options.actor ?? 'dev',
      actor_id: '100002',
      run_id: runId,
      run_number: '1',
      run_attempt: '1',
      workflow: 'Release',
      event_name: event,
      head_ref: '',
      base_ref: '',
      workflow_ref: workflowRef,
      workflow_sha: sha,
      job_workflow_ref: workflowRef,
      job_workflow_sha: sha,
      runner_environment: 'github-hosted',
      ...(environment === undefined ? {} : { environment }),
    };
  } else {
    const configPath = options.workflow ?? '.gitlab-ci.yml';
    claims = {
      sub: `project_path:${repository}:ref_type:${refType}:ref:${refName}`,
      namespace_id: ownerId,
      namespace_path: owner,
      project_id: repositoryId,
      project_path: repository,
      user_id: '100002',
      user_login: options.actor ?? 'dev',
      pipeline_id: runId,
      pipeline_source: event,
      job_id: String(randomInt(1_000_000_000, 9_999_999_999)),
      ref: refName,
      ref_type: refType,
      ref_path: ref,
      ref_protected: 'true',
      runner_id: 1,
      runner_environment: 'gitlab-hosted',
      sha,
      project_visibility: 'private',
      ci_config_ref_uri: `${new URL(issuer).host}/${repository}//${configPath}@${ref}`,
      ci_config_sha: sha,
      ...(environment === undefined ? {} : { environment, environment_protected: 'true' }),
    };
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: DEV_ALGORITHM, kid: options.key.kid, typ: 'JWT' })
    .setIssuer(issuer)
    .setAudience(audience)
    .setJti(randomUUID())
    .setIssuedAt(now)
    .setNotBefore(now)
    .setExpirationTime(now + lifetime)
    .sign(options.key.privateKey);
}

export interface StartDevIssuerOptions {
  /** Loopback address or `localhost`; default 127.0.0.1. Anything else is refused. */
  readonly host?: string;
  /** Default 0: any free port. */
  readonly port?: number;
  /** Directory for the persistent key; without it the key is ephemeral. */
  readonly keyDir?: string;
  readonly clock?: Clock;
}

export interface DevIssuer {
  /** Base URL, e.g. `http://127.0.0.1:8089`; also the `iss` of GitHub-shaped tokens. */
  readonly url: string;
  readonly key: DevIssuerKey;
  /** The issuer entry trusting this issuer for the given token shape. */
  issuerConfig(shape?: DevTokenShape): IssuerConfig;
  mintToken(options?: DevTokenOptions): Promise<string>;
  close(): Promise<void>;
}

function sendJson(response: ServerResponse, status: number, body: unknown): void {
  const text = JSON.stringify(body);
  response.writeHead(status, {
    'content-type': 'application/json',
    'content-length': Buffer.byteLength(text),
    'cache-control': 'no-store',
  });
  response.end(text);
}

/**
 * Starts the development issuer on a loopback address.
 * @throws AppError CONFIG_INVALID "the development issuer is insecure and only listens on
 *   loopback" for any other host; or when the key file is unsafe or invalid
 *
 * @example
 * const issuer = await startDevIssuer({ port: 8089, keyDir: '.countersign/dev' });
 * const token = await issuer.mintToken();          // GitHub-shaped, demo/hello on main
 * await issuer.close();
 */
export async function startDevIssuer(options: StartDevIssuerOptions = {}): Promise<DevIssuer> {
  const host = options.host ?? '127.0.0.1';
  if (!isLoopbackHost(host)) {
    throw new AppError('CONFIG_INVALID', LOOPBACK_ONLY, {
      errors: [{ path: 'host', message: 'must be 127.0.0.1, ::1 or localhost' }],
    });
  }
  const key = await loadDevIssuerKey(options.keyDir);
  const clock = options.clock ?? systemClock;
  let url = '';

  const server = createServer((request: IncomingMessage, response: ServerResponse) => {
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      sendJson(response, 405, { error: 'method not allowed' });
      return;
    }
    const path = (request.url ?? '/').split('?')[0];
    if (path === '/jwks') {
      sendJson(response, 200, { keys: [key.publicJwk] });
      return;
    }
    for (const shape of ['github-actions', 'gitlab'] as const) {
      const issuer = getDevIssuerId(url, shape);
      if (
        path === `${new URL(issuer).pathname.replace(/\/$/, '')}/.well-known/openid-configuration`
      ) {
        sendJson(response, 200, {
          issuer,
          jwks_uri: `${url}/jwks`,
          response_types_supported: ['id_token'],
          subject_types_supported: ['public'],
          id_token_signing_alg_values_supported: [DEV_ALGORITHM],
          scopes_supported: ['openid'],
        });
        return;
      }
    }
    sendJson(response, 404, { error: 'not found' });
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', (error) =>
      reject(
        new AppError('CONFIG_INVALID', `the development issuer cannot listen on ${host}`, {
          cause: error,
        }),
      ),
    );
    server.listen({ host, port: options.port ?? 0 }, () => resolve());
  });
  const address = server.address() as AddressInfo;
  const urlHost =
    host === 'localhost'
      ? host
      : address.family === 'IPv6'
        ? `[${address.address}]`
        : address.address;
  url = `http://${urlHost}:${address.port}`;

  return {
    url,
    key,
    issuerConfig: (shape = 'github-actions') => createDevIssuerConfig(url, shape),
    mintToken: (tokenOptions = {}) => mintDevToken({ ...tokenOptions, key, issuerUrl: url, clock }),
    close: () =>
      new Promise<void>((resolve, reject) => {
        server.close((error) => (error === undefined ? resolve() : reject(error)));
        server.closeAllConnections();
      }),
  };
}
