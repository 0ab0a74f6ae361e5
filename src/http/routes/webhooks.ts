/**
 * Webhooks: `POST /v1/webhooks`, `GET /v1/webhooks`, `DELETE /v1/webhooks/{id}`,
 * `GET /v1/webhooks/{id}/deliveries`. Admin only.
 */
import { Type } from '@sinclair/typebox';
import type { WebhookDeliveryView, WebhookView } from '../../app/webhooks.ts';
import { NOTIFICATION_EVENTS } from '../../core/ports.ts';
import { principalOf, requireApiToken } from '../authenticate.ts';
import type { RouteModule } from '../server-deps.ts';
import { strictObject } from '../typebox.ts';

const EventSchema = Type.Union(
  NOTIFICATION_EVENTS.map((event) => Type.Literal(event)),
  { description: 'A notification event' },
);

/** A webhook as listed: never its secret. */
const WebhookSchema = Type.Object({
  id: Type.String(),
  url: Type.String({ format: 'uri' }),
  events: Type.Array(EventSchema),
  enabled: Type.Boolean(),
  createdAt: Type.String({ format: 'date-time' }),
  createdBy: Type.String({ description: 'The API token id that created it' }),
});

const DeliverySchema = Type.Object({
  id: Type.String({ description: 'Also the Countersign-Delivery header and the body id' }),
  webhookId: Type.String(),
  event: EventSchema,
  state: Type.Union([Type.Literal('pending'), Type.Literal('delivered'), Type.Literal('failed')]),
  attempts: Type.Integer({ minimum: 0 }),
  nextAttemptAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  lastStatusCode: Type.Union([Type.Integer(), Type.Null()]),
  lastError: Type.Union([Type.String(), Type.Null()]),
  createdAt: Type.String({ format: 'date-time' }),
  updatedAt: Type.String({ format: 'date-time' }),
});

const CreateWebhookBody = strictObject({
  url: Type.String({
    minLength: 1,
    maxLength: 2048,
    description: 'https: URL (plain http: only to 127.0.0.1, localhost, [::1])',
  }),
  events: Type.Array(Type.String({ minLength: 1, maxLength: 64 }), {
    minItems: 1,
    maxItems: NOTIFICATION_EVENTS.length,
    description: `Any of ${NOTIFICATION_EVENTS.join(', ')}`,
  }),
});

const WebhookIdParams = strictObject({ id: Type.String({ minLength: 1, maxLength: 64 }) });
const DeliveriesQuery = strictObject({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000, default: 100 })),
});

const SECURITY = [{ bearerAuth: [] }];

export const webhookRoutes: RouteModule = {
  name: 'webhooks',
  register(server, { deps }) {
    const { apiTokens, webhooks } = deps.services;
    const adminOnly = requireApiToken(apiTokens, ['admin']);

    server.post(
      '/v1/webhooks',
      {
        onRequest: adminOnly,
        bodyLimit: deps.config.limits.bodyBytes,
        schema: {
          tags: ['webhooks'],
          summary: 'Register a webhook (the signing secret is returned this once)',
          security: SECURITY,
          body: CreateWebhookBody,
          response: {
            201: Type.Object({
              secret: Type.String({
                description: 'whsec_…: the HMAC key of Countersign-Signature; store it now',
              }),
              ...WebhookSchema.properties,
            }),
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const created = await webhooks.createWebhook({
          url: request.body.url,
          events: request.body.events,
          createdBy: { kind: 'api-token', id: principal.tokenId, name: principal.name },
        });
        // The secret must not linger in caches or proxies.
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .send({ secret: created.secret, ...renderWebhook(created.view) });
      },
    );

    server.get(
      '/v1/webhooks',
      {
        onRequest: adminOnly,
        schema: {
          tags: ['webhooks'],
          summary: 'List webhooks, oldest first',
          security: SECURITY,
          response: { 200: Type.Object({ webhooks: Type.Array(WebhookSchema) }) },
        },
      },
      async () => ({ webhooks: (await webhooks.listWebhooks()).map(renderWebhook) }),
    );

    server.delete(
      '/v1/webhooks/:id',
      {
        onRequest: adminOnly,
        schema: {
          tags: ['webhooks'],
          summary: 'Delete a webhook and its deliveries; returns what was deleted',
          security: SECURITY,
          params: WebhookIdParams,
          response: { 200: WebhookSchema },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        return renderWebhook(
          await webhooks.deleteWebhook(request.params.id, {
            kind: 'api-token',
            id: principal.tokenId,
            name: principal.name,
          }),
        );
      },
    );

    server.get(
      '/v1/webhooks/:id/deliveries',
      {
        onRequest: adminOnly,
        schema: {
          tags: ['webhooks'],
          summary: "A webhook's deliveries and their state, newest first",
          security: SECURITY,
          params: WebhookIdParams,
          querystring: DeliveriesQuery,
          response: { 200: Type.Object({ deliveries: Type.Array(DeliverySchema) }) },
        },
      },
      async (request) => ({
        deliveries: (
          await webhooks.listDeliveries(request.params.id, request.query.limit ?? 100)
        ).map(renderDelivery),
      }),
    );
  },
};

function renderWebhook(view: WebhookView) {
  return {
    id: view.id,
    url: view.url,
    events: [...view.events],
    enabled: view.enabled,
    createdAt: view.createdAt.toISOString(),
    createdBy: view.createdBy,
  };
}

function renderDelivery(view: WebhookDeliveryView) {
  return {
    id: view.id,
    webhookId: view.webhookId,
    event: view.event,
    state: view.state,
    attempts: view.attempts,
    nextAttemptAt: view.nextAttemptAt?.toISOString() ?? null,
    lastStatusCode: view.lastStatusCode,
    lastError: view.lastError,
    createdAt: view.createdAt.toISOString(),
    updatedAt: view.updatedAt.toISOString(),
  };
}
