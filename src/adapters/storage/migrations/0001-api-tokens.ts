/**
 * Operator API tokens. Only the SHA-256 of a token's secret is stored (`secret_hash`). Times are
 * epoch milliseconds. Roles are checked by the repository, not by a CHECK constraint, so adding a
 * role never needs a table rebuild on SQLite.
 */
import type { StorageEngine } from '../../../core/ports.ts';
import { executeStatements, type Migration, type MigrationDb } from './migration.ts';

const STATEMENTS: Record<StorageEngine, readonly string[]> = {
  sqlite: [
    `CREATE TABLE api_tokens (
      id TEXT PRIMARY KEY NOT NULL,
      name TEXT NOT NULL,
      role TEXT NOT NULL,
      secret_hash BLOB NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER,
      revoked_at INTEGER
    ) STRICT`,
  ],
  postgres: [
    `CREATE TABLE api_tokens (
      id text PRIMARY KEY,
      name text NOT NULL,
      role text NOT NULL,
      secret_hash bytea NOT NULL,
      created_at bigint NOT NULL,
      expires_at bigint,
      revoked_at bigint
    )`,
  ],
};

export const MIGRATION_0001_API_TOKENS: Migration = {
  version: 1,
  name: 'api-tokens',
  up: (db: MigrationDb, engine: StorageEngine) => executeStatements(db, STATEMENTS[engine]),
};
