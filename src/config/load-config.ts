/**
 * Loads the service configuration from `countersign.yaml`, `COUNTERSIGN_*` environment variables
 * and command-line flags (precedence: flags > environment > file > defaults). The only module that
 * interprets the environment; callers pass `process.env` in.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { dirname, isAbsolute, join, relative, resolve } from 'node:path';
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import type { TSchema } from '@sinclair/typebox';
import { Value } from '@sinclair/typebox/value';
import { isMap, isScalar, LineCounter, parseDocument, type Node as YamlNode } from 'yaml';
import { AppError, type FieldError } from '../core/errors.ts';
import {
  CONFIG_DEFAULTS,
  CONFIG_FILE_SCHEMA,
  SETTING_SCHEMAS,
  SETTING_SOURCES,
  type LogLevel,
  type SettingKey,
} from './config-schema.ts';
import { describeValueError } from './describe-value-error.ts';

/** The effective service configuration: validated, defaulted, deeply frozen. */
export interface Config {
  readonly server: {
    /** Interface to listen on. */
    readonly host: string;
    /** TCP port; 0 asks the operating system for a free one. */
    readonly port: number;
    /** The URL clients reach the service at, without a trailing slash. */
    readonly publicUrl: string;
    /**
     * Addresses and CIDR ranges of the reverse proxies in front of the service, whose
     * `X-Forwarded-For` names the client (per-address rate limits, logs). Empty: none is trusted
     * and the peer address is the client's.
     */
    readonly trustedProxies: readonly string[];
  };
  /** Absolute path of the data directory (SQLite database, demo files). */
  readonly dataDir: string;
  readonly storage: {
    readonly engine: 'sqlite' | 'postgres';
    /** PostgreSQL connection URL; a secret (it may carry a password): print it only redacted. */
    readonly url: string | null;
    readonly poolSize: number;
    readonly statementTimeoutMs: number;
    readonly connectTimeoutMs: number;
  };
  /** The process's own logging (pino). */
  readonly logging: { readonly level: LogLevel };
  /**
   * The transparency log. `origin` is the C2SP checkpoint origin (null: derived from the public
   * URL's host and the log key, see `defaultLogOrigin`); `keyFile` an explicit log key file
   * (PKCS#8 PEM, owner-only; null: the key `log` in the key backend, created on first start);
   * `nodeCacheBytes` bounds the in-memory copy of the tree's node hashes that proofs are served from.
   */
  readonly log: {
    readonly origin: string | null;
    readonly keyFile: string | null;
    readonly nodeCacheBytes: number;
  };
  /**
   * Where private keys live (CA, TSA): an encrypted keystore directory (default, its key-encryption
   * key in `kekFile`, created on first start) or a PKCS#11 token. `pkcs11Pin` is a secret: it
   * comes only from COUNTERSIGN_PKCS11_PIN and is printed redacted.
   */
  readonly keys:
    | { readonly backend: 'keystore'; readonly keystoreDir: string; readonly kekFile: string }
    | {
        readonly backend: 'pkcs11';
        readonly pkcs11Module: string;
        readonly pkcs11Token: string;
        readonly pkcs11Pin: string;
      };
  /**
   * Request limits. Body sizes in bytes: `bodyBytes` for ordinary JSON routes,
   * `evidenceBodyBytes` for routes carrying attestations. Request budgets per minute (threat
   * model I8), 0 for none: `ipRequestsPerMinute` per client address (IPv6 per /64),
   * `identityRequestsPerMinute` per authenticated workload identity, person or API token.
   */
  readonly limits: {
    readonly bodyBytes: number;
    readonly evidenceBodyBytes: number;
    readonly ipRequestsPerMinute: number;
    readonly identityRequestsPerMinute: number;
  };
  /** Serve a ready-made demo workspace (`npm start`). */
  readonly demo: boolean;
  /** Test-only fault injection (COUNTERSIGN_TEST_CRASH_AT); null in every real deployment. */
  readonly testCrashAt: 'before-commit' | 'after-commit' | null;
  /** The configuration file that was read, or null when none was. */
  readonly configFile: string | null;
}

export interface LoadConfigOptions {
  /** The environment, e.g. `process.env`. */
  readonly env: Readonly<Record<string, string | undefined>>;
  /** Command-line arguments; only the flags of `CONFIG_FLAG_OPTIONS` are read, the rest ignored. */
  readonly argv?: readonly string[];
  /** Configuration file to read when neither `--config` nor `COUNTERSIGN_CONFIG` names one. */
  readonly file?: string;
  /** Directory relative paths resolve against; `process.cwd()` when absent. */
  readonly cwd?: string;
}

