/**
 * The one schema of Countersign's service configuration: what `countersign.yaml` may contain, and
 * the setting table that names each key's environment variable and command-line flag.
 */
import { Type, type TSchema } from '@sinclair/typebox';

/** Log levels (pino's, plus `silent`). */
export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;

export type LogLevel = (typeof LOG_LEVELS)[number];

/** Storage engines (DESIGN.md §4). */
export const STORAGE_ENGINES = ['sqlite', 'postgres'] as const;

const KIB = 1024;
const MIB = 1024 * KIB;

/** Defaults for every setting that has one; the rest are derived (see `loadConfig`). */
export const CONFIG_DEFAULTS = {
  host: '127.0.0.1',
  port: 8080,
  dataDir: './.countersign',
  poolSize: 10,
  statementTimeoutMs: 30_000,
  connectTimeoutMs: 5_000,
  logLevel: 'info',
  bodyBytes: 64 * KIB,
  evidenceBodyBytes: 8 * MIB,
  // Threat model I8. Per address: a busy CI fleet behind one NAT still fits; per identity: a
  // release job signing a thousand files still fits, a runaway loop does not fill the log.
  ipRequestsPerMinute: 6000,
  identityRequestsPerMinute: 1200,
  logNodeCacheBytes: 64 * MIB,
  demo: false,
} as const;

const BYTES = { minimum: KIB, maximum: 256 * MIB };

/** The schema of each leaf setting, by dotted key. Shared by the file, env and flag readers. */
export const SETTING_SCHEMAS = {
  'server.host': Type.String({ minLength: 1, maxLength: 255, pattern: '^\\S+$' }),
  'server.port': Type.Integer({ minimum: 0, maximum: 65_535 }),
  'server.publicUrl': Type.String({ minLength: 1, maxLength: 2048 }),
  // Comma-separated addresses or CIDR ranges of the reverse proxies in front of the service (see
  // `parseTrustedProxies`); empty: the peer address is the client's.
  'server.trustedProxies': Type.String({ maxLength: 4096 }),
  dataDir: Type.String({ minLength: 1, maxLength: 4096 }),
  'storage.engine': Type.Union(STORAGE_ENGINES.map((engine) => Type.Literal(engine))),
  'storage.url': Type.String({ minLength: 1, maxLength: 4096 }),
  'storage.poolSize': Type.Integer({ minimum: 1, maximum: 1000 }),
  'storage.statementTimeoutMs': Type.Integer({ minimum: 100, maximum: 3_600_000 }),
  'storage.connectTimeoutMs': Type.Integer({ minimum: 100, maximum: 600_000 }),
  'logging.level': Type.Union(LOG_LEVELS.map((level) => Type.Literal(level))),
  // A C2SP checkpoint origin: one line without `+` or control characters, no outer spaces. Inner
  // spaces are allowed: the Rekor v1 form `<host> - <treeId>` is what sigstore-go expects for
  // hashedrekord/dsse 0.0.1 entries (specs/sigstore-interop.md §3.2).
  'log.origin': Type.String({
    minLength: 1,
    maxLength: 255,
    pattern: '^[^\\s+](?:[^\\x00-\\x1f+]*[^\\s+])?$',
  }),
  'log.keyFile': Type.String({ minLength: 1, maxLength: 4096 }),
  // 0 turns the in-memory copy of the tree's node hashes off; 64 bytes per entry hold a whole log.
  'log.nodeCacheBytes': Type.Integer({ minimum: 0, maximum: 64 * 1024 * MIB }),
  'keys.backend': Type.Union([Type.Literal('keystore'), Type.Literal('pkcs11')]),
  'keys.keystoreDir': Type.String({ minLength: 1, maxLength: 4096 }),
  'keys.kekFile': Type.String({ minLength: 1, maxLength: 4096 }),
  'keys.pkcs11Module': Type.String({ minLength: 1, maxLength: 4096 }),
  'keys.pkcs11Token': Type.String({ minLength: 1, maxLength: 32 }),
  'keys.pkcs11Pin': Type.String({ minLength: 1, maxLength: 256 }),
  'limits.bodyBytes': Type.Integer(BYTES),
  'limits.evidenceBodyBytes': Type.Integer(BYTES),
  // 0 turns the limit off.
  'limits.ipRequestsPerMinute': Type.Integer({ minimum: 0, maximum: 10_000_000 }),
  'limits.identityRequestsPerMinute': Type.Integer({ minimum: 0, maximum: 10_000_000 }),
  demo: Type.Boolean(),
  // Test-only (threat-model FT-1): kill the process at this point of a batch that appends a
  // signature. Environment only; never in a configuration file.
  testCrashAt: Type.Union([Type.Literal('before-commit'), Type.Literal('after-commit')]),
} as const satisfies Record<string, TSchema>;

export type SettingKey = keyof typeof SETTING_SCHEMAS;

/** How a setting is spelt outside the file. */
export interface SettingSource {
  readonly env: string;
  /** Long flag name without the dashes, when the setting has a flag. */
  readonly flag?: string;
}

/**
 * Environment variables and flags, by key. Environment names are `COUNTERSIGN_` plus the key in
 * SCREAMING_SNAKE, except the database settings, which use the `DATABASE_` names operators expect.
 */
