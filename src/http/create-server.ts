/**
 * Builds the HTTP API: Fastify with TypeBox validation, problem+json errors, request ids, metrics,
 * OpenAPI and the route modules. It never listens: `countersign serve` does, tests inject.
 */
import type { IncomingHttpHeaders } from 'node:http';
import { fastify, LogController } from 'fastify';
import swagger from '@fastify/swagger';
import swaggerUi from '@fastify/swagger-ui';
import { collectDefaultMetrics, Histogram, Registry } from 'prom-client';
import { AppError } from '../core/errors.ts';
import type { Random } from '../core/ports.ts';
import { checkJsonText, decodeUtf8 } from '../core/strict-json.ts';
import { classifyError, PROBLEM_CONTENT_TYPE, sendProblem } from './problem.ts';
import { createRequestBudgets } from './request-budgets.ts';
import { ROUTE_MODULES } from './route-modules.ts';
import type { Server, ServerDeps } from './server-deps.ts';
import { compileTypeBoxValidator, registerFormats, type TypeBoxTypeProvider } from './typebox.ts';

/** A client-supplied `x-request-id` is kept when it looks like an id; otherwise one is made. */
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;
const REQUEST_DURATION_METRIC = 'http_request_duration_seconds';
/** A request still unanswered after this long is cut off: nothing in this API takes a minute. */
const REQUEST_TIMEOUT_MS = 60_000;

/**
 * Builds the server and registers every route module (`deps.routes`, or `ROUTE_MODULES`);
 * resolves once it is ready to `listen()` or `inject()`. Closing it stops accepting connections
 * and waits for in-flight requests to finish.
 */
export async function createServer(deps: ServerDeps): Promise<Server> {
  registerFormats();
  const metrics = deps.metrics ?? new Registry();
  const requestDuration = registerHttpMetrics(metrics);

  const server: Server = fastify({
    loggerInstance: deps.logger,
    logController: new LogController({ requestIdLogLabel: 'requestId' }),
    genReqId: (request) => requestIdFor(request.headers, deps.random),
    bodyLimit: deps.config.limits.bodyBytes,
    // Believe X-Forwarded-For only from the operator's own proxies (per-address budgets, logs).
    ...(deps.config.server.trustedProxies.length === 0
      ? {}
      : { trustProxy: [...deps.config.server.trustedProxies] }),
    requestTimeout: REQUEST_TIMEOUT_MS,
    return503OnClosing: true,
    forceCloseConnections: 'idle',
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    routerOptions: { maxParamLength: 200 },
    // Errors raised while routing (bad URL encoding, overlong parameters) skip the error handler.
    frameworkErrors: (error, request, reply) => {
      const { error: appError, overrides } = classifyError(error);
      void sendProblem(request, reply, appError, overrides);
    },
  }).withTypeProvider<TypeBoxTypeProvider>();

  server.setValidatorCompiler(compileTypeBoxValidator);
  // JSON only: a text body sent to a JSON route must be a 415, not a string failing validation.
  server.removeContentTypeParser('text/plain');
  // Strict JSON (src/core/strict-json.ts): one meaning or a 400, then Fastify's parser for its
  // __proto__ / constructor.prototype checks.
  const parseJson = server.getDefaultJsonParser('error', 'error');
  server.removeContentTypeParser('application/json');
  server.addContentTypeParser('application/json', { parseAs: 'buffer' }, (request, body, done) => {
    const bytes = body as Buffer;
    if (bytes.byteLength === 0) {
      done(new AppError('INVALID_INPUT', 'the request body is empty; send a JSON object'));
      return;
    }
    let text: string;
    try {
      text = decodeUtf8(bytes, 'the request body');
      checkJsonText(text, 'the request body');
    } catch (error) {
      done(error as Error);
      return;
    }
    void parseJson(request, text, done);
  });

  server.setErrorHandler((error, request, reply) => {
    const { error: appError, overrides } = classifyError(error);
    return sendProblem(request, reply, appError, overrides);
  });
  server.setNotFoundHandler((request, reply) => {
    const path = (request.url.split('?')[0] ?? '').slice(0, 200);
    return sendProblem(
      request,
      reply,
      new AppError('NOT_FOUND', `no route for ${request.method} ${path}`),
      {},
    );
  });

  const budgets = createRequestBudgets({
    ipRequestsPerMinute: deps.config.limits.ipRequestsPerMinute,
    identityRequestsPerMinute: deps.config.limits.identityRequestsPerMinute,
    clock: deps.clock,
    metrics,
  });
  server.addHook('onRequest', async (request, reply) => {
    reply.header('x-request-id', request.id);
    reply.header('x-content-type-options', 'nosniff');
    // Before any route's own hooks: an address over its budget costs no token check.
    budgets.chargeAddress(request);
  });
  // Once closing, answers in flight tell their client to hang up: a kept-alive connection would
  // otherwise hold `close()` open until the keep-alive timeout.
  let closing = false;
  server.addHook('preClose', (done) => {
    closing = true;
    done();
  });
  server.addHook('onSend', (_request, reply, payload, done) => {
    if (closing) reply.header('connection', 'close');
    done(null, payload);
  });
  server.addHook('onResponse', async (request, reply) => {
    requestDuration.observe(
      {
        method: request.method,
        // The route pattern, never the raw URL: one series per route, whatever clients send.
        route: request.routeOptions.url ?? 'unmatched',
        status_code: String(reply.statusCode),
      },
      reply.elapsedTime / 1000,
    );
  });

  await server.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {
        title: 'Countersign',
        version: deps.version ?? '0.0.0',
        description: `Software signing governance. Errors are ${PROBLEM_CONTENT_TYPE} (RFC 9457) with a stable \`code\`.`,
      },
      servers: [{ url: deps.config.server.publicUrl }],
      components: {
        securitySchemes: {
          bearerAuth: {
            type: 'http',
            scheme: 'bearer',
            description: 'An operator API token: cs_<id>_<secret>',
          },
        },
      },
    },
  });
  await server.register(swaggerUi, { routePrefix: '/docs', staticCSP: true });

  for (const module of deps.routes ?? ROUTE_MODULES) {
    module.register(server, { deps, metrics });
  }
  await server.ready();
  return server;
}

function requestIdFor(headers: IncomingHttpHeaders, random: Random): string {
  const supplied = headers['x-request-id'];
  if (typeof supplied === 'string' && REQUEST_ID_PATTERN.test(supplied)) return supplied;
  return Buffer.from(random.bytes(12)).toString('base64url');
}

/** Default process metrics and the request histogram, once per registry. */
function registerHttpMetrics(metrics: Registry): Histogram<'method' | 'route' | 'status_code'> {
  if (metrics.getSingleMetric('process_cpu_user_seconds_total') === undefined) {
    collectDefaultMetrics({ register: metrics });
  }
  const existing = metrics.getSingleMetric(REQUEST_DURATION_METRIC);
  if (existing instanceof Histogram) return existing;
  return new Histogram({
    name: REQUEST_DURATION_METRIC,
    help: 'HTTP request duration in seconds, by method, route pattern and status code',
    labelNames: ['method', 'route', 'status_code'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [metrics],
  });
}
