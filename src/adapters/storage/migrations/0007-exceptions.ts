/**
 * Exceptions (break-glass, issue #6): scoped, time- and use-bounded waivers of signing checks,
 * approved by a channel's emergency group and reviewed afterwards.
 *
 * `exceptions.uses` only grows through one conditional UPDATE (`… WHERE state = 'active' AND
 * uses < max_uses AND not_after > now`), and the CHECK keeps it at most `max_uses` even against
 * a bug: N parallel signings can never spend more uses than were approved (threat model E1).
 * `exception_approvals` has one row per person and exception (its primary key): a vote is
 * counted once however often it is sent (INV-7). `exception_uses` has one row per spent use,
 * written in the signing transaction; `log_index` is filled once its `exception.used` event is in
 * the transparency log (an outbox: the signing transaction cannot append a second log entry).
 */
import type { StorageEngine } from '../../../core/ports.ts';
import { executeStatements, type Migration, type MigrationDb } from './migration.ts';

const STATES = `'pending', 'active', 'rejected', 'cancelled', 'expired', 'exhausted'`;

const STATEMENTS: Record<StorageEngine, readonly string[]> = {
  sqlite: [
    `CREATE TABLE exceptions (
      id TEXT PRIMARY KEY NOT NULL,
      product TEXT NOT NULL,
      channel TEXT NOT NULL,
      waives TEXT NOT NULL,
      reason TEXT NOT NULL,
      requested_by TEXT NOT NULL,
      duration_seconds INTEGER NOT NULL CHECK (duration_seconds > 0),
      max_uses INTEGER NOT NULL CHECK (max_uses > 0),
      state TEXT NOT NULL CHECK (state IN (${STATES})),
      not_after INTEGER,
      uses INTEGER NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
      governance_version INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      activated_at INTEGER,
      ended_at INTEGER,
      ended_by TEXT,
      review_due_at INTEGER,
      reviewed_at INTEGER,
      reviewed_by TEXT,
      review_findings TEXT,
      review_overdue_notified_at INTEGER
    ) STRICT`,
    `CREATE INDEX exceptions_by_channel ON exceptions (product, channel, state)`,
    `CREATE INDEX exceptions_by_review ON exceptions (product, reviewed_at, review_due_at)`,
    `CREATE TABLE exception_approvals (
      exception_id TEXT NOT NULL REFERENCES exceptions (id),
      user_id TEXT NOT NULL,
      decision TEXT NOT NULL CHECK (decision IN ('approve', 'reject')),
      comment TEXT NOT NULL,
      created_at INTEGER NOT NULL,
      PRIMARY KEY (exception_id, user_id)
    ) STRICT`,
    `CREATE TABLE exception_uses (
      exception_id TEXT NOT NULL REFERENCES exceptions (id),
      use_number INTEGER NOT NULL CHECK (use_number > 0),
      used_at INTEGER NOT NULL,
      log_index INTEGER,
      PRIMARY KEY (exception_id, use_number)
    ) STRICT`,
    `CREATE INDEX exception_uses_unlogged ON exception_uses (log_index, used_at)`,
  ],
  postgres: [
    `CREATE TABLE exceptions (
      id text PRIMARY KEY,
      product text NOT NULL,
      channel text NOT NULL,
      waives text NOT NULL,
      reason text NOT NULL,
      requested_by text NOT NULL,
      duration_seconds bigint NOT NULL CHECK (duration_seconds > 0),
      max_uses integer NOT NULL CHECK (max_uses > 0),
      state text NOT NULL CHECK (state IN (${STATES})),
      not_after bigint,
      uses integer NOT NULL DEFAULT 0 CHECK (uses >= 0 AND uses <= max_uses),
      governance_version integer NOT NULL,
      created_at bigint NOT NULL,
      activated_at bigint,
      ended_at bigint,
      ended_by text,
      review_due_at bigint,
      reviewed_at bigint,
      reviewed_by text,
      review_findings text,
      review_overdue_notified_at bigint
    )`,
    `CREATE INDEX exceptions_by_channel ON exceptions (product, channel, state)`,
    `CREATE INDEX exceptions_by_review ON exceptions (product, reviewed_at, review_due_at)`,
    `CREATE TABLE exception_approvals (
      exception_id text NOT NULL REFERENCES exceptions (id),
      user_id text NOT NULL,
      decision text NOT NULL CHECK (decision IN ('approve', 'reject')),
      comment text NOT NULL,
      created_at bigint NOT NULL,
      PRIMARY KEY (exception_id, user_id)
    )`,
    `CREATE TABLE exception_uses (
      exception_id text NOT NULL REFERENCES exceptions (id),
      use_number integer NOT NULL CHECK (use_number > 0),
      used_at bigint NOT NULL,
      log_index bigint,
      PRIMARY KEY (exception_id, use_number)
    )`,
    `CREATE INDEX exception_uses_unlogged ON exception_uses (log_index, used_at)`,
  ],
};

export const MIGRATION_0007_EXCEPTIONS: Migration = {
  version: 7,
  name: 'exceptions',
  up: (db: MigrationDb, engine: StorageEngine) => executeStatements(db, STATEMENTS[engine]),
};
