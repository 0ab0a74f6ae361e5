/**
 * Scale-out storage: PostgreSQL through a `pg` Pool (DESIGN.md §2, §4).
 *
 * Durability (threat model FT-2, FT-4): power-loss safety is PostgreSQL's job, so the open is
 * refused unless the server is configured to do it: `fsync=on`, `full_page_writes=on` and
 * `synchronous_commit` not `off`. `local`, `remote_write`, `on` and `remote_apply` all flush the
 * commit record to the local WAL before COMMIT returns (they differ only in what they wait for
 * from synchronous standbys), so all four are accepted; `off` acknowledges commits that a crash
 * can lose, which would break "log before release" (INV-1).
 *
 * Timeouts (FT-2, FT-7): `statement_timeout` on the server, and a client-side read timeout a bit
 * longer for a server that stopped answering altogether (SIGSTOP, partition).
 */
import pg from 'pg';
import { Kysely, sql } from 'kysely';
import { AppError, type FieldError } from '../../../core/errors.ts';
import { readSchemaVersion, runMigrations } from '../migrations/run-migrations.ts';
import { ConnectionGuard } from '../sql-context.ts';
import { SqlStorage } from '../sql-storage.ts';
import type { StorageSchema } from '../storage-schema.ts';
import { mapPostgresError } from './map-postgres-error.ts';
import { PgDialect } from './pg-dialect.ts';

export interface PostgresStorageOptions {
  /** `postgres://user:password@host:port/database?…`; may carry a secret, never logged. */
  readonly url: string;
  /** Connections in the pool. Default 10. */
  readonly poolSize?: number;
  /** Server-side `statement_timeout`. Default 30 s. */
  readonly statementTimeoutMs?: number;
  /** Time to establish a connection (or wait for a free one). Default 5 s. */
  readonly connectTimeoutMs?: number;
  /** An idle pooled connection is closed after this. Default 30 s. */
  readonly idleTimeoutMs?: number;
  /** Server-side `idle_in_transaction_session_timeout`. Default 60 s. */
  readonly idleInTransactionTimeoutMs?: number;
}

const DEFAULTS = {
  poolSize: 10,
  statementTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  idleTimeoutMs: 30_000,
  idleInTransactionTimeoutMs: 60_000,
} as const;

/** Extra time the client waits past `statement_timeout` before giving up on the server. */
const CLIENT_READ_TIMEOUT_MARGIN_MS = 5_000;

/** PostgreSQL's type OID of int8 (`bigint`). */
const PG_INT8_OID = 20;

/** Type parsers: int8 as an exact `bigint` (pg's default is a string); the rest as pg does. */
const PG_TYPES: pg.CustomTypesConfig = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === PG_INT8_OID && format !== 'binary'
      ? (value: string) => BigInt(value)
      : (pg.types.getTypeParser(oid, format) as (
          value: string,
        ) => unknown)) as pg.CustomTypesConfig['getTypeParser'],
};

/**
 * Connects to PostgreSQL, checks its durability settings and the schema (migrating it unless
 * `behaviour.migrate` is false). Throws CONFIG_INVALID for bad options, unsafe server settings, a
 * rejected login or a newer schema; STORAGE_UNAVAILABLE when the server cannot be reached.
 */
export async function openPostgresStorage(
  options: PostgresStorageOptions,
  behaviour: { readonly migrate: boolean },
): Promise<SqlStorage> {
  const settings = resolveOptions(options);
  const pool = new pg.Pool({
    connectionString: options.url,
    max: settings.poolSize,
    connectionTimeoutMillis: settings.connectTimeoutMs,
    idleTimeoutMillis: settings.idleTimeoutMs,
    statement_timeout: settings.statementTimeoutMs,
    query_timeout: settings.statementTimeoutMs + CLIENT_READ_TIMEOUT_MARGIN_MS,
    idle_in_transaction_session_timeout: settings.idleInTransactionTimeoutMs,
    application_name: 'countersign',
    keepAlive: true,
    types: PG_TYPES,
  });
  // An idle pooled connection that dies (server restart, network cut) is emitted here and then
  // dropped by the pool; without a listener Node would treat it as an uncaught error and exit.
  // The next query opens a new connection or fails with STORAGE_UNAVAILABLE.
  pool.on('error', () => {});
  const guard = new ConnectionGuard();
  const db = new Kysely<StorageSchema>({
    dialect: new PgDialect({
      pool,
      mapError: mapPostgresError,
      beforeAcquire: () => guard.assertCanAcquire(),
    }),
  });
  try {
    await verifyPostgresDurability(db);
    const schemaVersion = behaviour.migrate
      ? (await runMigrations(db, 'postgres')).to
      : await readSchemaVersion(db, 'postgres');
    return new SqlStorage({ engine: 'postgres', db, guard, schemaVersion });
  } catch (error) {
    await db.destroy();
    throw error;
  }
}

