import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createKeyBackend } from '../../src/adapters/keys/create-key-backend.ts';
import type { CliCommand, CommandContext } from '../../src/cli/command.ts';
import { createCaCommand, type CaEnvironment } from '../../src/cli/commands/ca.ts';
import type { KeyBackend } from '../../src/core/ports.ts';
import { createMemoryPkiStore } from '../support/memory-pki-store.ts';
import { createTempDir, fixedClock, openssl, testRandom, unixSeconds } from './support.ts';

const NOW = new Date('2032-05-05T05:05:05Z');
const PASSPHRASE = 'correct horse battery staple';

interface Run {
  readonly code: number | void;
  readonly stdout: string;
  readonly stderr: string;
}

describe('countersign ca', () => {
  let dir: string;
  let remove: () => Promise<void>;
  let serviceKeys: KeyBackend;
  const store = createMemoryPkiStore();
  let command: CliCommand;

  before(async () => {
    ({ dir, remove } = await createTempDir());
    const kekFile = join(dir, 'kek');
    await writeFile(kekFile, randomBytes(32), { mode: 0o600 });
    await writeFile(join(dir, 'passphrase'), `${PASSPHRASE}\n`, { mode: 0o600 });
    await writeFile(join(dir, 'wrong'), 'not the passphrase at all\n', { mode: 0o600 });
    serviceKeys = await createKeyBackend({ kind: 'keystore', dir: join(dir, 'keys'), kekFile });
    command = createCaCommand(() => {
      const environment: CaEnvironment = {
        pki: { serviceKeys, store, clock: fixedClock(NOW), random: testRandom },
        openOfflineRootKeys: (keystoreDir, passphrase, create) =>
          createKeyBackend({ kind: 'keystore', dir: keystoreDir, passphrase, create }),
        close: () => Promise.resolve(),
      };
      return Promise.resolve(environment);
    });
  });
  after(async () => {
    await serviceKeys.close();
    await remove();
  });

  async function run(sub: string, flags: Record<string, string | boolean>): Promise<Run> {
    let stdout = '';
    let stderr = '';
    const target = command.subcommands?.find((candidate) => candidate.name === sub);
    if (target?.run === undefined) throw new Error(`no subcommand ${sub}`);
    const context: CommandContext = {
      io: { stdout: () => {}, stderr: () => {}, env: {}, cwd: dir },
      argv: [],
      flags,
      operands: [],
      json: flags['json'] === true,
      loadConfig: () => {
        throw new Error('not used');
      },
      client: () => {
        throw new Error('not used');
      },
      print: (text) => (stdout += `${text}\n`),
      printJson: (value) => (stdout += `${JSON.stringify(value)}\n`),
      note: (text) => (stderr += `${text}\n`),
    };
    const code = await target.run(context);
    return { code, stdout, stderr };
  }

  it('refuses --offline without --root-key-out with INVALID_INPUT', async () => {
    await assert.rejects(
      run('init', { organization: 'Acme', offline: true, 'passphrase-file': 'passphrase' }),
      { code: 'INVALID_INPUT' },
    );
  });

  it('init --offline puts the root key only in the new keystore', async () => {
    const result = await run('init', {
      organization: 'Acme',
      offline: true,
      'root-key-out': 'offline-root',
      'passphrase-file': 'passphrase',
      json: true,
    });
    assert.equal(result.code, 0);
    const output = JSON.parse(result.stdout) as {
      certificates: { role: string; certificatePem: string }[];
    };
    assert.deepEqual(
      output.certificates.map((view) => view.role),
      ['root-ca', 'tsa'],
    );
    assert.deepEqual(
      (await serviceKeys.listKeys()).map((key) => key.id),
      ['tsa'],
    );
    const offline = await createKeyBackend({
      kind: 'keystore',
      dir: join(dir, 'offline-root'),
      passphrase: PASSPHRASE,
      create: false,
    });
    assert.deepEqual(
      (await offline.listKeys()).map((key) => `${key.id}:${key.purpose}`),
      ['root-ca:root-ca'],
    );
    await offline.close();
    await writeFile(join(dir, 'root.pem'), output.certificates[0]?.certificatePem ?? '');
  });

  it('refuses a second init with CONFLICT', async () => {
    await assert.rejects(
      run('init', {
        organization: 'Acme',
        offline: true,
        'root-key-out': 'second-root',
        'passphrase-file': 'passphrase',
      }),
      { code: 'CONFLICT' },
    );
  });

  it('issue-channel without the offline root fails with KEY_UNAVAILABLE', async () => {
    await assert.rejects(run('issue-channel', { product: 'payments-api', channel: 'prod' }), {
      code: 'KEY_UNAVAILABLE',
    });
  });

  it('issue-channel with a wrong passphrase fails with KEY_UNAVAILABLE', async () => {
    await assert.rejects(
      run('issue-channel', {
        product: 'payments-api',
        channel: 'prod',
        'root-key': 'offline-root',
        'passphrase-file': 'wrong',
      }),
      { code: 'KEY_UNAVAILABLE' },
    );
  });

  it('issue-channel with the offline root issues a CA that chains to the root', async () => {
    const result = await run('issue-channel', {
      product: 'payments-api',
      channel: 'prod',
      'root-key': 'offline-root',
      'passphrase-file': 'passphrase',
      json: true,
    });
    const view = JSON.parse(result.stdout) as { keyId: string; certificatePem: string };
    assert.equal(view.keyId, 'channel-ca.payments-api.prod');
    await writeFile(join(dir, 'channel.pem'), view.certificatePem);
    const verified = await openssl(
      ['verify', '-attime', unixSeconds(NOW), '-CAfile', 'root.pem', 'channel.pem'],
      dir,
    );
    assert.equal(verified.stdout.trim(), 'channel.pem: OK', verified.stderr);
    assert.deepEqual(
      (await serviceKeys.listKeys()).map((key) => key.id),
      ['channel-ca.payments-api.prod', 'tsa'],
    );
  });

  it('refuses a second CA for the same product and channel with CONFLICT', async () => {
    await assert.rejects(
      run('issue-channel', {
        product: 'payments-api',
        channel: 'prod',
        'root-key': 'offline-root',
        'passphrase-file': 'passphrase',
      }),
      { code: 'CONFLICT' },
    );
    assert.equal(existsSync(join(dir, 'offline-root')), true);
  });

  it('list shows the root, the TSA and the channel CA', async () => {
    const result = await run('list', {});
    assert.match(result.stdout, /^root-ca: Acme, Acme Signing Root$/m);
    assert.match(result.stdout, /^tsa: Acme, Countersign Timestamp Authority$/m);
    assert.match(
      result.stdout,
      /^channel-ca payments-api\/prod: Acme, payments-api, payments-api\/prod$/m,
    );
    assert.match(result.stdout, /fingerprint: SHA256 ([0-9A-F]{2}:){31}[0-9A-F]{2}/);
  });
});
