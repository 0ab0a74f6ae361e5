/**
 * Webhooks (issue #6, "Notifications outbox"): admins register HTTPS receivers for notification
 * events; state changes queue deliveries in their own transaction (`StorageSession.notifications`);
 * a worker sends them afterwards, signed, with retries.
 *
 * Delivery is at least once: a receiver deduplicates on the `Countersign-Delivery` header (also
 * the body's `id`). Order across deliveries is not guaranteed.
 */
import { createHash } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import { signWebhookPayload } from '../core/notifications/webhook-signature.ts';
import type { WebhookSender } from '../core/notifications/webhook-sender.ts';
import { withSuggestion } from '../core/governance/suggest-name.ts';
import {
  NOTIFICATION_EVENTS,
  type Clock,
  type GovernanceActor,
  type NotificationEvent,
  type Random,
  type Storage,
  type WebhookDeliveryRecord,
  type WebhookDeliveryState,
  type WebhookRecord,
} from '../core/ports.ts';
import type { EventLog } from './append-event.ts';

export type {
  WebhookRequest,
  WebhookResponse,
  WebhookSender,
} from '../core/notifications/webhook-sender.ts';

/** Log event kinds of the webhook lifecycle. */
export const WEBHOOK_CREATED_EVENT = 'webhook.created';
export const WEBHOOK_DELETED_EVENT = 'webhook.deleted';

/** Every webhook secret starts with this, so secret scanners and people can recognise it. */
export const WEBHOOK_SECRET_PREFIX = 'whsec_';

/** Headers of every delivery. */
export const WEBHOOK_HEADERS = {
  event: 'countersign-event',
  delivery: 'countersign-delivery',
  timestamp: 'countersign-timestamp',
  signature: 'countersign-signature',
} as const;

/** Random bytes in a webhook id (80 bits) and secret (256 bits). */
const ID_BYTES = 10;
const SECRET_BYTES = 32;
const URL_MAX_LENGTH = 2048;
/** Hosts a plain `http:` URL may name: the machine itself, for development and tests. */
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]']);
/** Characters of `lastError` kept: enough to diagnose, too little to store a receiver's page. */
const ERROR_EXCERPT_LENGTH = 200;

/** How the worker retries; every field has a default (`DEFAULT_DELIVERY_POLICY`). */
export interface DeliveryPolicy {
  /** Attempts before a delivery is `failed`. */
  readonly maxAttempts: number;
  /** Delay after the first failed attempt; doubled after each further one. */
  readonly baseDelayMs: number;
  /** Upper bound of the delay between attempts. */
  readonly maxDelayMs: number;
  /** How long one POST may take before it counts as failed. */
  readonly timeoutMs: number;
  /** Deliveries one `runDueDeliveries` step takes on. */
  readonly batchSize: number;
  /** Deliveries sent at the same time within a step. */
  readonly concurrency: number;
  /** How often the started worker looks for due deliveries. */
  readonly pollIntervalMs: number;
}

/** 8 attempts over about 4 hours (10 s, 20 s, 40 s … capped at 1 h, each with jitter). */
export const DEFAULT_DELIVERY_POLICY: DeliveryPolicy = {
  maxAttempts: 8,
  baseDelayMs: 10_000,
  maxDelayMs: 3_600_000,
  timeoutMs: 10_000,
  batchSize: 50,
  concurrency: 4,
  pollIntervalMs: 5_000,
};

/** A webhook as shown to admins: never its secret. */
export interface WebhookView {
  readonly id: string;
  readonly url: string;
  readonly events: readonly NotificationEvent[];
  readonly enabled: boolean;
  readonly createdAt: Date;
  readonly createdBy: string;
}

/** A freshly created webhook: `secret` is shown this once. */
export interface CreatedWebhook {
  readonly secret: string;
  readonly view: WebhookView;
}

