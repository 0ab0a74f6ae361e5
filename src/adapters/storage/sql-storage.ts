/**
 * The `Storage` port over Kysely, shared by both engines. The engine-specific parts (opening,
 * locking, checking the configuration, the driver) live in `sqlite/` and `postgres/`; everything
 * a repository does is written once, against `SqlContext`.
 */
import type { Kysely } from 'kysely';
import { isAppError } from '../../core/errors.ts';
import type {
  ApiTokenRepository,
  ApprovalRepository,
  ApproverCredentialRepository,
  EnrolmentRepository,
  ExceptionRepository,
  GovernanceRepository,
  LogRepository,
  NotificationOutbox,
  PkiStore,
  SigningRepository,
  SigningRequestRepository,
  Storage,
  StorageEngine,
  StorageHealth,
  StorageSession,
  UsedTokenIdRepository,
  WebAuthnChallengeRepository,
  WebhookRepository,
  WebSessionRepository,
} from '../../core/ports.ts';
import { CODE_SCHEMA_VERSION } from './migrations/migrations.ts';
import { readSchemaVersion } from './migrations/run-migrations.ts';
import { RootSqlContext, TransactionSqlContext, type ConnectionGuard } from './sql-context.ts';
import { createSqlSession } from './sql-session.ts';
import type { StorageSchema } from './storage-schema.ts';

export interface SqlStorageOptions {
  readonly engine: StorageEngine;
  /** The engine's Kysely handle; the storage owns it and destroys it on close. */
  readonly db: Kysely<StorageSchema>;
  /** The guard the engine's driver consults before handing out a connection. */
  readonly guard: ConnectionGuard;
  /** The schema version found when opening. */
  readonly schemaVersion: number;
  /** Releases what the engine holds besides its connections (the data-directory lock). */
  readonly onClose?: () => void | Promise<void>;
}

/**
 * `Storage` on SQL. Internal code (new repositories, tests, maintenance commands) may reach the
 * Kysely handle through `db`; everything else sees only the `Storage` port.
 */
export class SqlStorage implements Storage {
  readonly engine: StorageEngine;
  /** The Kysely handle outside any transaction. Adapter-internal. */
  readonly db: Kysely<StorageSchema>;
  readonly apiTokens: ApiTokenRepository;
  readonly log: LogRepository;
  readonly governance: GovernanceRepository;
  readonly usedTokenIds: UsedTokenIdRepository;
  readonly pki: PkiStore;
  readonly signings: SigningRepository;
  readonly approverCredentials: ApproverCredentialRepository;
  readonly signingRequests: SigningRequestRepository;
  readonly approvals: ApprovalRepository;
  readonly notifications: NotificationOutbox;
  readonly webhooks: WebhookRepository;
  readonly webauthnChallenges: WebAuthnChallengeRepository;
  readonly webSessions: WebSessionRepository;
  readonly enrolments: EnrolmentRepository;
  readonly exceptions: ExceptionRepository;
  readonly #guard: ConnectionGuard;
  readonly #root: RootSqlContext;
  readonly #onClose: (() => void | Promise<void>) | undefined;
  #schemaVersion: number;
  #closing: Promise<void> | undefined;

  constructor(options: SqlStorageOptions) {
    this.engine = options.engine;
    this.db = options.db;
    this.#guard = options.guard;
    this.#onClose = options.onClose;
    this.#schemaVersion = options.schemaVersion;
    this.#root = new RootSqlContext(options.engine, options.db, options.guard);
    const session = createSqlSession(this.#root);
    this.apiTokens = session.apiTokens;
    this.governance = session.governance;
    this.usedTokenIds = session.usedTokenIds;
    this.pki = session.pki;
    this.signings = session.signings;
    this.approverCredentials = session.approverCredentials;
    this.signingRequests = session.signingRequests;
    this.approvals = session.approvals;
    this.notifications = session.notifications;
    this.webhooks = session.webhooks;
    this.webauthnChallenges = session.webauthnChallenges;
    this.webSessions = session.webSessions;
    this.enrolments = session.enrolments;
    this.exceptions = session.exceptions;
    this.log = session.log;
  }

  /**
   * Runs `work` in one transaction (see the port). Calling the storage itself from inside `work`
   * throws INTERNAL: use the session. On SQLite transactions run one at a time, in arrival order;
   * keep `work` short, since everyone else waits for it.
   */
  async transaction<T>(work: (session: StorageSession) => Promise<T>): Promise<T> {
    const db = this.#root.db;
    this.#guard.assertCanAcquire();
    return db.transaction().execute(async (trx) => {
      const context = new TransactionSqlContext(this.engine, trx);
      try {
        return await this.#guard.runInTransaction(() => work(createSqlSession(context)));
      } finally {
        context.end();
      }
    });
  }

  /**
   * Reachability and schema state. Never throws for an unreachable engine or a schema mismatch:
   * those are reported in `problem`. `schemaVersion` is the last version seen when unreachable.
   */
  async health(): Promise<StorageHealth> {
    const codeSchemaVersion = CODE_SCHEMA_VERSION;
    try {
      const schemaVersion = await readSchemaVersion(this.#root.db, this.engine);
      this.#schemaVersion = schemaVersion;
      if (schemaVersion < codeSchemaVersion) {
        return {
          reachable: true,
          schemaVersion,
          codeSchemaVersion,
          problem: `database schema ${schemaVersion} is older than this Countersign (${codeSchemaVersion}); run countersign migrate`,
        };
      }
      return { reachable: true, schemaVersion, codeSchemaVersion };
    } catch (error) {
      if (isAppError(error, 'STORAGE_UNAVAILABLE')) {
        const schemaVersion = this.#schemaVersion;
        return { reachable: false, schemaVersion, codeSchemaVersion, problem: error.message };
      }
      if (isAppError(error, 'CONFIG_INVALID')) {
        const schemaVersion = this.#schemaVersion;
        return { reachable: true, schemaVersion, codeSchemaVersion, problem: error.message };
      }
      throw error;
    }
  }

  /** Waits for running and queued work, closes the connections, releases the lock. Idempotent. */
  close(): Promise<void> {
    this.#closing ??= this.#close();
    return this.#closing;
  }

  async #close(): Promise<void> {
    this.#guard.markClosed();
    try {
      await this.db.destroy();
    } finally {
      await this.#onClose?.();
    }
  }
}
