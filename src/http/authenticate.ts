/**
 * Bearer authentication with operator API tokens, as a route hook.
 */
import type { FastifyReply, FastifyRequest } from 'fastify';
import { requireRole, type ApiTokenPrincipal, type ApiTokens } from '../app/api-tokens.ts';
import { AppError } from '../core/errors.ts';
import type { Role } from '../core/ports.ts';
import { chargeIdentity, type BudgetIdentity } from './request-budgets.ts';

/** Longer `Authorization` headers are rejected before any parsing. */
const MAX_AUTHORIZATION_LENGTH = 512;

const principals = new WeakMap<FastifyRequest, ApiTokenPrincipal>();

/**
 * A route hook that admits requests bearing an active API token holding one of `roles`. Register
 * it as `onRequest`, so that anonymous callers are turned away before their body is even read.
 * Rejects with UNAUTHENTICATED (401, one message for every bad token) or FORBIDDEN (403).
 */
export function requireApiToken(
  apiTokens: ApiTokens,
  roles: readonly Role[],
): (request: FastifyRequest, reply: FastifyReply) => Promise<void> {
  return async (request) => {
    const principal = await apiTokens.authenticateToken(bearerToken(request));
    chargeIdentity(request, budgetIdentityOf(principal));
    requireRole(principal, roles);
    principals.set(request, principal);
    request.log.debug({ tokenId: principal.tokenId, role: principal.role }, 'authenticated');
  };
}

/** Whose budget a request made with this token spends: its person's, or the token's own. */
export function budgetIdentityOf(principal: ApiTokenPrincipal): BudgetIdentity {
  return principal.userId === null
    ? { kind: 'api-token', tokenId: principal.tokenId }
    : { kind: 'user', userId: principal.userId };
}

/** The principal `requireApiToken` admitted. Throws INTERNAL on a route without it: a wiring bug. */
export function principalOf(request: FastifyRequest): ApiTokenPrincipal {
  const principal = principals.get(request);
  if (principal === undefined) {
    throw new AppError(
      'INTERNAL',
      `route ${request.routeOptions.url ?? '?'} reads a principal it never authenticated`,
    );
  }
  return principal;
}

/** The token of an `Authorization: Bearer …` header (attacker-controlled), or undefined. */
function bearerToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined || header.length > MAX_AUTHORIZATION_LENGTH) return undefined;
  const match = /^Bearer +(\S+) *$/i.exec(header);
  return match?.[1];
}
