/**
 * The composition root: the one place that turns configuration into adapters (storage, clock,
 * randomness, logger), adapters into use cases, and use cases into the HTTP server. Everything
 * else receives what it needs as arguments.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger, DestinationStream } from 'pino';
import { Registry } from 'prom-client';
import packageJson from '../package.json' with { type: 'json' };
import { createGovernanceState, type GovernanceState } from './app/active-governance.ts';
import { createApiTokens } from './app/api-tokens.ts';
import { createGovernanceAdmin } from './app/apply-governance.ts';
import type { PolicyCompiler } from './app/compile-governance.ts';
import { createSigningDecisions } from './app/decide-signing.ts';
import { defaultLogOrigin } from './app/log-keys.ts';
import {
  openTransparencyLog,
  unavailableTransparencyLog,
  type TransparencyLog,
} from './app/open-transparency-log.ts';
import {
  DEV_TOKEN_DEFAULTS,
  loadDevIssuerKey,
  mintDevToken,
  startDevIssuer,
  type DevIssuer,
  type DevTokenOptions,
} from './adapters/identity/dev-issuer.ts';
import { createOidcVerifier } from './adapters/identity/oidc-verifier.ts';
import { createEphemeralKeyFactory } from './adapters/keys/ephemeral-key.ts';
import { createKeyBackend } from './adapters/keys/create-key-backend.ts';
import { loadOrCreateFileKey } from './adapters/keys/file-key.ts';
import { ensureKekFile } from './adapters/keys/kek-file.ts';
import { ensurePki, openTimestampAuthorityLazily, type PkiDeps } from './app/pki.ts';
import { createSigningService } from './app/sign.ts';
import { consumeExceptionUse, createExceptions, findUsableException } from './app/exceptions.ts';
import { createSigningRequests } from './app/signing-requests.ts';
import { createPasskeys } from './app/passkeys.ts';
import { createWebSessions } from './app/web-sessions.ts';
import { createWebhooks, createWebhookWorker, type WebhookWorker } from './app/webhooks.ts';
import { createFetchWebhookSender } from './adapters/notifications/fetch-webhook-sender.ts';
import { createCedarPolicyEngine } from './adapters/policy/cedar-policy-engine.ts';
import { readShippedPolicies } from './adapters/policy/read-policy-set.ts';
import { ensureDemoWorkspace, type DemoWorkspace } from './app/demo-workspace.ts';
import {
  migrateStorage,
  openStorage,
  type StorageOptions,
} from './adapters/storage/open-storage.ts';
import { createStorageTokenIdStore } from './adapters/storage/storage-token-id-store.ts';
import { SQLITE_DATABASE_FILE_NAME } from './adapters/storage/sqlite/open-sqlite-storage.ts';
import { createLogger } from './adapters/system/create-logger.ts';
import { cryptoRandom } from './adapters/system/crypto-random.ts';
import { openSecretFile } from './adapters/system/secret-file.ts';
import { systemClock } from './adapters/system/system-clock.ts';
import type { Config } from './config/load-config.ts';
import { AppError, isAppError } from './core/errors.ts';
import type {
  Clock,
  KeyBackend,
  KeyHandle,
  KeyPurpose,
  Random,
  Storage,
  TokenIdStore,
} from './core/ports.ts';
import { createServer } from './http/create-server.ts';
import type { AppServices, ReadinessCheck, RouteModule, Server } from './http/server-deps.ts';

/** The version of this package, as published. */
export const COUNTERSIGN_VERSION: string = packageJson.version;

/** File in the data directory holding the demo admin token (`serve --demo`). */
export const DEMO_ADMIN_TOKEN_FILE = 'demo-admin-token';

/**
 * Directory in the data directory holding the development issuer's key (created on first use,
 * mode 0700, key file 0600) and the URL it last served at (`issuer-url`).
 */
