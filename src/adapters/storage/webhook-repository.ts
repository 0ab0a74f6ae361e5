/**
 * `WebhookRepository` and `NotificationOutbox` on SQL (tables `webhooks`, `webhook_deliveries`),
 * for both engines. The outbox writes delivery rows in the caller's unit of work, so a delivery
 * exists exactly when the state change it announces committed.
 */
import { randomBytes } from 'node:crypto';
import type { Selectable } from 'kysely';
import { AppError } from '../../core/errors.ts';
import {
  NOTIFICATION_EVENTS,
  type NotificationEvent,
  type NotificationOutbox,
  type WebhookDeliveryRecord,
  type WebhookDeliveryState,
  type WebhookRecord,
  type WebhookRepository,
} from '../../core/ports.ts';
import { withConflictMessage } from './with-conflict-message.ts';
import type { SqlContext } from './sql-context.ts';
import {
  readDate,
  readNullableDate,
  readNullableString,
  readSafeInteger,
  readString,
  toMillis,
  toNullableMillis,
} from './sql-values.ts';
import type { WebhookDeliveriesTable, WebhooksTable } from './storage-schema.ts';

const MAX_LIST = 1000;
/** Random bytes in a delivery id: 128 bits, 32 hex characters after `dl_`. */
const DELIVERY_ID_BYTES = 16;

const DELIVERY_STATES = {
  pending: true,
  delivered: true,
  failed: true,
} as const satisfies Record<WebhookDeliveryState, true>;

export class SqlWebhookRepository implements WebhookRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async insert(webhook: WebhookRecord): Promise<void> {
    await withConflictMessage(
      () =>
        this.#context.db
          .insertInto('webhooks')
          .values({
            id: webhook.id,
            url: webhook.url,
            events: JSON.stringify(webhook.events),
            secret: webhook.secret,
            enabled: webhook.enabled ? 1n : 0n,
            created_at: toMillis(webhook.createdAt, 'createdAt'),
            created_by: webhook.createdBy,
          })
          .execute(),
      `webhook ${webhook.id} already exists`,
    );
  }

  async findById(id: string): Promise<WebhookRecord | undefined> {
    const row = await this.#context.db
      .selectFrom('webhooks')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toWebhookRecord(row);
  }

  async list(): Promise<WebhookRecord[]> {
    const rows = await this.#context.db
      .selectFrom('webhooks')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toWebhookRecord);
  }

  async delete(id: string): Promise<boolean> {
    return this.#context.atomic(async (db) => {
      // Explicit as well as ON DELETE CASCADE: the cascade needs SQLite's foreign_keys pragma.
      await db.deleteFrom('webhook_deliveries').where('webhook_id', '=', id).execute();
      const result = await db.deleteFrom('webhooks').where('id', '=', id).executeTakeFirst();
      return result.numDeletedRows > 0n;
    });
  }

  async listDeliveries(webhookId: string, limit: number): Promise<WebhookDeliveryRecord[]> {
    const rows = await this.#context.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('webhook_id', '=', webhookId)
      .orderBy('created_at', 'desc')
      .orderBy('id', 'desc')
      .limit(clampLimit(limit))
      .execute();
    return rows.map(toDeliveryRecord);
  }

  async dueDeliveries(now: Date, limit: number): Promise<WebhookDeliveryRecord[]> {
    const rows = await this.#context.db
      .selectFrom('webhook_deliveries')
      .selectAll()
      .where('state', '=', 'pending')
      .where('next_attempt_at', '<=', toMillis(now, 'now'))
      .orderBy('next_attempt_at')
      .orderBy('id')
      .limit(clampLimit(limit))
      .execute();
    return rows.map(toDeliveryRecord);
  }

  async claimDelivery(id: string, now: Date, leaseUntil: Date): Promise<boolean> {
    // One conditional UPDATE: of two replicas polling the same row, exactly one moves it.
    const result = await this.#context.db
      .updateTable('webhook_deliveries')
      .set({
        next_attempt_at: toMillis(leaseUntil, 'leaseUntil'),
        updated_at: toMillis(now, 'now'),
      })
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .where('next_attempt_at', '<=', toMillis(now, 'now'))
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }

  async recordAttempt(
    id: string,
    outcome: {
      readonly state: WebhookDeliveryState;
      readonly attempts: number;
      readonly nextAttemptAt: Date | null;
      readonly lastStatusCode: number | null;
      readonly lastError: string | null;
      readonly at: Date;
    },
  ): Promise<void> {
    const result = await this.#context.db
      .updateTable('webhook_deliveries')
      .set({
        state: outcome.state,
        attempts: outcome.attempts,
        next_attempt_at: toNullableMillis(outcome.nextAttemptAt, 'nextAttemptAt'),
        last_status_code: outcome.lastStatusCode,
        last_error: outcome.lastError,
        updated_at: toMillis(outcome.at, 'at'),
      })
      .where('id', '=', id)
      .executeTakeFirst();
    if (result.numUpdatedRows !== 1n) throw new AppError('NOT_FOUND', `no delivery ${id}`);
  }
}

