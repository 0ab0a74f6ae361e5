/**
 * Tamper at rest (issue "Transparency log" acceptance; threat-model FT-10): change one byte of a
 * stored entry while the service is stopped. On start it must refuse to append, stay not-ready,
 * and name the index; `countersign log verify --data-dir` must say the same.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { openStorage } from '../../src/adapters/storage/open-storage.ts';
import { SqlStorage } from '../../src/adapters/storage/sql-storage.ts';
import { composeService } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { runInProcess } from '../cli/cli-harness.ts';

const dataDir = mkdtempSync(join(tmpdir(), 'countersign-tamper-'));
after(() => rmSync(dataDir, { recursive: true, force: true }));
const config = loadConfig({
  env: {},
  argv: ['--data-dir', dataDir, '--log-level', 'silent'],
  cwd: dataDir,
});

describe('log verify --data-dir of a directory holding no database', () => {
  it('exits 4 and creates nothing there', async () => {
    const missing = join(dataDir, 'mistyped');
    const result = await runInProcess(['log', 'verify', '--data-dir', missing], { cwd: dataDir });
    assert.equal(result.code, 4, result.stderr);
    assert.match(result.stderr, /no Countersign database at .*mistyped/);
    assert.equal(existsSync(missing), false);
  });
});

describe('a log entry altered while the service was stopped', () => {
  it('is found at start: appends are refused, readiness fails, and both name the index', async () => {
    const first = await composeService(config, { migrate: true });
    await first.log.append(
      Array.from({ length: 50 }, (_, i) => ({
        kind: 'test/v1',
        body: new TextEncoder().encode(`entry ${i}`),
      })),
    );
    const before = await runInProcess(['log', 'verify', '--data-dir', dataDir, '--json'], {
      cwd: dataDir,
    });
    // While the service runs, the data directory is locked: the offline check says so (exit 6).
    assert.equal(before.code, 6);
    assert.match(before.stdout + before.stderr, /in use by process/);
    await first.close();

    const ok = await runInProcess(['log', 'verify', '--data-dir', dataDir, '--json'], {
      cwd: dataDir,
    });
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);

    // Flip one byte of entry 37, as an attacker with disk access would.
    const storage = await openStorage({ engine: 'sqlite', dataDir });
    assert.ok(storage instanceof SqlStorage);
    const [entry] = await storage.log.entries(37n, 38n);
    assert.ok(entry);
    const altered = new Uint8Array(entry.body);
    altered[0] = (altered[0] ?? 0) ^ 0x01;
    await storage.db
      .updateTable('log_entries')
      .set({ body: altered })
      .where('idx', '=', 37n)
      .execute();
    await storage.close();

    const second = await composeService(config, { migrate: true });
    try {
      const ready = await second.server.inject({ method: 'GET', url: '/readyz' });
      assert.equal(ready.statusCode, 503);
      assert.match(ready.body, /integrity check at index 37/);
      await assert.rejects(
        second.log.append([{ kind: 'test/v1', body: new TextEncoder().encode('more') }]),
        (error: { code?: string; message?: string }) => {
          return error.code === 'STORAGE_UNAVAILABLE' && /index 37/.test(error.message ?? '');
        },
      );
      // Reads still work: operators and monitors can see what happened.
      assert.equal(
        (await second.server.inject({ method: 'GET', url: '/log/checkpoint' })).statusCode,
        200,
      );
    } finally {
      await second.close();
    }

    const verify = await runInProcess(['log', 'verify', '--data-dir', dataDir, '--json'], {
      cwd: dataDir,
    });
    assert.equal(verify.code, 1);
    assert.equal((JSON.parse(verify.stdout) as { firstBadIndex?: string }).firstBadIndex, '37');
  });
});