/** The flags `loadConfig` reads, for `node:util` `parseArgs` in the CLI. */
export const CONFIG_FLAG_OPTIONS: ParseArgsOptionsConfig = {
  config: { type: 'string' },
  ...Object.fromEntries(
    Object.entries(SETTING_SOURCES).flatMap(([key, source]) =>
      source.flag === undefined
        ? []
        : [[source.flag, { type: key === 'demo' ? 'boolean' : 'string' } as const]],
    ),
  ),
};

/** The default configuration file, looked for in the working directory. */
export const DEFAULT_CONFIG_FILE = 'countersign.yaml';

const CONFIG_HINT =
  'fix the settings listed above; precedence is flags > COUNTERSIGN_* environment > countersign.yaml > defaults';

interface Candidate {
  readonly value: unknown;
  /** `countersign.yaml:12`, `COUNTERSIGN_PORT`, `--port`. */
  readonly source: string;
}

/**
 * Reads, merges and validates the configuration. Every problem in every source is reported at
 * once. Throws CONFIG_INVALID with one `FieldError` per problem, each naming its source.
 */
export function loadConfig(options: LoadConfigOptions): Config {
  const cwd = options.cwd ?? process.cwd();
  // Problems are listed file first, then environment, then flags, then cross-field rules.
  const flagErrors: FieldError[] = [];
  const envErrors: FieldError[] = [];
  const errors: FieldError[] = [];
  const flags = readFlags(options.argv ?? [], flagErrors);
  const env = readEnvironment(options.env, envErrors);
  const file = readConfigFile(locateConfigFile(options, flags.configPath, cwd), cwd, errors);
  errors.push(...envErrors, ...flagErrors);

  const pick = (key: SettingKey): Candidate | undefined =>
    flags.settings.get(key) ?? env.get(key) ?? file.settings.get(key);
  const value = <T>(key: SettingKey, fallback: T): T =>
    (pick(key)?.value as T | undefined) ?? fallback;

  const host = value<string>('server.host', CONFIG_DEFAULTS.host);
  const port = value<number>('server.port', CONFIG_DEFAULTS.port);
  const publicUrl = resolvePublicUrl(pick('server.publicUrl'), host, port, errors);
  const trustedProxies = parseTrustedProxies(pick('server.trustedProxies'), errors);

  const dataDirCandidate = pick('dataDir');
  const dataDirBase =
    dataDirCandidate !== undefined && dataDirCandidate === file.settings.get('dataDir')
      ? dirname(file.path ?? cwd)
      : cwd;
  const dataDir = resolve(dataDirBase, value<string>('dataDir', CONFIG_DEFAULTS.dataDir));

  const storage = resolveStorage(pick, errors);
  const keys = resolveKeys(pick, value, dataDir, errors);
  const origin = value<string | undefined>('log.origin', undefined) ?? null;
  const keyFileCandidate = value<string | undefined>('log.keyFile', undefined);
  const keyFile = keyFileCandidate === undefined ? null : resolve(dataDir, keyFileCandidate);

  if (errors.length > 0) {
    const count = errors.length === 1 ? '1 problem' : `${String(errors.length)} problems`;
    throw new AppError('CONFIG_INVALID', `configuration is invalid (${count})`, {
      errors,
      hint: CONFIG_HINT,
    });
  }

  return deepFreeze({
    server: { host, port, publicUrl: publicUrl ?? '', trustedProxies },
    dataDir,
    storage,
    logging: { level: value<LogLevel>('logging.level', CONFIG_DEFAULTS.logLevel) },
    log: {
      origin,
      keyFile,
      nodeCacheBytes: value<number>('log.nodeCacheBytes', CONFIG_DEFAULTS.logNodeCacheBytes),
    },
    keys,
    limits: {
      bodyBytes: value<number>('limits.bodyBytes', CONFIG_DEFAULTS.bodyBytes),
      evidenceBodyBytes: value<number>(
        'limits.evidenceBodyBytes',
        CONFIG_DEFAULTS.evidenceBodyBytes,
      ),
      ipRequestsPerMinute: value<number>(
        'limits.ipRequestsPerMinute',
        CONFIG_DEFAULTS.ipRequestsPerMinute,
      ),
      identityRequestsPerMinute: value<number>(
        'limits.identityRequestsPerMinute',
        CONFIG_DEFAULTS.identityRequestsPerMinute,
      ),
    },
    demo: value<boolean>('demo', CONFIG_DEFAULTS.demo),
    testCrashAt: value<'before-commit' | 'after-commit' | null>('testCrashAt', null),
    configFile: file.path ?? null,
  });
}

