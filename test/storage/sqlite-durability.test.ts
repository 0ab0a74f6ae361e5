/**
 * Durable commits on the embedded engine (threat model FT-3, FT-4): every COMMIT and every write
 * outside a transaction resolves only after the write-ahead log was fdatasynced, the sync runs off
 * the event loop while the connection stays held, and a failed sync fails that commit and every
 * later use of the storage.
 *
 * The driver is tested with a controllable sync; the real one is watched with strace, which
 * records the process's fdatasync calls against the `-wal` file and can fail them with EIO.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DatabaseSync } from 'node:sqlite';
import { after, describe, it } from 'node:test';
import { Kysely } from 'kysely';
import { isAppError } from '../../src/core/errors.ts';
import { openStorage, type StorageOptions } from '../../src/adapters/storage/open-storage.ts';
import { mapSqliteError } from '../../src/adapters/storage/sqlite/map-sqlite-error.ts';
import { NodeSqliteDialect } from '../../src/adapters/storage/sqlite/node-sqlite-dialect.ts';
import { SQLITE_DATABASE_FILE_NAME } from '../../src/adapters/storage/sqlite/open-sqlite-storage.ts';
import { requireComponentForSuite } from '../support/components.ts';
import { storageChildCommand } from './child-process.ts';

const root = mkdtempSync(join(tmpdir(), 'countersign-durability-test-'));
after(() => rmSync(root, { recursive: true, force: true }));
let dirs = 0;

function freshDir(): string {
  dirs += 1;
  return join(root, `data-${dirs}`);
}

interface Note {
  readonly t: string;
}

/** A driver over a real database whose sync the test resolves or fails by hand. */
function openWithManualSync(): {
  readonly db: Kysely<{ notes: Note }>;
  /** Syncs asked for and not yet answered. */
  readonly pending: { resolve: () => void; reject: (error: Error) => void }[];
  readonly syncCalls: () => number;
} {
  const database = new DatabaseSync(join(mkdtempSync(join(root, 'manual-')), 'test.db'));
  database.exec('PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL');
  database.exec('CREATE TABLE notes (t TEXT NOT NULL) STRICT');
  const pending: { resolve: () => void; reject: (error: Error) => void }[] = [];
  let calls = 0;
  const db = new Kysely<{ notes: Note }>({
    dialect: new NodeSqliteDialect({
      database,
      mapError: mapSqliteError,
      makeDurable: () => {
        calls += 1;
        return new Promise<void>((resolve, reject) => pending.push({ resolve, reject }));
      },
    }),
  });
  after(() => db.destroy());
  return { db, pending, syncCalls: () => calls };
}

/** Lets every ready promise callback run. */
const settle = () => new Promise<void>((resolve) => setImmediate(resolve));

describe('the SQLite driver with a sync of its own', () => {
  it('answers a commit only after the sync, and lets nobody read before it', async () => {
    const { db, pending, syncCalls } = openWithManualSync();
    let committed = false;
    const transaction = db
      .transaction()
      .execute(async (trx) => {
        await trx.insertInto('notes').values({ t: 'a' }).execute();
        await trx.insertInto('notes').values({ t: 'b' }).execute();
      })
      .then(() => (committed = true));
    let readDone = false;
    const reader = db
      .selectFrom('notes')
      .selectAll()
      .execute()
      .finally(() => (readDone = true));
    await settle();
    // One sync for the whole transaction, asked for after COMMIT, none for its inner writes.
    assert.equal(syncCalls(), 1);
    assert.equal(committed, false);
    assert.equal(readDone, false, 'a reader queued behind the commit waits for its sync');
    pending.shift()?.resolve();
    await transaction;
    assert.equal(committed, true);
    assert.deepEqual(
      (await reader).map((row) => row.t),
      ['a', 'b'],
    );
    assert.equal(syncCalls(), 1, 'a read needs no sync');
  });

  it('syncs a write outside a transaction before it resolves', async () => {
    const { db, pending, syncCalls } = openWithManualSync();
    let done = false;
    const insert = db
      .insertInto('notes')
      .values({ t: 'x' })
      .execute()
      .then(() => (done = true));
    await settle();
    assert.equal(syncCalls(), 1);
    assert.equal(done, false);
    pending.shift()?.resolve();
    await insert;
    assert.equal(done, true);
  });

  it('fails the commit whose sync failed, and all later work, saying to restart', async () => {
    const { db, pending } = openWithManualSync();
    const transaction = db
      .transaction()
      .execute((trx) => trx.insertInto('notes').values({ t: 'lost?' }).execute());
    const reader = db.selectFrom('notes').selectAll().execute();
    await settle();
    pending.shift()?.reject(Object.assign(new Error('EIO: i/o error, fdatasync'), { code: 'EIO' }));
    const isSyncFailure = (error: unknown) => {
      assert.ok(isAppError(error, 'STORAGE_UNAVAILABLE'), String(error));
      assert.match(error.message, /could not be synced to disk/);
      assert.match(error.hint ?? '', /restart the service/);
      return true;
    };
    await assert.rejects(transaction, isSyncFailure);
    await assert.rejects(reader, isSyncFailure);
    await assert.rejects(db.selectFrom('notes').selectAll().execute(), isSyncFailure);
  });
});

