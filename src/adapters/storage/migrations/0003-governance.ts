/**
 * Governance as applied (issue "Who may sign what"), and single-use workload-token ids.
 *
 * - `governance_versions`: one row per apply, never updated; the current governance is the row
 *   with the highest `version`. It keeps the applied file exactly as sent (`file_text`, with its
 *   SHA-256), the validated snapshot as canonical JSON (`document`), and the complete policy set
 *   that decides under it (the Cedar schema and every policy source, with the policy hash), so a
 *   version can be reloaded, audited and compared with the `governance.applied` log event that
 *   recorded it. Actors are stored by kind and id (`api-token` + token id, or `system`).
 * - `used_token_ids`: the `jti` of every workload token presented for signing, per issuer, until
 *   the token expires (threat model A11). The primary key makes "consume" an atomic insert, so a
 *   token is single-use across every PostgreSQL replica; `expires_at` is indexed for the purge.
 */
import type { StorageEngine } from '../../../core/ports.ts';
import { executeStatements, type Migration, type MigrationDb } from './migration.ts';

const STATEMENTS: Record<StorageEngine, readonly string[]> = {
  sqlite: [
    `CREATE TABLE governance_versions (
      version INTEGER PRIMARY KEY NOT NULL CHECK (version >= 1),
      file_name TEXT NOT NULL,
      file_text TEXT NOT NULL,
      file_sha256 TEXT NOT NULL,
      document TEXT NOT NULL,
      policy_schema TEXT NOT NULL,
      policy_sources TEXT NOT NULL,
      policy_hash TEXT NOT NULL,
      applied_at INTEGER NOT NULL,
      applied_by_kind TEXT NOT NULL,
      applied_by_id TEXT NOT NULL,
      applied_by_name TEXT NOT NULL
    ) STRICT`,
    `CREATE TABLE used_token_ids (
      issuer TEXT NOT NULL,
      token_id TEXT NOT NULL,
      expires_at INTEGER NOT NULL,
      PRIMARY KEY (issuer, token_id)
    ) STRICT, WITHOUT ROWID`,
    `CREATE INDEX used_token_ids_expires_at ON used_token_ids (expires_at)`,
  ],
  postgres: [
    `CREATE TABLE governance_versions (
      version integer PRIMARY KEY CHECK (version >= 1),
      file_name text NOT NULL,
      file_text text NOT NULL,
      file_sha256 text NOT NULL,
      document text NOT NULL,
      policy_schema text NOT NULL,
      policy_sources text NOT NULL,
      policy_hash text NOT NULL,
      applied_at bigint NOT NULL,
      applied_by_kind text NOT NULL,
      applied_by_id text NOT NULL,
      applied_by_name text NOT NULL
    )`,
    `CREATE TABLE used_token_ids (
      issuer text NOT NULL,
      token_id text NOT NULL,
      expires_at bigint NOT NULL,
      PRIMARY KEY (issuer, token_id)
    )`,
    `CREATE INDEX used_token_ids_expires_at ON used_token_ids (expires_at)`,
  ],
};

export const MIGRATION_0003_GOVERNANCE: Migration = {
  version: 3,
  name: 'governance',
  up: (db: MigrationDb, engine: StorageEngine) => executeStatements(db, STATEMENTS[engine]),
};
