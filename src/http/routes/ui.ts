/**
 * The approval page, the first slice of the dashboard (issue #6): static HTML, CSS and plain
 * browser JavaScript modules from `src/web/`, served under `/ui/`.
 *
 * DESIGN.md §4 names Vite + React for the dashboard. This slice deliberately has no build step,
 * so `npm start` and `countersign serve` keep working straight from the sources; the pages talk
 * to the HTTP API only, so they can move to the Vite app later without server changes.
 *
 * Every page is served with a strict Content-Security-Policy: scripts only from this origin, no
 * inline script or style, no framing, no third-party connections.
 */
import { readFileSync } from 'node:fs';
import { Type } from '@sinclair/typebox';
import type { RouteModule } from '../server-deps.ts';
import { strictObject } from '../typebox.ts';

/** Where the page sources live. */
const WEB_DIR = new URL('../../web/', import.meta.url);

/** Every file served, and its content type. Nothing else under /ui/ exists. */
const FILES: Readonly<Record<string, string>> = {
  'index.html': 'text/html; charset=utf-8',
  'enrol.html': 'text/html; charset=utf-8',
  'style.css': 'text/css; charset=utf-8',
  'api.js': 'text/javascript; charset=utf-8',
  'dom.js': 'text/javascript; charset=utf-8',
  'webauthn.js': 'text/javascript; charset=utf-8',
  'app.js': 'text/javascript; charset=utf-8',
  'enrol.js': 'text/javascript; charset=utf-8',
};

/** The Content-Security-Policy of every page (no inline scripts, threat-model I). */
export const UI_CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

export const uiRoutes: RouteModule = {
  name: 'ui',
  register(server) {
    // Read once at start-up: a missing file is a packaging bug and fails the start.
    const contents = new Map(
      Object.entries(FILES).map(([name, type]) => [
        name,
        { type, body: readFileSync(new URL(name, WEB_DIR)) },
      ]),
    );

    server.get('/ui', { schema: { hide: true } }, async (_request, reply) =>
      reply.redirect('/ui/', 302),
    );

    server.get('/ui/', { schema: { hide: true } }, async (_request, reply) => {
      const file = contents.get('index.html');
      if (file === undefined) return reply.callNotFound();
      return reply.headers(pageHeaders()).type(file.type).send(file.body);
    });

    server.get(
      '/ui/:file',
      { schema: { hide: true, params: strictObject({ file: Type.String({ maxLength: 64 }) }) } },
      async (request, reply) => {
        // Only the listed names: no path is ever built from the request (threat-model C9).
        const name = request.params.file;
        const file = Object.hasOwn(FILES, name) ? contents.get(name) : undefined;
        if (file === undefined) return reply.callNotFound();
        return reply.headers(pageHeaders()).type(file.type).send(file.body);
      },
    );
  },
};

function pageHeaders(): Record<string, string> {
  return {
    'content-security-policy': UI_CONTENT_SECURITY_POLICY,
    'referrer-policy': 'no-referrer',
    'x-frame-options': 'DENY',
    'cross-origin-opener-policy': 'same-origin',
    // Pages change with the service version; revalidate rather than serve a stale script.
    'cache-control': 'no-cache',
  };
}
