/**
 * Signing and trust: `POST /v1/sign` (a workload asks for a signature; the answer is a Sigstore
 * bundle once the log has committed it) and `GET /v1/trust/trusted-root.json` (what verifiers
 * need, for all channels or one).
 */
import { Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { SUBJECT_DIGEST_ALGORITHMS } from '../../app/decide-signing.ts';
import { canonicalJsonBytes } from '../../core/canonical-json.ts';
import { AppError } from '../../core/errors.ts';
import { encodeBundle } from '../../core/sigstore/bundle.ts';
import { encodeTrustedRoot } from '../../core/sigstore/trusted-root.ts';
import type { RouteModule } from '../server-deps.ts';
import { strictObject } from '../typebox.ts';
import { chargeIdentity } from '../request-budgets.ts';
import { readWorkloadToken } from '../workload-token.ts';
import { renderSigningRequest, SigningRequestSchema } from './requests.ts';

const NAME = Type.String({ minLength: 1, maxLength: 128, pattern: '^[a-z0-9][a-z0-9._-]*$' });

const SignBody = strictObject({
  product: NAME,
  channel: NAME,
  subject: strictObject({
    name: Type.String({
      minLength: 1,
      maxLength: 1024,
      description: 'the artifact name, e.g. a file name',
    }),
    digest: strictObject({
      algorithm: Type.Union(
        Object.keys(SUBJECT_DIGEST_ALGORITHMS).map((a) =>
          Type.Literal(a as keyof typeof SUBJECT_DIGEST_ALGORITHMS),
        ),
      ),
      value: Type.String({
        pattern: '^[0-9a-f]{64}([0-9a-f]{32}){0,2}$',
        description: 'lower-case hex',
      }),
    }),
  }),
  kind: Type.Union([Type.Literal('artifact'), Type.Literal('attestation')], {
    description:
      'artifact: a message signature over the digest; attestation: DSSE over `statement`',
  }),
  statement: Type.Optional(
    strictObject(
      {
        _type: Type.Literal('https://in-toto.io/Statement/v1'),
        subject: Type.Array(
          strictObject({
            name: Type.String({ maxLength: 1024 }),
            digest: Type.Record(
              Type.String({ pattern: '^[a-z0-9]{1,32}$' }),
              Type.String({ pattern: '^[0-9a-f]{1,256}$' }),
              {
                maxProperties: 8,
              },
            ),
          }),
          { minItems: 1, maxItems: 4096 },
        ),
        predicateType: Type.String({ minLength: 1, maxLength: 1024 }),
        predicate: Type.Optional(Type.Unknown({ description: 'the predicate: any JSON' })),
      },
      { description: 'an in-toto Statement v1 whose subjects include the digest' },
    ),
  ),
  requestId: Type.Optional(
    Type.String({
      minLength: 1,
      maxLength: 64,
      pattern: '^[A-Za-z0-9_-]+$',
      description:
        'the approved signing request this call completes (default: this workload’s pending request for exactly this subject)',
    }),
  ),
});

export const signingRoutes: RouteModule = {
  name: 'signing',
  register(server, { deps }) {
    const { signing, decisions } = deps.services;

    server.post(
      '/v1/sign',
      {
        bodyLimit: deps.config.limits.evidenceBodyBytes,
        // The token is checked before the body (up to evidenceBodyBytes) is read or parsed: an
        // unauthenticated caller costs no parsing, a workload over its budget none (threat model
        // I1, I8).
        onRequest: async (request) => {
          const workload = await decisions.authenticate(requireSigningToken(request));
          chargeIdentity(request, { kind: 'workload', identityUri: workload.identityUri });
        },
        schema: {
          tags: ['signing'],
          summary: 'Sign an artifact digest or an in-toto attestation as the calling workload',
          description:
            'Authenticate with the workload OIDC token as `Authorization: Bearer`. The answer is a Sigstore bundle v0.3 whose log entry is already committed, and the decision attestation as a second bundle. 202 with a signing request when only approvals are missing: follow it with `GET /v1/requests/{id}?wait=30`, then call again with a fresh token. 403 with the reasons when policy denies.',
          body: SignBody,
          response: {
            201: Type.Object({
              id: Type.String(),
              logIndex: Type.String(),
              bundle: Type.Object(
                {},
                { additionalProperties: true, description: 'Sigstore bundle v0.3 (proto3 JSON)' },
              ),
              decisionBundle: Type.Object(
                {},
                {
                  additionalProperties: true,
                  description:
                    'the decision attestation (https://countersign.dev/attestation/signing-decision/v1) as a Sigstore bundle v0.3',
                },
              ),
            }),
            202: Type.Object({
              status: Type.Literal('pending'),
              request: SigningRequestSchema,
            }),
          },
        },
      },
      async (request, reply) => {
        const identityToken = requireSigningToken(request);
        const { product, channel, subject, kind, statement, requestId } = request.body;
        if ((kind === 'attestation') !== (statement !== undefined)) {
          throw new AppError(
            'INVALID_INPUT',
            'a statement goes with kind attestation, and only with it',
            {
              errors: [
                {
                  path: '/statement',
                  message: kind === 'attestation' ? 'required' : 'only for kind attestation',
                },
              ],
            },
          );
        }
        const result = await signing.sign({
          identityToken,
          product,
          channel,
          subject,
          kind,
          ...(statement === undefined ? {} : { statement: canonicalJsonBytes(statement) }),
          ...(requestId === undefined ? {} : { requestId }),
        });
        if (result.status === 'pending') {
          return reply
            .code(202)
            .header('cache-control', 'no-store')
            .header('location', `/v1/requests/${result.request.id}`)
            .send({ status: 'pending' as const, request: renderSigningRequest(result.request) });
        }
        return reply
          .code(201)
          .header('cache-control', 'no-store')
          .send({
            id: result.id,
            logIndex: result.logIndex.toString(),
            bundle: encodeBundle(result.bundle),
            decisionBundle: encodeBundle(result.decisionBundle),
          });
      },
    );

    server.get(
      '/v1/trust/trusted-root.json',
      {
        schema: {
          tags: ['signing'],
          summary: 'The Sigstore TrustedRoot of this service (all channels, or one)',
          querystring: strictObject({ product: Type.Optional(NAME), channel: Type.Optional(NAME) }),
        },
      },
      async (request, reply) => {
        const { product, channel } = request.query;
        if ((product === undefined) !== (channel === undefined)) {
          throw new AppError('INVALID_INPUT', 'give both product and channel, or neither');
        }
        const root = await signing.trustedRoot(
          product === undefined || channel === undefined ? undefined : { product, channel },
        );
        return reply.header('cache-control', 'public, max-age=60').send(encodeTrustedRoot(root));
      },
    );
  },
};

function requireSigningToken(request: FastifyRequest): string {
  const identityToken = readWorkloadToken(request);
  if (identityToken === undefined) {
    throw new AppError(
      'UNAUTHENTICATED',
      'signing needs the workload OIDC token as Authorization: Bearer',
      { hint: 'in CI, `countersign sign` picks the token up by itself' },
    );
  }
  return identityToken;
}
