/**
 * Real, throw-away PostgreSQL clusters for tests (STYLE.md "Tests": real components, no mocks).
 *
 * - Binaries from PATH or /usr/lib/postgresql/<version>/bin (Debian keeps initdb off PATH).
 * - PostgreSQL refuses to run as root, so when the tests run as root every server command runs as
 *   `nobody` in directories it owns.
 * - Fast: `initdb` runs once per PostgreSQL version into a cached template directory (published
 *   with an atomic rename, so concurrent test processes never see half of one); each cluster is a
 *   copy of it.
 * - Loopback TCP on a free port, trust authentication, `fsync=on` (durability is under test).
 * - `destroy()` (and process exit) stops the server and removes every file.
 *
 * A cluster started here outlives a test process killed with SIGKILL; everything else cleans up.
 */
import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  appendFileSync,
  chownSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  renameSync,
  rmSync,
} from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import pg from 'pg';

/** Why PostgreSQL tests cannot run, for `requireComponent`. */
export const POSTGRES_MISSING_REASON =
  'PostgreSQL server binaries (initdb, pg_ctl, postgres) were not found on PATH or in /usr/lib/postgresql/*/bin; install the postgresql package';

/** Bumped when the template's initdb options change, so stale caches are not reused. */
const TEMPLATE_FORMAT = 1;

export interface PostgresBinaries {
  readonly binDir: string;
  /** e.g. `15.18`. */
  readonly version: string;
}

export interface PostgresClusterOptions {
  /** Extra server settings (`postgresql.conf` lines), e.g. `{ fsync: 'off' }`. */
  readonly settings?: Readonly<Record<string, string>>;
}

export interface PostgresCluster {
  /** URL of the `postgres` database as the `postgres` superuser (trust authentication). */
  readonly url: string;
  /** PGDATA. */
  readonly dataDir: string;
  readonly port: number;
  readonly version: string;
  /** The postmaster's pid while the server runs (for kill -9 / SIGSTOP fault tests). */
  pid(): number | undefined;
  /** Creates an empty database and returns its URL. */
  createDatabase(name?: string): Promise<string>;
  /** Runs one SQL statement as superuser on `database` (default `postgres`). */
  query(text: string, database?: string): Promise<pg.QueryResult>;
  /** Stops the server and keeps the data: `fast` is a clean shutdown, `immediate` a crash. */
  stop(mode?: 'fast' | 'immediate'): Promise<void>;
  /** Starts the server again on the same data directory and port (crash recovery if needed). */
  start(): Promise<void>;
  /** Stops the server and removes every file of the cluster. Idempotent. */
  destroy(): Promise<void>;
}

interface RunAs {
  readonly uid: number;
  readonly gid: number;
}

/** Finds the PostgreSQL server binaries, newest version first; undefined when there are none. */
export function findPostgresBinaries(): PostgresBinaries | undefined {
  const candidates: string[] = [];
  for (const dir of (process.env['PATH'] ?? '').split(delimiter))
    if (dir !== '') candidates.push(dir);
  const debianRoot = '/usr/lib/postgresql';
  if (existsSync(debianRoot)) {
    const versions = readdirSync(debianRoot).sort((a, b) => Number(b) - Number(a));
    for (const version of versions) candidates.push(join(debianRoot, version, 'bin'));
  }
  for (const binDir of candidates) {
    if (!['initdb', 'pg_ctl', 'postgres'].every((name) => existsSync(join(binDir, name)))) continue;
    const result = spawnSync(join(binDir, 'postgres'), ['--version'], { encoding: 'utf8' });
    const version = /\(PostgreSQL\) (\d+(?:\.\d+)?)/.exec(result.stdout)?.[1];
    if (result.status === 0 && version !== undefined) return { binDir, version };
  }
  return undefined;
}

/**
 * Starts a fresh cluster, or resolves undefined when the binaries are missing (the caller skips
 * with {@link POSTGRES_MISSING_REASON}). Throws when the binaries exist but the server fails.
 */
