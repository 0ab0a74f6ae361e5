/**
 * `POST /v1/decisions`: "would this workload be allowed to sign X on this channel, and if not,
 * why?". Authenticated by the workload's own OIDC token (never an API token), in the
 * `Authorization: Bearer` header or the `identityToken` field. Answers 200 with the decision,
 * allow or deny, and records it in the transparency log; it never signs, and the token stays
 * usable (purpose `read`: its `jti` is not consumed).
 */
import { Type } from '@sinclair/typebox';
import { SUBJECT_DIGEST_ALGORITHMS } from '../../app/decide-signing.ts';
import { AppError } from '../../core/errors.ts';
import { WAIVABLE_CHECKS } from '../../core/governance/governance.ts';
import { MAX_TOKEN_BYTES } from '../../core/governance/issuer.ts';
import type { RouteModule } from '../server-deps.ts';
import { chargeIdentity } from '../request-budgets.ts';
import { readWorkloadToken } from '../workload-token.ts';
import { strictObject } from '../typebox.ts';

const NAME = Type.String({ minLength: 1, maxLength: 128 });

const ContextSchema = strictObject(
  {
    evidence: Type.Optional(
      strictObject({
        provenance: Type.Optional(
          strictObject({ present: Type.Boolean(), builderTrusted: Type.Boolean() }),
        ),
        checksPassed: Type.Optional(Type.Boolean()),
      }),
    ),
    approvals: Type.Optional(strictObject({ count: Type.Integer({ minimum: 0, maximum: 1000 }) })),
    changeWindow: Type.Optional(strictObject({ open: Type.Boolean() })),
    exception: Type.Optional(
      strictObject({
        active: Type.Boolean(),
        waives: Type.Array(Type.Union(WAIVABLE_CHECKS.map((check) => Type.Literal(check))), {
          uniqueItems: true,
          maxItems: WAIVABLE_CHECKS.length,
        }),
      }),
    ),
  },
  {
    description:
      'Facts to decide under, as the caller states them (recorded as stated): evidence, approvals, change window, exception. Absent facts count as absent.',
  },
);

const DecisionBody = strictObject({
  product: NAME,
  channel: NAME,
  subject: Type.Optional(
    strictObject({
      name: Type.String({ minLength: 1, maxLength: 1024 }),
      digest: strictObject({
        algorithm: Type.Union(
          Object.keys(SUBJECT_DIGEST_ALGORITHMS).map((name) => Type.Literal(name)),
        ),
        value: Type.String({ pattern: '^[0-9a-f]{64,128}$', description: 'lower-case hex' }),
      }),
    }),
  ),
  context: Type.Optional(ContextSchema),
  identityToken: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: MAX_TOKEN_BYTES,
      description: 'the workload OIDC token, when not sent as Authorization: Bearer',
    }),
  ),
});

const Uint64String = Type.String({ pattern: '^(0|[1-9][0-9]{0,19})$' });

export const decisionRoutes: RouteModule = {
  name: 'decisions',
  register(server, { deps }) {
    const { decisions } = deps.services;

    server.post(
      '/v1/decisions',
      {
        schema: {
          tags: ['decisions'],
          summary: 'Would this workload be allowed to sign on this channel, and if not, why?',
          description:
            'Verifies the workload OIDC token, resolves entitlements and evaluates policy; records the decision (allow or deny) as a signing.decided event. Never signs; the token is not consumed.',
          body: DecisionBody,
          response: {
            200: Type.Object({
              decision: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
              reasons: Type.Array(Type.String()),
              policyHash: Type.String(),
              governanceVersion: Type.Integer(),
              determiningPolicies: Type.Array(Type.String()),
              entitlements: Type.Object({
                matched: Type.Array(Type.String()),
                expired: Type.Array(Type.String()),
              }),
              identity: Type.Object({
                issuer: Type.String(),
                subject: Type.String(),
                identityUri: Type.String(),
                repository: Type.Optional(Type.String()),
                repositoryId: Type.Optional(Type.String()),
                ref: Type.Optional(Type.String()),
              }),
              logIndex: Uint64String,
            }),
          },
        },
      },
      async (request) => {
        const { identityToken: bodyToken, product, channel, subject, context } = request.body;
        const headerToken = readWorkloadToken(request);
        if (headerToken !== undefined && bodyToken !== undefined) {
          throw new AppError('INVALID_INPUT', 'send the identity token once: header or body', {
            errors: [
              { path: '/identityToken', message: 'conflicts with the Authorization header' },
            ],
          });
        }
        const identityToken = headerToken ?? bodyToken;
        if (identityToken === undefined) {
          throw new AppError('UNAUTHENTICATED', 'a workload identity token is required', {
            hint: 'send the CI job OIDC token as "Authorization: Bearer <token>"',
          });
        }
        // The workload's budget is spent before its decision is evaluated and logged (I8).
        const caller = await decisions.authenticate(identityToken, 'read');
        chargeIdentity(request, { kind: 'workload', identityUri: caller.identityUri });
        const decided = await decisions.decide(
          {
            identityToken,
            product,
            channel,
            ...(subject === undefined ? {} : { subject }),
            ...(context === undefined ? {} : { context }),
          },
          { purpose: 'read' },
        );
        const { workload } = decided;
        return {
          decision: decided.decision,
          reasons: [...decided.reasons],
          policyHash: decided.policyHash,
          governanceVersion: decided.governanceVersion,
          determiningPolicies: [...decided.determiningPolicies],
          entitlements: {
            matched: [...decided.entitlements.matched],
            expired: [...decided.entitlements.expired],
          },
          identity: {
            issuer: workload.issuer,
            subject: workload.subject,
            identityUri: workload.identityUri,
            ...(workload.repository === undefined ? {} : { repository: workload.repository }),
            ...(workload.repositoryId === undefined ? {} : { repositoryId: workload.repositoryId }),
            ...(workload.ref === undefined ? {} : { ref: workload.ref }),
          },
          logIndex: decided.logEntry.index.toString(),
        };
      },
    );
  },
};
