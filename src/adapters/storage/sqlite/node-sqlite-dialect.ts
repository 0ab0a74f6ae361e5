/**
 * A Kysely dialect for `node:sqlite` (Node 24's built-in, synchronous SQLite binding): Kysely's
 * own SQLite adapter, query compiler and introspector, with a driver of ours.
 *
 * The driver owns exactly one connection. node:sqlite executes synchronously, so concurrency is
 * only a question of ordering: a FIFO queue hands the connection to one holder at a time (a
 * transaction holds it from BEGIN to COMMIT), so statements of different transactions never
 * interleave and callers are served in arrival order.
 *
 * Durability can be handed to the caller (`makeDurable`): the connection then commits without
 * syncing and the driver, still holding the connection, waits for `makeDurable` after every COMMIT
 * and every write outside a transaction. The event loop keeps running during the sync (it is a
 * file-system call on libuv's thread pool, not a blocking one inside SQLite), yet no statement on
 * this connection can see a commit before it is durable, and no caller is answered before it is.
 * A failed sync leaves data that may or may not be on disk, so the driver refuses all later work.
 */
import type { DatabaseSync, SQLInputValue, StatementSync } from 'node:sqlite';
import {
  CompiledQuery,
  SqliteAdapter,
  SqliteIntrospector,
  SqliteQueryCompiler,
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

export interface NodeSqliteDialectConfig {
  /** An open database. The driver owns it from now on and closes it in `destroy()`. */
  readonly database: DatabaseSync;
  /** Turns anything node:sqlite throws into an `AppError` (the adapter edge). */
  readonly mapError: (error: unknown) => AppError;
  /** Called before the connection is handed out; throws to refuse (re-entrance guard). */
  readonly beforeAcquire?: () => void;
  /** Prepared statements kept for reuse, keyed by SQL text. */
  readonly statementCacheSize?: number;
  /**
   * Makes what was committed so far durable (the embedded storage: fdatasync of the write-ahead
   * log). When given, it is awaited after every COMMIT and every write outside a transaction,
   * before the statement resolves and while the connection is still held. If it rejects, the
   * statement fails with STORAGE_UNAVAILABLE and so does everything after it.
   */
  readonly makeDurable?: () => Promise<void>;
}

/** Kysely's SQLite dialect over `node:sqlite`. */
export class NodeSqliteDialect implements Dialect {
  readonly #config: NodeSqliteDialectConfig;

  constructor(config: NodeSqliteDialectConfig) {
    this.#config = config;
  }

  createDriver(): Driver {
    return new NodeSqliteDriver(this.#config);
  }

  createQueryCompiler(): QueryCompiler {
    return new SqliteQueryCompiler();
  }

  createAdapter(): DialectAdapter {
    return new SqliteAdapter();
  }

  createIntrospector(db: Kysely<unknown>): DatabaseIntrospector {
    return new SqliteIntrospector(db);
  }
}

const DEFAULT_STATEMENT_CACHE_SIZE = 256;

class NodeSqliteDriver implements Driver {
  readonly #config: NodeSqliteDialectConfig;
  readonly #connection: NodeSqliteConnection;
  readonly #queue = new FifoMutex();

  constructor(config: NodeSqliteDialectConfig) {
    this.#config = config;
    this.#connection = new NodeSqliteConnection(
      config.database,
      config.mapError,
      config.statementCacheSize ?? DEFAULT_STATEMENT_CACHE_SIZE,
      config.makeDurable,
    );
  }

  async init(): Promise<void> {
    // The database is opened (and its pragmas checked) before the dialect is built.
  }

  async acquireConnection(): Promise<DatabaseConnection> {
    this.#config.beforeAcquire?.();
    await this.#queue.lock();
    if (!this.#config.database.isOpen) {
      this.#queue.unlock();
      throw new AppError('STORAGE_UNAVAILABLE', 'storage is closed');
    }
    const failure = this.#connection.durabilityFailure;
    if (failure !== undefined) {
      this.#queue.unlock();
      throw failure;
    }
    return this.#connection;
  }

  async beginTransaction(connection: DatabaseConnection, settings: TransactionSettings) {
    // SQLite transactions are always serializable; IMMEDIATE takes the write lock up front so a
    // transaction can never fail half-way on a lock upgrade.
    if (settings.accessMode === 'read only') {
      await connection.executeQuery(CompiledQuery.raw('BEGIN DEFERRED'));
    } else {
      await connection.executeQuery(CompiledQuery.raw('BEGIN IMMEDIATE'));
    }
  }

  async commitTransaction(connection: DatabaseConnection): Promise<void> {
    await connection.executeQuery(CompiledQuery.raw('COMMIT'));
  }

  async rollbackTransaction(connection: DatabaseConnection): Promise<void> {
    // SQLite has already rolled back after some errors (I/O errors, a failed COMMIT on a full
    // disk); a second ROLLBACK would fail and hide the error that caused it.
    if (!this.#config.database.isOpen || !this.#config.database.isTransaction) return;
    await connection.executeQuery(CompiledQuery.raw('ROLLBACK'));
  }

  releaseConnection(): Promise<void> {
    this.#queue.unlock();
    return Promise.resolve();
  }

  async destroy(): Promise<void> {
    // Wait for the current holder and everyone queued before us, so close never cuts a
    // transaction in half.
    await this.#queue.lock();
    try {
      if (this.#config.database.isOpen) this.#config.database.close();
    } finally {
      this.#queue.unlock();
    }
  }
}

interface CachedStatement {
  readonly statement: StatementSync;
  readonly isReader: boolean;
  /** False only for statements that cannot have written anything (SELECT, BEGIN, ROLLBACK). */
  readonly mayWrite: boolean;
}

/** Statements after which nothing new can need syncing; anything else is treated as a write. */
const NON_WRITING_STATEMENT = /^\s*(?:select|begin|rollback)\b/i;

class NodeSqliteConnection implements DatabaseConnection {
  readonly #database: DatabaseSync;
  readonly #mapError: (error: unknown) => AppError;
  readonly #cacheSize: number;
  readonly #statements = new Map<string, CachedStatement>();
  readonly #makeDurable: (() => Promise<void>) | undefined;
  #durabilityFailure: AppError | undefined;

  constructor(
    database: DatabaseSync,
    mapError: (error: unknown) => AppError,
    cacheSize: number,
    makeDurable: (() => Promise<void>) | undefined,
  ) {
    this.#database = database;
    this.#mapError = mapError;
    this.#cacheSize = cacheSize;
    this.#makeDurable = makeDurable;
  }

  /** Set once a sync failed: what every later use of the storage fails with. */
  get durabilityFailure(): AppError | undefined {
    return this.#durabilityFailure;
  }

  executeQuery<R>(compiledQuery: CompiledQuery): Promise<QueryResult<R>> {
    if (this.#durabilityFailure !== undefined) return Promise.reject(this.#durabilityFailure);
    let result: QueryResult<R>;
    let mayWrite: boolean;
    try {
      ({ result, mayWrite } = this.#execute<R>(compiledQuery));
    } catch (error) {
      return Promise.reject(this.#mapError(error));
    }
    // A COMMIT, or a write in autocommit mode, has just committed: sync before anyone hears of it.
    if (this.#makeDurable === undefined || !mayWrite || this.#database.isTransaction) {
      return Promise.resolve(result);
    }
    return this.#makeDurable().then(
      () => result,
      (cause: unknown) => {
        this.#durabilityFailure = new AppError(
          'STORAGE_UNAVAILABLE',
          'the SQLite write-ahead log could not be synced to disk; committed data may be lost',
          {
            cause,
            hint: 'check the disk holding the data directory, then restart the service: it refuses all storage work until then',
          },
        );
        throw this.#durabilityFailure;
      },
    );
  }

  streamQuery<R>(): AsyncIterableIterator<QueryResult<R>> {
    // Not offered: PostgreSQL storage cannot stream either (no cursor support), and repositories
    // must behave the same on both engines. Page with ranges instead.
    const error = new AppError('INTERNAL', 'streaming queries are not supported by storage');
    const iterator: AsyncIterableIterator<QueryResult<R>> = {
      next: () => Promise.reject(error),
      [Symbol.asyncIterator]: () => iterator,
    };
    return iterator;
  }

  #execute<R>(compiledQuery: CompiledQuery): {
    readonly result: QueryResult<R>;
    readonly mayWrite: boolean;
  } {
    const { statement, isReader, mayWrite } = this.#prepare(compiledQuery.sql);
    const parameters = toSqlInputs(compiledQuery.parameters);
    if (isReader) return { result: { rows: statement.all(...parameters) as R[] }, mayWrite };
    const { changes } = statement.run(...parameters);
    return { result: { numAffectedRows: BigInt(changes), rows: [] }, mayWrite };
  }

  #prepare(sql: string): CachedStatement {
    const cached = this.#statements.get(sql);
    if (cached !== undefined) return cached;
    const statement = this.#database.prepare(sql);
    // A statement that returns columns is read with all(), anything else run() for its changes
    // (the `reader` flag Kysely's better-sqlite3 driver uses does not exist in node:sqlite).
    const entry = {
      statement,
      isReader: statement.columns().length > 0,
      mayWrite: !NON_WRITING_STATEMENT.test(sql),
    };
    // Statements with the same text are reused; the oldest one goes when the cache is full.
    if (this.#statements.size >= this.#cacheSize) {
      const oldest = this.#statements.keys().next();
      if (oldest.done !== true) this.#statements.delete(oldest.value);
    }
    this.#statements.set(sql, entry);
    return entry;
  }
}

function toSqlInputs(parameters: readonly unknown[]): SQLInputValue[] {
  const out: SQLInputValue[] = new Array<SQLInputValue>(parameters.length);
  for (let i = 0; i < parameters.length; i++) out[i] = toSqlInput(parameters[i]);
  return out;
}

function toSqlInput(value: unknown): SQLInputValue {
  if (value === null || value === undefined) return null;
  switch (typeof value) {
    case 'string':
    case 'number':
    case 'bigint':
      return value;
    case 'boolean':
      // node:sqlite would bind a boolean as text in a STRICT table; store 0/1 like SQLite does.
      return value ? 1n : 0n;
    case 'object':
      if (value instanceof Uint8Array) return value;
      break;
    case 'function':
    case 'symbol':
    case 'undefined':
      break;
  }
  throw new AppError('INTERNAL', `cannot bind a ${typeof value} as an SQLite parameter`);
}

/** A first-come-first-served lock: each `lock()` resolves once every earlier holder unlocked. */
class FifoMutex {
  #locked = false;
  readonly #waiting: (() => void)[] = [];

  lock(): Promise<void> {
    if (!this.#locked) {
      this.#locked = true;
      return Promise.resolve();
    }
    return new Promise((resolve) => this.#waiting.push(resolve));
  }

  unlock(): void {
    const next = this.#waiting.shift();
    if (next === undefined) this.#locked = false;
    else next();
  }
}