export const DEV_ISSUER_DIR = 'dev-issuer';
const DEV_ISSUER_URL_FILE = 'issuer-url';

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
  /** Used instead of the storage-backed store of single-use workload-token ids. */
  readonly tokenIds?: TokenIdStore;
  /** Used instead of the configured key backend; the caller keeps ownership and closes it. */
  readonly keys?: KeyBackend;
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
  /** The governance in force (cached per version). */
  readonly governance: GovernanceState;
  /** Where CA and TSA keys live. */
  readonly keys: KeyBackend;
  /** The PKI (root, channel CAs, TSA) over `keys` and storage. */
  readonly pki: PkiDeps;
  /** Closes what this composition opened (storage, unless it was an override). */
  close(): Promise<void>;
}

/** The service: the app plus its HTTP server, not yet listening. */
export interface ComposedService extends ComposedApp {
  readonly server: Server;
  /** The demo workspace, when `config.demo` is on. */
  readonly demo: DemoWorkspace | undefined;
  /** The development issuer the demo trusts, served on loopback while the service runs. */
  readonly devIssuer: DevIssuer | undefined;
  /** Sends queued webhook deliveries; `serve` starts it once listening, `close` stops it. */
  readonly webhookWorker: WebhookWorker;
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

/** The service checkpoints an embedded database's write-ahead log off the event loop. */
function withBackgroundCheckpoints(options: StorageOptions, logger: Logger): StorageOptions {
  if (options.engine !== 'sqlite') return options;
  return {
    ...options,
    backgroundCheckpoints: {
      onError: (problem) => logger.warn({ problem }, 'background SQLite checkpoint failed'),
    },
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
    (await openStorage(withBackgroundCheckpoints(storageOptionsOf(config), logger), {
      migrate: options.migrate ?? false,
    }));
  let log: TransparencyLog;
  let keys: KeyBackend;
  let logKey: KeyHandle;
  try {
    keys = overrides.keys ?? (await openConfiguredKeys(config));
  } catch (error) {
    if (ownsStorage) await storage.close();
    throw error;
  }
  try {
    logKey =
      config.log.keyFile === null
        ? await obtainKey(keys, LOG_KEY_ID, 'log')
        : loadOrCreateFileKey({ path: config.log.keyFile, id: LOG_KEY_ID, purpose: 'log' });
    log = await openConfiguredLog(config, storage, clock, logger, logKey);
  } catch (error) {
    if (overrides.keys === undefined) await keys.close();
    if (ownsStorage) await storage.close();
    throw error;
  }
  let compiler: PolicyCompiler;
  try {
    compiler = await loadPolicyCompiler();
  } catch (error) {
    await log.close();
    await keys.close();
    if (ownsStorage) await storage.close();
    throw error;
  }
  // Workload-token ids live in the database, so a token is single-use across every replica.
  const tokenIds = overrides.tokenIds ?? createStorageTokenIdStore({ storage, clock });
  const governance = createGovernanceState({
    storage,
    compiler,
    createVerifier: (issuers) => createOidcVerifier({ issuers, clock, tokenIds }),
  });
  const decisions = createSigningDecisions({ state: governance, events: log.events, clock });
  const baseServices = {
    apiTokens: createApiTokens({ storage, clock, random, events: log.events }),
    log: log.reader,
    governance: createGovernanceAdmin({
      storage,
      events: log.events,
      clock,
      compiler,
      state: governance,
    }),
    decisions,
  };
  const pki: PkiDeps = { serviceKeys: keys, store: storage.pki, clock, random };
  const timestamps = openTimestampAuthorityLazily(pki);
  const exceptions = createExceptions({
    storage,
    events: log.events,
    state: governance,
    clock,
    random,
  });
  const requests = createSigningRequests({
    storage,
    state: governance,
    events: log.events,
    clock,
    random,
    publicUrl: config.server.publicUrl,
  });
  const signing = createSigningService({
    requests,
    exceptions: {
      findUsable: (product, channel, now) => findUsableException(storage, product, channel, now),
      consume: consumeExceptionUse,
      logUses: () => exceptions.sweep(),
    },
    publicUrl: config.server.publicUrl,
    decisions,
    pki,
    ephemeralKeys: createEphemeralKeyFactory(),
    log,
    logKey,
    logId: log.reader.info.logId,
    timestamps,
    clock,
    random,
    trust: {
      pki: storage.pki,
      log: storage.log,
      logInfo: log.reader.info,
      publicUrl: config.server.publicUrl,
    },
  });
  const webhooks = createWebhooks({ storage, clock, random, events: log.events });
  const isKnownUser = async (userId: string) =>
    (await governance.current()).governance.users.some((user) => user.id === userId);
  const webSessions = createWebSessions({ storage, clock, random, isKnownUser });
  const passkeys = createPasskeys({
    storage,
    clock,
    random,
    events: log.events,
    governance,
    sessions: webSessions,
    publicUrl: config.server.publicUrl,
  });
  const services: AppServices = {
    ...baseServices,
    signing,
    timestamps,
    webhooks,
    exceptions,
    requests,
    passkeys,
    webSessions,
  };
  // Notices expired exceptions and overdue reviews, and logs the uses signings spent.
  const exceptionSweeper = setInterval(() => {
    exceptions.sweep().catch((error: unknown) => {
      logger.warn({ err: error }, 'exception sweep failed; the next one retries');
    });
  }, EXCEPTION_SWEEP_INTERVAL_MS);
  exceptionSweeper.unref();
  let closed: Promise<void> | undefined;
  return {
    config,
    storage,
    clock,
    random,
    logger,
    services,
    log,
    governance,
    keys,
    pki,
    close() {
      clearInterval(exceptionSweeper);
      closed ??= log
        .close()
        .then(() => (overrides.keys === undefined ? keys.close() : undefined))
        .then(() => (ownsStorage ? storage.close() : undefined));
      return closed;
    },
  };
}

/** How often expired exceptions, overdue reviews and unlogged uses are looked for. */
const EXCEPTION_SWEEP_INTERVAL_MS = 30_000;

/** Log entry kinds that carry signatures (the crash hook fires only on these). */
const SIGNATURE_ENTRY_KINDS = new Set(['hashedrekord/0.0.1', 'dsse/0.0.1']);

/** The id of the log key in the key backend. */
export const LOG_KEY_ID = 'log';

/** The key `id` of `purpose`, created in the backend on first use. */
async function obtainKey(keys: KeyBackend, id: string, purpose: KeyPurpose): Promise<KeyHandle> {
  try {
    return await keys.getKey(id, purpose);
  } catch (error) {
    if (!isAppError(error, 'NOT_FOUND')) throw error;
  }
  try {
    return await keys.createKey(id, purpose);
  } catch (error) {
    // Another replica created it first.
    if (isAppError(error, 'CONFLICT')) return keys.getKey(id, purpose);
    throw error;
  }
}

/** The configured key backend; the keystore's KEK file is created on first start. */
async function openConfiguredKeys(config: Config): Promise<KeyBackend> {
  const { keys } = config;
  switch (keys.backend) {
    case 'keystore':
      ensureKekFile(keys.kekFile);
      return createKeyBackend({ kind: 'keystore', dir: keys.keystoreDir, kekFile: keys.kekFile });
    case 'pkcs11':
      return createKeyBackend({
        kind: 'pkcs11',
        module: keys.pkcs11Module,
        tokenLabel: keys.pkcs11Token,
        pin: keys.pkcs11Pin,
      });
  }
}

/** The channel the demo workspace entitles its development issuer on. */
export const DEMO_CHANNELS = [
  { product: 'demo', channel: 'dev' },
  { product: 'demo', channel: 'staging' },
] as const;

/**
 * The log key (created on first start) and origin (derived from the public URL's host and the key
 * unless configured), then the start-up integrity check and the sequencer.
 */
async function openConfiguredLog(
  config: Config,
  storage: Storage,
  clock: Clock,
  logger: Logger,
  logKey: KeyHandle,
): Promise<TransparencyLog> {
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
  const crashAt = config.testCrashAt;
  const log = await openTransparencyLog({
    storage,
    clock,
    logKey,
    origin,
    nodeCache: {
      maxBytes: config.log.nodeCacheBytes,
      onError: (problem) =>
        logger.warn({ problem }, 'filling the log node cache failed; proofs read storage'),
    },
    ...(crashAt === null
      ? {}
      : {
          // Test-only (threat-model FT-1): die without warning inside a signature's batch.
          faultHook: (point, kinds) => {
            if (point === crashAt && kinds.some((kind) => SIGNATURE_ENTRY_KINDS.has(kind)))
              process.kill(process.pid, 'SIGKILL');
          },
        }),
  });
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
  let devIssuer: DevIssuer | undefined;
  try {
    let demo: DemoWorkspace | undefined;
    if (config.demo) {
      devIssuer = await startDemoDevIssuer(config, app.clock);
      // An online root is fine for a demo; production uses `countersign ca init --offline`.
      await ensurePki(app.pki, { organization: 'Countersign Demo', channels: DEMO_CHANNELS });
      demo = await ensureDemoWorkspace({
        apiTokens: app.services.apiTokens,
        adminTokenFile: openSecretFile(join(config.dataDir, DEMO_ADMIN_TOKEN_FILE)),
        governance: {
          admin: app.services.governance,
          devIssuerUrl: devIssuer.url,
          workload: DEV_TOKEN_DEFAULTS,
        },
      });
    }
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
        {
          name: 'keys',
          check: async () => {
            const health = await app.keys.health();
            return health.ok
              ? { ok: true }
              : {
                  ok: false,
                  code: 'KEY_UNAVAILABLE' as const,
                  problem: health.problem ?? 'the key backend cannot sign',
                };
          },
        },
        ...(overrides.readinessChecks ?? []),
      ],
    });
    let closed: Promise<void> | undefined;
    const issuer = devIssuer;
    const webhookWorker = createWebhookWorker({
      storage: app.storage,
      clock: app.clock,
      random: app.random,
      sender: createFetchWebhookSender(),
      logger: app.logger,
    });
    return {
      ...app,
      server,
      demo,
      devIssuer: issuer,
      webhookWorker,
      close() {
        closed ??= webhookWorker
          .stop()
          .then(() => server.close())
          .then(() => issuer?.close())
          .then(() => app.close());
        return closed;
      },
    };
  } catch (error) {
    await devIssuer?.close();
    await app.close();
    throw error;
  }
}

