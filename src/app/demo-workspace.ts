/**
 * The demo workspace `npm start` serves: enough state to try Countersign without reading the
 * manual first. Idempotent: a restart reuses what the previous run set up.
 */
import { isAppError } from '../core/errors.ts';
import type { ApiTokens } from './api-tokens.ts';

/** Where the demo admin token is kept between runs (an owner-only file in the data directory). */
export interface DemoSecretFile {
  readonly path: string;
  /** The stored token, or `undefined` when there is none yet. */
  read(): Promise<string | undefined>;
  /** Stores the token, readable by its owner only. */
  write(secret: string): Promise<void>;
}

export interface DemoWorkspaceDeps {
  readonly apiTokens: ApiTokens;
  readonly adminTokenFile: DemoSecretFile;
}

/** What the demo workspace offers, for the start-up banner. */
export interface DemoWorkspace {
  /** An admin API token string; a secret, so print its file path rather than the token. */
  readonly adminToken: string;
  readonly adminTokenPath: string;
  /** True when this call created the token (first run, or the stored one no longer works). */
  readonly created: boolean;
}

/** Name of the demo admin token, as listed by `countersign token list`. */
export const DEMO_ADMIN_TOKEN_NAME = 'demo-admin';

/**
 * Sets up the demo workspace unless it is already there: for now, an admin API token stored in
 * `adminTokenFile`. A stored token that no longer authenticates (revoked, expired, or from a
 * deleted database) is replaced. Throws STORAGE_UNAVAILABLE, INTERNAL (file system).
 */
export async function ensureDemoWorkspace(deps: DemoWorkspaceDeps): Promise<DemoWorkspace> {
  const { apiTokens, adminTokenFile } = deps;
  const stored = await adminTokenFile.read();
  if (stored !== undefined) {
    try {
      const principal = await apiTokens.authenticateToken(stored);
      if (principal.role === 'admin') {
        return { adminToken: stored, adminTokenPath: adminTokenFile.path, created: false };
      }
    } catch (error) {
      if (!isAppError(error, 'UNAUTHENTICATED')) throw error;
    }
  }
  const created = await apiTokens.createToken({ name: DEMO_ADMIN_TOKEN_NAME, role: 'admin' });
  await adminTokenFile.write(created.token);
  return { adminToken: created.token, adminTokenPath: adminTokenFile.path, created: true };
}