/** The server settings the durability check reads. */
export interface PostgresDurabilitySettings {
  readonly fsync: string;
  readonly synchronousCommit: string;
  readonly fullPageWrites: string;
}

/**
 * The problems with `settings`, one per unsafe setting (empty when safe). See the module comment
 * for why `synchronous_commit=local` is accepted.
 */
export function checkPostgresDurability(settings: PostgresDurabilitySettings): FieldError[] {
  const problems: FieldError[] = [];
  if (settings.fsync !== 'on') {
    problems.push({ path: 'fsync', message: `is ${settings.fsync}, needs on` });
  }
  if (!['on', 'local', 'remote_write', 'remote_apply'].includes(settings.synchronousCommit)) {
    problems.push({
      path: 'synchronous_commit',
      message: `is ${settings.synchronousCommit}, needs on (or local, remote_write, remote_apply)`,
    });
  }
  if (settings.fullPageWrites !== 'on') {
    problems.push({ path: 'full_page_writes', message: `is ${settings.fullPageWrites}, needs on` });
  }
  return problems;
}

/**
 * Reads the durability settings as this role sees them (they can be set per database and role)
 * and throws CONFIG_INVALID, naming every unsafe one, unless all are safe.
 */
export async function verifyPostgresDurability(db: Kysely<StorageSchema>): Promise<void> {
  const result = await sql<{
    fsync: string;
    synchronous_commit: string;
    full_page_writes: string;
  }>`SELECT current_setting('fsync') AS fsync,
       current_setting('synchronous_commit') AS synchronous_commit,
       current_setting('full_page_writes') AS full_page_writes`.execute(db);
  const row = result.rows[0];
  if (row === undefined) throw new AppError('INTERNAL', 'PostgreSQL returned no settings');
  const problems = checkPostgresDurability({
    fsync: row.fsync,
    synchronousCommit: row.synchronous_commit,
    fullPageWrites: row.full_page_writes,
  });
  if (problems.length > 0) {
    throw new AppError(
      'CONFIG_INVALID',
      `PostgreSQL is not configured for durable commits: ${problems
        .map((p) => `${p.path} ${p.message}`)
        .join('; ')}`,
      { errors: problems, hint: 'fix postgresql.conf (or the role/database settings) and restart' },
    );
  }
}

function resolveOptions(
  options: PostgresStorageOptions,
): Required<Omit<PostgresStorageOptions, 'url'>> {
  const resolved = {
    poolSize: options.poolSize ?? DEFAULTS.poolSize,
    statementTimeoutMs: options.statementTimeoutMs ?? DEFAULTS.statementTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs ?? DEFAULTS.connectTimeoutMs,
    idleTimeoutMs: options.idleTimeoutMs ?? DEFAULTS.idleTimeoutMs,
    idleInTransactionTimeoutMs:
      options.idleInTransactionTimeoutMs ?? DEFAULTS.idleInTransactionTimeoutMs,
  };
  const errors: FieldError[] = [];
  for (const [name, value] of Object.entries(resolved)) {
    if (!Number.isSafeInteger(value) || value < 1) {
      errors.push({ path: `storage.${name}`, message: 'must be a positive integer' });
    }
  }
  if (!/^postgres(ql)?:\/\//.test(options.url)) {
    errors.push({ path: 'storage.url', message: 'must start with postgres:// or postgresql://' });
  }
  if (errors.length > 0) {
    throw new AppError('CONFIG_INVALID', 'invalid PostgreSQL storage options', { errors });
  }
  return resolved;
}