export class SqlNotificationOutbox implements NotificationOutbox {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async enqueue(
    event: NotificationEvent,
    data: Readonly<Record<string, unknown>>,
    at: Date,
  ): Promise<void> {
    if (!NOTIFICATION_EVENTS.includes(event)) {
      throw new AppError('INTERNAL', `unknown notification event ${JSON.stringify(event)}`);
    }
    const atMillis = toMillis(at, 'at');
    const db = this.#context.db;
    // Few webhooks exist (an operator registers them by hand): filtering in code keeps the
    // events column plain JSON text on both engines.
    const subscribed = (
      await db.selectFrom('webhooks').select(['id', 'events']).where('enabled', '=', 1n).execute()
    ).filter((row) => readEvents(row.events).includes(event));
    if (subscribed.length === 0) return;
    const occurredAt = at.toISOString();
    const rows = subscribed.map((row) => {
      const id = `dl_${randomBytes(DELIVERY_ID_BYTES).toString('hex')}`;
      return {
        id,
        webhook_id: readString(row.id, 'webhooks.id'),
        event,
        body: JSON.stringify({ id, event, occurredAt, data }),
        state: 'pending',
        attempts: 0,
        next_attempt_at: atMillis,
        last_status_code: null,
        last_error: null,
        created_at: atMillis,
        updated_at: atMillis,
      };
    });
    await db.insertInto('webhook_deliveries').values(rows).execute();
  }
}

function clampLimit(limit: number): number {
  return Math.max(1, Math.min(MAX_LIST, Math.trunc(limit)));
}

function toWebhookRecord(row: Selectable<WebhooksTable>): WebhookRecord {
  return {
    id: readString(row.id, 'webhooks.id'),
    url: readString(row.url, 'webhooks.url'),
    events: readEvents(row.events),
    secret: readString(row.secret, 'webhooks.secret'),
    enabled: readSafeInteger(row.enabled, 'webhooks.enabled') === 1,
    createdAt: readDate(row.created_at, 'webhooks.created_at'),
    createdBy: readString(row.created_by, 'webhooks.created_by'),
  };
}

function toDeliveryRecord(row: Selectable<WebhookDeliveriesTable>): WebhookDeliveryRecord {
  const lastStatus: unknown = row.last_status_code;
  return {
    id: readString(row.id, 'webhook_deliveries.id'),
    webhookId: readString(row.webhook_id, 'webhook_deliveries.webhook_id'),
    event: readEvent(row.event, 'webhook_deliveries.event'),
    body: readString(row.body, 'webhook_deliveries.body'),
    state: readState(row.state),
    attempts: readSafeInteger(row.attempts, 'webhook_deliveries.attempts'),
    nextAttemptAt: readNullableDate(row.next_attempt_at, 'webhook_deliveries.next_attempt_at'),
    lastStatusCode:
      lastStatus === null
        ? null
        : readSafeInteger(lastStatus, 'webhook_deliveries.last_status_code'),
    lastError: readNullableString(row.last_error, 'webhook_deliveries.last_error'),
    createdAt: readDate(row.created_at, 'webhook_deliveries.created_at'),
    updatedAt: readDate(row.updated_at, 'webhook_deliveries.updated_at'),
  };
}

function readEvents(value: unknown): NotificationEvent[] {
  const text = readString(value, 'webhooks.events');
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (error) {
    throw new AppError('INTERNAL', 'storage returned malformed JSON in column webhooks.events', {
      cause: error,
    });
  }
  if (!Array.isArray(parsed)) {
    throw new AppError('INTERNAL', 'storage returned a non-array in column webhooks.events');
  }
  return parsed.map((item: unknown) => readEvent(item, 'webhooks.events'));
}

function readEvent(value: unknown, column: string): NotificationEvent {
  const event = NOTIFICATION_EVENTS.find((known) => known === value);
  if (event === undefined) {
    throw new AppError('INTERNAL', `storage returned an unknown event in column ${column}`);
  }
  return event;
}

function readState(value: unknown): WebhookDeliveryState {
  if (typeof value === 'string' && Object.hasOwn(DELIVERY_STATES, value)) {
    return value as WebhookDeliveryState;
  }
  throw new AppError(
    'INTERNAL',
    'storage returned an unknown state in column webhook_deliveries.state',
  );
}
