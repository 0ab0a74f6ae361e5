/**
 * Exceptions (break-glass): `POST /v1/exceptions`, `GET /v1/exceptions`,
 * `GET /v1/exceptions/{id}`, `POST /v1/exceptions/{id}/approvals`,
 * `POST /v1/exceptions/{id}/cancel`, `POST /v1/exceptions/{id}/review`. People only: an API
 * token acting for a governance user, or a passkey session. What each person may do comes from
 * the governance in force (`src/app/exceptions.ts`).
 */
import { Type } from '@sinclair/typebox';
import type { ExceptionView } from '../../app/exceptions.ts';
import { WAIVABLE_CHECKS } from '../../core/governance/governance.ts';
import { humanOf, requireHuman } from '../authenticate-human.ts';
import type { RouteModule } from '../server-deps.ts';
import { strictObject } from '../typebox.ts';

const STATES = ['pending', 'active', 'rejected', 'cancelled', 'expired', 'exhausted'] as const;

const StateSchema = Type.Union(
  STATES.map((state) => Type.Literal(state)),
  { description: 'pending → active → expired | exhausted; or rejected, cancelled' },
);
const DateTime = Type.String({ format: 'date-time' });
const NullableDateTime = Type.Union([DateTime, Type.Null()]);
const NAME = Type.String({ pattern: '^[a-z0-9][a-z0-9-]{0,62}$' });
const ExceptionId = Type.String({ pattern: '^ex_[0-9a-f]{16}$' });

const ExceptionSchema = Type.Object({
  id: Type.String(),
  product: Type.String(),
  channel: Type.String(),
  waives: Type.Array(Type.String()),
  reason: Type.String(),
  requestedBy: Type.String({ description: 'governance user id' }),
  state: StateSchema,
  durationSeconds: Type.Integer(),
  maxUses: Type.Integer(),
  uses: Type.Integer(),
  notAfter: NullableDateTime,
  createdAt: DateTime,
  activatedAt: NullableDateTime,
  endedAt: NullableDateTime,
  endedBy: Type.Union([Type.String(), Type.Null()]),
  approvals: Type.Object({
    required: Type.Integer(),
    count: Type.Integer(),
    submitted: Type.Array(
      Type.Object({
        userId: Type.String(),
        decision: Type.Union([Type.Literal('approve'), Type.Literal('reject')]),
        comment: Type.String(),
        createdAt: DateTime,
      }),
    ),
  }),
  review: Type.Object({
    dueAt: NullableDateTime,
    overdue: Type.Boolean(),
    reviewedAt: NullableDateTime,
    reviewedBy: Type.Union([Type.String(), Type.Null()]),
    findings: Type.Union([Type.String(), Type.Null()]),
  }),
});

const RequestBody = strictObject({
  product: NAME,
  channel: NAME,
  waives: Type.Array(Type.Union(WAIVABLE_CHECKS.map((check) => Type.Literal(check))), {
    minItems: 1,
    maxItems: WAIVABLE_CHECKS.length,
    uniqueItems: true,
  }),
  reason: Type.String({ minLength: 1, maxLength: 2000 }),
  durationSeconds: Type.Integer({ minimum: 60, maximum: 366 * 86_400 }),
  maxUses: Type.Integer({ minimum: 1, maximum: 1000 }),
});

const VoteBody = strictObject({
  decision: Type.Union([Type.Literal('approve'), Type.Literal('reject')]),
  comment: Type.Optional(Type.String({ maxLength: 2000 })),
});

const ReviewBody = strictObject({ findings: Type.String({ minLength: 1, maxLength: 10_000 }) });

const IdParams = strictObject({ id: ExceptionId });

const ListQuery = strictObject({
  state: Type.Optional(StateSchema),
  overdue: Type.Optional(Type.Boolean({ description: 'only exceptions whose review is overdue' })),
  product: Type.Optional(NAME),
});

const SECURITY = [{ bearerAuth: [] }];
const TAGS = ['exceptions'];

