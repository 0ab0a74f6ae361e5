/**
 * Approvals (issue "Approvals bound to the artifact"): which person an API token acts for, the
 * credentials people approve with, signing requests waiting for approvals, and the approvals.
 *
 * `signing_requests.state` moves out of `pending` exactly once, through one conditional UPDATE
 * (threat-model E1). `approvals` keeps every submitted statement and signature verbatim, so a
 * decision can always be re-checked from what was signed (INV-9).
 */
import type { StorageEngine } from '../../../core/ports.ts';
import { executeStatements, type Migration, type MigrationDb } from './migration.ts';

const STATEMENTS: Record<StorageEngine, readonly string[]> = {
  sqlite: [
    `ALTER TABLE api_tokens ADD COLUMN user_id TEXT`,
    `ALTER TABLE signings ADD COLUMN decision_bundle TEXT`,
    `CREATE TABLE approver_credentials (
      id TEXT PRIMARY KEY NOT NULL,
      user_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      public_key_spki BLOB NOT NULL,
      algorithm INTEGER NOT NULL,
      rp_id TEXT,
      sign_count INTEGER NOT NULL,
      label TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      revoked_at INTEGER
    ) STRICT`,
    `CREATE INDEX approver_credentials_by_user ON approver_credentials (user_id)`,
    `CREATE TABLE signing_requests (
      id TEXT PRIMARY KEY NOT NULL,
      product TEXT NOT NULL,
      channel TEXT NOT NULL,
      kind TEXT NOT NULL,
      subject_name TEXT NOT NULL,
      digest_algorithm TEXT NOT NULL,
      digest_value TEXT NOT NULL,
      statement BLOB,
      requester TEXT NOT NULL,
      requester_issuer TEXT NOT NULL,
      requester_subject TEXT NOT NULL,
      context TEXT NOT NULL,
      policy_hash TEXT NOT NULL,
      governance_version INTEGER NOT NULL,
      state TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      expires_at INTEGER NOT NULL,
      closed_at INTEGER,
      signing_id TEXT,
      log_index INTEGER NOT NULL
    ) STRICT`,
    `CREATE INDEX signing_requests_by_state ON signing_requests (state, created_at)`,
    `CREATE INDEX signing_requests_by_requester ON signing_requests
      (requester_issuer, requester_subject, digest_value)`,
    `CREATE TABLE approvals (
      id TEXT PRIMARY KEY NOT NULL,
      request_id TEXT NOT NULL REFERENCES signing_requests (id),
      user_id TEXT NOT NULL,
      credential_id TEXT NOT NULL,
      decision TEXT NOT NULL,
      comment TEXT NOT NULL,
      statement BLOB NOT NULL,
      signature BLOB NOT NULL,
      authenticator_data BLOB,
      client_data_json BLOB,
      created_at INTEGER NOT NULL,
      log_index INTEGER NOT NULL
    ) STRICT`,
    `CREATE INDEX approvals_by_request ON approvals (request_id, created_at)`,
  ],
  postgres: [
    `ALTER TABLE api_tokens ADD COLUMN user_id text`,
    `ALTER TABLE signings ADD COLUMN decision_bundle text`,
    `CREATE TABLE approver_credentials (
      id text PRIMARY KEY,
      user_id text NOT NULL,
      kind text NOT NULL,
      public_key_spki bytea NOT NULL,
      algorithm integer NOT NULL,
      rp_id text,
      sign_count bigint NOT NULL,
      label text NOT NULL,
      created_at bigint NOT NULL,
      revoked_at bigint
    )`,
    `CREATE INDEX approver_credentials_by_user ON approver_credentials (user_id)`,
    `CREATE TABLE signing_requests (
      id text PRIMARY KEY,
      product text NOT NULL,
      channel text NOT NULL,
      kind text NOT NULL,
      subject_name text NOT NULL,
      digest_algorithm text NOT NULL,
      digest_value text NOT NULL,
      statement bytea,
      requester text NOT NULL,
      requester_issuer text NOT NULL,
      requester_subject text NOT NULL,
      context text NOT NULL,
      policy_hash text NOT NULL,
      governance_version integer NOT NULL,
      state text NOT NULL,
      created_at bigint NOT NULL,
      expires_at bigint NOT NULL,
      closed_at bigint,
      signing_id text,
      log_index bigint NOT NULL
    )`,
    `CREATE INDEX signing_requests_by_state ON signing_requests (state, created_at)`,
    `CREATE INDEX signing_requests_by_requester ON signing_requests
      (requester_issuer, requester_subject, digest_value)`,
    `CREATE TABLE approvals (
      id text PRIMARY KEY,
      request_id text NOT NULL REFERENCES signing_requests (id),
      user_id text NOT NULL,
      credential_id text NOT NULL,
      decision text NOT NULL,
      comment text NOT NULL,
      statement bytea NOT NULL,
      signature bytea NOT NULL,
      authenticator_data bytea,
      client_data_json bytea,
      created_at bigint NOT NULL,
      log_index bigint NOT NULL
    )`,
    `CREATE INDEX approvals_by_request ON approvals (request_id, created_at)`,
  ],
};

export const MIGRATION_0005_APPROVALS: Migration = {
  version: 5,
  name: 'approvals',
  up: (db: MigrationDb, engine: StorageEngine) => executeStatements(db, STATEMENTS[engine]),
};
