/**
 * The passkey tables on SQL, for both engines (migration 0006): `WebAuthnChallengeRepository`
 * (`webauthn_challenges`), `WebSessionRepository` (`web_sessions`) and `EnrolmentRepository`
 * (`enrolments`).
 */
import type { Selectable } from 'kysely';
import { AppError } from '../../core/errors.ts';
import type {
  EnrolmentRecord,
  EnrolmentRepository,
  GovernanceActor,
  WebAuthnChallengePurpose,
  WebAuthnChallengeRecord,
  WebAuthnChallengeRepository,
  WebSessionRecord,
  WebSessionRepository,
} from '../../core/ports.ts';
import { withConflictMessage } from './with-conflict-message.ts';
import type { SqlContext } from './sql-context.ts';
import {
  readBytes,
  readDate,
  readNullableDate,
  readNullableString,
  readString,
  toMillis,
  toNullableMillis,
} from './sql-values.ts';
import type {
  EnrolmentsTable,
  WebAuthnChallengesTable,
  WebSessionsTable,
} from './storage-schema.ts';

const PURPOSES = { registration: true, 'sign-in': true } as const satisfies Record<
  WebAuthnChallengePurpose,
  true
>;

const ACTOR_KINDS = { 'api-token': true, system: true } as const satisfies Record<
  GovernanceActor['kind'],
  true
>;

