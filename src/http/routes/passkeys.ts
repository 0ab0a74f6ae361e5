/**
 * Passkeys: `POST /v1/enrolments` (admin API token: a one-time link for a user), registration
 * (`/v1/passkeys/registration/options|verify`, authenticated by the enrolment token), sign-in
 * (`/v1/passkeys/sign-in/options|verify`, which sets the session cookie), the current session
 * (`GET /v1/passkeys/session`) and `POST /v1/passkeys/sign-out`.
 */
import { Type } from '@sinclair/typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { PasskeyView } from '../../app/passkeys.ts';
import { AppError } from '../../core/errors.ts';
import { principalOf, requireApiToken } from '../authenticate.ts';
import type { RouteModule } from '../server-deps.ts';
import {
  clearSessionCookieHeader,
  hasServiceOrigin,
  readSessionCookie,
  sessionCookieHeader,
} from '../session-cookie.ts';
import { strictObject } from '../typebox.ts';

const Base64url = (maxLength: number, description?: string) =>
  Type.String({
    pattern: '^[A-Za-z0-9_-]*$',
    minLength: 1,
    maxLength,
    ...(description === undefined ? {} : { description }),
  });

const EnrolmentToken = Type.String({
  minLength: 1,
  maxLength: 100,
  description: 'The secret of the enrolment link (after #token= in its URL)',
});

const CredentialDescriptor = Type.Object({
  type: Type.Literal('public-key'),
  id: Type.String(),
});

const PasskeySchema = Type.Object({
  id: Type.String({ description: 'base64url credential id' }),
  label: Type.String(),
  algorithm: Type.Integer({ description: 'COSE algorithm: -7 ES256, -8 EdDSA, -257 RS256' }),
  createdAt: Type.String({ format: 'date-time' }),
});

const SECURITY = [{ bearerAuth: [] }];
const TAGS = ['passkeys'];