/** A delivery as shown to admins: the body is omitted (it may be large; the receiver has it). */
export interface WebhookDeliveryView {
  readonly id: string;
  readonly webhookId: string;
  readonly event: NotificationEvent;
  readonly state: WebhookDeliveryState;
  readonly attempts: number;
  readonly nextAttemptAt: Date | null;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface CreateWebhookInput {
  /** Attacker-controlled when it comes from the API (an admin's, but still parsed strictly). */
  readonly url: string;
  readonly events: readonly string[];
  readonly createdBy: GovernanceActor;
}

/** The webhook administration use cases. */
export interface Webhooks {
  /**
   * Registers a receiver and returns its signing secret, which cannot be shown again. Throws
   * INVALID_INPUT for a URL that is not `https:` (plain `http:` only to loopback), carries
   * credentials or a fragment, or for no/unknown events; STORAGE_UNAVAILABLE.
   */
  createWebhook(input: CreateWebhookInput): Promise<CreatedWebhook>;
  /** Every webhook, oldest first. */
  listWebhooks(): Promise<WebhookView[]>;
  /** Deletes a webhook and its deliveries; resolves to what was deleted. Throws NOT_FOUND. */
  deleteWebhook(id: string, deletedBy: GovernanceActor): Promise<WebhookView>;
  /** The webhook's deliveries, newest first (at most `limit`, default 100). Throws NOT_FOUND. */
  listDeliveries(webhookId: string, limit?: number): Promise<WebhookDeliveryView[]>;
}

export interface WebhooksDeps {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly random: Random;
  /** Where `webhook.created` / `webhook.deleted` go, committed with the change. */
  readonly events: EventLog;
}

/** The webhook administration use cases over storage and the event log. */
export function createWebhooks(deps: WebhooksDeps): Webhooks {
  const { storage, clock, random, events } = deps;
  const notFound = () => new AppError('NOT_FOUND', 'no webhook has this id');

  return {
    async createWebhook(input) {
      const url = parseWebhookUrl(input.url);
      const subscribed = parseWebhookEvents(input.events);
      const record: WebhookRecord = {
        id: `wh_${Buffer.from(random.bytes(ID_BYTES)).toString('hex')}`,
        url,
        events: subscribed,
        secret: `${WEBHOOK_SECRET_PREFIX}${Buffer.from(random.bytes(SECRET_BYTES)).toString('base64url')}`,
        enabled: true,
        createdAt: clock.now(),
        createdBy: input.createdBy.id,
      };
      await events.appendEvent(
        WEBHOOK_CREATED_EVENT,
        {
          webhookId: record.id,
          ...describeUrl(url),
          events: [...subscribed],
          createdAt: record.createdAt.toISOString(),
          createdBy: actorBody(input.createdBy),
        },
        { effect: (session) => session.webhooks.insert(record) },
      );
      return { secret: record.secret, view: toView(record) };
    },

    async listWebhooks() {
      return (await storage.webhooks.list()).map(toView);
    },

    async deleteWebhook(id, deletedBy) {
      const before = await storage.webhooks.findById(id);
      if (before === undefined) throw notFound();
      await events.appendEvent(
        WEBHOOK_DELETED_EVENT,
        {
          webhookId: id,
          ...describeUrl(before.url),
          deletedAt: clock.now().toISOString(),
          deletedBy: actorBody(deletedBy),
        },
        {
          effect: async (session) => {
            // A concurrent delete won: its event stands, this one rolls back.
            if (!(await session.webhooks.delete(id))) throw notFound();
          },
        },
      );
      return toView(before);
    },

    async listDeliveries(webhookId, limit = 100) {
      if ((await storage.webhooks.findById(webhookId)) === undefined) throw notFound();
      return (await storage.webhooks.listDeliveries(webhookId, limit)).map(toDeliveryView);
    },
  };
}

/** What one `runDueDeliveries` step did. */
export interface DeliveryRunSummary {
  readonly attempted: number;
  readonly delivered: number;
  /** Attempts that failed and were rescheduled. */
  readonly retrying: number;
  /** Deliveries that used their last attempt and are now `failed`. */
  readonly failed: number;
}

/** Minimal logger: pino's satisfies it. Messages never carry secrets or bodies. */
export interface WorkerLogger {
  warn(details: object, message: string): void;
  error(details: object, message: string): void;
}

/** Sends queued deliveries. */
export interface WebhookWorker {
  /**
   * One step: claims the deliveries due at `now` and sends them. Exposed so tests (and the
   * timer) drive the worker without sleeping. Throws STORAGE_UNAVAILABLE.
   */
  runDueDeliveries(now: Date): Promise<DeliveryRunSummary>;
  /** Runs a step every `pollIntervalMs` until `stop`. The timer does not keep the process alive. */
  start(): void;
  /** Stops the timer and waits for a step in progress. */
  stop(): Promise<void>;
}

export interface WebhookWorkerDeps {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly random: Random;
  readonly sender: WebhookSender;
  readonly logger?: WorkerLogger;
  readonly policy?: Partial<DeliveryPolicy>;
}

/** The delivery worker. Several replicas may run one each: a delivery is claimed before sending. */
export function createWebhookWorker(deps: WebhookWorkerDeps): WebhookWorker {
  const { storage, clock, random, sender, logger } = deps;
  const policy: DeliveryPolicy = { ...DEFAULT_DELIVERY_POLICY, ...deps.policy };
  // A claim outlasts one attempt, so a replica that dies mid-send leaves the delivery due again.
  const leaseMs = policy.timeoutMs * 3;
  let timer: ReturnType<typeof setInterval> | undefined;
  let isStopping = false;
  let running: Promise<void> | undefined;

  const attempt = async (
    delivery: WebhookDeliveryRecord,
    now: Date,
  ): Promise<'delivered' | 'retrying' | 'failed' | 'skipped'> => {
    if (
      !(await storage.webhooks.claimDelivery(delivery.id, now, new Date(now.getTime() + leaseMs)))
    )
      return 'skipped';
    const webhook = await storage.webhooks.findById(delivery.webhookId);
    if (webhook === undefined) return 'skipped'; // deleted meanwhile: its deliveries go with it
    const timestamp = Math.floor(now.getTime() / 1000);
    let status: number | null = null;
    let error: string | null = null;
    try {
      const response = await sender.send({
        url: webhook.url,
        body: delivery.body,
        timeoutMs: policy.timeoutMs,
        headers: {
          'content-type': 'application/json',
          'user-agent': 'Countersign-Webhooks/1',
          [WEBHOOK_HEADERS.event]: delivery.event,
          [WEBHOOK_HEADERS.delivery]: delivery.id,
          [WEBHOOK_HEADERS.timestamp]: String(timestamp),
          [WEBHOOK_HEADERS.signature]: signWebhookPayload(webhook.secret, timestamp, delivery.body),
        },
      });
      status = response.status;
      if (status < 200 || status > 299) {
        const redirect = status >= 300 && status <= 399 ? ' (redirects are not followed)' : '';
        error = `HTTP ${String(status)}${redirect}`;
      }
    } catch (caught) {
      error = excerpt(caught instanceof Error ? caught.message : 'the request failed');
    }
    const at = clock.now();
    const attempts = delivery.attempts + 1;
    const outcome =
      error === null ? 'delivered' : attempts >= policy.maxAttempts ? 'failed' : 'retrying';
    await storage.webhooks.recordAttempt(delivery.id, {
      state: outcome === 'retrying' ? 'pending' : outcome,
      attempts,
      nextAttemptAt:
        outcome === 'retrying'
          ? new Date(at.getTime() + computeRetryDelayMs(attempts, policy, randomFraction(random)))
          : null,
      lastStatusCode: status,
      lastError: error,
      at,
    });
    if (outcome !== 'delivered') {
      const details = {
        deliveryId: delivery.id,
        webhookId: webhook.id,
        event: delivery.event,
        attempts,
        statusCode: status,
        error,
      };
      if (outcome === 'failed') logger?.error(details, 'webhook delivery failed for good');
      else logger?.warn(details, 'webhook delivery attempt failed; will retry');
    }
    return outcome;
  };

  const runDueDeliveries = async (now: Date): Promise<DeliveryRunSummary> => {
    const due = await storage.webhooks.dueDeliveries(now, policy.batchSize);
    const counts = { attempted: 0, delivered: 0, retrying: 0, failed: 0 };
    let next = 0;
    const lane = async (): Promise<void> => {
      for (let delivery = due[next++]; delivery !== undefined; delivery = due[next++]) {
        if (isStopping) return; // shutting down: the rest stay due for the next start
        let outcome: Awaited<ReturnType<typeof attempt>>;
        try {
          outcome = await attempt(delivery, now);
        } catch (error) {
          // Storage trouble for one delivery: its lease runs out and a later step retries it.
          logger?.error({ err: error, deliveryId: delivery.id }, 'webhook delivery attempt broke');
          continue;
        }
        if (outcome === 'skipped') continue;
        counts.attempted += 1;
        counts[outcome] += 1;
      }
    };
    await Promise.all(Array.from({ length: Math.max(1, policy.concurrency) }, lane));
    return counts;
  };

  const tick = (): void => {
    if (running !== undefined) return; // the previous step is still sending
    running = runDueDeliveries(clock.now())
      .then(
        () => undefined,
        (error: unknown) => {
          logger?.error({ err: error }, 'webhook delivery step failed');
        },
      )
      .finally(() => {
        running = undefined;
      });
  };

  return {
    runDueDeliveries,
    start() {
      if (timer !== undefined) return;
      isStopping = false;
      timer = setInterval(tick, policy.pollIntervalMs);
      timer.unref();
    },
    async stop() {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
      isStopping = true;
      await running;
    },
  };
}

/**
 * The delay before attempt `failedAttempts + 1`: exponential (`baseDelayMs · 2^(n-1)`, capped at
 * `maxDelayMs`) with "equal jitter": half fixed, half random, so receivers coming back from an
 * outage are not hit by every delivery at the same instant. `fraction` is uniform in [0, 1).
 */
export function computeRetryDelayMs(
  failedAttempts: number,
  policy: Pick<DeliveryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  fraction: number,
): number {
  const exponent = Math.min(Math.max(failedAttempts - 1, 0), 30);
  const ceiling = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** exponent);
  return Math.round(ceiling / 2 + (ceiling / 2) * fraction);
}

