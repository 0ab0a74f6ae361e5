/** What only the embedded engine has: the data-directory lock (threat model E5) and its pragmas. */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { pathToFileURL } from 'node:url';
import { after, describe, it } from 'node:test';
import { sql } from 'kysely';
import { isAppError } from '../../src/core/errors.ts';
import { openStorage, type StorageOptions } from '../../src/adapters/storage/open-storage.ts';
import { SqlStorage } from '../../src/adapters/storage/sql-storage.ts';
import { verifySqlitePragmas } from '../../src/adapters/storage/sqlite/open-sqlite-storage.ts';
import { spawnStorageChild } from './child-process.ts';

const root = mkdtempSync(join(tmpdir(), 'countersign-sqlite-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

function freshOptions(): StorageOptions & { readonly dataDir: string } {
  dirs += 1;
  return { engine: 'sqlite', dataDir: join(root, `data-${dirs}`) };
}

function parseOpenResult(line: string): { ok: boolean; code?: string; message?: string } {
  return JSON.parse(line) as { ok: boolean; code?: string; message?: string };
}

describe('openStorage on SQLite', () => {
  it('creates the data directory readable by its owner only', async () => {
    const options = freshOptions();
    const storage = await openStorage(options);
    await storage.close();
    assert.equal(statSync(options.dataDir).mode & 0o777, 0o700);
  });

  it('runs with WAL, synchronous=NORMAL (commits are synced by the driver) and foreign keys on', async (t) => {
    const storage = await openStorage(freshOptions());
    t.after(() => storage.close());
    assert.ok(storage instanceof SqlStorage);
    const pragma = async (name: string) =>
      Object.values(
        (await sql.raw<Record<string, unknown>>(`PRAGMA ${name}`).execute(storage.db)).rows[0] ??
          {},
      )[0];
    assert.equal(await pragma('journal_mode'), 'wal');
    assert.equal(await pragma('synchronous'), 1n);
    assert.equal(await pragma('foreign_keys'), 1n);
  });

  describe('when another process holds the data directory', () => {
    it('fails naming its pid', async (t) => {
      const options = freshOptions();
      const holder = spawnStorageChild('hold', options);
      t.after(() => holder.process.kill('SIGKILL'));
      const ready = await holder.waitForLine(/^ready /);
      const pid = Number(ready.split(' ')[1]);
      await assert.rejects(openStorage(options), (error: unknown) => {
        assert.ok(isAppError(error, 'STORAGE_UNAVAILABLE'));
        assert.equal(
          error.message,
          `data directory ${options.dataDir} is in use by process ${pid}; stop it or choose another --data-dir`,
        );
        return true;
      });
    });

    it('opens once the holder was killed with SIGKILL: the kernel released the lock', async () => {
      const options = freshOptions();
      const holder = spawnStorageChild('hold', options);
      await holder.waitForLine(/^ready /);
      holder.process.kill('SIGKILL');
      await holder.exited;
      const storage = await openStorage(options);
      await storage.close();
    });
  });

  describe('when this process holds the data directory', () => {
    it('refuses a second open, in this process and in another', async (t) => {
      const options = freshOptions();
      const storage = await openStorage(options);
      t.after(() => storage.close());
      await assert.rejects(openStorage(options), (error: unknown) => {
        assert.ok(isAppError(error, 'STORAGE_UNAVAILABLE'));
        assert.match(error.message, new RegExp(`in use by process ${process.pid};`));
        return true;
      });
      const other = spawnStorageChild('open', options);
      const result = parseOpenResult(await other.waitForLine(/^\{/));
      assert.equal(result.ok, false);
      assert.equal(result.code, 'STORAGE_UNAVAILABLE');
      assert.match(result.message ?? '', new RegExp(`in use by process ${process.pid};`));
    });

    it('lets another process open it after close', async () => {
      const options = freshOptions();
      const storage = await openStorage(options);
      await storage.close();
      const other = spawnStorageChild('open', options);
      assert.deepEqual(parseOpenResult(await other.waitForLine(/^\{/)), { ok: true });
    });
  });

  it('refuses a data directory that is a file', async () => {
    const options = freshOptions();
    const storage = await openStorage(options);
    await storage.close();
    const file = join(options.dataDir, 'countersign.db');
    await assert.rejects(openStorage({ engine: 'sqlite', dataDir: file }), (error: unknown) => {
      assert.ok(isAppError(error, 'CONFIG_INVALID'));
      assert.deepEqual(error.errors, [{ path: 'dataDir', message: 'not a directory' }]);
      return true;
    });
  });
});

describe('verifySqlitePragmas', () => {
  it('passes a connection configured for durable writes', () => {
    const dir = mkdtempSync(join(root, 'pragmas-'));
    const database = new DatabaseSync(join(dir, 'ok.db'), { timeout: 1234 });
    database.exec(
      'PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON',
    );
    assert.doesNotThrow(() => verifySqlitePragmas(database, 1234));
    database.close();
  });

  it('refuses, listing every setting not in effect', () => {
    const dir = mkdtempSync(join(root, 'pragmas-'));
    const database = new DatabaseSync(join(dir, 'weak.db'), {
      timeout: 10,
      enableForeignKeyConstraints: false,
    });
    database.exec('PRAGMA journal_mode = DELETE; PRAGMA synchronous = OFF');
    assert.throws(
      () => verifySqlitePragmas(database, 5000),
      (error: unknown) => {
        assert.ok(isAppError(error, 'CONFIG_INVALID'));
        assert.deepEqual(
          error.errors.map((e) => e.path),
          ['journal_mode', 'synchronous', 'foreign_keys', 'busy_timeout'],
        );
        return true;
      },
    );
    database.close();
  });

  it('never keeps a process alive with its checkpoint worker alone', () => {
    const options = freshOptions();
    mkdirSync(options.dataDir, { recursive: true });
    const path = join(options.dataDir, 'countersign.db');
    const checkpointer = pathToFileURL(
      join(import.meta.dirname, '../../src/adapters/storage/sqlite/wal-checkpointer.ts'),
    ).href;
    // A process that starts the worker and forgets it: it must still end when its work does. (A
    // file, not --eval: the worker inherits the process's flags, and --input-type would kill it.)
    const script = join(options.dataDir, 'forget-the-worker.mjs');
    writeFileSync(
      script,
      [
        `import { DatabaseSync } from 'node:sqlite';`,
        `import { startWalCheckpointer } from ${JSON.stringify(checkpointer)};`,
        `const database = new DatabaseSync(${JSON.stringify(path)});`,
        `database.exec('PRAGMA journal_mode = WAL');`,
        `startWalCheckpointer(database, ${JSON.stringify(path)}, {`,
        `  busyTimeoutMs: 1000,`,
        `  onError: (problem) => { console.error(problem); process.exitCode = 1; },`,
        `});`,
      ].join('\n'),
    );
    const child = spawnSync(process.execPath, [script], { timeout: 20_000, encoding: 'utf8' });
    assert.equal(child.signal, null, 'the process had to be killed: the worker kept it alive');
    assert.equal(child.status, 0, child.stderr);
  });

  it('checkpoints the write-ahead log from a worker thread when asked, and stops it on close', async (t) => {
    const options = freshOptions();
    const storage = await openStorage({
      engine: 'sqlite',
      dataDir: options.dataDir,
      backgroundCheckpoints: { onError: (problem) => assert.fail(problem) },
    });
    let closed = false;
    t.after(() => (closed ? undefined : storage.close()));
    assert.ok(storage instanceof SqlStorage);
    const database = join(options.dataDir, 'countersign.db');
    const before = statSync(database).size;
    // About 2 MB of log entries: far below the writer's own checkpoint threshold (64 MiB), so only
    // the worker can move them into the database file.
    const body = new Uint8Array(4096).fill(7);
    await storage.transaction(async (session) => {
      await session.log.lockForAppend();
      await session.log.appendBatch({
        previousSize: 0n,
        entries: Array.from({ length: 512 }, (_, i) => ({
          index: BigInt(i),
          leafHash: new Uint8Array(32).fill(i % 256),
          body,
          kind: 'test/v1',
          idempotencyKey: null,
          integratedTime: 1_700_000_000,
        })),
        nodes: [],
        checkpoint: {
          treeSize: 512n,
          rootHash: new Uint8Array(32),
          note: 'test\n',
          createdAt: new Date(1_700_000_000_000),
        },
      });
    });
    const deadline = Date.now() + 10_000;
    while (statSync(database).size < before + 2_000_000 && Date.now() < deadline) {
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    assert.ok(
      statSync(database).size >= before + 2_000_000,
      `the database file did not grow (${String(statSync(database).size)} bytes)`,
    );
    closed = true;
    await storage.close();
    // Closed cleanly: the last connection removed the log, and the directory can be reopened.
    assert.equal(existsSync(`${database}-wal`), false);
    const again = await openStorage(options);
    await again.close();
  });
});