export class SqlWebAuthnChallengeRepository implements WebAuthnChallengeRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async insert(record: WebAuthnChallengeRecord): Promise<void> {
    await withConflictMessage(
      () =>
        this.#context.db
          .insertInto('webauthn_challenges')
          .values({
            challenge: record.challenge,
            purpose: record.purpose,
            user_id: record.userId,
            enrolment_id: record.enrolmentId,
            created_at: toMillis(record.createdAt, 'createdAt'),
            expires_at: toMillis(record.expiresAt, 'expiresAt'),
          })
          .execute(),
      'this WebAuthn challenge was issued already',
    );
  }

  consume(
    challenge: string,
    purpose: WebAuthnChallengePurpose,
    now: Date,
  ): Promise<WebAuthnChallengeRecord | undefined> {
    const nowMillis = toMillis(now, 'now');
    // Read, then delete in the same transaction, and trust only the delete's row count: of two
    // concurrent consumers exactly one deletes the row (PostgreSQL blocks the second on the row
    // lock, then finds it gone; SQLite runs one writer at a time).
    return this.#context.atomic(async (db) => {
      const row = await db
        .selectFrom('webauthn_challenges')
        .selectAll()
        .where('challenge', '=', challenge)
        .executeTakeFirst();
      if (row === undefined) return undefined;
      const deleted = await db
        .deleteFrom('webauthn_challenges')
        .where('challenge', '=', challenge)
        .executeTakeFirst();
      if (deleted.numDeletedRows !== 1n) return undefined;
      const record = toChallengeRecord(row);
      if (record.purpose !== purpose) return undefined;
      if (BigInt(record.expiresAt.getTime()) <= nowMillis) return undefined;
      return record;
    });
  }

  async purgeExpired(now: Date): Promise<number> {
    const result = await this.#context.db
      .deleteFrom('webauthn_challenges')
      .where('expires_at', '<=', toMillis(now, 'now'))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

export class SqlWebSessionRepository implements WebSessionRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async insert(record: WebSessionRecord): Promise<void> {
    await withConflictMessage(
      () =>
        this.#context.db
          .insertInto('web_sessions')
          .values({
            secret_hash: record.secretHash,
            user_id: record.userId,
            credential_id: record.credentialId,
            created_at: toMillis(record.createdAt, 'createdAt'),
            expires_at: toMillis(record.expiresAt, 'expiresAt'),
          })
          .execute(),
      'this web session exists already',
    );
  }

  async findBySecretHash(secretHash: Uint8Array): Promise<WebSessionRecord | undefined> {
    const row = await this.#context.db
      .selectFrom('web_sessions')
      .selectAll()
      .where('secret_hash', '=', secretHash)
      .executeTakeFirst();
    return row === undefined ? undefined : toSessionRecord(row);
  }

  async delete(secretHash: Uint8Array): Promise<boolean> {
    const result = await this.#context.db
      .deleteFrom('web_sessions')
      .where('secret_hash', '=', secretHash)
      .executeTakeFirst();
    return result.numDeletedRows > 0n;
  }

  async purgeExpired(now: Date): Promise<number> {
    const result = await this.#context.db
      .deleteFrom('web_sessions')
      .where('expires_at', '<=', toMillis(now, 'now'))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}

export class SqlEnrolmentRepository implements EnrolmentRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async insert(record: EnrolmentRecord): Promise<void> {
    await withConflictMessage(
      () =>
        this.#context.db
          .insertInto('enrolments')
          .values({
            id: record.id,
            secret_hash: record.secretHash,
            user_id: record.userId,
            created_at: toMillis(record.createdAt, 'createdAt'),
            expires_at: toMillis(record.expiresAt, 'expiresAt'),
            used_at: toNullableMillis(record.usedAt, 'usedAt'),
            created_by_kind: record.createdBy.kind,
            created_by_id: record.createdBy.id,
            created_by_name: record.createdBy.name,
          })
          .execute(),
      `enrolment ${record.id} exists already`,
    );
  }

  async findById(id: string): Promise<EnrolmentRecord | undefined> {
    const row = await this.#context.db
      .selectFrom('enrolments')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toEnrolmentRecord(row);
  }

  async markUsed(id: string, at: Date): Promise<boolean> {
    const atMillis = toMillis(at, 'at');
    // One conditional UPDATE: a link registers at most one passkey, however many race for it.
    const result = await this.#context.db
      .updateTable('enrolments')
      .set({ used_at: atMillis })
      .where('id', '=', id)
      .where('used_at', 'is', null)
      .where('expires_at', '>', atMillis)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}

function toChallengeRecord(row: Selectable<WebAuthnChallengesTable>): WebAuthnChallengeRecord {
  const purpose = readString(row.purpose, 'webauthn_challenges.purpose');
  if (!Object.hasOwn(PURPOSES, purpose)) {
    throw new AppError('INTERNAL', 'storage returned an unknown WebAuthn challenge purpose');
  }
  return {
    challenge: readString(row.challenge, 'webauthn_challenges.challenge'),
    purpose: purpose as WebAuthnChallengePurpose,
    userId: readNullableString(row.user_id, 'webauthn_challenges.user_id'),
    enrolmentId: readNullableString(row.enrolment_id, 'webauthn_challenges.enrolment_id'),
    createdAt: readDate(row.created_at, 'webauthn_challenges.created_at'),
    expiresAt: readDate(row.expires_at, 'webauthn_challenges.expires_at'),
  };
}

function toSessionRecord(row: Selectable<WebSessionsTable>): WebSessionRecord {
  return {
    secretHash: readBytes(row.secret_hash, 'web_sessions.secret_hash'),
    userId: readString(row.user_id, 'web_sessions.user_id'),
    credentialId: readString(row.credential_id, 'web_sessions.credential_id'),
    createdAt: readDate(row.created_at, 'web_sessions.created_at'),
    expiresAt: readDate(row.expires_at, 'web_sessions.expires_at'),
  };
}

function toEnrolmentRecord(row: Selectable<EnrolmentsTable>): EnrolmentRecord {
  const kind = readString(row.created_by_kind, 'enrolments.created_by_kind');
  if (!Object.hasOwn(ACTOR_KINDS, kind)) {
    throw new AppError('INTERNAL', 'storage returned an unknown actor kind in enrolments');
  }
  return {
    id: readString(row.id, 'enrolments.id'),
    secretHash: readBytes(row.secret_hash, 'enrolments.secret_hash'),
    userId: readString(row.user_id, 'enrolments.user_id'),
    createdAt: readDate(row.created_at, 'enrolments.created_at'),
    expiresAt: readDate(row.expires_at, 'enrolments.expires_at'),
    usedAt: readNullableDate(row.used_at, 'enrolments.used_at'),
    createdBy: {
      kind: kind as GovernanceActor['kind'],
      id: readString(row.created_by_id, 'enrolments.created_by_id'),
      name: readString(row.created_by_name, 'enrolments.created_by_name'),
    },
  };
}
