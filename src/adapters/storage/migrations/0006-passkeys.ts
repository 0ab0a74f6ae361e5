/**
 * Passkeys (issue #6, "Passkeys and the approval page"): WebAuthn challenges, passkey web
 * sessions, and one-time enrolment links. The passkeys themselves live in `approver_credentials`
 * (0005).
 *
 * - `webauthn_challenges`: each challenge is random (256 bits), stored by the server, short-lived
 *   and deleted when used, so an assertion or attestation cannot be replayed (threat-model B1).
 * - `web_sessions`: only the SHA-256 of the cookie secret is stored, so a database dump yields no
 *   usable session.
 * - `enrolments`: only the SHA-256 of the link secret; `used_at` is set once, by one conditional
 *   UPDATE, so a link registers at most one passkey.
 *
 * Times are epoch milliseconds.
 */
import type { StorageEngine } from '../../../core/ports.ts';
import { executeStatements, type Migration, type MigrationDb } from './migration.ts';

const STATEMENTS: Record<StorageEngine, readonly string[]> = {
  sqlite: [
    `CREATE TABLE webauthn_challenges (
      challenge TEXT PRIMARY KEY NOT NULL,
      purpose TEXT NOT NULL,
      user_id TEXT,
      enrolment_id TEXT,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    ) STRICT`,
    `CREATE INDEX webauthn_challenges_by_expiry ON webauthn_challenges (expires_at)`,
    `CREATE TABLE web_sessions (
      secret_hash BLOB PRIMARY KEY NOT NULL,
      user_id TEXT NOT NULL,
      credential_id TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL
    ) STRICT`,
    `CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at)`,
    `CREATE TABLE enrolments (
      id TEXT PRIMARY KEY NOT NULL,
      secret_hash BLOB NOT NULL,
      user_id TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      used_at INTEGER,
      created_by_kind TEXT NOT NULL,
      created_by_id TEXT NOT NULL,
      created_by_name TEXT NOT NULL
    ) STRICT`,
  ],
  postgres: [
    `CREATE TABLE webauthn_challenges (
      challenge text PRIMARY KEY,
      purpose text NOT NULL,
      user_id text,
      enrolment_id text,
      created_at bigint NOT NULL,
      expires_at bigint NOT NULL
    )`,
    `CREATE INDEX webauthn_challenges_by_expiry ON webauthn_challenges (expires_at)`,
    `CREATE TABLE web_sessions (
      secret_hash bytea PRIMARY KEY,
      user_id text NOT NULL,
      credential_id text NOT NULL,
      created_at bigint NOT NULL,
      expires_at bigint NOT NULL
    )`,
    `CREATE INDEX web_sessions_by_expiry ON web_sessions (expires_at)`,
    `CREATE TABLE enrolments (
      id text PRIMARY KEY,
      secret_hash bytea NOT NULL,
      user_id text NOT NULL,
      created_at bigint NOT NULL,
      expires_at bigint NOT NULL,
      used_at bigint,
      created_by_kind text NOT NULL,
      created_by_id text NOT NULL,
      created_by_name text NOT NULL
    )`,
  ],
};

export const MIGRATION_0006_PASSKEYS: Migration = {
  version: 6,
  name: 'passkeys',
  up: (db: MigrationDb, engine: StorageEngine) => executeStatements(db, STATEMENTS[engine]),
};
