/**
 * The passkey session cookie on the wire: reading it from a request, setting and clearing it,
 * and the `Origin` check cookie-authenticated state changes need (CSRF; SameSite=Strict is the
 * first line, this the second).
 */
import type { FastifyRequest } from 'fastify';
import { SESSION_COOKIE, WEB_SESSION_TTL_SECONDS } from '../app/web-sessions.ts';

/** Longer `Cookie` headers are not parsed. */
const MAX_COOKIE_HEADER_LENGTH = 8192;

/** The value of the session cookie (attacker-controlled), or undefined when there is none. */
export function readSessionCookie(request: FastifyRequest): string | undefined {
  const header = request.headers.cookie;
  if (header === undefined || header.length > MAX_COOKIE_HEADER_LENGTH) return undefined;
  for (const part of header.split(';')) {
    const eq = part.indexOf('=');
    if (eq < 0) continue;
    if (part.slice(0, eq).trim() === SESSION_COOKIE) return part.slice(eq + 1).trim();
  }
  return undefined;
}

/**
 * `Set-Cookie` for a new session: HttpOnly (no script reads it), SameSite=Strict (no other site
 * sends it), Path=/ and, when the service is served over https, Secure.
 */
export function sessionCookieHeader(value: string, publicUrl: string): string {
  return [
    `${SESSION_COOKIE}=${value}`,
    'Path=/',
    `Max-Age=${String(WEB_SESSION_TTL_SECONDS)}`,
    'HttpOnly',
    'SameSite=Strict',
    ...(isHttps(publicUrl) ? ['Secure'] : []),
  ].join('; ');
}

/** `Set-Cookie` that removes the session cookie. */
export function clearSessionCookieHeader(publicUrl: string): string {
  return [
    `${SESSION_COOKIE}=`,
    'Path=/',
    'Max-Age=0',
    'HttpOnly',
    'SameSite=Strict',
    ...(isHttps(publicUrl) ? ['Secure'] : []),
  ].join('; ');
}

/** True when the request's `Origin` header is exactly the origin of `publicUrl`. */
export function hasServiceOrigin(request: FastifyRequest, publicUrl: string): boolean {
  return request.headers.origin === new URL(publicUrl).origin;
}

function isHttps(publicUrl: string): boolean {
  return new URL(publicUrl).protocol === 'https:';
}
