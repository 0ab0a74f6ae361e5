/**
 * The PKI's certificates and the record of every signature.
 *
 * `pki_certificates.scope` is `root-ca`, `tsa` or `channel-ca:<product>/<channel>`: its primary
 * key makes "one root, one TSA, one CA per product and channel" a database fact (a UNIQUE over
 * nullable product/channel columns would let two roots in, NULL being distinct from NULL), and
 * `key_id` is unique so no key is ever certified twice.
 *
 * `signings` has one row per signature, written in the same transaction as its log entry;
 * `log_index` is unique. The bundle is attached once the log has answered.
 */
import type { StorageEngine } from '../../../core/ports.ts';
import { executeStatements, type Migration, type MigrationDb } from './migration.ts';

const STATEMENTS: Record<StorageEngine, readonly string[]> = {
  sqlite: [
    `CREATE TABLE pki_certificates (
      scope TEXT PRIMARY KEY NOT NULL,
      role TEXT NOT NULL,
      product TEXT,
      channel TEXT,
      key_id TEXT NOT NULL UNIQUE,
      certificate BLOB NOT NULL,
      serial_number TEXT NOT NULL,
      not_before INTEGER NOT NULL,
      not_after INTEGER NOT NULL,
      created_at INTEGER NOT NULL
    ) STRICT`,
    `CREATE TABLE signings (
      id TEXT PRIMARY KEY NOT NULL,
      product TEXT NOT NULL,
      channel TEXT NOT NULL,
      kind TEXT NOT NULL,
      subject_name TEXT NOT NULL,
      digest_algorithm TEXT NOT NULL,
      digest_value TEXT NOT NULL,
      identity TEXT NOT NULL,
      issuer TEXT NOT NULL,
      log_index INTEGER NOT NULL UNIQUE,
      decision_log_index INTEGER NOT NULL,
      bundle TEXT,
      created_at INTEGER NOT NULL
    ) STRICT`,
    `CREATE INDEX signings_by_digest ON signings (digest_algorithm, digest_value)`,
  ],
  postgres: [
    `CREATE TABLE pki_certificates (
      scope text PRIMARY KEY,
      role text NOT NULL,
      product text,
      channel text,
      key_id text NOT NULL UNIQUE,
      certificate bytea NOT NULL,
      serial_number text NOT NULL,
      not_before bigint NOT NULL,
      not_after bigint NOT NULL,
      created_at bigint NOT NULL
    )`,
    `CREATE TABLE signings (
      id text PRIMARY KEY,
      product text NOT NULL,
      channel text NOT NULL,
      kind text NOT NULL,
      subject_name text NOT NULL,
      digest_algorithm text NOT NULL,
      digest_value text NOT NULL,
      identity text NOT NULL,
      issuer text NOT NULL,
      log_index bigint NOT NULL UNIQUE,
      decision_log_index bigint NOT NULL,
      bundle text,
      created_at bigint NOT NULL
    )`,
    `CREATE INDEX signings_by_digest ON signings (digest_algorithm, digest_value)`,
  ],
};

export const MIGRATION_0004_SIGNING: Migration = {
  version: 4,
  name: 'signing',
  up: (db: MigrationDb, engine: StorageEngine) => executeStatements(db, STATEMENTS[engine]),
};