/**
 * Checks a webhook URL (attacker-controlled) and returns it normalised. `https:` only; plain
 * `http:` only to 127.0.0.1, localhost or [::1] (development, tests). No user info (a password
 * would end up in listings) and no fragment (never sent). Throws INVALID_INPUT.
 */
export function parseWebhookUrl(input: string): string {
  const invalid = (message: string) =>
    new AppError('INVALID_INPUT', `webhook URL ${message}`, {
      errors: [{ path: '/url', message }],
    });
  if (input.length === 0 || input.length > URL_MAX_LENGTH) {
    throw invalid(`must be 1 to ${String(URL_MAX_LENGTH)} characters`);
  }
  let url: URL;
  try {
    url = new URL(input);
  } catch {
    throw invalid('is not an absolute URL');
  }
  if (url.protocol === 'http:') {
    if (!LOOPBACK_HOSTS.has(url.hostname)) {
      throw invalid('must use https: (plain http: is allowed only to 127.0.0.1, localhost, [::1])');
    }
  } else if (url.protocol !== 'https:') {
    throw invalid('must use https:');
  }
  if (url.username !== '' || url.password !== '') throw invalid('must not contain credentials');
  if (isLinkLocal(url.hostname)) {
    throw invalid('must not name a link-local address (169.254.0.0/16, fe80::/10: cloud metadata)');
  }
  if (url.hash !== '') throw invalid('must not contain a fragment');
  return url.href;
}

