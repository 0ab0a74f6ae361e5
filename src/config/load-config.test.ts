import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { AppError, type FieldError } from '../core/errors.ts';
import { loadConfig, type LoadConfigOptions } from './load-config.ts';

/** The field errors of the CONFIG_INVALID that `load` throws, as `source path` strings. */
function problemsOf(load: () => unknown): string[] {
  try {
    load();
  } catch (error) {
    assert.ok(error instanceof AppError);
    assert.equal(error.code, 'CONFIG_INVALID');
    return error.errors.map((field: FieldError) => `${field.source ?? '-'} ${field.path}`);
  }
  assert.fail('expected CONFIG_INVALID');
}

describe('loadConfig', () => {
  let cwd: string;
  before(async () => {
    cwd = await mkdtemp(join(tmpdir(), 'countersign-config-'));
  });
  after(() => rm(cwd, { recursive: true, force: true }));

  const load = (options: Partial<LoadConfigOptions> = {}) =>
    loadConfig({ env: {}, cwd, ...options });
  const writeYaml = async (name: string, text: string): Promise<string> => {
    const path = join(cwd, name);
    await writeFile(path, text);
    return path;
  };

  describe('with no file, environment or flags', () => {
    it('returns the defaults', () => {
      assert.deepEqual(load(), {
        server: {
          host: '127.0.0.1',
          port: 8080,
          publicUrl: 'http://localhost:8080',
          trustedProxies: [],
        },
        dataDir: join(cwd, '.countersign'),
        storage: {
          engine: 'sqlite',
          url: null,
          poolSize: 10,
          statementTimeoutMs: 30_000,
          connectTimeoutMs: 5_000,
        },
        logging: { level: 'info' },
        log: { origin: null, keyFile: null, nodeCacheBytes: 67_108_864 },
        keys: {
          backend: 'keystore',
          keystoreDir: join(cwd, '.countersign', 'keys', 'keystore'),
          kekFile: join(cwd, '.countersign', 'keys', 'keystore.kek'),
        },
        limits: {
          bodyBytes: 65_536,
          evidenceBodyBytes: 8_388_608,
          ipRequestsPerMinute: 6000,
          identityRequestsPerMinute: 1200,
        },
        demo: false,
        testCrashAt: null,
        configFile: null,
      });
    });

    it('returns a deeply frozen object', () => {
      const config = load();
      assert.throws(() => {
        (config.server as { port: number }).port = 1;
      }, TypeError);
      assert.ok(Object.isFrozen(config.storage));
    });
  });

  describe('precedence', () => {
    it('is flags over environment over file over defaults', async () => {
      const file = await writeYaml('precedence.yaml', 'server:\n  port: 1000\n  host: 0.0.0.0\n');
      const env = { COUNTERSIGN_PORT: '2000' };
      assert.equal(load({ file, env, argv: ['--port', '3000'] }).server.port, 3000);
      assert.equal(load({ file, env }).server.port, 2000);
      assert.equal(load({ file }).server.port, 1000);
      assert.equal(load({ file, env, argv: ['--port=3000'] }).server.host, '0.0.0.0');
    });

    it('ignores empty environment variables', () => {
      assert.equal(load({ env: { COUNTERSIGN_PORT: '' } }).server.port, 8080);
    });
  });

  describe('with problems in several sources', () => {
    it('reports every problem at once, each with its source', async () => {
      const file = await writeYaml(
        'broken.yaml',
        [
          'server:',
          '  port: 99999',
          '  colour: blue',
          'storage:',
          '  engine: mysql',
          'extra: 1',
          '',
        ].join('\n'),
      );
      const problems = problemsOf(() =>
        load({
          file,
          env: { COUNTERSIGN_LOG_LEVEL: 'loud', COUNTERSIGN_DATABASE_POOL_SIZE: 'ten' },
          argv: ['serve', '--public-url', 'ftp://example.com', '--json'],
        }),
      );
      assert.deepEqual(problems.sort(), [
        '--public-url server.publicUrl',
        'COUNTERSIGN_DATABASE_POOL_SIZE storage.poolSize',
        'COUNTERSIGN_LOG_LEVEL logging.level',
        'broken.yaml:2 server.port',
        'broken.yaml:3 server.colour',
        'broken.yaml:5 storage.engine',
        'broken.yaml:6 extra',
      ]);
    });
  });

  describe('with a file that is not YAML', () => {
    it('reports the line of the syntax error', async () => {
      const file = await writeYaml('syntax.yaml', 'server:\n  port: 1\n   host: [unclosed\n');
      const [problem] = problemsOf(() => load({ file }));
      assert.match(problem ?? '', /^syntax\.yaml:\d+ /);
    });
  });

  describe('with --config naming a missing file', () => {
    it('reports it against --config', () => {
      assert.deepEqual(
        problemsOf(() => load({ argv: ['--config', 'nope.yaml'] })),
        ['--config config'],
      );
    });
  });

  describe('with COUNTERSIGN_CONFIG', () => {
    it('reads that file', async () => {
      await writeYaml('from-env.yaml', 'demo: true\n');
      const config = load({ env: { COUNTERSIGN_CONFIG: 'from-env.yaml' } });
      assert.equal(config.demo, true);
      assert.equal(config.configFile, join(cwd, 'from-env.yaml'));
    });
  });

  describe('with ./countersign.yaml present', () => {
    it('reads it without being told', async () => {
      const dir = join(cwd, 'default-file');
      await mkdir(dir);
      await writeFile(join(dir, 'countersign.yaml'), 'logging:\n  level: debug\n');
      assert.equal(loadConfig({ env: {}, cwd: dir }).logging.level, 'debug');
    });
  });

  describe('a relative dataDir', () => {
    it('resolves against the file it is written in', async () => {
      const dir = join(cwd, 'etc');
      await mkdir(dir, { recursive: true });
      await writeFile(join(dir, 'c.yaml'), 'dataDir: ./data\n');
      assert.equal(load({ file: join(dir, 'c.yaml') }).dataDir, join(dir, 'data'));
    });

    it('resolves against the working directory when it comes from a flag', () => {
      assert.equal(load({ argv: ['--data-dir', 'd'] }).dataDir, join(cwd, 'd'));
    });
  });

  describe('storage', () => {
    it('is PostgreSQL when only COUNTERSIGN_DATABASE_URL is set', () => {
      const config = load({ env: { COUNTERSIGN_DATABASE_URL: 'postgres://u:p@db:5432/cs' } });
      assert.equal(config.storage.engine, 'postgres');
      assert.equal(config.storage.url, 'postgres://u:p@db:5432/cs');
    });

    it('rejects postgres without a URL', () => {
      assert.deepEqual(
        problemsOf(() => load({ env: { COUNTERSIGN_STORAGE_ENGINE: 'postgres' } })),
        ['COUNTERSIGN_STORAGE_ENGINE storage.url'],
      );
    });

    it('rejects a URL with sqlite', () => {
      assert.deepEqual(
        problemsOf(() =>
          load({ argv: ['--storage-engine', 'sqlite', '--database-url', 'postgres://db/x'] }),
        ),
        ['--database-url storage.url'],
      );
    });

    it('rejects a URL that is not postgres without echoing it', () => {
      try {
        load({ env: { COUNTERSIGN_DATABASE_URL: 'mysql://root:hunter2@db/x' } });
        assert.fail('expected CONFIG_INVALID');
      } catch (error) {
        assert.ok(error instanceof AppError);
        assert.equal(error.code, 'CONFIG_INVALID');
        assert.doesNotMatch(JSON.stringify(error.errors) + error.message, /hunter2/);
      }
    });
  });

  describe('log.origin', () => {
    it('is null unless set: the service derives it from the public URL and the log key', () => {
      assert.equal(
        load({ env: { COUNTERSIGN_PUBLIC_URL: 'https://sign.example.com/' } }).log.origin,
        null,
      );
    });

    it('accepts the Rekor v1 form with inner spaces', () => {
      assert.equal(
        load({ env: { COUNTERSIGN_LOG_ORIGIN: 'sign.example.com - 42' } }).log.origin,
        'sign.example.com - 42',
      );
    });

    it('rejects outer spaces, plus signs and control characters', () => {
      for (const origin of [' a', 'a ', 'a+b', 'a\tb']) {
        assert.deepEqual(
          problemsOf(() => load({ env: { COUNTERSIGN_LOG_ORIGIN: origin } })),
          ['COUNTERSIGN_LOG_ORIGIN log.origin'],
        );
      }
    });
  });

  describe('keys', () => {
    it('needs module, token and PIN for a PKCS#11 backend, reporting each missing one', () => {
      assert.deepEqual(
        problemsOf(() => load({ env: { COUNTERSIGN_KEY_BACKEND: 'pkcs11' } })).sort(),
        ['keys.pkcs11Module', 'keys.pkcs11Pin', 'keys.pkcs11Token'].map((key) => `- ${key}`).sort(),
      );
    });
  });

  describe('log.keyFile', () => {
    it('is null by default: the log key lives in the key backend', () => {
      assert.equal(load({ env: { COUNTERSIGN_DATA_DIR: '/srv/cs' } }).log.keyFile, null);
    });

    it('resolves an explicit file against the data directory', () => {
      const config = load({
        env: { COUNTERSIGN_DATA_DIR: '/srv/cs', COUNTERSIGN_LOG_KEY_FILE: 'keys/log.pem' },
      });
      assert.equal(config.log.keyFile, '/srv/cs/keys/log.pem');
    });
  });

  describe('log.nodeCacheBytes', () => {
    it('takes a byte count, 0 to keep no node hashes in memory', () => {
      assert.equal(load({ env: { COUNTERSIGN_LOG_NODE_CACHE_BYTES: '0' } }).log.nodeCacheBytes, 0);
      assert.equal(
        load({ env: { COUNTERSIGN_LOG_NODE_CACHE_BYTES: '268435456' } }).log.nodeCacheBytes,
        268_435_456,
      );
    });

    it('rejects a negative size', () => {
      assert.deepEqual(
        problemsOf(() => load({ env: { COUNTERSIGN_LOG_NODE_CACHE_BYTES: '-1' } })),
        ['COUNTERSIGN_LOG_NODE_CACHE_BYTES log.nodeCacheBytes'],
      );
    });
  });

  describe('request budgets', () => {
    it('take requests per minute, 0 for no limit, from the file or the environment', async () => {
      const file = await writeYaml(
        'limits.yaml',
        'limits:\n  ipRequestsPerMinute: 0\n  identityRequestsPerMinute: 30\n',
      );
      const { ipRequestsPerMinute, identityRequestsPerMinute } = load({
        argv: ['--config', file],
      }).limits;
      assert.deepEqual(
        { ipRequestsPerMinute, identityRequestsPerMinute },
        { ipRequestsPerMinute: 0, identityRequestsPerMinute: 30 },
      );
      const env = { COUNTERSIGN_LIMITS_IDENTITY_REQUESTS_PER_MINUTE: '5' };
      assert.equal(load({ env }).limits.identityRequestsPerMinute, 5);
    });

    it('rejects a negative budget', () => {
      assert.deepEqual(
        problemsOf(() => load({ env: { COUNTERSIGN_LIMITS_IP_REQUESTS_PER_MINUTE: '-1' } })),
        ['COUNTERSIGN_LIMITS_IP_REQUESTS_PER_MINUTE limits.ipRequestsPerMinute'],
      );
    });
  });

  describe('server.trustedProxies', () => {
    it('reads comma-separated addresses and CIDR ranges', () => {
      const env = { COUNTERSIGN_TRUSTED_PROXIES: ' 10.0.0.0/8, 192.0.2.1 ,fd00::/8,' };
      assert.deepEqual(load({ env }).server.trustedProxies, [
        '10.0.0.0/8',
        '192.0.2.1',
        'fd00::/8',
      ]);
    });

    it('rejects host names, bad prefixes and junk, naming each entry', () => {
      const env = {
        COUNTERSIGN_TRUSTED_PROXIES: 'proxy.internal,10.0.0.0/33,::1/129,10.0.0.1/8/8,1.2.3.4',
      };
      assert.throws(
        () => load({ env }),
        (error: unknown) => {
          assert.ok(error instanceof AppError);
          assert.deepEqual(
            error.errors.map((e) => `${e.source ?? '-'} ${e.message.split(' ')[0] ?? ''}`),
            ['"proxy.internal"', '"10.0.0.0/33"', '"::1/129"', '"10.0.0.1/8/8"'].map(
              (entry) => `COUNTERSIGN_TRUSTED_PROXIES ${entry}`,
            ),
          );
          return true;
        },
      );
    });
  });

  describe('demo', () => {
    it('is set by --demo or COUNTERSIGN_DEMO=1', () => {
      assert.equal(load({ argv: ['serve', '--demo'] }).demo, true);
      assert.equal(load({ env: { COUNTERSIGN_DEMO: '1' } }).demo, true);
    });

    it('rejects a word that is not a boolean', () => {
      assert.deepEqual(
        problemsOf(() => load({ env: { COUNTERSIGN_DEMO: 'maybe' } })),
        ['COUNTERSIGN_DEMO demo'],
      );
    });
  });
});
