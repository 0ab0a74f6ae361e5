/**
 * Authentication of people (approvers, security, admins acting as themselves): an API token
 * created for a governance user (`countersign token create --user bob`), or the passkey session
 * cookie of the approval page. Workload tokens never pass: workloads do not approve (D6).
 *
 * Whether the person may do what they ask is decided later, by the governance in force.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import type { ApiTokens } from '../app/api-tokens.ts';
import type { WebSessions } from '../app/web-sessions.ts';
import { AppError } from '../core/errors.ts';
import type { Role } from '../core/ports.ts';
import { budgetIdentityOf } from './authenticate.ts';
import { chargeIdentity } from './request-budgets.ts';
import { hasServiceOrigin, readSessionCookie } from './session-cookie.ts';

/** Longer `Authorization` headers are rejected before any parsing. */
const MAX_AUTHORIZATION_LENGTH = 512;

/** A person, and how they proved it. */
export interface HumanPrincipal {
  readonly userId: string;
  readonly via: 'api-token' | 'passkey-session';
  /** The API token's id (safe to log), when `via` is `api-token`. */
  readonly tokenId?: string;
  /** The token's role, when `via` is `api-token`: admins may act on anyone's request. */
  readonly role?: Role;
}

const humans = new WeakMap<FastifyRequest, HumanPrincipal>();

export interface HumanAuthDeps {
  readonly apiTokens: ApiTokens;
  /** Absent when the service runs without the approval page. */
  readonly webSessions?: WebSessions;
  /** `server.publicUrl`: cookie-authenticated changes must come from this origin (CSRF). */
  readonly publicUrl: string;
}

/**
 * A route hook admitting a person. Register it as `onRequest`. An `Authorization: Bearer cs_…`
 * token must act for a user (`--user`); otherwise the session cookie is tried. A state-changing
 * request authenticated by cookie must carry the service's own `Origin`.
 * Rejects with UNAUTHENTICATED (401) or FORBIDDEN (403).
 */
export function requireHuman(
  deps: HumanAuthDeps,
): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (request) => {
    const header = request.headers.authorization;
    if (header !== undefined) {
      const match =
        header.length > MAX_AUTHORIZATION_LENGTH ? null : /^Bearer +(\S+) *$/i.exec(header);
      const principal = await deps.apiTokens.authenticateToken(match?.[1]);
      chargeIdentity(request, budgetIdentityOf(principal));
      if (principal.userId === null) {
        throw new AppError(
          'FORBIDDEN',
          `API token ${principal.tokenId} does not act for a person`,
          {
            hint: 'approvals are given by people: use a token created with `countersign token create --user <your id>`, or the approval page',
          },
        );
      }
      humans.set(request, {
        userId: principal.userId,
        via: 'api-token',
        tokenId: principal.tokenId,
        role: principal.role,
      });
      request.log.debug({ tokenId: principal.tokenId, userId: principal.userId }, 'authenticated');
      return;
    }
    const cookie = readSessionCookie(request);
    if (cookie === undefined || deps.webSessions === undefined) {
      throw new AppError('UNAUTHENTICATED', 'sign in first', {
        hint: 'send "Authorization: Bearer cs_…" (a token created with --user), or sign in with a passkey at /ui/',
      });
    }
    if (request.method !== 'GET' && request.method !== 'HEAD') {
      if (!hasServiceOrigin(request, deps.publicUrl)) {
        throw new AppError('FORBIDDEN', 'cross-origin request refused');
      }
    }
    const session = await deps.webSessions.authenticate(cookie);
    chargeIdentity(request, { kind: 'user', userId: session.userId });
    humans.set(request, { userId: session.userId, via: 'passkey-session' });
    request.log.debug({ userId: session.userId }, 'authenticated by passkey session');
  };
}

/** The person `requireHuman` admitted. Throws INTERNAL on a route without it: a wiring bug. */
export function humanOf(request: FastifyRequest): HumanPrincipal {
  const human = humans.get(request);
  if (human === undefined) {
    throw new AppError(
      'INTERNAL',
      `route ${request.routeOptions.url ?? '?'} reads a person it never authenticated`,
    );
  }
  return human;
}
