/**
 * The RFC 3161 time-stamp protocol over HTTP (RFC 3161 §3.4): `POST /v1/timestamp` with a DER
 * `TimeStampReq` as `application/timestamp-query`, answered with a DER `TimeStampResp` as
 * `application/timestamp-reply`. Public, like the log: anyone may timestamp.
 *
 * What each failure gets:
 * - a body that is not `application/timestamp-query` → 415 problem+json (HTTP-level: the client
 *   is not speaking the protocol); a body over 16 KiB → 413 problem+json;
 * - a request the TSA will not stamp (malformed DER, SHA-1, foreign policy, extensions, …) →
 *   HTTP 400 with an `application/timestamp-reply` body whose PKIStatus is `rejection` and whose
 *   `failInfo` names the reason (RFC 3161 §2.4.2). RFC 3161 leaves the HTTP status open; 400 keeps
 *   status-code monitoring honest while TSP clients still read the protocol answer;
 * - the TSA cannot sign (key backend down, certificate expired) → 503 problem+json with
 *   Retry-After: a fault of the service, not of the request.
 */
import { Counter, type Registry } from 'prom-client';
import type { TimestampAuthority } from '../../app/issue-timestamp.ts';
import { AppError } from '../../core/errors.ts';
import { sendProblem } from '../problem.ts';
import type { RouteModule } from '../server-deps.ts';

/** Media types of RFC 3161 §3.4. */
export const TIMESTAMP_QUERY_CONTENT_TYPE = 'application/timestamp-query';
export const TIMESTAMP_REPLY_CONTENT_TYPE = 'application/timestamp-reply';
/** A TimeStampReq is under 200 bytes; this leaves room and nothing more. */
export const TIMESTAMP_BODY_LIMIT_BYTES = 16 * 1024;

const METRIC = 'countersign_timestamps_total';

function timestampCounter(metrics: Registry): Counter<'outcome'> {
  const existing = metrics.getSingleMetric(METRIC);
  if (existing instanceof Counter) return existing;
  return new Counter({
    name: METRIC,
    help: 'RFC 3161 requests answered, by outcome (granted, rejected)',
    labelNames: ['outcome'],
    registers: [metrics],
  });
}

function mediaTypeOf(header: string | undefined): string {
  return (header ?? '').split(';')[0]?.trim().toLowerCase() ?? '';
}

/**
 * The timestamp route module over `authority`. Register it with the other route modules; it
 * installs its own raw-body parser, scoped to this route.
 */
export function createTimestampRoutes(authority: Pick<TimestampAuthority, 'issue'>): RouteModule {
  return {
    name: 'timestamp',
    register(server, { metrics }) {
      const answered = timestampCounter(metrics);
      void server.register((scope, _options, done) => {
        // Every body arrives as raw bytes here; the handler insists on the one media type, so a
        // wrong one gets a precise 415 rather than the JSON routes' message.
        scope.removeAllContentTypeParsers();
        scope.addContentTypeParser(
          '*',
          { parseAs: 'buffer', bodyLimit: TIMESTAMP_BODY_LIMIT_BYTES },
          (_request, body, parsed) => parsed(null, body),
        );
        scope.post(
          '/v1/timestamp',
          {
            bodyLimit: TIMESTAMP_BODY_LIMIT_BYTES,
            schema: {
              tags: ['timestamp'],
              summary: 'RFC 3161 time-stamp: a DER TimeStampReq in, a DER TimeStampResp out',
              description:
                'Send `application/timestamp-query`; the answer is `application/timestamp-reply`. ' +
                'A request the TSA refuses gets HTTP 400 with a TimeStampResp of status rejection.',
              consumes: [TIMESTAMP_QUERY_CONTENT_TYPE],
              produces: [TIMESTAMP_REPLY_CONTENT_TYPE],
            },
          },
          async (request, reply) => {
            if (mediaTypeOf(request.headers['content-type']) !== TIMESTAMP_QUERY_CONTENT_TYPE) {
              return sendProblem(
                request,
                reply,
                new AppError(
                  'INVALID_INPUT',
                  `the request body must be ${TIMESTAMP_QUERY_CONTENT_TYPE} (a DER TimeStampReq)`,
                ),
                { status: 415, title: 'Unsupported media type' },
              );
            }
            const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
            // Attacker-controlled bytes: checkTimestampRequest reads strict DER only.
            const outcome = await authority.issue(new Uint8Array(body));
            answered.inc({ outcome: outcome.status });
            if (outcome.status === 'rejected') {
              request.log.info({ failure: outcome.failure }, outcome.reason);
            }
            return reply
              .code(outcome.status === 'granted' ? 200 : 400)
              .type(TIMESTAMP_REPLY_CONTENT_TYPE)
              .header('cache-control', 'no-store')
              .send(Buffer.from(outcome.response));
          },
        );
        done();
      });
    },
  };
}
