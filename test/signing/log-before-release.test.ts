/**
 * No signature without its log entry (threat-model INV-1; issue "Sign and verify" acceptance):
 *
 * - the service is killed inside the transaction that appends a signature (test-only hook
 *   COUNTERSIGN_TEST_CRASH_AT=before-commit): the client gets no bundle, and after a restart
 *   neither the entry nor a signing record exists;
 * - killed right after COMMIT (after-commit): the client still gets no bundle, but the entry and
 *   its record are there (an error after commit is fine; a bundle before commit never is);
 * - with PostgreSQL down, signing answers 503 and returns no signature.
 */
import assert from 'node:assert/strict';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openStorage } from '../../src/adapters/storage/open-storage.ts';
import { composeService } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { baseEnv, listeningUrl, runInProcess, spawnCli, waitForLine } from '../cli/cli-harness.ts';
import { requireComponentForSuite } from '../support/components.ts';
import {
  findPostgresBinaries,
  POSTGRES_MISSING_REASON,
  startPostgresCluster,
  type PostgresCluster,
} from '../support/postgres-cluster.ts';

const SIGNATURE_KINDS = new Set(['hashedrekord/0.0.1', 'dsse/0.0.1']);
const digest = (c: string) => ({ algorithm: 'sha256', value: c.repeat(64) });

async function withServe<T>(
  dataDir: string,
  env: Record<string, string>,
  work: (url: string, exited: Promise<unknown>) => Promise<T>,
): Promise<T> {
  const child = spawnCli(['serve', '--demo', '--port', '0', '--json', '--data-dir', dataDir], {
    env: baseEnv({ COUNTERSIGN_LOG_LEVEL: 'silent', ...env }),
    cwd: dataDir,
  });
  const exited = new Promise((resolve) =>
    child.once('exit', (code, signal) => resolve(signal ?? code)),
  );
  try {
    return await work(await waitForLine(child, listeningUrl, 15_000), exited);
  } finally {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    await exited;
  }
}

async function devToken(dataDir: string): Promise<string> {
  const result = await runInProcess(['dev', 'token', '--data-dir', dataDir]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim();
}

async function postSign(url: string, token: string, value: string): Promise<Response> {
  return fetch(`${url}/v1/sign`, {
    method: 'POST',
    headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
    body: JSON.stringify({
      product: 'demo',
      channel: 'dev',
      subject: { name: 'f', digest: digest(value) },
      kind: 'artifact',
    }),
  });
}

/** Signature entries in the log and signing records, read with the service stopped. */
async function readSignatures(dataDir: string): Promise<{ entries: number; records: number }> {
  const storage = await openStorage({ engine: 'sqlite', dataDir });
  try {
    const size = await storage.log.treeSize();
    const entries = (await storage.log.entries(0n, size)).filter((e) =>
      SIGNATURE_KINDS.has(e.kind),
    ).length;
    return { entries, records: (await storage.signings.list({ limit: 1000 })).length };
  } finally {
    await storage.close();
  }
}

describe('a crash while a signature is being logged', () => {
  for (const point of ['before-commit', 'after-commit'] as const) {
    it(`at ${point}: the client gets no bundle, and the log and records agree after a restart`, async () => {
      const dataDir = await mkdtemp(join(tmpdir(), `countersign-crash-${point}-`));
      try {
        // A first start sets up the demo workspace and its PKI.
        await withServe(dataDir, {}, () => Promise.resolve());
        await withServe(dataDir, { COUNTERSIGN_TEST_CRASH_AT: point }, async (url, exited) => {
          // Minted now: the development issuer's URL is that of this run.
          const token = await devToken(dataDir);
          await assert.rejects(
            postSign(url, token, 'a'),
            'the connection dies: no bundle is delivered',
          );
          assert.equal(await exited, 'SIGKILL');
        });
        const after = await readSignatures(dataDir);
        const expected = point === 'before-commit' ? 0 : 1;
        assert.deepEqual(after, { entries: expected, records: expected });
        // And the service recovers: a fresh token signs normally.
        await withServe(dataDir, {}, async (url) => {
          const response = await postSign(url, await devToken(dataDir), 'b');
          assert.equal(response.status, 201, await response.text());
        });
        // The new signing logs two entries: the artifact's and its decision attestation's.
        assert.deepEqual(await readSignatures(dataDir), {
          entries: expected + 2,
          records: expected + 1,
        });
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    });
  }
});

describe('signing with the database down', () => {
  let cluster: PostgresCluster | undefined;
  after(() => cluster?.destroy());
  if (
    !requireComponentForSuite(
      'PostgreSQL',
      findPostgresBinaries() !== undefined,
      POSTGRES_MISSING_REASON,
    )
  )
    return;

  it('answers 503 and returns no signature, then signs again once the database is back', async () => {
    cluster = await startPostgresCluster();
    if (cluster === undefined) throw new Error(POSTGRES_MISSING_REASON);
    const url = await cluster.createDatabase();
    const dataDir = await mkdtemp(join(tmpdir(), 'countersign-dbdown-'));
    const service = await composeService(
      loadConfig({
        env: { COUNTERSIGN_DATABASE_URL: url },
        argv: ['--demo', '--port', '0', '--data-dir', dataDir, '--log-level', 'silent'],
        cwd: dataDir,
      }),
      { migrate: true },
    );
    try {
      const sign = async (value: string) =>
        service.server.inject({
          method: 'POST',
          url: '/v1/sign',
          headers: { authorization: `Bearer ${await devToken(dataDir)}` },
          payload: {
            product: 'demo',
            channel: 'dev',
            subject: { name: 'f', digest: digest(value) },
            kind: 'artifact',
          },
        });
      assert.equal((await sign('c')).statusCode, 201);
      await cluster.stop('immediate');
      try {
        const down = await sign('d');
        assert.equal(down.statusCode, 503, down.body);
        assert.doesNotMatch(down.body, /"bundle"|signature/);
        assert.ok(down.headers['retry-after']);
      } finally {
        await cluster.start();
      }
      let up = await sign('e');
      // The pool may need one failed attempt to notice the restarted server.
      if (up.statusCode === 503) up = await sign('f');
      assert.equal(up.statusCode, 201, up.body);
    } finally {
      await service.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