/**
 * Checks a list of event names (attacker-controlled): at least one, each in
 * `NOTIFICATION_EVENTS`; returns them deduplicated in that order. Throws INVALID_INPUT.
 */
export function parseWebhookEvents(input: readonly string[]): NotificationEvent[] {
  if (input.length === 0) {
    throw new AppError('INVALID_INPUT', 'a webhook needs at least one event', {
      errors: [
        { path: '/events', message: `give one or more of ${NOTIFICATION_EVENTS.join(', ')}` },
      ],
    });
  }
  const errors = input.flatMap((name, index) =>
    (NOTIFICATION_EVENTS as readonly string[]).includes(name)
      ? []
      : [
          {
            path: `/events/${String(index)}`,
            message: withSuggestion(
              `unknown event ${JSON.stringify(name)}`,
              name,
              NOTIFICATION_EVENTS,
            ),
          },
        ],
  );
  if (errors.length > 0) {
    throw new AppError('INVALID_INPUT', errors.map((error) => error.message).join('; '), {
      errors,
      hint: `events are ${NOTIFICATION_EVENTS.join(', ')}`,
    });
  }
  return NOTIFICATION_EVENTS.filter((event) => input.includes(event));
}

function toView(record: WebhookRecord): WebhookView {
  return {
    id: record.id,
    url: record.url,
    events: record.events,
    enabled: record.enabled,
    createdAt: record.createdAt,
    createdBy: record.createdBy,
  };
}