export async function startPostgresCluster(
  options: PostgresClusterOptions = {},
): Promise<PostgresCluster | undefined> {
  const binaries = findPostgresBinaries();
  if (binaries === undefined) return undefined;
  const runAs = process.getuid?.() === 0 ? findUnprivilegedUser() : undefined;
  const template = await ensureTemplate(binaries, runAs);

  const root = mkdtempSync(join(tmpdir(), 'countersign-pg-'));
  if (runAs !== undefined) chownSync(root, runAs.uid, runAs.gid);
  const dataDir = join(root, 'data');
  await run('cp', ['-a', template, dataDir], runAs);
  const port = await findFreePort();
  const settings: Record<string, string> = {
    listen_addresses: "'127.0.0.1'",
    port: String(port),
    unix_socket_directories: `'${root}'`,
    fsync: 'on',
    synchronous_commit: 'on',
    full_page_writes: 'on',
    max_connections: '50',
    shared_buffers: '32MB',
    logging_collector: 'off',
  };
  for (const [name, value] of Object.entries(options.settings ?? {})) settings[name] = value;
  appendFileSync(
    join(dataDir, 'postgresql.conf'),
    `\n# countersign test harness\n${Object.entries(settings)
      .map(([name, value]) => `${name} = ${value}`)
      .join('\n')}\n`,
  );

  const pgCtl = join(binaries.binDir, 'pg_ctl');
  const logFile = join(root, 'server.log');
  let running = false;
  let destroyed = false;
  const url = `postgres://postgres@127.0.0.1:${port}/postgres`;

  const cluster: PostgresCluster = {
    url,
    dataDir,
    port,
    version: binaries.version,
    pid() {
      if (!running) return undefined;
      try {
        const pid = Number(readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]);
        return Number.isSafeInteger(pid) && pid > 0 ? pid : undefined;
      } catch {
        return undefined;
      }
    },
    async createDatabase(name = `test_${randomBytes(6).toString('hex')}`) {
      if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error(`bad database name ${name}`);
      await cluster.query(`CREATE DATABASE ${name}`);
      return `postgres://postgres@127.0.0.1:${port}/${name}`;
    },
    async query(text, database = 'postgres') {
      const client = new pg.Client({
        connectionString: `postgres://postgres@127.0.0.1:${port}/${database}`,
      });
      await client.connect();
      try {
        return await client.query(text);
      } finally {
        await client.end();
      }
    },
    async stop(mode = 'fast') {
      if (!running) return;
      await run(pgCtl, ['-D', dataDir, '-m', mode, '-w', '-t', '60', 'stop'], runAs);
      running = false;
    },
    async start() {
      if (running) return;
      try {
        await run(pgCtl, ['-D', dataDir, '-l', logFile, '-w', '-t', '60', 'start'], runAs);
      } catch (error) {
        const log = existsSync(logFile) ? readFileSync(logFile, 'utf8').slice(-2000) : '';
        throw new Error(`PostgreSQL did not start:\n${log}`, { cause: error });
      }
      running = true;
    },
    async destroy() {
      if (destroyed) return;
      destroyed = true;
      live.delete(cleanup);
      try {
        if (running) await run(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], runAs);
      } finally {
        running = false;
        rmSync(root, { recursive: true, force: true });
      }
    },
  };
  const cleanup = (): void => {
    if (running)
      spawnSync(pgCtl, ['-D', dataDir, '-m', 'immediate', '-w', 'stop'], spawnOptions(runAs));
    rmSync(root, { recursive: true, force: true });
  };
  live.add(cleanup);
  try {
    await cluster.start();
  } catch (error) {
    await cluster.destroy();
    throw error;
  }
  return cluster;
}

/** Clean-up of every cluster still alive when the process exits (synchronous: 'exit' handlers). */
const live = new Set<() => void>();
process.on('exit', () => {
  for (const cleanup of live) cleanup();
});

/** initdb once per version (and user) into a shared cache, published by an atomic rename. */
async function ensureTemplate(
  binaries: PostgresBinaries,
  runAs: RunAs | undefined,
): Promise<string> {
  const cacheRoot = join(tmpdir(), `countersign-test-cache-${process.getuid?.() ?? 0}`);
  mkdirSync(cacheRoot, { recursive: true, mode: 0o755 });
  const template = join(
    cacheRoot,
    `pg-template-${binaries.version}-f${TEMPLATE_FORMAT}-u${runAs?.uid ?? process.getuid?.() ?? 0}`,
  );
  if (existsSync(join(template, 'PG_VERSION'))) return template;
  const work = mkdtempSync(join(cacheRoot, 'pg-initdb-'));
  try {
    if (runAs !== undefined) chownSync(work, runAs.uid, runAs.gid);
    const target = join(work, 'data');
    await run(
      join(binaries.binDir, 'initdb'),
      [
        '-D',
        target,
        '-U',
        'postgres',
        '--auth=trust',
        '--encoding=UTF8',
        '--locale=C',
        // The template itself need not survive a power cut; clusters copied from it run with fsync.
        '--no-sync',
        '--no-instructions',
      ],
      runAs,
    );
    try {
      renameSync(target, template);
    } catch (error) {
      // Another process published the same template first: use theirs.
      if (!existsSync(join(template, 'PG_VERSION'))) throw error;
    }
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  return template;
}

function findUnprivilegedUser(): RunAs {
  const passwd = readFileSync('/etc/passwd', 'utf8');
  for (const line of passwd.split('\n')) {
    const [name, , uid, gid] = line.split(':');
    if (name === 'nobody' && uid !== undefined && gid !== undefined) {
      return { uid: Number(uid), gid: Number(gid) };
    }
  }
  throw new Error('running as root and there is no `nobody` user to run PostgreSQL as');
}

function spawnOptions(runAs: RunAs | undefined): {
  uid?: number;
  gid?: number;
  env: NodeJS.ProcessEnv;
  cwd: string;
} {
  const env: NodeJS.ProcessEnv = {
    PATH: process.env['PATH'] ?? '/usr/bin:/bin',
    LC_ALL: 'C',
    LANG: 'C',
  };
  return runAs === undefined
    ? { env, cwd: tmpdir() }
    : { uid: runAs.uid, gid: runAs.gid, env, cwd: tmpdir() };
}

function run(command: string, args: readonly string[], runAs: RunAs | undefined): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      ...spawnOptions(runAs),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output}`));
    });
  });
}

function findFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => {
        if (typeof address === 'object' && address !== null) resolve(address.port);
        else reject(new Error('no port'));
      });
    });
  });
}