export const passkeyRoutes: RouteModule = {
  name: 'passkeys',
  register(server, { deps }) {
    const { passkeys, apiTokens } = deps.services;
    const { publicUrl } = deps.config.server;
    const limit = deps.config.limits.bodyBytes;

    /** Cookie-authenticated and cookie-setting calls must come from our own pages (CSRF). */
    const requireServiceOrigin = async (request: FastifyRequest, _reply: FastifyReply) => {
      if (!hasServiceOrigin(request, publicUrl)) {
        throw new AppError('FORBIDDEN', 'this request must come from the Countersign pages', {
          hint: `send Origin: ${new URL(publicUrl).origin}`,
        });
      }
      return Promise.resolve();
    };

    server.post(
      '/v1/enrolments',
      {
        onRequest: requireApiToken(apiTokens, ['admin']),
        bodyLimit: limit,
        schema: {
          tags: TAGS,
          summary: 'Create a one-time passkey enrolment link for a user (shown once)',
          security: SECURITY,
          body: strictObject({
            userId: Type.String({
              minLength: 1,
              maxLength: 200,
              description: 'A governance user id',
            }),
            expiresInSeconds: Type.Optional(
              Type.Integer({ minimum: 300, maximum: 7 * 86_400, description: 'Default one day' }),
            ),
          }),
          response: {
            201: Type.Object({
              id: Type.String(),
              userId: Type.String(),
              url: Type.String({
                description: 'Give this to the person, privately; it works once',
              }),
              token: Type.String(),
              expiresAt: Type.String({ format: 'date-time' }),
            }),
          },
        },
      },
      async (request, reply) => {
        const principal = principalOf(request);
        const created = await passkeys.createEnrolment({
          userId: request.body.userId,
          createdBy: { kind: 'api-token', id: principal.tokenId, name: principal.name },
          ...(request.body.expiresInSeconds === undefined
            ? {}
            : { expiresInSeconds: request.body.expiresInSeconds }),
        });
        return reply.code(201).header('cache-control', 'no-store').send({
          id: created.id,
          userId: created.userId,
          url: created.url,
          token: created.token,
          expiresAt: created.expiresAt.toISOString(),
        });
      },
    );

    server.post(
      '/v1/passkeys/registration/options',
      {
        bodyLimit: limit,
        schema: {
          tags: TAGS,
          summary: 'Options for navigator.credentials.create, for the user of an enrolment link',
          body: strictObject({ enrolmentToken: EnrolmentToken }),
          response: {
            200: Type.Object({
              userId: Type.String(),
              options: Type.Object({
                challenge: Type.String(),
                rp: Type.Object({ id: Type.String(), name: Type.String() }),
                user: Type.Object({
                  id: Type.String(),
                  name: Type.String(),
                  displayName: Type.String(),
                }),
                pubKeyCredParams: Type.Array(
                  Type.Object({ type: Type.Literal('public-key'), alg: Type.Integer() }),
                ),
                timeout: Type.Integer(),
                attestation: Type.Literal('none'),
                excludeCredentials: Type.Array(CredentialDescriptor),
                authenticatorSelection: Type.Object({
                  residentKey: Type.Literal('preferred'),
                  requireResidentKey: Type.Boolean(),
                  userVerification: Type.Literal('required'),
                }),
              }),
            }),
          },
        },
      },
      async (request, reply) => {
        const result = await passkeys.registrationOptions(request.body.enrolmentToken);
        return reply.header('cache-control', 'no-store').send(result);
      },
    );

    server.post(
      '/v1/passkeys/registration/verify',
      {
        bodyLimit: limit,
        schema: {
          tags: TAGS,
          summary: 'Register the passkey created with the options (uses up the enrolment link)',
          body: strictObject({
            enrolmentToken: EnrolmentToken,
            label: Type.Optional(Type.String({ minLength: 1, maxLength: 100 })),
            credential: strictObject({
              id: Base64url(1024, 'credential id'),
              clientDataJSON: Base64url(8192),
              attestationObject: Base64url(32_768),
              transports: Type.Optional(
                Type.Array(Type.String({ maxLength: 32 }), { maxItems: 10 }),
              ),
            }),
          }),
          response: { 201: Type.Object({ userId: Type.String(), ...PasskeySchema.properties }) },
        },
      },
      async (request, reply) => {
        const { enrolmentToken, credential, label } = request.body;
        const registered = await passkeys.verifyRegistration(enrolmentToken, credential, label);
        return reply.code(201).send({ ...renderPasskey(registered), userId: registered.userId });
      },
    );

    server.post(
      '/v1/passkeys/sign-in/options',
      {
        bodyLimit: limit,
        schema: {
          tags: TAGS,
          summary: 'Options for navigator.credentials.get to sign in with a passkey',
          body: Type.Optional(strictObject({})),
          response: {
            200: Type.Object({
              challenge: Type.String(),
              rpId: Type.String(),
              timeout: Type.Integer(),
              userVerification: Type.Literal('required'),
              allowCredentials: Type.Array(CredentialDescriptor),
            }),
          },
        },
      },
      async (_request, reply) =>
        reply.header('cache-control', 'no-store').send(await passkeys.signInOptions()),
    );

    server.post(
      '/v1/passkeys/sign-in/verify',
      {
        onRequest: requireServiceOrigin,
        bodyLimit: limit,
        schema: {
          tags: TAGS,
          summary: 'Sign in with a passkey assertion; sets the session cookie',
          body: strictObject({
            credential: strictObject({
              id: Base64url(1024, 'credential id'),
              clientDataJSON: Base64url(8192),
              authenticatorData: Base64url(2048),
              signature: Base64url(2048),
              userHandle: Type.Optional(
                Type.String({ pattern: '^[A-Za-z0-9_-]*$', maxLength: 128 }),
              ),
            }),
          }),
          response: {
            200: Type.Object({
              userId: Type.String(),
              expiresAt: Type.String({ format: 'date-time' }),
            }),
          },
        },
      },
      async (request, reply) => {
        const started = await passkeys.signIn(request.body.credential);
        return reply
          .header('set-cookie', sessionCookieHeader(started.cookieValue, publicUrl))
          .header('cache-control', 'no-store')
          .send({ userId: started.userId, expiresAt: started.expiresAt.toISOString() });
      },
    );

    server.get(
      '/v1/passkeys/session',
      {
        schema: {
          tags: TAGS,
          summary: 'Who the session cookie signs in, and their passkeys',
          response: {
            200: Type.Object({
              userId: Type.String(),
              expiresAt: Type.String({ format: 'date-time' }),
              rpId: Type.String({ description: 'The WebAuthn relying party id of this service' }),
              passkeys: Type.Array(PasskeySchema),
            }),
          },
        },
      },
      async (request, reply) => {
        const session = await passkeys.describeSession(readSessionCookie(request) ?? '');
        return reply.header('cache-control', 'no-store').send({
          userId: session.userId,
          expiresAt: session.expiresAt.toISOString(),
          rpId: new URL(publicUrl).hostname,
          passkeys: session.passkeys.map(renderPasskey),
        });
      },
    );

    server.post(
      '/v1/passkeys/sign-out',
      {
        onRequest: requireServiceOrigin,
        bodyLimit: limit,
        schema: {
          tags: TAGS,
          summary: 'End the passkey session and clear its cookie',
          body: Type.Optional(strictObject({})),
        },
      },
      async (request, reply) => {
        const value = readSessionCookie(request);
        if (value !== undefined) await passkeys.signOut(value);
        return reply.code(204).header('set-cookie', clearSessionCookieHeader(publicUrl)).send();
      },
    );
  },
};

function renderPasskey(view: PasskeyView) {
  return {
    id: view.id,
    label: view.label,
    algorithm: view.algorithm,
    createdAt: view.createdAt.toISOString(),
  };
}