// ---------------------------------------------------------------------------------------------
// Sources

interface FlagSettings {
  readonly settings: Map<SettingKey, Candidate>;
  readonly configPath: string | undefined;
}

function readFlags(argv: readonly string[], errors: FieldError[]): FlagSettings {
  // Not strict: the CLI owns the full flag set and rejects unknown flags itself.
  const { values } = parseArgs({
    args: [...argv],
    options: CONFIG_FLAG_OPTIONS,
    strict: false,
    allowPositionals: true,
  });
  const settings = new Map<SettingKey, Candidate>();
  for (const key of settingKeys()) {
    const flag = SETTING_SOURCES[key].flag;
    if (flag === undefined) continue;
    const raw = values[flag];
    if (raw === undefined) continue;
    const source = `--${flag}`;
    if (key === 'demo') {
      settings.set(key, { value: raw === true, source });
      continue;
    }
    if (typeof raw !== 'string') {
      errors.push({ path: key, source, message: `${source} needs a value` });
      continue;
    }
    const candidate = coerceText(key, raw, source, errors);
    if (candidate !== undefined) settings.set(key, candidate);
  }
  const config = values['config'];
  if (config === true)
    errors.push({ path: 'config', source: '--config', message: '--config needs a value' });
  return { settings, configPath: typeof config === 'string' ? config : undefined };
}

function readEnvironment(
  env: LoadConfigOptions['env'],
  errors: FieldError[],
): Map<SettingKey, Candidate> {
  const settings = new Map<SettingKey, Candidate>();
  for (const key of settingKeys()) {
    const name = SETTING_SOURCES[key].env;
    const raw = env[name];
    // An empty variable is unset: container platforms often define variables they leave empty.
    if (raw === undefined || raw === '') continue;
    const candidate = coerceText(key, raw, name, errors);
    if (candidate !== undefined) settings.set(key, candidate);
  }
  return settings;
}

/** Turns the text of an environment variable or flag into a typed, validated value. */
function coerceText(
  key: SettingKey,
  raw: string,
  source: string,
  errors: FieldError[],
): Candidate | undefined {
  const schema: TSchema = SETTING_SCHEMAS[key];
  let value: unknown = raw;
  if (schema['type'] === 'integer') {
    if (!/^-?\d{1,15}$/.test(raw.trim())) {
      errors.push({ path: key, source, message: 'must be an integer' });
      return undefined;
    }
    value = Number(raw.trim());
  } else if (schema['type'] === 'boolean') {
    const normalized = raw.trim().toLowerCase();
    if (normalized === 'true' || normalized === '1') value = true;
    else if (normalized === 'false' || normalized === '0') value = false;
    else {
      errors.push({ path: key, source, message: 'must be true or false (or 1 or 0)' });
      return undefined;
    }
  }
  return checkLeaf(key, value, source, errors) ? { value, source } : undefined;
}

function checkLeaf(key: SettingKey, value: unknown, source: string, errors: FieldError[]): boolean {
  const schema: TSchema = SETTING_SCHEMAS[key];
  const first = Value.Errors(schema, value).First();
  if (first === undefined) return true;
  errors.push({ path: key, source, message: describeValueError(first) });
  return false;
}

interface LocatedFile {
  readonly path: string;
  /** Who named the file, for errors about the file as a whole. */
  readonly namedBy: string | undefined;
}

function locateConfigFile(
  options: LoadConfigOptions,
  flagPath: string | undefined,
  cwd: string,
): LocatedFile | undefined {
  if (flagPath !== undefined) return { path: resolve(cwd, flagPath), namedBy: '--config' };
  const fromEnv = options.env['COUNTERSIGN_CONFIG'];
  if (fromEnv !== undefined && fromEnv !== '') {
    return { path: resolve(cwd, fromEnv), namedBy: 'COUNTERSIGN_CONFIG' };
  }
  if (options.file !== undefined) return { path: resolve(cwd, options.file), namedBy: undefined };
  const fallback = resolve(cwd, DEFAULT_CONFIG_FILE);
  return existsSync(fallback) ? { path: fallback, namedBy: undefined } : undefined;
}

interface FileSettings {
  readonly path: string | undefined;
  readonly settings: Map<SettingKey, Candidate>;
}

