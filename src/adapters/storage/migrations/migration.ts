/**
 * A schema migration: one step of the ordered list in `migrations.ts`. Each runs in its own
 * transaction (both engines have transactional DDL), so a crash mid-migration leaves the schema
 * at the previous version, never half-way (threat model FT-11).
 */
import { sql, type Kysely } from 'kysely';
import type { StorageEngine } from '../../../core/ports.ts';

/** Handle a migration runs on. Untyped on purpose: a migration must not depend on later schemas. */
export type MigrationDb = Kysely<unknown>;

export interface Migration {
  /** 1, 2, 3…: the schema version once this migration is applied. Never reused or renumbered. */
  readonly version: number;
  /** Kebab-case, as in the file name `NNNN-name.ts`; recorded in `schema_migrations`. */
  readonly name: string;
  /** Applies the change inside the transaction `db` is bound to. */
  up(db: MigrationDb, engine: StorageEngine): Promise<void>;
}

/** Runs DDL statements in order. */
export async function executeStatements(
  db: MigrationDb,
  statements: readonly string[],
): Promise<void> {
  for (const statement of statements) await sql.raw(statement).execute(db);
}
