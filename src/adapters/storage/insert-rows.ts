/**
 * Multi-row INSERT for the hot paths (log batches of hundreds to thousands of rows), with no
 * round trip per row and no query-builder work per value:
 *
 * - SQLite: `INSERT … VALUES (…),(…)` in chunks whose row counts are powers of two, so a handful
 *   of statement texts cover every batch size and the driver's prepared-statement cache reuses
 *   them; chunks stay far below SQLite's 32766 bound parameters.
 * - PostgreSQL: one `INSERT … SELECT * FROM unnest($1::type[], …)` per table: one parameter per
 *   column whatever the row count, one parse, one round trip.
 */
import { CompiledQuery, type Kysely } from 'kysely';
import type { StorageEngine } from '../../core/ports.ts';
import type { StorageSchema } from './storage-schema.ts';

/** A column as the bulk insert needs it: its name and its PostgreSQL array element type. */
export interface BulkColumn {
  readonly name: string;
  readonly postgresType: 'integer' | 'bigint' | 'bytea' | 'text';
}

export interface BulkTable {
  readonly name: keyof StorageSchema;
  readonly columns: readonly BulkColumn[];
}

/** Largest SQLite chunk, in rows. Beyond a few hundred rows a bigger statement gains nothing. */
const SQLITE_MAX_CHUNK_ROWS = 256;
/** SQLite's default bound-parameter limit since 3.32 (SQLITE_MAX_VARIABLE_NUMBER). */
const SQLITE_MAX_PARAMETERS = 32766;
/** Rows per PostgreSQL statement: keeps each array parameter far below the 1 GB value limit. */
const POSTGRES_MAX_CHUNK_ROWS = 8192;

const sqliteStatements = new Map<string, string>();

/** Inserts `rows` (values in `table.columns` order) into `table` with as few statements as possible. */
export async function insertRows(
  db: Kysely<StorageSchema>,
  engine: StorageEngine,
  table: BulkTable,
  rows: readonly (readonly unknown[])[],
): Promise<void> {
  switch (engine) {
    case 'sqlite':
      return insertRowsSqlite(db, table, rows);
    case 'postgres':
      return insertRowsPostgres(db, table, rows);
  }
}

async function insertRowsSqlite(
  db: Kysely<StorageSchema>,
  table: BulkTable,
  rows: readonly (readonly unknown[])[],
): Promise<void> {
  const width = table.columns.length;
  const maxRows = Math.min(SQLITE_MAX_CHUNK_ROWS, Math.floor(SQLITE_MAX_PARAMETERS / width));
  let offset = 0;
  while (offset < rows.length) {
    const count = largestPowerOfTwoAtMost(Math.min(rows.length - offset, maxRows));
    const parameters: unknown[] = new Array<unknown>(count * width);
    for (let r = 0; r < count; r++) {
      const row = rows[offset + r] ?? [];
      for (let c = 0; c < width; c++) parameters[r * width + c] = row[c];
    }
    await db.executeQuery(CompiledQuery.raw(sqliteInsertSql(table, count), parameters));
    offset += count;
  }
}

function sqliteInsertSql(table: BulkTable, count: number): string {
  const key = `${table.name}:${count}`;
  let text = sqliteStatements.get(key);
  if (text === undefined) {
    const tuple = `(${table.columns.map(() => '?').join(',')})`;
    const names = table.columns.map((column) => column.name).join(', ');
    text = `INSERT INTO ${table.name} (${names}) VALUES ${new Array(count).fill(tuple).join(',')}`;
    sqliteStatements.set(key, text);
  }
  return text;
}

async function insertRowsPostgres(
  db: Kysely<StorageSchema>,
  table: BulkTable,
  rows: readonly (readonly unknown[])[],
): Promise<void> {
  const names = table.columns.map((column) => column.name).join(', ');
  const arrays = table.columns.map((column, i) => `$${i + 1}::${column.postgresType}[]`).join(', ');
  const text = `INSERT INTO ${table.name} (${names}) SELECT * FROM unnest(${arrays})`;
  for (let offset = 0; offset < rows.length; offset += POSTGRES_MAX_CHUNK_ROWS) {
    const chunk = rows.slice(offset, offset + POSTGRES_MAX_CHUNK_ROWS);
    const columns = table.columns.map((_, c) => chunk.map((row) => row[c]));
    await db.executeQuery(CompiledQuery.raw(text, columns));
  }
}

function largestPowerOfTwoAtMost(n: number): number {
  return 2 ** Math.floor(Math.log2(n));
}
