/**
 * The storage adapter's entry points: `openStorage` for `countersign serve` and every command
 * that reads or writes, `migrateStorage` for `countersign migrate`.
 */
import type { Storage } from '../../core/ports.ts';
import { runMigrations, type MigrationReport } from './migrations/run-migrations.ts';
import {
  openPostgresStorage,
  type PostgresStorageOptions,
} from './postgres/open-postgres-storage.ts';
import { openSqliteStorage, type SqliteStorageOptions } from './sqlite/open-sqlite-storage.ts';
import type { SqlStorage } from './sql-storage.ts';

export type { MigrationReport } from './migrations/run-migrations.ts';

/** Where the data lives: an embedded SQLite data directory, or a PostgreSQL database. */
export type StorageOptions =
  | ({ readonly engine: 'sqlite' } & SqliteStorageOptions)
  | ({ readonly engine: 'postgres' } & PostgresStorageOptions);

export interface OpenStorageBehaviour {
  /** Apply pending migrations while opening (default true). When false, `health()` reports them. */
  readonly migrate?: boolean;
}

/**
 * Opens storage: takes the data-directory lock (SQLite) or connects (PostgreSQL), refuses a
 * configuration that would not make commits durable, refuses a schema newer than this code, and
 * migrates unless told not to.
 *
 * Throws STORAGE_UNAVAILABLE when the engine cannot be reached or the data directory is in use by
 * another process (the message names its pid), CONFIG_INVALID for bad options, unsafe durability
 * settings, rejected credentials or a newer schema.
 *
 * @example
 * const storage = await openStorage({ engine: 'sqlite', dataDir: './.countersign' });
 * try { … } finally { await storage.close(); }
 */
export async function openStorage(
  options: StorageOptions,
  behaviour: OpenStorageBehaviour = {},
): Promise<Storage> {
  return openSqlStorage(options, { migrate: behaviour.migrate ?? true });
}

/**
 * Applies pending migrations and closes again (`countersign migrate`). Safe to run while other
 * PostgreSQL replicas start: they migrate once between them. Throws like `openStorage`.
 */
export async function migrateStorage(options: StorageOptions): Promise<MigrationReport> {
  const storage = await openSqlStorage(options, { migrate: false });
  try {
    return await runMigrations(storage.db, storage.engine);
  } finally {
    await storage.close();
  }
}

function openSqlStorage(
  options: StorageOptions,
  behaviour: { readonly migrate: boolean },
): Promise<SqlStorage> {
  switch (options.engine) {
    case 'sqlite':
      return openSqliteStorage(options, behaviour);
    case 'postgres':
      return openPostgresStorage(options, behaviour);
  }
}
