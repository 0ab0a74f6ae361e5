/** `ApproverCredentialRepository` on SQL (table `approver_credentials`), for both engines. */
import type { Selectable } from 'kysely';
import { AppError } from '../../core/errors.ts';
import type {
  ApproverCredentialRecord,
  ApproverCredentialRepository,
  CredentialKind,
} from '../../core/ports.ts';
import { withConflictMessage } from './with-conflict-message.ts';
import type { SqlContext } from './sql-context.ts';
import {
  readBytes,
  readDate,
  readNullableDate,
  readNullableString,
  readSafeInteger,
  readString,
  toMillis,
  toNullableMillis,
} from './sql-values.ts';
import type { ApproverCredentialsTable } from './storage-schema.ts';

const KINDS = { 'ecdsa-p256': true, webauthn: true } as const satisfies Record<
  CredentialKind,
  true
>;

export class SqlApproverCredentialRepository implements ApproverCredentialRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async insert(record: ApproverCredentialRecord): Promise<void> {
    await withConflictMessage(
      () =>
        this.#context.db
          .insertInto('approver_credentials')
          .values({
            id: record.id,
            user_id: record.userId,
            kind: record.kind,
            public_key_spki: record.publicKeySpki,
            algorithm: record.algorithm,
            rp_id: record.rpId,
            sign_count: BigInt(record.signCount),
            label: record.label,
            created_at: toMillis(record.createdAt, 'createdAt'),
            revoked_at: toNullableMillis(record.revokedAt, 'revokedAt'),
          })
          .execute(),
      `credential ${record.id} is registered already`,
    );
  }

  async findById(id: string): Promise<ApproverCredentialRecord | undefined> {
    const row = await this.#context.db
      .selectFrom('approver_credentials')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  async listByUser(userId: string): Promise<ApproverCredentialRecord[]> {
    const rows = await this.#context.db
      .selectFrom('approver_credentials')
      .selectAll()
      .where('user_id', '=', userId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toRecord);
  }

  async advanceSignCount(id: string, signCount: number): Promise<boolean> {
    const count = BigInt(signCount);
    const result = await this.#context.db
      .updateTable('approver_credentials')
      .set({ sign_count: count })
      .where('id', '=', id)
      .where((eb) => (count === 0n ? eb('sign_count', '=', 0n) : eb('sign_count', '<', count)))
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    const result = await this.#context.db
      .updateTable('approver_credentials')
      .set({ revoked_at: toMillis(at, 'at') })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}

function toRecord(row: Selectable<ApproverCredentialsTable>): ApproverCredentialRecord {
  const kind = readString(row.kind, 'approver_credentials.kind');
  if (!Object.hasOwn(KINDS, kind)) {
    throw new AppError('INTERNAL', `unknown credential kind ${kind} in storage`);
  }
  return {
    id: readString(row.id, 'approver_credentials.id'),
    userId: readString(row.user_id, 'approver_credentials.user_id'),
    kind: kind as CredentialKind,
    publicKeySpki: readBytes(row.public_key_spki, 'approver_credentials.public_key_spki'),
    algorithm: readSafeInteger(row.algorithm, 'approver_credentials.algorithm'),
    rpId: readNullableString(row.rp_id, 'approver_credentials.rp_id'),
    signCount: readSafeInteger(row.sign_count, 'approver_credentials.sign_count'),
    label: readString(row.label, 'approver_credentials.label'),
    createdAt: readDate(row.created_at, 'approver_credentials.created_at'),
    revokedAt: readNullableDate(row.revoked_at, 'approver_credentials.revoked_at'),
  };
}