/**
 * The shipped Cedar schema and default policies, with the Cedar engine as compiler. Used by the
 * service and by the offline `countersign policy` commands, so both hash policy sets alike.
 * Throws INTERNAL when the package lacks its policies.
 */
export async function loadPolicyCompiler(): Promise<PolicyCompiler> {
  const shipped = await readShippedPolicies();
  return {
    schema: shipped.schema,
    defaults: shipped.defaults,
    compile: (set) => createCedarPolicyEngine(set),
  };
}

/**
 * The development issuer of `serve --demo`, on 127.0.0.1 (never another interface: it is
 * insecure by design). Its port is the server's plus one, so the demo issuer URL, and with it the
 * demo governance, stays the same across restarts; with `--port 0`, or when that port is taken,
 * any free port (the demo governance is then re-applied with the new URL, and logged).
 */
async function startDemoDevIssuer(config: Config, clock: Clock): Promise<DevIssuer> {
  const { port } = config.server;
  const preferred = port === 0 || port >= 65_535 ? 0 : port + 1;
  try {
    return await startDataDirDevIssuer(config.dataDir, { port: preferred, clock });
  } catch (error) {
    if (preferred === 0) throw error;
    return startDataDirDevIssuer(config.dataDir, { port: 0, clock });
  }
}

