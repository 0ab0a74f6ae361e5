/**
 * What a repository needs to run SQL: the engine, a Kysely handle bound to the current unit of
 * work, and a way to make several statements atomic. Repositories are written once against this
 * and run on both engines.
 */
import { AsyncLocalStorage } from 'node:async_hooks';
import type { Kysely } from 'kysely';
import { AppError } from '../../core/errors.ts';
import type { StorageEngine } from '../../core/ports.ts';
import type { StorageSchema } from './storage-schema.ts';

export interface SqlContext {
  readonly engine: StorageEngine;
  /**
   * The handle to query with: inside `Storage.transaction` it is bound to that transaction,
   * otherwise each statement commits on its own. Read it per call: it throws STORAGE_UNAVAILABLE
   * once the storage is closed and INTERNAL once the transaction it belongs to has ended.
   */
  readonly db: Kysely<StorageSchema>;
  /** True inside `Storage.transaction`. */
  readonly inTransaction: boolean;
  /** Runs `work` atomically: inside the current transaction, or in a new one when there is none. */
  atomic<T>(work: (db: Kysely<StorageSchema>) => Promise<T>): Promise<T>;
}

/**
 * Guards the connections of one storage: refuses use after `close()`, and refuses a call on the
 * storage itself from inside one of its own transactions. That call would not join the
 * transaction (breaking its atomicity) and on SQLite, whose single connection the transaction
 * holds, it would wait for it forever.
 */
export class ConnectionGuard {
  readonly #inTransaction = new AsyncLocalStorage<true>();
  #closed = false;

  get isClosed(): boolean {
    return this.#closed;
  }

  markClosed(): void {
    this.#closed = true;
  }

  /** Throws unless a new connection may be taken now. */
  assertCanAcquire(): void {
    if (this.#closed) throw new AppError('STORAGE_UNAVAILABLE', 'storage is closed');
    if (this.#inTransaction.getStore() === true) {
      throw new AppError(
        'INTERNAL',
        'storage used directly inside Storage.transaction; use the session passed to the work',
      );
    }
  }

  /** Runs `work` marked as inside a transaction of this storage. */
  runInTransaction<T>(work: () => Promise<T>): Promise<T> {
    return this.#inTransaction.run(true, work);
  }
}

/** The context of calls made on the storage itself: one auto-committed statement each. */
export class RootSqlContext implements SqlContext {
  readonly engine: StorageEngine;
  readonly inTransaction = false;
  readonly #db: Kysely<StorageSchema>;
  readonly #guard: ConnectionGuard;

  constructor(engine: StorageEngine, db: Kysely<StorageSchema>, guard: ConnectionGuard) {
    this.engine = engine;
    this.#db = db;
    this.#guard = guard;
  }

  get db(): Kysely<StorageSchema> {
    // Checked here as well as in the driver: Kysely itself throws a plain Error once destroyed.
    if (this.#guard.isClosed) throw new AppError('STORAGE_UNAVAILABLE', 'storage is closed');
    return this.#db;
  }

  atomic<T>(work: (db: Kysely<StorageSchema>) => Promise<T>): Promise<T> {
    return this.db.transaction().execute(work);
  }
}

/** The context of a session inside `Storage.transaction`. */
export class TransactionSqlContext implements SqlContext {
  readonly engine: StorageEngine;
  readonly inTransaction = true;
  readonly #trx: Kysely<StorageSchema>;
  #isOpen = true;

  constructor(engine: StorageEngine, trx: Kysely<StorageSchema>) {
    this.engine = engine;
    this.#trx = trx;
  }

  get db(): Kysely<StorageSchema> {
    // A session kept past its transaction would run statements on a connection that now serves
    // someone else's transaction (SQLite's only connection, or a pooled PostgreSQL one).
    if (!this.#isOpen) {
      throw new AppError('INTERNAL', 'storage session used after its transaction ended');
    }
    return this.#trx;
  }

  atomic<T>(work: (db: Kysely<StorageSchema>) => Promise<T>): Promise<T> {
    return work(this.db);
  }

  /** Ends the session: every later use throws. */
  end(): void {
    this.#isOpen = false;
  }
}