function readConfigFile(
  located: LocatedFile | undefined,
  cwd: string,
  errors: FieldError[],
): FileSettings {
  const settings = new Map<SettingKey, Candidate>();
  if (located === undefined) return { path: undefined, settings };
  const label = displayPath(located.path, cwd);
  let text: string;
  try {
    text = readFileSync(located.path, 'utf8');
  } catch (error) {
    const reason =
      error instanceof Error && 'code' in error && error.code === 'ENOENT'
        ? 'does not exist'
        : 'cannot be read';
    errors.push({
      path: 'config',
      source: located.namedBy ?? label,
      message: `configuration file ${label} ${reason}`,
    });
    return { path: located.path, settings };
  }

  const lineCounter = new LineCounter();
  const document = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  if (document.errors.length > 0) {
    for (const error of document.errors) {
      const line = lineCounter.linePos(error.pos[0]).line;
      errors.push({
        path: '',
        source: `${label}:${String(Math.max(line, 1))}`,
        message: `not valid YAML: ${error.message.split('\n')[0] ?? error.code}`,
      });
    }
    return { path: located.path, settings };
  }

  const lines = new Map<string, number>();
  collectKeyLines(document.contents, '', lineCounter, lines);
  const lineOf = (pointer: string): number => {
    for (let at = pointer; at !== ''; at = at.slice(0, at.lastIndexOf('/'))) {
      const line = lines.get(at);
      if (line !== undefined) return line;
    }
    return 1;
  };

  const raw: unknown = document.toJS({ maxAliasCount: 50 }) ?? {};
  for (const error of Value.Errors(CONFIG_FILE_SCHEMA, raw)) {
    errors.push({
      path: pointerToKey(error.path),
      source: `${label}:${String(lineOf(error.path))}`,
      message: describeValueError(error),
    });
  }
  for (const key of settingKeys()) {
    const pointer = `/${key.replaceAll('.', '/')}`;
    const value = valueAt(raw, key);
    if (value === undefined) continue;
    // Errors for this value were reported above; only well-formed values take part in the merge.
    if (Value.Check(SETTING_SCHEMAS[key], value)) {
      settings.set(key, { value, source: `${label}:${String(lineOf(pointer))}` });
    }
  }
  return { path: located.path, settings };
}

function collectKeyLines(
  node: YamlNode | null,
  pointer: string,
  lineCounter: LineCounter,
  lines: Map<string, number>,
): void {
  if (!isMap(node)) return;
  for (const pair of node.items) {
    if (!isScalar(pair.key)) continue;
    const childPointer = `${pointer}/${String(pair.key.value)}`;
    const start = pair.key.range?.[0];
    if (start !== undefined) lines.set(childPointer, lineCounter.linePos(start).line);
    collectKeyLines(pair.value as YamlNode | null, childPointer, lineCounter, lines);
  }
}

// ---------------------------------------------------------------------------------------------
// Derived and cross-field settings

/**
 * `server.trustedProxies`: comma-separated IPv4/IPv6 addresses or CIDR ranges (`10.0.0.0/8`,
 * `fd00::/8`). A proxy not listed is not believed: its clients share its address.
 */
function parseTrustedProxies(candidate: Candidate | undefined, errors: FieldError[]): string[] {
  if (candidate === undefined) return [];
  const entries = String(candidate.value)
    .split(',')
    .map((entry) => entry.trim())
    .filter((entry) => entry !== '');
  for (const entry of entries) {
    const [address = '', prefix, extra] = entry.split('/');
    const family = isIP(address);
    const bits = family === 4 ? 32 : 128;
    const prefixOk = prefix === undefined || (/^\d{1,3}$/.test(prefix) && Number(prefix) <= bits);
    if (family === 0 || !prefixOk || extra !== undefined) {
      errors.push({
        path: 'server.trustedProxies',
        source: candidate.source,
        message: `"${entry.slice(0, 64)}" is not an IP address or CIDR range (e.g. 10.0.0.5, 10.0.0.0/8, fd00::/8)`,
      });
    }
  }
  return entries;
}

