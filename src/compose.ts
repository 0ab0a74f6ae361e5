/**
 * The composition root: the one place that turns configuration into adapters (storage, clock,
 * randomness, logger), adapters into use cases, and use cases into the HTTP server. Everything
 * else receives what it needs as arguments.
 */
import { join } from 'node:path';
import type { Logger, DestinationStream } from 'pino';
import { Registry } from 'prom-client';
import packageJson from '../package.json' with { type: 'json' };
import { createApiTokens } from './app/api-tokens.ts';
import { defaultLogOrigin } from './app/log-keys.ts';
import {
  openTransparencyLog,
  unavailableTransparencyLog,
  type TransparencyLog,
} from './app/open-transparency-log.ts';
import { loadOrCreateFileKey } from './adapters/keys/file-key.ts';
import { ensureDemoWorkspace, type DemoWorkspace } from './app/demo-workspace.ts';
import { migrateStorage, openStorage } from './adapters/storage/open-storage.ts';
import { createLogger } from './adapters/system/create-logger.ts';
import { cryptoRandom } from './adapters/system/crypto-random.ts';
import { openSecretFile } from './adapters/system/secret-file.ts';
import { systemClock } from './adapters/system/system-clock.ts';
import type { Config } from './config/load-config.ts';
import type { Clock, Random, Storage } from './core/ports.ts';
import { createServer } from './http/create-server.ts';
import type { AppServices, ReadinessCheck, RouteModule, Server } from './http/server-deps.ts';

/** The version of this package, as published. */
export const COUNTERSIGN_VERSION: string = packageJson.version;

/** File in the data directory holding the demo admin token (`serve --demo`). */
export const DEMO_ADMIN_TOKEN_FILE = 'demo-admin-token';

/** Replacements for the real adapters, for tests and embedders. */
export interface ComposeOverrides {
  /** Used instead of opening storage from `config`; the caller keeps ownership and closes it. */
  readonly storage?: Storage;
  readonly clock?: Clock;
  readonly random?: Random;
  /** Used instead of a logger built from `config.logging.level`. */
  readonly logger?: Logger;
  /** Where the built logger writes (standard output when absent). */
  readonly logDestination?: DestinationStream;
  readonly metrics?: Registry;
  /** Route modules instead of `ROUTE_MODULES`. */
  readonly routes?: readonly RouteModule[];
  readonly readinessChecks?: readonly ReadinessCheck[];
}

/** Adapters and use cases, without the HTTP server (`countersign init` needs no more). */
export interface ComposedApp {
  readonly config: Config;
  readonly storage: Storage;
  readonly clock: Clock;
  readonly random: Random;
  readonly logger: Logger;
  readonly services: AppServices;
  /** The transparency log: reads, appends, governance events, integrity. */
  readonly log: TransparencyLog;
  /** Closes what this composition opened (storage, unless it was an override). */
  close(): Promise<void>;
}

/** The service: the app plus its HTTP server, not yet listening. */
export interface ComposedService extends ComposedApp {
  readonly server: Server;
  /** The demo workspace, when `config.demo` is on. */
  readonly demo: DemoWorkspace | undefined;
  /** Stops accepting connections, drains in-flight requests, then closes storage. */
  close(): Promise<void>;
}

/** Options of the storage adapter for `config`. */
export function storageOptionsOf(config: Config): Parameters<typeof openStorage>[0] {
  const { storage } = config;
  if (storage.engine === 'sqlite' || storage.url === null) {
    return { engine: 'sqlite', dataDir: config.dataDir };
  }
  return {
    engine: 'postgres',
    url: storage.url,
    poolSize: storage.poolSize,
    statementTimeoutMs: storage.statementTimeoutMs,
    connectTimeoutMs: storage.connectTimeoutMs,
  };
}

/**
 * Opens storage (applying pending migrations when `migrate` is true) and builds the use cases.
 * Throws STORAGE_UNAVAILABLE, CONFIG_INVALID (from the storage adapter).
 */
