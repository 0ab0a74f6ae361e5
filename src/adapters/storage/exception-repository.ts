/**
 * `ExceptionRepository` on SQL (tables `exceptions` and `exception_approvals`), for both engines.
 * Every state change is one conditional UPDATE whose row count says whether it happened, so two
 * replicas racing on one exception never both win (threat model E1).
 */
import type { Selectable } from 'kysely';
import { AppError } from '../../core/errors.ts';
import { WAIVABLE_CHECKS, type WaivableCheck } from '../../core/governance/governance.ts';
import type {
  ExceptionApprovalRecord,
  ExceptionFilter,
  ExceptionRecord,
  ExceptionRepository,
  ExceptionState,
  ExceptionUseRecord,
} from '../../core/ports.ts';
import { withConflictMessage } from './with-conflict-message.ts';
import type { SqlContext } from './sql-context.ts';
import {
  checkInt64,
  readBigInt,
  readDate,
  readNullableDate,
  readNullableString,
  readSafeInteger,
  readString,
  toMillis,
  toNullableMillis,
} from './sql-values.ts';
import type { ExceptionApprovalsTable, ExceptionsTable } from './storage-schema.ts';

const MAX_LIST = 1000;

/** Every state, so a value read back from the database can be checked. */
const STATES = {
  pending: true,
  active: true,
  rejected: true,
  cancelled: true,
  expired: true,
  exhausted: true,
} as const satisfies Record<ExceptionState, true>;

