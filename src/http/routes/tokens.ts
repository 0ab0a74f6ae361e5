/**
 * Operator API tokens: `POST /v1/tokens`, `GET /v1/tokens`, `DELETE /v1/tokens/{id}`. Admin only.
 */
import { Type } from '@sinclair/typebox';
import type { ApiTokenView } from '../../app/api-tokens.ts';
import { AppError } from '../../core/errors.ts';
import { principalOf, requireApiToken } from '../authenticate.ts';
import type { RouteModule } from '../server-deps.ts';
import { strictObject } from '../typebox.ts';

const RoleSchema = Type.Union(
  [
    Type.Literal('admin'),
    Type.Literal('approver'),
    Type.Literal('security'),
    Type.Literal('auditor'),
  ],
  { description: 'What the token may do' },
);

/** A token as listed: never its secret. */
const TokenSchema = Type.Object({
  id: Type.String({ description: 'Public identifier; the token string starts with cs_<id>_' }),
  name: Type.String(),
  role: RoleSchema,
  userId: Type.Union([Type.String(), Type.Null()], {
    description: 'The governance user the token acts for (approvals, exceptions), or null',
  }),
  status: Type.Union([Type.Literal('active'), Type.Literal('expired'), Type.Literal('revoked')]),
  createdAt: Type.String({ format: 'date-time' }),
  expiresAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const CreateTokenBody = strictObject({
  name: Type.String({ minLength: 1, maxLength: 100, description: 'What the token is for' }),
  role: RoleSchema,
  userId: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 128,
      pattern: '^[a-z0-9][a-z0-9._-]*$',
      description: 'A governance user id: the token then acts for that person (needed to approve)',
    }),
  ),
  expiresAt: Type.Optional(
    Type.String({ format: 'date-time', description: 'When it stops working' }),
  ),
  expiresInSeconds: Type.Optional(
    Type.Integer({
      minimum: 60,
      maximum: 10 * 366 * 86_400,
      description: 'Alternative to expiresAt',
    }),
  ),
});

const TokenIdParams = strictObject({ id: Type.String({ minLength: 1, maxLength: 64 }) });

const SECURITY = [{ bearerAuth: [] }];

export const tokenRoutes: RouteModule = {
  name: 'tokens',
  register(server, { deps }) {
    const { apiTokens } = deps.services;
    const adminOnly = requireApiToken(apiTokens, ['admin']);

    server.post(
      '/v1/tokens',
      {
        onRequest: adminOnly,
        bodyLimit: deps.config.limits.bodyBytes,
        schema: {
          tags: ['tokens'],
          summary: 'Create an API token (the token string is returned this once)',
          security: SECURITY,
          body: CreateTokenBody,
          response: {
            201: Type.Object({
              token: Type.String({
                description: 'cs_<id>_<secret>: store it now, it is not shown again',
              }),
              ...TokenSchema.properties,
            }),
          },
        },
      },
      async (request, reply) => {
        const { name, role, userId, expiresAt, expiresInSeconds } = request.body;
        if (expiresAt !== undefined && expiresInSeconds !== undefined) {
          throw new AppError('INVALID_INPUT', 'give expiresAt or expiresInSeconds, not both', {
            errors: [{ path: '/expiresInSeconds', message: 'conflicts with expiresAt' }],
          });
        }
        const expiry =
          expiresAt !== undefined
            ? new Date(expiresAt)
            : expiresInSeconds !== undefined
              ? new Date(deps.clock.now().getTime() + expiresInSeconds * 1000)
              : null;
        const principal = principalOf(request);
        const created = await apiTokens.createToken({
          name,
          role,
          userId: userId ?? null,
          expiresAt: expiry,
          createdBy: { kind: 'api-token', id: principal.tokenId, name: principal.name },
        });
        // The secret must not linger in caches or proxies.
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .send({ token: created.token, ...renderToken(created.view) });
      },
    );

    server.get(
      '/v1/tokens',
      {
        onRequest: adminOnly,
        schema: {
          tags: ['tokens'],
          summary: 'List API tokens, oldest first',
          security: SECURITY,
          response: { 200: Type.Object({ tokens: Type.Array(TokenSchema) }) },
        },
      },
      async () => ({ tokens: (await apiTokens.listTokens()).map(renderToken) }),
    );

    server.delete(
      '/v1/tokens/:id',
      {
        onRequest: adminOnly,
        schema: {
          tags: ['tokens'],
          summary: 'Revoke an API token (idempotent)',
          security: SECURITY,
          params: TokenIdParams,
          response: { 200: TokenSchema },
        },
      },
      async (request) => {
        const principal = principalOf(request);
        return renderToken(
          await apiTokens.revokeToken(request.params.id, {
            kind: 'api-token',
            id: principal.tokenId,
            name: principal.name,
          }),
        );
      },
    );
  },
};

function renderToken(view: ApiTokenView) {
  return {
    id: view.id,
    name: view.name,
    role: view.role,
    userId: view.userId,
    status: view.status,
    createdAt: view.createdAt.toISOString(),
    expiresAt: view.expiresAt?.toISOString() ?? null,
    revokedAt: view.revokedAt?.toISOString() ?? null,
  };
}