export async function composeApp(
  config: Config,
  options: { readonly migrate?: boolean } = {},
  overrides: ComposeOverrides = {},
): Promise<ComposedApp> {
  const clock = overrides.clock ?? systemClock;
  const random = overrides.random ?? cryptoRandom;
  const logger =
    overrides.logger ??
    createLogger({
      level: config.logging.level,
      ...(overrides.logDestination === undefined ? {} : { destination: overrides.logDestination }),
    });
  const ownsStorage = overrides.storage === undefined;
  const storage =
    overrides.storage ??
    (await openStorage(storageOptionsOf(config), { migrate: options.migrate ?? false }));
  let log: TransparencyLog;
  try {
    log = await openConfiguredLog(config, storage, clock, logger);
  } catch (error) {
    if (ownsStorage) await storage.close();
    throw error;
  }
  const services: AppServices = {
    apiTokens: createApiTokens({ storage, clock, random }),
    log: log.reader,
  };
  let closed: Promise<void> | undefined;
  return {
    config,
    storage,
    clock,
    random,
    logger,
    services,
    log,
    close() {
      closed ??= log.close().then(() => (ownsStorage ? storage.close() : undefined));
      return closed;
    },
  };
}

/**
 * The log key (created on first start) and origin (derived from the public URL's host and the key
 * unless configured), then the start-up integrity check and the sequencer.
 */
async function openConfiguredLog(
  config: Config,
  storage: Storage,
  clock: Clock,
  logger: Logger,
): Promise<TransparencyLog> {
  const logKey = loadOrCreateFileKey({ path: config.log.keyFile, id: 'log', purpose: 'log' });
  const origin =
    config.log.origin ??
    defaultLogOrigin(new URL(config.server.publicUrl).hostname, logKey.publicKeySpki);
  const health = await storage.health();
  if (health.schemaVersion !== health.codeSchemaVersion) {
    return unavailableTransparencyLog(
      storage,
      logKey,
      origin,
      'the database schema is not current; run countersign migrate',
    );
  }
  const log = await openTransparencyLog({ storage, clock, logKey, origin });
  if (!log.integrity.ok)
    logger.error(
      {
        integrity: {
          ...log.integrity,
          treeSize: String(log.integrity.treeSize),
          firstBadIndex: log.integrity.firstBadIndex?.toString(),
        },
      },
      log.readiness().problem ?? 'log integrity check failed',
    );
  return log;
}

/**
 * Composes the whole service from `config`: storage (migrated when `migrate` is true), use cases,
 * the demo workspace when `config.demo` is on, and the HTTP server, which is returned not yet
 * listening. Throws STORAGE_UNAVAILABLE, CONFIG_INVALID.
 */
export async function composeService(
  config: Config,
  options: { readonly migrate?: boolean } = {},
  overrides: ComposeOverrides = {},
): Promise<ComposedService> {
  const app = await composeApp(config, options, overrides);
  try {
    const demo = config.demo
      ? await ensureDemoWorkspace({
          apiTokens: app.services.apiTokens,
          adminTokenFile: openSecretFile(join(config.dataDir, DEMO_ADMIN_TOKEN_FILE)),
        })
      : undefined;
    const server = await createServer({
      config,
      storage: app.storage,
      clock: app.clock,
      random: app.random,
      logger: app.logger,
      services: app.services,
      metrics: overrides.metrics ?? new Registry(),
      version: COUNTERSIGN_VERSION,
      ...(overrides.routes === undefined ? {} : { routes: overrides.routes }),
      readinessChecks: [
        {
          name: 'log',
          check: () => {
            const readiness = app.log.readiness();
            return Promise.resolve(
              readiness.ok
                ? { ok: true }
                : {
                    ok: false,
                    code: 'STORAGE_UNAVAILABLE' as const,
                    problem: readiness.problem ?? 'log not ready',
                  },
            );
          },
        },
        ...(overrides.readinessChecks ?? []),
      ],
    });
    let closed: Promise<void> | undefined;
    return {
      ...app,
      server,
      demo,
      close() {
        closed ??= server.close().then(() => app.close());
        return closed;
      },
    };
  } catch (error) {
    await app.close();
    throw error;
  }
}

/** Applies pending migrations to the configured database. Throws STORAGE_UNAVAILABLE, CONFIG_INVALID. */
export async function migrateConfiguredStorage(config: Config): ReturnType<typeof migrateStorage> {
  return migrateStorage(storageOptionsOf(config));
}