/**
 * Starts the development issuer with the data directory's key (`<dataDir>/dev-issuer/`, created
 * on first use) and records its URL there for `countersign dev token`. Refuses any host but
 * loopback with CONFIG_INVALID.
 */
export async function startDataDirDevIssuer(
  dataDir: string,
  options: { readonly host?: string; readonly port?: number; readonly clock?: Clock } = {},
): Promise<DevIssuer> {
  const keyDir = join(dataDir, DEV_ISSUER_DIR);
  const issuer = await startDevIssuer({ ...options, keyDir });
  try {
    await writeFile(join(keyDir, DEV_ISSUER_URL_FILE), `${issuer.url}\n`, { mode: 0o644 });
  } catch (error) {
    await issuer.close();
    throw new AppError('INTERNAL', `cannot write ${join(keyDir, DEV_ISSUER_URL_FILE)}`, {
      cause: error,
    });
  }
  return issuer;
}

/**
 * Mints a development token signed with the data directory's development key (created, mode
 * 0600, when absent). The issuer URL is `issuerUrl`, else the one the last development issuer of
 * this data directory served at. Throws INVALID_INPUT when neither is known or the options are
 * out of range; CONFIG_INVALID when the key file is unsafe.
 */
export async function mintDataDirDevToken(
  dataDir: string,
  options: DevTokenOptions & { readonly issuerUrl?: string },
): Promise<{ readonly token: string; readonly issuerUrl: string }> {
  const keyDir = join(dataDir, DEV_ISSUER_DIR);
  const { issuerUrl: given, ...tokenOptions } = options;
  const issuerUrl = given ?? (await readRecordedIssuerUrl(keyDir));
  if (issuerUrl === undefined) {
    throw new AppError('INVALID_INPUT', 'no development issuer has run with this data directory', {
      hint: 'start `countersign serve --demo` or `countersign dev issuer` first, or pass --issuer URL',
    });
  }
  const key = await loadDevIssuerKey(keyDir);
  return { token: await mintDevToken({ ...tokenOptions, key, issuerUrl }), issuerUrl };
}

