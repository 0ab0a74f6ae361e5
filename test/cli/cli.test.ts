import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  baseEnv,
  collect,
  listeningUrl,
  ROOT,
  runInProcess,
  runProcess,
  spawnCli,
  waitForLine,
} from './cli-harness.ts';

const STACK_LINE = /^\s+at /m;

/** A loopback port nothing listens on. */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  assert.ok(address !== null && typeof address === 'object');
  return address.port;
}

describe('countersign CLI', () => {
  let work: string;
  before(async () => {
    work = await mkdtemp(join(tmpdir(), 'countersign-cli-'));
  });
  after(() => rm(work, { recursive: true, force: true }));

  describe('--version', () => {
    it('prints the package version through the bin launcher', async () => {
      const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8')) as {
        version: string;
      };
      const result = await runProcess(['--version'], {
        entry: join(ROOT, 'bin', 'countersign.js'),
      });
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stdout, `${version}\n`);
    });

    it('after a command, prints the version and runs nothing; as JSON with --json', async () => {
      const result = await runInProcess(['sign', 'no-such-file', '--version', '--json']);
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(Object.keys(JSON.parse(result.stdout) as object), ['version']);
      assert.equal(result.stderr, '');
    });
  });

  describe('--help', () => {
    it('lists the commands and the exit codes', async () => {
      const result = await runInProcess(['--help']);
      assert.equal(result.code, 0);
      for (const command of ['serve', 'init', 'status', 'migrate', 'config', 'token']) {
        assert.match(result.stdout, new RegExp(`^  ${command} `, 'm'));
      }
      assert.match(result.stdout, /Exit codes:/);
    });

    it('of token create explains where the token comes from', async () => {
      const result = await runInProcess(['token', 'create', '--help']);
      assert.equal(result.code, 0);
      assert.match(result.stdout, /COUNTERSIGN_TOKEN/);
      assert.match(result.stdout, /--role ROLE/);
    });
  });

  describe('an unknown command', () => {
    it('exits 2 with an error and a hint', async () => {
      const result = await runInProcess(['frobnicate']);
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        'error: unknown command "frobnicate"\nhint: run `countersign --help` for the list of commands\n',
      );
    });
  });

  describe('operands a command does not take', () => {
    it('exit 2 before anything runs, with the usage', async () => {
      const result = await runInProcess(['plan', 'governance-other.yaml']);
      assert.equal(result.code, 2);
      assert.equal(
        result.stderr,
        'error: countersign plan takes no operands, and one was given\nhint: usage: countersign plan [-f FILE] (run `countersign plan --help`)\n',
      );
      assert.equal((await runInProcess(['token', 'list', 'a', 'b'])).code, 2);
    });
  });

  describe('an option before the command', () => {
    it('exits 2 without echoing its value, which may be a secret', async () => {
      const result = await runInProcess(['--token', 'cs_secret_value', 'token', 'list']);
      assert.equal(result.code, 2);
      assert.doesNotMatch(result.stderr, /cs_secret_value/);
      assert.match(result.stderr, /^error: the command comes first; --token goes after it\n/);
    });
  });

  describe('an unknown flag', () => {
    it('exits 2 naming the flag', async () => {
      const result = await runInProcess(['token', 'list', '--port', '1']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /^error: Unknown option '--port'\nhint: /);
    });
  });

  describe('config check', () => {
    let cwd: string;
    before(async () => {
      cwd = join(work, 'config-check');
      await mkdir(cwd);
      await writeFile(
        join(cwd, 'countersign.yaml'),
        'server:\n  port: 99999\nstorage:\n  engin: sqlite\n',
      );
    });

    describe('with problems in the file, the environment and the flags', () => {
      it('exits 2 listing every problem with its source, and no stack trace', async () => {
        const result = await runProcess(['config', 'check', '--log-level', 'loud'], {
          cwd,
          env: baseEnv({ COUNTERSIGN_PUBLIC_URL: 'not a url' }),
        });
        assert.equal(result.code, 2);
        assert.equal(result.stdout, '');
        const lines = result.stderr.trimEnd().split('\n');
        assert.equal(lines[0], 'error: configuration is invalid (4 problems)');
        assert.deepEqual(
          lines.slice(1, -1).map((line) => /\(([^)]+)\)$/.exec(line)?.[1]),
          ['countersign.yaml:2', 'countersign.yaml:4', '--log-level', 'COUNTERSIGN_PUBLIC_URL'],
        );
        assert.match(lines.at(-1) ?? '', /^hint: /);
        assert.doesNotMatch(result.stderr, STACK_LINE);
      });
    });

    describe('with --json', () => {
      it('prints the failure as one JSON object', async () => {
        const result = await runInProcess(['config', 'check', '--json'], { cwd });
        assert.equal(result.code, 2);
        assert.equal(result.stderr, '');
        const document = JSON.parse(result.stdout) as {
          error: { code: string; exitCode: number; errors: unknown[] };
        };
        assert.equal(document.error.code, 'CONFIG_INVALID');
        assert.equal(document.error.exitCode, 2);
        assert.equal(document.error.errors.length, 2);
      });
    });

    describe('with COUNTERSIGN_DEBUG=1', () => {
      it('adds the stack trace', async () => {
        const result = await runInProcess(['config', 'check'], {
          cwd,
          env: { COUNTERSIGN_DEBUG: '1' },
        });
        assert.equal(result.code, 2);
        assert.match(result.stderr, STACK_LINE);
      });
    });

    describe('with a valid configuration carrying a database password', () => {
      it('prints the effective configuration with the password redacted', async () => {
        const result = await runInProcess(['config', 'check', '--json'], {
          cwd: ROOT,
          env: {
            COUNTERSIGN_DATABASE_URL: 'postgres://app:hunter2@db:5432/cs',
            COUNTERSIGN_CONFIG: '',
          },
        });
        assert.equal(result.code, 0, result.stdout);
        assert.doesNotMatch(result.stdout, /hunter2/);
        const document = JSON.parse(result.stdout) as { config: { storage: { url: string } } };
        assert.equal(document.config.storage.url, 'postgres://app:***@db:5432/cs');
      });
    });
  });

  describe('token list without a token', () => {
    it('exits 3 and says how to pass one', async () => {
      const result = await runInProcess(['token', 'list']);
      assert.equal(result.code, 3);
      assert.match(result.stderr, /^hint: .*COUNTERSIGN_TOKEN/m);
    });
  });

  describe('status against a server that is not running', () => {
    it('exits 6', async () => {
      const result = await runInProcess([
        'status',
        '--server',
        `http://127.0.0.1:${String(await closedPort())}`,
      ]);
      assert.equal(result.code, 6);
      assert.match(
        result.stderr,
        /^error: cannot reach the Countersign server at http:\/\/127\.0\.0\.1:\d+\n/,
      );
    });
  });

  describe('init, then serve', () => {
    it('creates a first admin token once, serves, and answers client commands until SIGTERM', async () => {
      const dataDir = join(work, 'installation');
      const env = baseEnv({ COUNTERSIGN_DATA_DIR: dataDir, COUNTERSIGN_LOG_LEVEL: 'warn' });

      // In process: spawning costs seconds on a busy machine, and `serve` below is spawned anyway.
      const init = await runInProcess(['init', '--json'], { env, cwd: work });
      assert.equal(init.code, 0, init.stderr);
      const { token: adminToken } = JSON.parse(init.stdout) as { token: string };
      assert.match(adminToken, /^cs_/);

      const again = await runInProcess(['init'], { env, cwd: work });
      assert.equal(again.code, 4, again.stderr);
      assert.match(again.stderr, /^error: this installation already has API tokens\nhint: /);

      const started = Date.now();
      const server = spawnCli(['serve', '--port', '0', '--json'], { env, cwd: work });
      try {
        const url = await waitForLine(server, listeningUrl, 10_000);
        const health = await fetch(`${url}/healthz`);
        assert.equal(health.status, 200);
        assert.ok(Date.now() - started < 10_000, 'answers /healthz within 10 s');

        const status = await runInProcess(['status', '--server', url]);
        assert.equal(status.code, 0, status.stderr);
        assert.match(status.stdout, /alive, ready/);

        const client = { env: { COUNTERSIGN_SERVER: url, COUNTERSIGN_TOKEN: adminToken } };
        const created = await runInProcess(
          [
            'token',
            'create',
            '--name',
            'auditor',
            '--role',
            'auditor',
            '--expires-in',
            '30d',
            '--json',
          ],
          client,
        );
        assert.equal(created.code, 0, created.stderr);
        const auditor = JSON.parse(created.stdout) as {
          id: string;
          token: string;
          expiresAt: string;
        };
        assert.ok(Date.parse(auditor.expiresAt) > Date.now() + 29 * 86_400_000);

        const listed = await runInProcess(['token', 'list'], client);
        assert.equal(listed.code, 0, listed.stderr);
        assert.match(
          listed.stdout,
          new RegExp(`^${auditor.id}\\s+auditor\\s+auditor\\s+-\\s+active`, 'm'),
        );

        const forbidden = await runInProcess(['token', 'list'], {
          env: { COUNTERSIGN_SERVER: url, COUNTERSIGN_TOKEN: auditor.token },
        });
        assert.equal(forbidden.code, 3);

        const revoked = await runInProcess(['token', 'revoke', auditor.id], client);
        assert.equal(revoked.code, 0, revoked.stderr);
        const rejected = await runInProcess(['token', 'list', '--json'], {
          env: { COUNTERSIGN_SERVER: url, COUNTERSIGN_TOKEN: auditor.token },
        });
        assert.equal(rejected.code, 3);
        assert.equal(
          (JSON.parse(rejected.stdout) as { error: { code: string } }).error.code,
          'UNAUTHENTICATED',
        );
      } finally {
        server.kill('SIGTERM');
      }
      const stopped = await collect(server);
      assert.equal(stopped.code, 0, stopped.stderr);
      assert.match(stopped.stderr, /stopped/);
    });
  });

  describe('serve --demo on a fresh data directory', () => {
    it('creates the data directory and an owner-only demo admin token, and answers /healthz', async () => {
      const dataDir = join(work, 'demo', 'nested');
      const server = spawnCli(['serve', '--demo', '--port', '0', '--json', '--data-dir', dataDir], {
        env: baseEnv({ COUNTERSIGN_LOG_LEVEL: 'warn' }),
        cwd: work,
      });
      try {
        const url = await waitForLine(server, listeningUrl, 10_000);
        assert.equal((await fetch(`${url}/healthz`)).status, 200);
        const tokenFile = join(dataDir, 'demo-admin-token');
        assert.equal((await stat(tokenFile)).mode & 0o777, 0o600);
        const token = (await readFile(tokenFile, 'utf8')).trim();
        const tokens = await fetch(`${url}/v1/tokens`, {
          headers: { authorization: `Bearer ${token}` },
        });
        assert.equal(tokens.status, 200);
      } finally {
        server.kill('SIGTERM');
      }
      assert.equal((await collect(server)).code, 0);
    });
  });
});