export class SqlExceptionRepository implements ExceptionRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async insert(record: ExceptionRecord): Promise<void> {
    await withConflictMessage(
      () =>
        this.#context.db
          .insertInto('exceptions')
          .values({
            id: record.id,
            product: record.product,
            channel: record.channel,
            waives: JSON.stringify(record.waives),
            reason: record.reason,
            requested_by: record.requestedBy,
            duration_seconds: record.durationSeconds,
            max_uses: record.maxUses,
            state: record.state,
            not_after: toNullableMillis(record.notAfter, 'notAfter'),
            uses: record.uses,
            governance_version: record.governanceVersion,
            created_at: toMillis(record.createdAt, 'createdAt'),
            activated_at: toNullableMillis(record.activatedAt, 'activatedAt'),
            ended_at: toNullableMillis(record.endedAt, 'endedAt'),
            ended_by: record.endedBy,
            review_due_at: toNullableMillis(record.reviewDueAt, 'reviewDueAt'),
            reviewed_at: toNullableMillis(record.reviewedAt, 'reviewedAt'),
            reviewed_by: record.reviewedBy,
            review_findings: record.reviewFindings,
            review_overdue_notified_at: toNullableMillis(
              record.reviewOverdueNotifiedAt,
              'reviewOverdueNotifiedAt',
            ),
          })
          .execute(),
      `exception ${record.id} already exists`,
    );
  }

  async findById(id: string): Promise<ExceptionRecord | undefined> {
    const row = await this.#context.db
      .selectFrom('exceptions')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toExceptionRecord(row);
  }

  lock(id: string): Promise<ExceptionRecord | undefined> {
    return this.#context.atomic(async (db) => {
      // A no-op UPDATE takes the row lock on PostgreSQL (SELECT … FOR UPDATE is not SQL SQLite
      // speaks); on SQLite the transaction already excludes every other writer.
      await db
        .updateTable('exceptions')
        .set((eb) => ({ state: eb.ref('state') }))
        .where('id', '=', id)
        .execute();
      const row = await db
        .selectFrom('exceptions')
        .selectAll()
        .where('id', '=', id)
        .executeTakeFirst();
      return row === undefined ? undefined : toExceptionRecord(row);
    });
  }

  async list(filter: ExceptionFilter): Promise<ExceptionRecord[]> {
    let query = this.#context.db.selectFrom('exceptions').selectAll();
    if (filter.state !== undefined) query = query.where('state', '=', filter.state);
    if (filter.product !== undefined) query = query.where('product', '=', filter.product);
    if (filter.channel !== undefined) query = query.where('channel', '=', filter.channel);
    if (filter.reviewOverdueAt !== undefined) {
      query = query
        .where('activated_at', 'is not', null)
        .where('reviewed_at', 'is', null)
        .where('review_due_at', '<=', toMillis(filter.reviewOverdueAt, 'reviewOverdueAt'));
    }
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(Math.min(Math.max(filter.limit, 1), MAX_LIST))
      .execute();
    return rows.map(toExceptionRecord);
  }

  async listApprovals(exceptionId: string): Promise<ExceptionApprovalRecord[]> {
    const rows = await this.#context.db
      .selectFrom('exception_approvals')
      .selectAll()
      .where('exception_id', '=', exceptionId)
      .orderBy('created_at')
      .orderBy('user_id')
      .execute();
    return rows.map(toApprovalRecord);
  }

  async insertApproval(record: ExceptionApprovalRecord): Promise<void> {
    await withConflictMessage(
      () =>
        this.#context.db
          .insertInto('exception_approvals')
          .values({
            exception_id: record.exceptionId,
            user_id: record.userId,
            decision: record.decision,
            comment: record.comment,
            created_at: toMillis(record.createdAt, 'createdAt'),
          })
          .execute(),
      `${record.userId} has already voted on exception ${record.exceptionId}`,
    );
  }

  async activate(
    id: string,
    activation: { readonly at: Date; readonly notAfter: Date; readonly reviewDueAt: Date },
  ): Promise<boolean> {
    const result = await this.#context.db
      .updateTable('exceptions')
      .set({
        state: 'active',
        activated_at: toMillis(activation.at, 'at'),
        not_after: toMillis(activation.notAfter, 'notAfter'),
        review_due_at: toMillis(activation.reviewDueAt, 'reviewDueAt'),
      })
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async end(
    id: string,
    change: {
      readonly from: readonly ExceptionState[];
      readonly to: 'rejected' | 'cancelled' | 'expired' | 'exhausted';
      readonly at: Date;
      readonly by: string | null;
    },
  ): Promise<boolean> {
    if (change.from.length === 0) return false;
    const result = await this.#context.db
      .updateTable('exceptions')
      .set({ state: change.to, ended_at: toMillis(change.at, 'at'), ended_by: change.by })
      .where('id', '=', id)
      .where('state', 'in', change.from)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  consumeUse(id: string, now: Date): Promise<number | undefined> {
    const nowMillis = toMillis(now, 'now');
    return this.#context.atomic(async (db) => {
      // The whole check is in the WHERE clause of one UPDATE: the database decides races. On
      // PostgreSQL a concurrent transaction waits for our row lock and re-checks the WHERE
      // against the committed row, so the last use is spent once (threat model E1, FT-9).
      const result = await db
        .updateTable('exceptions')
        .set((eb) => ({ uses: eb('uses', '+', 1) }))
        .where('id', '=', id)
        .where('state', '=', 'active')
        .where((eb) => eb('uses', '<', eb.ref('max_uses')))
        .where('not_after', '>', nowMillis)
        .executeTakeFirst();
      if (result.numUpdatedRows !== 1n) return undefined;
      // Still inside the transaction that holds the row: this is the value we wrote.
      const row = await db
        .selectFrom('exceptions')
        .select('uses')
        .where('id', '=', id)
        .executeTakeFirstOrThrow();
      const use = readSafeInteger(row.uses, 'exceptions.uses');
      await db
        .insertInto('exception_uses')
        .values({ exception_id: id, use_number: use, used_at: nowMillis, log_index: null })
        .execute();
      return use;
    });
  }

  async listUnloggedUses(limit: number): Promise<ExceptionUseRecord[]> {
    const rows = await this.#context.db
      .selectFrom('exception_uses')
      .selectAll()
      .where('log_index', 'is', null)
      .orderBy('used_at')
      .orderBy('exception_id')
      .orderBy('use_number')
      .limit(Math.min(Math.max(limit, 1), MAX_LIST))
      .execute();
    return rows.map((row) => ({
      exceptionId: readString(row.exception_id, 'exception_uses.exception_id'),
      use: readSafeInteger(row.use_number, 'exception_uses.use_number'),
      usedAt: readDate(row.used_at, 'exception_uses.used_at'),
      logIndex:
        row.log_index === null ? null : readBigInt(row.log_index, 'exception_uses.log_index'),
    }));
  }

  async markUseLogged(exceptionId: string, use: number, logIndex: bigint): Promise<boolean> {
    const result = await this.#context.db
      .updateTable('exception_uses')
      .set({ log_index: checkInt64(logIndex, 'logIndex') })
      .where('exception_id', '=', exceptionId)
      .where('use_number', '=', use)
      .where('log_index', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async findUsable(product: string, channel: string, now: Date): Promise<ExceptionRecord[]> {
    const rows = await this.#context.db
      .selectFrom('exceptions')
      .selectAll()
      .where('product', '=', product)
      .where('channel', '=', channel)
      .where('state', '=', 'active')
      .where((eb) => eb('uses', '<', eb.ref('max_uses')))
      .where('not_after', '>', toMillis(now, 'now'))
      .orderBy('not_after')
      .orderBy('id')
      .limit(MAX_LIST)
      .execute();
    return rows.map(toExceptionRecord);
  }

  async recordReview(
    id: string,
    review: { readonly at: Date; readonly by: string; readonly findings: string },
  ): Promise<boolean> {
    const result = await this.#context.db
      .updateTable('exceptions')
      .set({
        reviewed_at: toMillis(review.at, 'at'),
        reviewed_by: review.by,
        review_findings: review.findings,
      })
      .where('id', '=', id)
      .where('activated_at', 'is not', null)
      .where('reviewed_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async markReviewOverdueNotified(id: string, at: Date): Promise<boolean> {
    const result = await this.#context.db
      .updateTable('exceptions')
      .set({ review_overdue_notified_at: toMillis(at, 'at') })
      .where('id', '=', id)
      .where('review_overdue_notified_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}

function toExceptionRecord(row: Selectable<ExceptionsTable>): ExceptionRecord {
  return {
    id: readString(row.id, 'exceptions.id'),
    product: readString(row.product, 'exceptions.product'),
    channel: readString(row.channel, 'exceptions.channel'),
    waives: readWaives(row.waives),
    reason: readString(row.reason, 'exceptions.reason'),
    requestedBy: readString(row.requested_by, 'exceptions.requested_by'),
    durationSeconds: readSafeInteger(row.duration_seconds, 'exceptions.duration_seconds'),
    maxUses: readSafeInteger(row.max_uses, 'exceptions.max_uses'),
    state: readState(row.state),
    notAfter: readNullableDate(row.not_after, 'exceptions.not_after'),
    uses: readSafeInteger(row.uses, 'exceptions.uses'),
    governanceVersion: readSafeInteger(row.governance_version, 'exceptions.governance_version'),
    createdAt: readDate(row.created_at, 'exceptions.created_at'),
    activatedAt: readNullableDate(row.activated_at, 'exceptions.activated_at'),
    endedAt: readNullableDate(row.ended_at, 'exceptions.ended_at'),
    endedBy: readNullableString(row.ended_by, 'exceptions.ended_by'),
    reviewDueAt: readNullableDate(row.review_due_at, 'exceptions.review_due_at'),
    reviewedAt: readNullableDate(row.reviewed_at, 'exceptions.reviewed_at'),
    reviewedBy: readNullableString(row.reviewed_by, 'exceptions.reviewed_by'),
    reviewFindings: readNullableString(row.review_findings, 'exceptions.review_findings'),
    reviewOverdueNotifiedAt: readNullableDate(
      row.review_overdue_notified_at,
      'exceptions.review_overdue_notified_at',
    ),
  };
}

function toApprovalRecord(row: Selectable<ExceptionApprovalsTable>): ExceptionApprovalRecord {
  const decision = readString(row.decision, 'exception_approvals.decision');
  if (decision !== 'approve' && decision !== 'reject') {
    throw new AppError('INTERNAL', 'storage returned an unknown decision in exception_approvals');
  }
  return {
    exceptionId: readString(row.exception_id, 'exception_approvals.exception_id'),
    userId: readString(row.user_id, 'exception_approvals.user_id'),
    decision,
    comment: readString(row.comment, 'exception_approvals.comment'),
    createdAt: readDate(row.created_at, 'exception_approvals.created_at'),
  };
}

function readState(value: unknown): ExceptionState {
  if (typeof value === 'string' && Object.hasOwn(STATES, value)) return value as ExceptionState;
  throw new AppError('INTERNAL', 'storage returned an unknown state in column exceptions.state');
}

function readWaives(value: unknown): WaivableCheck[] {
  const text = readString(value, 'exceptions.waives');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new AppError('INTERNAL', 'storage returned malformed JSON in exceptions.waives', {
      cause: error,
    });
  }
  if (
    !Array.isArray(parsed) ||
    !parsed.every((check) => (WAIVABLE_CHECKS as readonly unknown[]).includes(check))
  ) {
    throw new AppError('INTERNAL', 'storage returned an unknown check in exceptions.waives');
  }
  return parsed as WaivableCheck[];
}