async function readRecordedIssuerUrl(keyDir: string): Promise<string | undefined> {
  try {
    const url = (await readFile(join(keyDir, DEV_ISSUER_URL_FILE), 'utf8')).trim();
    return url === '' ? undefined : url;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AppError('INTERNAL', `cannot read ${join(keyDir, DEV_ISSUER_URL_FILE)}`, {
      cause: error,
    });
  }
}

/**
 * Where the configured embedded database would be, when it is not there: offline audits
 * (`log verify --data-dir`) read what exists and must not create an empty installation from a
 * mistyped path. Undefined for PostgreSQL, whose database the operator creates.
 */
export function missingEmbeddedDatabase(config: Config): string | undefined {
  if (config.storage.engine !== 'sqlite') return undefined;
  const path = join(config.dataDir, SQLITE_DATABASE_FILE_NAME);
  return existsSync(path) ? undefined : path;
}

/** Applies pending migrations to the configured database. Throws STORAGE_UNAVAILABLE, CONFIG_INVALID. */
export async function migrateConfiguredStorage(config: Config): ReturnType<typeof migrateStorage> {
  return migrateStorage(storageOptionsOf(config));
}

/**
 * What `countersign ca` runs on: the service's PKI (storage migrated, key backend open) and a way
 * to open an offline root's own keystore.
 */
export async function composeCaEnvironment(config: Config): Promise<{
  readonly pki: PkiDeps;
  openOfflineRootKeys(dir: string, passphrase: string, create: boolean): Promise<KeyBackend>;
  close(): Promise<void>;
}> {
  const app = await composeApp(config, { migrate: true });
  return {
    pki: app.pki,
    openOfflineRootKeys: (dir, passphrase, create) =>
      createKeyBackend({ kind: 'keystore', dir, passphrase, create }),
    close: () => app.close(),
  };
}
