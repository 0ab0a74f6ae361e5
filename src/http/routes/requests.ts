/**
 * Signing requests and approvals (`/v1/requests`), and the approver keys people approve with
 * from the CLI (`/v1/approver-keys`). People authenticate with an API token acting for them or
 * the passkey session; the requesting workload may read and cancel its own request with its
 * OIDC token; admin tokens may read and cancel any.
 */
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import type { RequestViewer, SigningRequestView } from '../../app/signing-requests.ts';
import { MAX_WAIT_SECONDS } from '../../app/signing-requests.ts';
import { AppError } from '../../core/errors.ts';
import { API_TOKEN_PREFIX } from '../../app/api-tokens.ts';
import { budgetIdentityOf } from '../authenticate.ts';
import { humanOf, requireHuman } from '../authenticate-human.ts';
import { chargeIdentity } from '../request-budgets.ts';
import { readSessionCookie } from '../session-cookie.ts';
import type { RouteModule } from '../server-deps.ts';
import { strictObject } from '../typebox.ts';
import { readWorkloadToken } from '../workload-token.ts';

const DigestSchema = Type.Object({
  algorithm: Type.String(),
  value: Type.String({ description: 'lower-case hex' }),
});

/** A signing request as the API shows it. */
export const SigningRequestSchema = Type.Object(
  {
    id: Type.String(),
    state: Type.Union(
      ['pending', 'approved', 'signed', 'rejected', 'expired', 'cancelled'].map((s) =>
        Type.Literal(s),
      ),
      { description: '`approved`: pending, and the approvals satisfy the rule now' },
    ),
    product: Type.String(),
    channel: Type.String(),
    kind: Type.Union([Type.Literal('artifact'), Type.Literal('attestation')]),
    subjects: Type.Array(Type.Object({ name: Type.String(), digest: DigestSchema })),
    requester: Type.Object(
      {},
      { additionalProperties: true, description: 'the requesting workload’s verified identity' },
    ),
    context: Type.Object({
      reasons: Type.Array(Type.String(), { description: 'why the policy asked for approvals' }),
      governanceVersion: Type.Integer(),
      decisionLogIndex: Type.String(),
    }),
    policyHash: Type.String(),
    approvals: Type.Object({
      required: Type.Integer(),
      group: Type.Union([Type.String(), Type.Null()]),
      secondGroup: Type.Union([
        Type.Object({ group: Type.String(), required: Type.Integer() }),
        Type.Null(),
      ]),
      count: Type.Integer(),
      counted: Type.Array(Type.Object({ userId: Type.String(), group: Type.String() })),
      notCounted: Type.Array(
        Type.Object({ userId: Type.Optional(Type.String()), reason: Type.String() }),
      ),
      submitted: Type.Array(
        Type.Object({
          userId: Type.String(),
          decision: Type.Union([Type.Literal('approve'), Type.Literal('reject')]),
          comment: Type.String(),
          createdAt: Type.String({ format: 'date-time' }),
        }),
      ),
      missing: Type.String({ description: 'what is still missing, in words; empty when met' }),
    }),
    createdAt: Type.String({ format: 'date-time' }),
    expiresAt: Type.String({ format: 'date-time' }),
    closedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
    signingId: Type.Union([Type.String(), Type.Null()]),
    logIndex: Type.String({ description: 'the request.created event in the log' }),
  },
  { $id: 'SigningRequest' },
);

/** The JSON of a request view (it is plain data already). */
export function renderSigningRequest(
  view: SigningRequestView,
): Static<typeof SigningRequestSchema> {
  return view as unknown as Static<typeof SigningRequestSchema>;
}

const RequestIdParams = strictObject({
  id: Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' }),
});

const BASE64URL = Type.String({
  minLength: 1,
  maxLength: 65_536,
  pattern: '^[A-Za-z0-9_-]+={0,2}$',
});

const ApprovalBody = strictObject({
  statement: BASE64URL,
  credentialId: Type.String({ minLength: 1, maxLength: 1024 }),
  signature: BASE64URL,
  webauthn: Type.Optional(
    strictObject({ authenticatorData: BASE64URL, clientDataJSON: BASE64URL }),
  ),
});

const DraftBody = strictObject({
  decision: Type.Union([Type.Literal('approve'), Type.Literal('reject')]),
  comment: Type.String({ maxLength: 2000, default: '' }),
});

const ApproverKeyBody = strictObject({
  publicKey: Type.String({
    minLength: 1,
    maxLength: 4096,
    description: 'the P-256 public key: PEM, or base64 DER SubjectPublicKeyInfo',
  }),
  label: Type.String({ minLength: 1, maxLength: 100 }),
});

