/**
 * Webhooks and their deliveries: the notifications outbox (issue #6).
 *
 * `webhooks.events` is a JSON array of event names. `webhooks.secret` is the HMAC key of the
 * `Countersign-Signature` header, kept as given because the service must recompute the HMAC for
 * every delivery (docs/approvals.md, "Webhooks": the database is as sensitive as the keystore).
 *
 * `webhook_deliveries` is the outbox: a row is written in the transaction of the state change it
 * announces, and the delivery worker sends it afterwards. `next_attempt_at` is null once the
 * delivery is `delivered` or `failed`; the partial index keeps the worker's poll to pending rows.
 * Deleting a webhook deletes its deliveries (ON DELETE CASCADE; SQLite enforces foreign keys).
 */
import type { StorageEngine } from '../../../core/ports.ts';
import { executeStatements, type Migration, type MigrationDb } from './migration.ts';

const STATEMENTS: Record<StorageEngine, readonly string[]> = {
  sqlite: [
    `CREATE TABLE webhooks (
      id TEXT PRIMARY KEY NOT NULL,
      url TEXT NOT NULL,
      events TEXT NOT NULL,
      secret TEXT NOT NULL,
      enabled INTEGER NOT NULL,
      created_at INTEGER NOT NULL,
      created_by TEXT NOT NULL
    ) STRICT`,
    `CREATE TABLE webhook_deliveries (
      id TEXT PRIMARY KEY NOT NULL,
      webhook_id TEXT NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
      event TEXT NOT NULL,
      body TEXT NOT NULL,
      state TEXT NOT NULL,
      attempts INTEGER NOT NULL,
      next_attempt_at INTEGER,
      last_status_code INTEGER,
      last_error TEXT,
      created_at INTEGER NOT NULL,
      updated_at INTEGER NOT NULL
    ) STRICT`,
    `CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, created_at)`,
    `CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
      WHERE state = 'pending'`,
  ],
  postgres: [
    `CREATE TABLE webhooks (
      id text PRIMARY KEY,
      url text NOT NULL,
      events text NOT NULL,
      secret text NOT NULL,
      enabled integer NOT NULL,
      created_at bigint NOT NULL,
      created_by text NOT NULL
    )`,
    `CREATE TABLE webhook_deliveries (
      id text PRIMARY KEY,
      webhook_id text NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
      event text NOT NULL,
      body text NOT NULL,
      state text NOT NULL,
      attempts integer NOT NULL,
      next_attempt_at bigint,
      last_status_code integer,
      last_error text,
      created_at bigint NOT NULL,
      updated_at bigint NOT NULL
    )`,
    `CREATE INDEX webhook_deliveries_by_webhook ON webhook_deliveries (webhook_id, created_at)`,
    `CREATE INDEX webhook_deliveries_due ON webhook_deliveries (next_attempt_at)
      WHERE state = 'pending'`,
  ],
};

export const MIGRATION_0008_WEBHOOKS: Migration = {
  version: 8,
  name: 'webhooks',
  up: (db: MigrationDb, engine: StorageEngine) => executeStatements(db, STATEMENTS[engine]),
};
