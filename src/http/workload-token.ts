/**
 * The workload OIDC token of a request (`POST /v1/decisions`, `POST /v1/sign`): the bearer token
 * of the `Authorization` header. Not an operator API token: the workload verifier checks it.
 */
import type { FastifyRequest } from 'fastify';
import { AppError } from '../core/errors.ts';
import { MAX_TOKEN_BYTES } from '../core/governance/issuer.ts';

/** `Bearer ` plus the largest token any issuer may be configured to accept. */
const MAX_AUTHORIZATION_LENGTH = 7 + MAX_TOKEN_BYTES;

/**
 * The token of an `Authorization: Bearer …` header (attacker-controlled), or undefined. A header
 * that is present but not a bearer token is refused rather than ignored.
 */
export function readWorkloadToken(request: FastifyRequest): string | undefined {
  const header = request.headers.authorization;
  if (header === undefined) return undefined;
  if (header.length > MAX_AUTHORIZATION_LENGTH) {
    throw new AppError('UNAUTHENTICATED', 'the Authorization header is too large');
  }
  const match = /^Bearer +(\S+) *$/i.exec(header);
  if (match?.[1] === undefined) {
    throw new AppError('UNAUTHENTICATED', 'the Authorization header is not a bearer token');
  }
  return match[1];
}
