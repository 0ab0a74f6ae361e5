/**
 * A Kysely dialect over a `pg` Pool: Kysely's PostgreSQL adapter, query compiler and
 * introspector, with a driver of ours instead of Kysely's `PostgresDriver`, for two reasons:
 * errors are mapped to `AppError` right where `pg` throws them, and a connection that broke
 * (socket error, client-side timeout with a query still in flight, failed ROLLBACK) is destroyed
 * instead of going back to the pool, where the next transaction could inherit its state.
 */
import { createHash } from 'node:crypto';
import type pg from 'pg';
import {
  CompiledQuery,
  PostgresAdapter,
  PostgresIntrospector,
  PostgresQueryCompiler,
  type DatabaseConnection,
  type DatabaseIntrospector,
  type Dialect,
  type DialectAdapter,
  type Driver,
  type Kysely,
  type QueryCompiler,
  type QueryResult,
  type TransactionSettings,
} from 'kysely';
import { AppError } from '../../../core/errors.ts';
import { isConnectionBroken } from './map-postgres-error.ts';

export interface PgDialectConfig {
  /** The pool; the driver owns it from now on and ends it in `destroy()`. */
  readonly pool: pg.Pool;
  /** Turns anything `pg` throws into an `AppError` (the adapter edge). */
  readonly mapError: (error: unknown) => AppError;
  /** Called before a connection is taken; throws to refuse (re-entrance guard). */
  readonly beforeAcquire?: () => void;
}

/** Kysely's PostgreSQL dialect over a `pg` Pool, with mapped errors. */
export class PgDialect implements Dialect {
  readonly #config: PgDialectConfig;

  constructor(config: PgDialectConfig) {
    this.#config = config;
  }

  createDriver(): Driver {
    return new PgDriver(this.#config);
  }

  createQueryCompiler(): QueryCompiler {
    return new PostgresQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new PostgresAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new PostgresIntrospector(db);
  }
}

class PgDriver implements Driver {
  readonly #config: PgDialectConfig;

  constructor(config: PgDialectConfig) {
    this.#config = config;
  }

  async init(): Promise<void> {
    // The pool connects lazily.
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    this.#config.beforeAcquire?.();
    let client: pg.PoolClient;
    try {
      client = await this.#config.pool.connect();
    } catch (error) {
      throw this.#config.mapError(error);
    }
    return new PgConnection(client, this.#config.mapError);
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    let text = 'BEGIN';
    if (settings.isolationLevel !== undefined)
      text += ` ISOLATION LEVEL ${settings.isolationLevel}`;
    if (settings.accessMode !== undefined) text += ` ${settings.accessMode}`;
    await connection.executeQuery(CompiledQuery.raw(text));
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('COMMIT'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // Kysely rethrows whatever this throws instead of the error that made it roll back. A failed
    // ROLLBACK means a dead connection (the server aborts its transaction when it goes away), so
    // keep the original error and make sure the connection is destroyed on release.
    try {
      await connection.executeQuery(CompiledQuery.raw('ROLLBACK'));
    } catch (error) {
      if (connection instanceof PgConnection) connection.markBroken(error);
    }
  }

  releaseConnection(connection: DatabaseConnection): Promise<void> {
    if (connection instanceof PgConnection) connection.release();
    return Promise.resolve();
  }

  async destroy(): Promise<void> {
    await this.#config.pool.end();
  }
}

class PgConnection implements DatabaseConnection {
  readonly #client: pg.PoolClient;
  readonly #mapError: (error: unknown) => AppError;
  #broken: Error | undefined;

  constructor(client: pg.PoolClient, mapError: (error: unknown) => AppError) {
    this.#client = client;
    this.#mapError = mapError;
  }

  async executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    let result: pg.QueryResult;
    try {
      const name = preparedStatementName(compiledQuery.sql);
      result = await this.#client.query({
        text: compiledQuery.sql,
        values: [...compiledQuery.parameters],
        ...(name === undefined ? {} : { name }),
      });
    } catch (error) {
      if (isConnectionBroken(error)) this.markBroken(error);
      throw this.#mapError(error);
    }
    const isWrite =
      result.command === 'INSERT' ||
      result.command === 'UPDATE' ||
      result.command === 'DELETE' ||
      result.command === 'MERGE';
    return isWrite && result.rowCount !== null
      ? { numAffectedRows: BigInt(result.rowCount), rows: (result.rows ?? []) as R[] }
      : { rows: (result.rows ?? []) as R[] };
  }

  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    // Not offered (it would need pg-cursor); repositories page with ranges instead.
    const error = new AppError('INTERNAL', 'streaming queries are not supported by storage');
    const iterator: AsyncIterableIterator<QueryResult<R>> = {
      next: () => Promise.reject(error),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  markBroken(error: unknown): void {
    this.#broken ??= error instanceof Error ? error : new Error(String(error));
  }

  release(): void {
    // Passing an error makes the pool destroy the client instead of reusing it.
    this.#client.release(this.#broken);
  }
}

/** Distinct statement texts that get a server-side prepared statement, process-wide. */
const MAX_PREPARED_STATEMENTS = 256;
const preparedNames = new Map<string, string>();

/**
 * A stable name for a DML statement, so PostgreSQL parses and plans it once per connection
 * instead of on every call (the log's proof lookups are on the read hot path). The name is
 * derived from the text, so one name never means two texts; texts beyond the cap (e.g. IN lists
 * of many lengths) run unnamed rather than grow every connection's statement cache.
 */
function preparedStatementName(sql: string): string | undefined {
  const known = preparedNames.get(sql);
  if (known !== undefined) return known;
  if (preparedNames.size >= MAX_PREPARED_STATEMENTS || sql.length > 4000) return undefined;
  if (!/^\s*(select|insert|update|delete|with)\b/i.test(sql)) return undefined;
  const name = `cs_${createHash('sha256').update(sql).digest('hex').slice(0, 24)}`;
  preparedNames.set(sql, name);
  return name;
}