function resolvePublicUrl(
  candidate: Candidate | undefined,
  host: string,
  port: number,
  errors: FieldError[],
): string | undefined {
  if (candidate === undefined) {
    // Loopback and wildcard binds are reached as `localhost` from the machine itself.
    const shown = ['127.0.0.1', '::1', '0.0.0.0', '::'].includes(host)
      ? 'localhost'
      : host.includes(':')
        ? `[${host}]`
        : host;
    return `http://${shown}:${String(port)}`;
  }
  const text = String(candidate.value);
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    errors.push({
      path: 'server.publicUrl',
      source: candidate.source,
      message: 'must be an absolute URL',
    });
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    errors.push({
      path: 'server.publicUrl',
      source: candidate.source,
      message: 'must be an http or https URL',
    });
    return undefined;
  }
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') {
    errors.push({
      path: 'server.publicUrl',
      source: candidate.source,
      message: 'must not contain credentials, a query or a fragment',
    });
    return undefined;
  }
  return `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
}

function resolveStorage(
  pick: (key: SettingKey) => Candidate | undefined,
  errors: FieldError[],
): Config['storage'] {
  const engineCandidate = pick('storage.engine');
  const urlCandidate = pick('storage.url');
  const url = urlCandidate === undefined ? null : String(urlCandidate.value);
  // A database URL alone means PostgreSQL: `COUNTERSIGN_DATABASE_URL=…` is all it takes.
  const engine = (engineCandidate?.value ?? (url === null ? 'sqlite' : 'postgres')) as
    'sqlite' | 'postgres';

  if (engine === 'sqlite' && urlCandidate !== undefined) {
    errors.push({
      path: 'storage.url',
      source: urlCandidate.source,
      message: 'is set but storage.engine is sqlite; remove it or set storage.engine to postgres',
    });
  }
  if (engine === 'postgres' && urlCandidate === undefined) {
    errors.push({
      path: 'storage.url',
      ...(engineCandidate === undefined ? {} : { source: engineCandidate.source }),
      message: 'is required when storage.engine is postgres (or set COUNTERSIGN_DATABASE_URL)',
    });
  }
  if (
    engine === 'postgres' &&
    urlCandidate !== undefined &&
    !isPostgresUrl(String(urlCandidate.value))
  ) {
    // Never echo the value: it may carry a password.
    errors.push({
      path: 'storage.url',
      source: urlCandidate.source,
      message: 'must be a postgres:// or postgresql:// URL',
    });
  }
  const number = (key: SettingKey, fallback: number): number =>
    (pick(key)?.value as number | undefined) ?? fallback;
  return {
    engine,
    url: engine === 'postgres' ? url : null,
    poolSize: number('storage.poolSize', CONFIG_DEFAULTS.poolSize),
    statementTimeoutMs: number('storage.statementTimeoutMs', CONFIG_DEFAULTS.statementTimeoutMs),
    connectTimeoutMs: number('storage.connectTimeoutMs', CONFIG_DEFAULTS.connectTimeoutMs),
  };
}

function isPostgresUrl(text: string): boolean {
  try {
    const url = new URL(text);
    return url.protocol === 'postgres:' || url.protocol === 'postgresql:';
  } catch {
    return false;
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

function settingKeys(): SettingKey[] {
  return Object.keys(SETTING_SCHEMAS) as SettingKey[];
}

function pointerToKey(pointer: string): string {
  return pointer.replace(/^\//, '').replaceAll('/', '.');
}

function valueAt(root: unknown, key: string): unknown {
  let current = root;
  for (const part of key.split('.')) {
    if (typeof current !== 'object' || current === null || Array.isArray(current)) return undefined;
    if (!Object.hasOwn(current, part)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

function displayPath(path: string, cwd: string): string {
  const rel = relative(cwd, path);
  return rel === '' || rel.startsWith('..') || isAbsolute(rel) ? path : rel;
}

function deepFreeze<T>(value: T): T {
  if (typeof value === 'object' && value !== null && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const child of Object.values(value)) deepFreeze(child);
  }
  return value;
}

function resolveKeys(
  pick: (key: SettingKey) => Candidate | undefined,
  value: <T>(key: SettingKey, fallback: T) => T,
  dataDir: string,
  errors: FieldError[],
): Config['keys'] {
  const backend = value<'keystore' | 'pkcs11'>('keys.backend', 'keystore');
  if (backend === 'keystore') {
    return {
      backend,
      keystoreDir: resolve(dataDir, value<string>('keys.keystoreDir', join('keys', 'keystore'))),
      kekFile: resolve(dataDir, value<string>('keys.kekFile', join('keys', 'keystore.kek'))),
    };
  }
  const missing = (['keys.pkcs11Module', 'keys.pkcs11Token', 'keys.pkcs11Pin'] as const).filter(
    (key) => pick(key) === undefined,
  );
  for (const key of missing) {
    errors.push({
      path: key,
      message: `is required when keys.backend is pkcs11 (set ${SETTING_SOURCES[key].env})`,
    });
  }
  return {
    backend,
    pkcs11Module: value<string>('keys.pkcs11Module', ''),
    pkcs11Token: value<string>('keys.pkcs11Token', ''),
    pkcs11Pin: value<string>('keys.pkcs11Pin', ''),
  };
}