function toDeliveryView(record: WebhookDeliveryRecord): WebhookDeliveryView {
  return {
    id: record.id,
    webhookId: record.webhookId,
    event: record.event,
    state: record.state,
    attempts: record.attempts,
    nextAttemptAt: record.nextAttemptAt,
    lastStatusCode: record.lastStatusCode,
    lastError: record.lastError,
    createdAt: record.createdAt,
    updatedAt: record.updatedAt,
  };
}

/**
 * What the public log records of a URL: its origin and a digest of the whole. Paths and queries
 * often carry a receiver's own secret (chat-service webhook URLs do), and the log is public.
 */
function describeUrl(url: string): { urlOrigin: string; urlSha256: string } {
  return {
    urlOrigin: new URL(url).origin,
    urlSha256: createHash('sha256').update(url, 'utf8').digest('hex'),
  };
}

function actorBody(actor: GovernanceActor): Record<string, string> {
  return { kind: actor.kind, id: actor.id, name: actor.name };
}

/** A one-line excerpt: control characters flattened, at most `ERROR_EXCERPT_LENGTH` characters. */
function excerpt(text: string): string {
  const flat = text.replace(/\p{Cc}+/gu, ' ').trim();
  return flat.length > ERROR_EXCERPT_LENGTH ? `${flat.slice(0, ERROR_EXCERPT_LENGTH - 1)}…` : flat;
}

/** A uniform fraction in [0, 1) from the CSPRNG port. */
function randomFraction(random: Random): number {
  const bytes = random.bytes(4);
  return Buffer.from(bytes).readUInt32BE(0) / 2 ** 32;
}

/**
 * A link-local IP literal (also IPv4-mapped), or AWS's IPv6 metadata address: where cloud instance
 * metadata answers. Other private ranges stay allowed, for internal receivers. Names that resolve
 * there are not caught here (docs/security.md, known gaps). URL parsing has already normalised
 * the literal (0xA9FEA9FE is 169.254.169.254).
 */
function isLinkLocal(hostname: string): boolean {
  const host = hostname.replace(/^\[|\]$/g, '').toLowerCase();
  return (
    /^169\.254\.\d{1,3}\.\d{1,3}$/.test(host) ||
    /^fe[89ab][0-9a-f]:/.test(host) ||
    /^::ffff:a9fe:/.test(host) ||
    host === 'fd00:ec2::254'
  );
}