const STRACE_MISSING = 'strace is not installed (apt-get install strace)';
const hasStrace = spawnSync('strace', ['-V'], { stdio: 'ignore' }).status === 0;

describe('durable commits of the embedded storage, watched with strace', () => {
  if (!requireComponentForSuite('strace', hasStrace, STRACE_MISSING)) return;

  /** Runs `storage-child.ts commit <count>` under strace; returns its report lines. */
  function commitUnderStrace(
    options: StorageOptions,
    count: number,
    straceArgs: readonly string[],
  ): { ok: boolean; code?: string; message?: string }[] {
    const result = spawnSync(
      'strace',
      [...straceArgs, '--', ...storageChildCommand('commit', options, String(count))],
      { encoding: 'utf8', timeout: 60_000 },
    );
    assert.equal(result.status, 0, `child failed: ${result.stderr}`);
    return result.stdout
      .trim()
      .split('\n')
      .map((line) => JSON.parse(line) as { ok: boolean; code?: string; message?: string });
  }

  it('fdatasyncs the write-ahead log before each commit is answered', async () => {
    const options: StorageOptions = { engine: 'sqlite', dataDir: freshDir() };
    await (await openStorage(options)).close();
    const trace = join(root, `trace-${dirs}.txt`);
    const reports = commitUnderStrace(options, 5, [
      '-f', // the sync runs on a libuv thread
      '-y', // name each descriptor's file
      '-e',
      'trace=fdatasync,write',
      '-o',
      trace,
    ]);
    assert.deepEqual(reports, Array(6).fill({ ok: true }));
    // In the order the calls returned: each report written to stdout must follow a completed
    // fdatasync of the write-ahead log that happened after the previous report. A call on a thread
    // may be split by strace into `<unfinished ...>` and `<... fdatasync resumed>` lines.
    const wal = `/${SQLITE_DATABASE_FILE_NAME}-wal>`;
    const syncingThreads = new Set<string>();
    let syncedSinceReport = false;
    let commitsSeen = 0;
    for (const line of readFileSync(trace, 'utf8').split('\n')) {
      const [thread = '', call = ''] = line.split(/ +(.*)/s);
      if (call.startsWith('fdatasync(') && call.includes(wal)) {
        if (/\) += 0$/.test(call)) syncedSinceReport = true;
        else if (call.endsWith('<unfinished ...>')) syncingThreads.add(thread);
      } else if (call.startsWith('<... fdatasync resumed>') && syncingThreads.delete(thread)) {
        if (/\) += 0$/.test(call)) syncedSinceReport = true;
      } else if (call.startsWith('write(1<') && call.includes('{\\"ok\\":true}')) {
        commitsSeen += 1;
        if (commitsSeen > 5) break; // the last report is the read's
        assert.ok(syncedSinceReport, `commit ${commitsSeen} was reported before a WAL sync`);
        syncedSinceReport = false;
      }
    }
    assert.equal(commitsSeen, 6);
  });

  it('fails the commit and refuses later work when fdatasync reports EIO', async () => {
    const options: StorageOptions = { engine: 'sqlite', dataDir: freshDir() };
    // Created and migrated first, so the failing run has nothing but its own commit to sync.
    await (await openStorage(options)).close();
    const reports = commitUnderStrace(options, 1, [
      '-f',
      '-o',
      '/dev/null',
      '-e',
      'trace=fdatasync',
      '-e',
      'inject=fdatasync:error=EIO',
    ]);
    assert.equal(reports.length, 2);
    for (const report of reports) {
      assert.equal(report.ok, false);
      assert.equal(report.code, 'STORAGE_UNAVAILABLE');
      assert.match(report.message ?? '', /could not be synced to disk/);
    }
  });
});