export const exceptionRoutes: RouteModule = {
  name: 'exceptions',
  register(server, { deps }) {
    const { exceptions } = deps.services;
    const human = requireHuman({
      apiTokens: deps.services.apiTokens,
      webSessions: deps.services.webSessions,
      publicUrl: deps.config.server.publicUrl,
    });

    server.post(
      '/v1/exceptions',
      {
        onRequest: human,
        bodyLimit: deps.config.limits.bodyBytes,
        schema: {
          tags: TAGS,
          summary: 'Ask for an exception (break-glass) on one product/channel',
          security: SECURITY,
          body: RequestBody,
          response: { 201: ExceptionSchema },
        },
      },
      async (request, reply) => {
        const created = await exceptions.request(humanOf(request), request.body);
        return reply
          .code(201)
          .header('location', `/v1/exceptions/${created.id}`)
          .send(renderException(created));
      },
    );

    server.get(
      '/v1/exceptions',
      {
        onRequest: human,
        schema: {
          tags: TAGS,
          summary: 'List exceptions, newest first (at most 200)',
          security: SECURITY,
          querystring: ListQuery,
          response: { 200: Type.Object({ exceptions: Type.Array(ExceptionSchema) }) },
        },
      },
      async (request) => {
        const { state, overdue, product } = request.query;
        const listed = await exceptions.list(humanOf(request), {
          ...(state === undefined ? {} : { state }),
          ...(overdue === undefined ? {} : { overdue }),
          ...(product === undefined ? {} : { product }),
        });
        return { exceptions: listed.map(renderException) };
      },
    );

    server.get(
      '/v1/exceptions/:id',
      {
        onRequest: human,
        schema: {
          tags: TAGS,
          summary: 'One exception, with its votes and review',
          security: SECURITY,
          params: IdParams,
          response: { 200: ExceptionSchema },
        },
      },
      async (request) =>
        renderException(await exceptions.show(humanOf(request), request.params.id)),
    );

    server.post(
      '/v1/exceptions/:id/approvals',
      {
        onRequest: human,
        bodyLimit: deps.config.limits.bodyBytes,
        schema: {
          tags: TAGS,
          summary: 'Approve or reject an exception (a member of the channel’s emergency group)',
          security: SECURITY,
          params: IdParams,
          body: VoteBody,
          response: { 200: ExceptionSchema },
        },
      },
      async (request) =>
        renderException(
          await exceptions.vote(humanOf(request), request.params.id, {
            decision: request.body.decision,
            comment: request.body.comment ?? '',
          }),
        ),
    );

    server.post(
      '/v1/exceptions/:id/cancel',
      {
        onRequest: human,
        schema: {
          tags: TAGS,
          summary: 'End a pending or active exception (its requester or an admin)',
          security: SECURITY,
          params: IdParams,
          response: { 200: ExceptionSchema },
        },
      },
      async (request) =>
        renderException(await exceptions.cancel(humanOf(request), request.params.id)),
    );

    server.post(
      '/v1/exceptions/:id/review',
      {
        onRequest: human,
        bodyLimit: deps.config.limits.bodyBytes,
        schema: {
          tags: TAGS,
          summary: 'Record the post-incident review of an exception that has ended',
          security: SECURITY,
          params: IdParams,
          body: ReviewBody,
          response: { 200: ExceptionSchema },
        },
      },
      async (request) =>
        renderException(
          await exceptions.review(humanOf(request), request.params.id, request.body.findings),
        ),
    );
  },
};

function iso(date: Date | null): string | null {
  return date === null ? null : date.toISOString();
}

function renderException(view: ExceptionView) {
  return {
    id: view.id,
    product: view.product,
    channel: view.channel,
    waives: [...view.waives],
    reason: view.reason,
    requestedBy: view.requestedBy,
    state: view.state,
    durationSeconds: view.durationSeconds,
    maxUses: view.maxUses,
    uses: view.uses,
    notAfter: iso(view.notAfter),
    createdAt: view.createdAt.toISOString(),
    activatedAt: iso(view.activatedAt),
    endedAt: iso(view.endedAt),
    endedBy: view.endedBy,
    approvals: {
      required: view.approvals.required,
      count: view.approvals.count,
      submitted: view.approvals.submitted.map((vote) => ({
        userId: vote.userId,
        decision: vote.decision,
        comment: vote.comment,
        createdAt: vote.createdAt.toISOString(),
      })),
    },
    review: {
      dueAt: iso(view.review.dueAt),
      overdue: view.review.overdue,
      reviewedAt: iso(view.review.reviewedAt),
      reviewedBy: view.review.reviewedBy,
      findings: view.review.findings,
    },
  };
}
