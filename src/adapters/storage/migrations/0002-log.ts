/**
 * The transparency log (DESIGN.md §7). Indices and sizes are signed 64-bit integers on both
 * engines (SQLite INTEGER, PostgreSQL bigint): exact, never floating point (threat model INV-4).
 *
 * - `log_entries`: one row per leaf. On SQLite `idx` is the rowid (no second index).
 *   `integrated_time` is Unix seconds, the unit of the Rekor `integratedTime` that SETs sign;
 *   every other time column is epoch milliseconds.
 * - `log_nodes`: hashes of complete subtrees at levels ≥ 1 (level 0 is `log_entries.leaf_hash`);
 *   clustered on (level, idx) so proofs and tiles read by primary key.
 * - `log_checkpoints`: one signed checkpoint per tree size, never two (INV-3).
 * - `log_state`: exactly one row, the committed size; appends compare-and-set it.
 */
import type { StorageEngine } from '../../../core/ports.ts';
import { executeStatements, type Migration, type MigrationDb } from './migration.ts';

const STATEMENTS: Record<StorageEngine, readonly string[]> = {
  sqlite: [
    `CREATE TABLE log_entries (
      idx INTEGER PRIMARY KEY NOT NULL CHECK (idx >= 0),
      leaf_hash BLOB NOT NULL,
      body BLOB NOT NULL,
      kind TEXT NOT NULL,
      idempotency_key TEXT UNIQUE,
      integrated_time INTEGER NOT NULL
    ) STRICT`,
    `CREATE TABLE log_nodes (
      level INTEGER NOT NULL CHECK (level BETWEEN 1 AND 63),
      idx INTEGER NOT NULL CHECK (idx >= 0),
      hash BLOB NOT NULL,
      PRIMARY KEY (level, idx)
    ) STRICT, WITHOUT ROWID`,
    `CREATE TABLE log_checkpoints (
      tree_size INTEGER PRIMARY KEY NOT NULL CHECK (tree_size >= 0),
      root_hash BLOB NOT NULL,
      note TEXT NOT NULL,
      created_at INTEGER NOT NULL
    ) STRICT`,
    `CREATE TABLE log_state (
      id INTEGER PRIMARY KEY NOT NULL CHECK (id = 1),
      tree_size INTEGER NOT NULL CHECK (tree_size >= 0)
    ) STRICT`,
    `INSERT INTO log_state (id, tree_size) VALUES (1, 0)`,
  ],
  postgres: [
    `CREATE TABLE log_entries (
      idx bigint PRIMARY KEY CHECK (idx >= 0),
      leaf_hash bytea NOT NULL,
      body bytea NOT NULL,
      kind text NOT NULL,
      idempotency_key text UNIQUE,
      integrated_time bigint NOT NULL
    )`,
    `CREATE TABLE log_nodes (
      level integer NOT NULL CHECK (level BETWEEN 1 AND 63),
      idx bigint NOT NULL CHECK (idx >= 0),
      hash bytea NOT NULL,
      PRIMARY KEY (level, idx)
    )`,
    `CREATE TABLE log_checkpoints (
      tree_size bigint PRIMARY KEY CHECK (tree_size >= 0),
      root_hash bytea NOT NULL,
      note text NOT NULL,
      created_at bigint NOT NULL
    )`,
    `CREATE TABLE log_state (
      id integer PRIMARY KEY CHECK (id = 1),
      tree_size bigint NOT NULL CHECK (tree_size >= 0)
    )`,
    `INSERT INTO log_state (id, tree_size) VALUES (1, 0)`,
  ],
};

export const MIGRATION_0002_LOG: Migration = {
  version: 2,
  name: 'log',
  up: (db: MigrationDb, engine: StorageEngine) => executeStatements(db, STATEMENTS[engine]),
};