export const SETTING_SOURCES: Readonly<Record<SettingKey, SettingSource>> = {
  'server.host': { env: 'COUNTERSIGN_HOST', flag: 'host' },
  'server.port': { env: 'COUNTERSIGN_PORT', flag: 'port' },
  'server.publicUrl': { env: 'COUNTERSIGN_PUBLIC_URL', flag: 'public-url' },
  'server.trustedProxies': { env: 'COUNTERSIGN_TRUSTED_PROXIES' },
  dataDir: { env: 'COUNTERSIGN_DATA_DIR', flag: 'data-dir' },
  'storage.engine': { env: 'COUNTERSIGN_STORAGE_ENGINE', flag: 'storage-engine' },
  'storage.url': { env: 'COUNTERSIGN_DATABASE_URL', flag: 'database-url' },
  'storage.poolSize': { env: 'COUNTERSIGN_DATABASE_POOL_SIZE' },
  'storage.statementTimeoutMs': { env: 'COUNTERSIGN_DATABASE_STATEMENT_TIMEOUT_MS' },
  'storage.connectTimeoutMs': { env: 'COUNTERSIGN_DATABASE_CONNECT_TIMEOUT_MS' },
  'logging.level': { env: 'COUNTERSIGN_LOG_LEVEL', flag: 'log-level' },
  'log.origin': { env: 'COUNTERSIGN_LOG_ORIGIN' },
  'log.keyFile': { env: 'COUNTERSIGN_LOG_KEY_FILE' },
  'log.nodeCacheBytes': { env: 'COUNTERSIGN_LOG_NODE_CACHE_BYTES' },
  'keys.backend': { env: 'COUNTERSIGN_KEY_BACKEND' },
  'keys.keystoreDir': { env: 'COUNTERSIGN_KEYSTORE_DIR' },
  'keys.kekFile': { env: 'COUNTERSIGN_KEYSTORE_KEK_FILE' },
  'keys.pkcs11Module': { env: 'COUNTERSIGN_PKCS11_MODULE' },
  'keys.pkcs11Token': { env: 'COUNTERSIGN_PKCS11_TOKEN' },
  'keys.pkcs11Pin': { env: 'COUNTERSIGN_PKCS11_PIN' },
  'limits.bodyBytes': { env: 'COUNTERSIGN_LIMITS_BODY_BYTES' },
  'limits.evidenceBodyBytes': { env: 'COUNTERSIGN_LIMITS_EVIDENCE_BODY_BYTES' },
  'limits.ipRequestsPerMinute': { env: 'COUNTERSIGN_LIMITS_IP_REQUESTS_PER_MINUTE' },
  'limits.identityRequestsPerMinute': { env: 'COUNTERSIGN_LIMITS_IDENTITY_REQUESTS_PER_MINUTE' },
  demo: { env: 'COUNTERSIGN_DEMO', flag: 'demo' },
  testCrashAt: { env: 'COUNTERSIGN_TEST_CRASH_AT' },
};

const STRICT = { additionalProperties: false } as const;
const leaf = <K extends SettingKey>(key: K) => Type.Optional(SETTING_SCHEMAS[key]);

/** The shape of `countersign.yaml`: every key optional, unknown keys rejected. */
export const CONFIG_FILE_SCHEMA = Type.Object(
  {
    server: Type.Optional(
      Type.Object(
        {
          host: leaf('server.host'),
          port: leaf('server.port'),
          publicUrl: leaf('server.publicUrl'),
          trustedProxies: leaf('server.trustedProxies'),
        },
        STRICT,
      ),
    ),
    dataDir: leaf('dataDir'),
    storage: Type.Optional(
      Type.Object(
        {
          engine: leaf('storage.engine'),
          url: leaf('storage.url'),
          poolSize: leaf('storage.poolSize'),
          statementTimeoutMs: leaf('storage.statementTimeoutMs'),
          connectTimeoutMs: leaf('storage.connectTimeoutMs'),
        },
        STRICT,
      ),
    ),
    logging: Type.Optional(Type.Object({ level: leaf('logging.level') }, STRICT)),
    log: Type.Optional(
      Type.Object(
        {
          origin: leaf('log.origin'),
          keyFile: leaf('log.keyFile'),
          nodeCacheBytes: leaf('log.nodeCacheBytes'),
        },
        STRICT,
      ),
    ),
    keys: Type.Optional(
      Type.Object(
        {
          backend: leaf('keys.backend'),
          keystoreDir: leaf('keys.keystoreDir'),
          kekFile: leaf('keys.kekFile'),
          pkcs11Module: leaf('keys.pkcs11Module'),
          pkcs11Token: leaf('keys.pkcs11Token'),
          // No pkcs11Pin here: a PIN belongs in COUNTERSIGN_PKCS11_PIN, never in a file.
        },
        STRICT,
      ),
    ),
    limits: Type.Optional(
      Type.Object(
        {
          bodyBytes: leaf('limits.bodyBytes'),
          evidenceBodyBytes: leaf('limits.evidenceBodyBytes'),
          ipRequestsPerMinute: leaf('limits.ipRequestsPerMinute'),
          identityRequestsPerMinute: leaf('limits.identityRequestsPerMinute'),
        },
        STRICT,
      ),
    ),
    demo: leaf('demo'),
  },
  STRICT,
);
