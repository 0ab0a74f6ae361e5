/**
 * Applies the migrations of `migrations.ts` that a database lacks, one transaction each, recorded
 * in `schema_migrations`. Re-running applies nothing. On PostgreSQL every step first takes a
 * transaction-scoped advisory lock, so replicas starting together migrate once between them; on
 * SQLite the data-directory lock already keeps every other process out.
 */
import { sql, type Kysely } from 'kysely';
import { AppError } from '../../../core/errors.ts';
import type { StorageEngine } from '../../../core/ports.ts';
import { readSafeInteger, readString } from '../sql-values.ts';
import type { StorageSchema } from '../storage-schema.ts';
import type { Migration, MigrationDb } from './migration.ts';
import { MIGRATIONS } from './migrations.ts';

/** The advisory lock id migrations serialise on ("Countersign migrate"); any fixed int8 works. */
const POSTGRES_MIGRATION_LOCK_ID = 0x4353_6d69_6772_6174n;

/** A migration recorded as applied. */
export interface AppliedMigration {
  readonly version: number;
  readonly name: string;
}

/** What `runMigrations` did. */
export interface MigrationReport {
  /** Schema version before. */
  readonly from: number;
  /** Schema version after. */
  readonly to: number;
  /** Migrations this call applied (not those another replica applied meanwhile). */
  readonly applied: readonly AppliedMigration[];
}

/**
 * Brings the schema to the newest version. Throws CONFIG_INVALID when the database holds a
 * migration this code does not know (it was migrated by a newer Countersign), STORAGE_UNAVAILABLE
 * when the engine is unreachable.
 */
export async function runMigrations(
  db: Kysely<StorageSchema>,
  engine: StorageEngine,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<MigrationReport> {
  const before = await db.transaction().execute(async (trx) => {
    await lockMigrations(trx, engine);
    await sql
      .raw(
        `CREATE TABLE IF NOT EXISTS schema_migrations (
          version ${engine === 'sqlite' ? 'INTEGER' : 'integer'} PRIMARY KEY NOT NULL,
          name TEXT NOT NULL,
          applied_at ${engine === 'sqlite' ? 'INTEGER' : 'bigint'} NOT NULL
        )`,
      )
      .execute(trx);
    return readAppliedRows(trx);
  });
  const from = checkSchemaKnown(before, migrations);
  const applied: AppliedMigration[] = [];
  for (const migration of migrations) {
    if (before.some((row) => row.version === migration.version)) continue;
    const didApply = await db.transaction().execute(async (trx) => {
      await lockMigrations(trx, engine);
      // Another replica may have applied it while we waited for the lock.
      const now = await readAppliedRows(trx);
      checkSchemaKnown(now, migrations);
      if (now.some((row) => row.version === migration.version)) return false;
      // The migration is typed against no schema at all: it must not depend on the current one.
      await migration.up(trx as unknown as MigrationDb, engine);
      await trx
        .insertInto('schema_migrations')
        .values({ version: migration.version, name: migration.name, applied_at: Date.now() })
        .execute();
      return true;
    });
    if (didApply) applied.push({ version: migration.version, name: migration.name });
  }
  return { from, to: migrations.at(-1)?.version ?? 0, applied };
}

/**
 * The schema version of the database (0 when it was never migrated), after checking that every
 * applied migration is known to this code. Throws CONFIG_INVALID like `runMigrations`.
 */
export async function readSchemaVersion(
  db: Kysely<StorageSchema>,
  engine: StorageEngine,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<number> {
  if (!(await hasMigrationsTable(db, engine))) return 0;
  return checkSchemaKnown(await readAppliedRows(db), migrations);
}

/**
 * Checks the applied migrations against the code's list and returns the schema version. A
 * database migrated by a newer Countersign must not be written by an older one: its writes would
 * ignore columns and constraints it does not know.
 */
export function checkSchemaKnown(
  applied: readonly AppliedMigration[],
  migrations: readonly Migration[],
): number {
  const known = migrations.at(-1)?.version ?? 0;
  let version = 0;
  for (const row of applied) version = Math.max(version, row.version);
  if (version > known) {
    throw new AppError(
      'CONFIG_INVALID',
      `database schema ${version} is newer than this Countersign (${known}); upgrade Countersign`,
    );
  }
  for (const row of applied) {
    const migration = migrations.find((m) => m.version === row.version);
    if (migration?.name !== row.name) {
      throw new AppError(
        'CONFIG_INVALID',
        `database schema migration ${row.version} (${row.name}) is not part of this Countersign; the database belongs to another build`,
      );
    }
  }
  for (const migration of migrations) {
    if (migration.version < version && !applied.some((row) => row.version === migration.version)) {
      throw new AppError(
        'CONFIG_INVALID',
        `database schema ${version} lacks migration ${migration.version} (${migration.name}); the database was not migrated by Countersign`,
      );
    }
  }
  return version;
}

async function lockMigrations(db: Kysely<StorageSchema>, engine: StorageEngine): Promise<void> {
  if (engine === 'postgres') {
    await sql`SELECT pg_advisory_xact_lock(${POSTGRES_MIGRATION_LOCK_ID})`.execute(db);
  }
}

async function hasMigrationsTable(
  db: Kysely<StorageSchema>,
  engine: StorageEngine,
): Promise<boolean> {
  const query =
    engine === 'sqlite'
      ? sql<{
          present: unknown;
        }>`SELECT 1 AS present FROM sqlite_master WHERE type = 'table' AND name = 'schema_migrations'`
      : sql<{
          present: unknown;
        }>`SELECT 1 AS present WHERE to_regclass('schema_migrations') IS NOT NULL`;
  const result = await query.execute(db);
  return result.rows.length > 0;
}

async function readAppliedRows(db: Kysely<StorageSchema>): Promise<AppliedMigration[]> {
  const rows = await db
    .selectFrom('schema_migrations')
    .select(['version', 'name'])
    .orderBy('version')
    .execute();
  return rows.map((row) => ({
    version: readSafeInteger(row.version, 'schema_migrations.version'),
    name: readString(row.name, 'schema_migrations.name'),
  }));
}
