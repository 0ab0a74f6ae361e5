/** `SigningRepository` on SQL (table `signings`), for both engines. */
import type { Selectable } from 'kysely';
import { AppError } from '../../core/errors.ts';
import type { SigningRecord, SigningRepository } from '../../core/ports.ts';
import { withConflictMessage } from './with-conflict-message.ts';
import type { SqlContext } from './sql-context.ts';
import { readBigInt, readDate, readNullableString, readString, toMillis } from './sql-values.ts';
import type { SigningsTable } from './storage-schema.ts';

const MAX_LIST = 1000;

export class SqlSigningRepository implements SigningRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async insert(record: SigningRecord): Promise<void> {
    await withConflictMessage(
      () =>
        this.#context.db
          .insertInto('signings')
          .values({
            id: record.id,
            product: record.product,
            channel: record.channel,
            kind: record.kind,
            subject_name: record.subjectName,
            digest_algorithm: record.digestAlgorithm,
            digest_value: record.digestValue,
            identity: record.identity,
            issuer: record.issuer,
            log_index: record.logIndex,
            decision_log_index: record.decisionLogIndex,
            bundle: null,
            decision_bundle: null,
            created_at: toMillis(record.createdAt, 'createdAt'),
          })
          .execute(),
      `signing ${record.id} or log index ${record.logIndex} is already recorded`,
    );
  }

  async attachBundle(id: string, bundle: string, decisionBundle?: string): Promise<void> {
    const result = await this.#context.db
      .updateTable('signings')
      .set({ bundle, decision_bundle: decisionBundle ?? null })
      .where('id', '=', id)
      .executeTakeFirst();
    if (result.numUpdatedRows !== 1n) throw new AppError('NOT_FOUND', `no signing ${id}`);
  }

  async findById(
    id: string,
  ): Promise<
    | (SigningRecord & { readonly bundle: string | null; readonly decisionBundle: string | null })
    | undefined
  > {
    const row = await this.#context.db
      .selectFrom('signings')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined
      ? undefined
      : {
          ...toRecord(row),
          bundle: readNullableString(row.bundle, 'signings.bundle'),
          decisionBundle: readNullableString(row.decision_bundle, 'signings.decision_bundle'),
        };
  }

  async list(options: {
    readonly product?: string;
    readonly channel?: string;
    readonly limit: number;
  }): Promise<SigningRecord[]> {
    let query = this.#context.db.selectFrom('signings').selectAll();
    if (options.product !== undefined) query = query.where('product', '=', options.product);
    if (options.channel !== undefined) query = query.where('channel', '=', options.channel);
    const rows = await query
      .orderBy('log_index', 'desc')
      .limit(Math.min(Math.max(options.limit, 1), MAX_LIST))
      .execute();
    return rows.map(toRecord);
  }
}

function toRecord(row: Selectable<SigningsTable>): SigningRecord {
  const kind = readString(row.kind, 'signings.kind');
  if (kind !== 'artifact' && kind !== 'attestation')
    throw new AppError('INTERNAL', `unknown signing kind ${kind} in storage`);
  return {
    id: readString(row.id, 'signings.id'),
    product: readString(row.product, 'signings.product'),
    channel: readString(row.channel, 'signings.channel'),
    kind,
    subjectName: readString(row.subject_name, 'signings.subject_name'),
    digestAlgorithm: readString(row.digest_algorithm, 'signings.digest_algorithm'),
    digestValue: readString(row.digest_value, 'signings.digest_value'),
    identity: readString(row.identity, 'signings.identity'),
    issuer: readString(row.issuer, 'signings.issuer'),
    logIndex: readBigInt(row.log_index, 'signings.log_index'),
    decisionLogIndex: readBigInt(row.decision_log_index, 'signings.decision_log_index'),
    createdAt: readDate(row.created_at, 'signings.created_at'),
  };
}