const CredentialSchema = Type.Object({
  id: Type.String(),
  kind: Type.Union([Type.Literal('ecdsa-p256'), Type.Literal('webauthn')]),
  label: Type.String(),
  createdAt: Type.String({ format: 'date-time' }),
  revokedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
});

const SECURITY = [{ bearerAuth: [] }];

export const requestRoutes: RouteModule = {
  name: 'requests',
  register(server, { deps }) {
    const { requests, apiTokens } = deps.services;
    const humanAuth = {
      apiTokens,
      publicUrl: deps.config.server.publicUrl,
      webSessions: deps.services.webSessions,
    };
    const human = requireHuman(humanAuth);

    /** Who is asking: a person, an admin or auditor token, or the requesting workload. */
    const viewerOf = async (request: FastifyRequest): Promise<RequestViewer> => {
      const bearer = readWorkloadToken(request);
      if (bearer !== undefined && !bearer.startsWith(API_TOKEN_PREFIX)) {
        const viewer = await requests.workloadViewer(bearer);
        if (viewer.kind === 'workload') {
          chargeIdentity(request, { kind: 'workload', identityUri: viewer.workload.identityUri });
        }
        return viewer;
      }
      if (bearer !== undefined) {
        const principal = await apiTokens.authenticateToken(bearer);
        chargeIdentity(request, budgetIdentityOf(principal));
        if (principal.userId !== null) return { kind: 'human', userId: principal.userId };
        if (principal.role === 'admin') return { kind: 'admin', tokenId: principal.tokenId };
        if (principal.role === 'auditor' || principal.role === 'security') {
          return { kind: 'auditor' };
        }
        throw new AppError(
          'FORBIDDEN',
          `API token ${principal.tokenId} may not read signing requests`,
        );
      }
      if (readSessionCookie(request) !== undefined) {
        await human(request, undefined as never);
        return { kind: 'human', userId: humanOf(request).userId };
      }
      throw new AppError(
        'UNAUTHENTICATED',
        'a workload token, an API token or a passkey session is required',
      );
    };

    server.get(
      '/v1/requests',
      {
        schema: {
          tags: ['approvals'],
          summary: 'List signing requests, newest first',
          security: SECURITY,
          querystring: strictObject({
            state: Type.Optional(
              Type.Union(
                ['pending', 'approved', 'signed', 'rejected', 'expired', 'cancelled'].map((s) =>
                  Type.Literal(s as 'pending'),
                ),
              ),
            ),
            product: Type.Optional(Type.String({ maxLength: 128 })),
            limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
          }),
          response: { 200: Type.Object({ requests: Type.Array(SigningRequestSchema) }) },
        },
      },
      async (request) => {
        const viewer = await viewerOf(request);
        if (viewer.kind === 'workload') {
          throw new AppError('FORBIDDEN', 'workloads read only their own request, by id');
        }
        const { state, product, limit } = request.query;
        const list = await requests.list({
          ...(state === undefined ? {} : { state }),
          ...(product === undefined ? {} : { product }),
          ...(limit === undefined ? {} : { limit }),
        });
        return { requests: list.map(renderSigningRequest) };
      },
    );

    server.get(
      '/v1/requests/:id',
      {
        schema: {
          tags: ['approvals'],
          summary: 'One signing request; `?wait=30` long-polls until it changes',
          security: SECURITY,
          params: RequestIdParams,
          querystring: strictObject({
            wait: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_WAIT_SECONDS })),
          }),
          response: { 200: SigningRequestSchema },
        },
      },
      async (request, reply) => {
        const viewer = await viewerOf(request);
        const view =
          request.query.wait === undefined || request.query.wait === 0
            ? await requests.get(request.params.id, viewer)
            : await requests.wait(request.params.id, viewer, request.query.wait);
        return reply.header('cache-control', 'no-store').send(renderSigningRequest(view));
      },
    );

    server.post(
      '/v1/requests/:id/approval-statement',
      {
        onRequest: human,
        schema: {
          tags: ['approvals'],
          summary: 'The exact approval statement bytes to sign, and their WebAuthn challenge',
          security: SECURITY,
          params: RequestIdParams,
          body: DraftBody,
          response: {
            200: Type.Object({
              statement: Type.String({ description: 'base64url canonical JSON: sign these bytes' }),
              challenge: Type.String({ description: 'base64url SHA-256 of the statement' }),
            }),
          },
        },
      },
      async (request) => {
        const draft = await requests.draftStatement(request.params.id, humanOf(request), {
          decision: request.body.decision,
          comment: request.body.comment ?? '',
        });
        return {
          statement: Buffer.from(draft.statement).toString('base64url'),
          challenge: Buffer.from(draft.challenge).toString('base64url'),
        };
      },
    );

    server.post(
      '/v1/requests/:id/approvals',
      {
        onRequest: human,
        schema: {
          tags: ['approvals'],
          summary: 'Approve or reject: a signed approval statement',
          security: SECURITY,
          params: RequestIdParams,
          body: ApprovalBody,
          response: { 200: SigningRequestSchema },
        },
      },
      async (request) => {
        const { statement, credentialId, signature, webauthn } = request.body;
        const view = await requests.submitApproval(request.params.id, humanOf(request), {
          statement: fromBase64Url(statement, '/statement'),
          credentialId,
          signature: fromBase64Url(signature, '/signature'),
          ...(webauthn === undefined
            ? {}
            : {
                webauthn: {
                  authenticatorData: fromBase64Url(
                    webauthn.authenticatorData,
                    '/webauthn/authenticatorData',
                  ),
                  clientDataJSON: fromBase64Url(
                    webauthn.clientDataJSON,
                    '/webauthn/clientDataJSON',
                  ),
                },
              }),
        });
        return renderSigningRequest(view);
      },
    );

    server.post(
      '/v1/requests/:id/cancel',
      {
        schema: {
          tags: ['approvals'],
          summary: 'Cancel a pending request (the requesting workload, or an admin token)',
          security: SECURITY,
          params: RequestIdParams,
          response: { 200: SigningRequestSchema },
        },
      },
      async (request) => {
        const viewer = await viewerOf(request);
        return renderSigningRequest(await requests.cancel(request.params.id, viewer));
      },
    );

    server.post(
      '/v1/approver-keys',
      {
        onRequest: human,
        schema: {
          tags: ['approvals'],
          summary: 'Register an ECDSA P-256 approver key for yourself (for `countersign approve`)',
          security: SECURITY,
          body: ApproverKeyBody,
          response: { 201: CredentialSchema },
        },
      },
      async (request, reply) => {
        const record = await requests.registerApproverKey(humanOf(request), {
          publicKeySpki: readPublicKey(request.body.publicKey),
          label: request.body.label,
        });
        return reply.code(201).send(renderCredential(record));
      },
    );

    server.delete(
      '/v1/approver-keys/:id',
      {
        schema: {
          tags: ['approvals'],
          summary:
            'Revoke an approver key or passkey: yours, or anyone’s with an admin token (idempotent)',
          security: SECURITY,
          params: strictObject({ id: Type.String({ minLength: 1, maxLength: 256 }) }),
          response: { 200: CredentialSchema },
        },
      },
      async (request) => {
        const viewer = await viewerOf(request);
        if (viewer.kind !== 'human' && viewer.kind !== 'admin') {
          throw new AppError(
            'FORBIDDEN',
            'a person revokes their own credentials, an admin anyone’s',
          );
        }
        return renderCredential(
          await requests.revokeCredential(
            request.params.id,
            viewer.kind === 'human'
              ? { kind: 'human', userId: viewer.userId }
              : { kind: 'admin', tokenId: viewer.tokenId },
          ),
        );
      },
    );

    server.get(
      '/v1/approver-keys',
      {
        onRequest: human,
        schema: {
          tags: ['approvals'],
          summary: 'Your approver keys and passkeys',
          security: SECURITY,
          response: { 200: Type.Object({ credentials: Type.Array(CredentialSchema) }) },
        },
      },
      async (request) => ({
        credentials: (await requests.listCredentials(humanOf(request))).map(renderCredential),
      }),
    );
  },
};

