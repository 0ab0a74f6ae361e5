/**
 * What `createServer` is built from, and the shape of a route module. Adding a resource to the
 * API is: a use case in `src/app`, a field in `AppServices`, a file in `src/http/routes/`, and one
 * line in `ROUTE_MODULES`.
 */
import type { IncomingMessage, Server as HttpServer, ServerResponse } from 'node:http';
import type { FastifyBaseLogger, FastifyInstance } from 'fastify';
import type { Registry } from 'prom-client';
import type { ApiTokens } from '../app/api-tokens.ts';
import type { GovernanceAdmin } from '../app/apply-governance.ts';
import type { SigningDecisions } from '../app/decide-signing.ts';
import type { LogReader } from '../app/read-log.ts';
import type { TimestampIssuer } from '../app/pki.ts';
import type { SigningService } from '../app/sign.ts';
import type { SigningRequests } from '../app/signing-requests.ts';
import type { WebSessions } from '../app/web-sessions.ts';
import type { Webhooks } from '../app/webhooks.ts';
import type { Exceptions } from '../app/exceptions.ts';
import type { Passkeys } from '../app/passkeys.ts';
import type { ErrorCode } from '../core/errors.ts';
import type { Clock, Random, Storage } from '../core/ports.ts';
import type { TypeBoxTypeProvider } from './typebox.ts';

/** The Fastify instance route modules register on, typed from TypeBox schemas. */
export type Server = FastifyInstance<
  HttpServer,
  IncomingMessage,
  ServerResponse,
  FastifyBaseLogger,
  TypeBoxTypeProvider
>;

/** The use cases the HTTP API calls, one field per resource. */
export interface AppServices {
  readonly apiTokens: ApiTokens;
  /** Reads of the transparency log. */
  readonly log: LogReader;
  /** Plan, apply and read governance (`/v1/governance`). */
  readonly governance: GovernanceAdmin;
  /** Signing decisions for workload tokens (`/v1/decisions`). */
  readonly decisions: SigningDecisions;
  /** Signatures and the trusted root (`/v1/sign`, `/v1/trust`). */
  readonly signing: SigningService;
  /** Signing requests and approvals (`/v1/requests`, `/v1/approver-keys`). */
  readonly requests: SigningRequests;
  /** The RFC 3161 timestamp authority (`/v1/timestamp`). */
  readonly timestamps: TimestampIssuer;
  /** Webhook receivers and their deliveries (`/v1/webhooks`). */
  readonly webhooks: Webhooks;
  /** Exceptions (break-glass) and their reviews (`/v1/exceptions`). */
  readonly exceptions: Exceptions;
  /** Passkey enrolment, registration, sign-in and sessions (`/v1/enrolments`, `/v1/passkeys`). */
  readonly passkeys: Passkeys;
  /** The people signed in to the approval page (`countersign_session` cookie). */
  readonly webSessions: WebSessions;
}

/** The configuration the HTTP layer reads (a subset of `Config`). */
export interface ServerConfig {
  readonly server: { readonly publicUrl: string; readonly trustedProxies: readonly string[] };
  readonly limits: {
    readonly bodyBytes: number;
    readonly evidenceBodyBytes: number;
    readonly ipRequestsPerMinute: number;
    readonly identityRequestsPerMinute: number;
  };
}

/** The outcome of one readiness check. */
export interface ReadinessOutcome {
  readonly ok: boolean;
  /** Why it is not ready, in words an operator can act on; shown on `/readyz`, so no secrets. */
  readonly problem?: string;
  /** The code reported when this check fails first; INTERNAL when absent. */
  readonly code?: ErrorCode;
}

/**
 * A readiness check run by `GET /readyz`, e.g. the transparency log's start-up verification.
 * It should answer quickly: a check that has not answered after 2 s counts as failed, as does
 * one that throws.
 */
export interface ReadinessCheck {
  /** Short stable name, e.g. `storage`, `log`. */
  readonly name: string;
  check(): Promise<ReadinessOutcome>;
}

export interface ServerDeps {
  readonly config: ServerConfig;
  readonly storage: Storage;
  readonly clock: Clock;
  /** Generates request ids. */
  readonly random: Random;
  /** A pino logger; see `src/adapters/system/create-logger.ts` for the redaction it must do. */
  readonly logger: FastifyBaseLogger;
  readonly services: AppServices;
  /** Readiness checks beyond storage, which is always checked. */
  readonly readinessChecks?: readonly ReadinessCheck[];
  /** The metrics registry `/metrics` exposes; a fresh one per server when absent. */
  readonly metrics?: Registry;
  /** Version shown in the OpenAPI document. */
  readonly version?: string;
  /** Route modules to register; `ROUTE_MODULES` when absent (tests add their own). */
  readonly routes?: readonly RouteModule[];
}

/** What a route module sees besides the server. */
export interface RouteContext {
  readonly deps: ServerDeps;
  /** The registry of this server: modules register their own metrics on it. */
  readonly metrics: Registry;
}

/** One file of `src/http/routes/`: registers the routes of one resource. */
export interface RouteModule {
  readonly name: string;
  register(server: Server, context: RouteContext): void;
}
