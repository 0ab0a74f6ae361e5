/**
 * Request budgets of the HTTP API (threat model I8): every request spends one from its client
 * address's budget before anything else is done, and one from its identity's budget as soon as
 * authentication has named it — a workload identity, a person, or a script's API token. A caller
 * over either budget gets 429 with `Retry-After` and nothing was done, so retrying is always safe.
 *
 * Addresses are the TCP peer's, or the client named by `X-Forwarded-For` when the peer is one of
 * `server.trustedProxies`. IPv6 addresses count per /64, the smallest block a site is handed.
 * The liveness and readiness probes and `/metrics` are exempt: an orchestrator must never see the
 * service as down because something else on its address was busy.
 */
import { isIPv4, isIPv6 } from 'node:net';
import type { FastifyRequest } from 'fastify';
import { Counter, type Registry } from 'prom-client';
import { AppError } from '../core/errors.ts';
import type { Clock } from '../core/ports.ts';
import { createRateLimiter, type RateLimiter } from '../core/rate-limiter.ts';

/** Routes never limited: probes and the metrics scrape. */
const EXEMPT_ROUTES: ReadonlySet<string> = new Set(['/healthz', '/readyz', '/metrics']);
const RATE_LIMITED_METRIC = 'countersign_rate_limited_requests_total';

/** Who an authenticated request acts as, for its budget. */
export type BudgetIdentity =
  | { readonly kind: 'workload'; readonly identityUri: string }
  | { readonly kind: 'user'; readonly userId: string }
  | { readonly kind: 'api-token'; readonly tokenId: string };

export interface RequestBudgetsOptions {
  /** Per client address; 0: unlimited. */
  readonly ipRequestsPerMinute: number;
  /** Per identity; 0: unlimited. */
  readonly identityRequestsPerMinute: number;
  readonly clock: Clock;
  readonly metrics: Registry;
}

/** The budgets of one server. */
export interface RequestBudgets {
  /** The `onRequest` hook charging the client address. Throws RATE_LIMITED. */
  chargeAddress(request: FastifyRequest): void;
}

interface Charger {
  charge(identity: BudgetIdentity): void;
  charged: boolean;
}

const chargers = new WeakMap<FastifyRequest, Charger>();

/** Creates the budgets; `chargeAddress` must run first on every request (an app-wide hook). */
export function createRequestBudgets(options: RequestBudgetsOptions): RequestBudgets {
  const { clock } = options;
  const byAddress =
    options.ipRequestsPerMinute === 0
      ? undefined
      : createRateLimiter({ perMinute: options.ipRequestsPerMinute, clock });
  const byIdentity =
    options.identityRequestsPerMinute === 0
      ? undefined
      : createRateLimiter({ perMinute: options.identityRequestsPerMinute, clock });
  const refused = rateLimitedCounter(options.metrics);

  const spend = (
    limiter: RateLimiter | undefined,
    key: string,
    scope: 'address' | 'identity',
    perMinute: number,
    who: string,
  ): void => {
    if (limiter === undefined) return;
    const outcome = limiter.take(key);
    if (outcome.allowed) return;
    refused.inc({ scope });
    throw new AppError(
      'RATE_LIMITED',
      `too many requests from ${who} (at most ${String(perMinute)} a minute); nothing was done: retry in ${String(outcome.retryAfterSeconds)} s`,
      {
        retryAfterSeconds: outcome.retryAfterSeconds,
        hint:
          scope === 'address'
            ? 'slow down; if this traffic is expected, the operator can raise limits.ipRequestsPerMinute, or list the reverse proxy in server.trustedProxies so clients behind it are told apart'
            : 'slow down; if this traffic is expected, the operator can raise limits.identityRequestsPerMinute',
      },
    );
  };

  return {
    chargeAddress(request) {
      const charger: Charger = {
        charged: false,
        charge(identity) {
          if (charger.charged) return;
          charger.charged = true;
          const who = describeIdentity(identity);
          spend(byIdentity, who, 'identity', options.identityRequestsPerMinute, who);
        },
      };
      chargers.set(request, charger);
      if (EXEMPT_ROUTES.has(request.routeOptions.url ?? '')) return;
      spend(
        byAddress,
        addressKey(request.ip),
        'address',
        options.ipRequestsPerMinute,
        'this address',
      );
    },
  };
}

/**
 * Spends one request of `identity`'s budget, once per request however many times authentication
 * runs. Call it right after a route has authenticated its caller, before any work.
 *
 * @throws {@link AppError} RATE_LIMITED; INTERNAL when the server was built without budgets.
 */
export function chargeIdentity(request: FastifyRequest, identity: BudgetIdentity): void {
  const charger = chargers.get(request);
  if (charger === undefined) {
    throw new AppError(
      'INTERNAL',
      `route ${request.routeOptions.url ?? '?'} authenticated a request the budgets never saw`,
    );
  }
  charger.charge(identity);
}

/** The bucket of a client address: IPv4 as is (also when IPv4-mapped), IPv6 by its /64. */
export function addressKey(ip: string): string {
  const mapped = /^::ffff:(\d{1,3}(?:\.\d{1,3}){3})$/i.exec(ip);
  if (mapped?.[1] !== undefined && isIPv4(mapped[1])) return mapped[1];
  if (!isIPv6(ip)) return ip;
  const groups = expandIpv6(ip);
  return `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight 16-bit groups of an IPv6 address, in lower-case hex without leading zeros. */
function expandIpv6(ip: string): string[] {
  let text = ip.split('%')[0] ?? ip;
  // A trailing dotted quad (::ffff:1.2.3.4, 64:ff9b::1.2.3.4) is two groups.
  const quad = /(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text);
  if (quad !== null) {
    const [a, b, c, d] = quad.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, quad.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', tail] = text.split('::');
  const left = head === '' ? [] : head.split(':');
  const right = tail === undefined || tail === '' ? [] : tail.split(':');
  const zeros = tail === undefined ? [] : Array<string>(8 - left.length - right.length).fill('0');
  return [...left, ...zeros, ...right].map((group) => parseInt(group, 16).toString(16));
}

/** The identity's bucket key, also how messages name it. */
function describeIdentity(identity: BudgetIdentity): string {
  switch (identity.kind) {
    case 'workload':
      return `workload ${identity.identityUri}`;
    case 'user':
      return `user ${identity.userId}`;
    case 'api-token':
      return `API token ${identity.tokenId}`;
  }
}

function rateLimitedCounter(metrics: Registry): Counter<'scope'> {
  const existing = metrics.getSingleMetric(RATE_LIMITED_METRIC);
  if (existing instanceof Counter) return existing;
  return new Counter({
    name: RATE_LIMITED_METRIC,
    help: 'Requests refused with 429 because their client address or identity was over its budget',
    labelNames: ['scope'],
    registers: [metrics],
  });
}