function renderCredential(record: {
  readonly id: string;
  readonly kind: 'ecdsa-p256' | 'webauthn';
  readonly label: string;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
}) {
  return {
    id: record.id,
    kind: record.kind,
    label: record.label,
    createdAt: record.createdAt.toISOString(),
    revokedAt: record.revokedAt?.toISOString() ?? null,
  };
}

function fromBase64Url(text: string, path: string): Uint8Array {
  const bytes = Buffer.from(text, 'base64url');
  if (bytes.byteLength === 0) {
    throw new AppError('INVALID_INPUT', `${path} is not base64url`, {
      errors: [{ path, message: 'expected base64url' }],
    });
  }
  return new Uint8Array(bytes);
}

/** PEM or base64 DER SPKI, as bytes (the key itself is checked by the use case). */
function readPublicKey(text: string): Uint8Array {
  const pem = /-----BEGIN PUBLIC KEY-----([\s\S]+?)-----END PUBLIC KEY-----/.exec(text);
  const body = (pem?.[1] ?? text).replace(/\s+/g, '');
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(body)) {
    throw new AppError('INVALID_INPUT', 'publicKey is neither PEM nor base64 DER', {
      errors: [{ path: '/publicKey', message: 'expected a PEM public key' }],
    });
  }
  return new Uint8Array(Buffer.from(body, 'base64'));
}
