/**
 * Both storage engines, for suites that run the same tests on each (the storage contract, and
 * any app-level suite that wants to prove itself on SQLite and PostgreSQL alike). Each
 * `freshOptions()` is an empty storage: a new temp data directory, or a new database on one
 * cluster shared by the suite.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { TestContext } from 'node:test';
import type { StorageEngine } from '../../src/core/ports.ts';
import {
  openStorage,
  type OpenStorageBehaviour,
  type StorageOptions,
} from '../../src/adapters/storage/open-storage.ts';
import { SqlStorage } from '../../src/adapters/storage/sql-storage.ts';
import {
  findPostgresBinaries,
  POSTGRES_MISSING_REASON,
  startPostgresCluster,
  type PostgresCluster,
} from './postgres-cluster.ts';

export interface TestStorageEngine {
  readonly engine: StorageEngine;
  /** Component name for `requireComponentForSuite`. */
  readonly component: string;
  readonly isAvailable: boolean;
  readonly missingReason: string;
  /** Options of a new, empty storage. */
  freshOptions(): Promise<StorageOptions>;
  /** Removes everything this engine created. Call in `after()`. */
  dispose(): Promise<void>;
}

/** A fresh SQLite data directory per storage, under one temp directory. */
export function createSqliteTestEngine(): TestStorageEngine {
  let root: string | undefined;
  let count = 0;
  return {
    engine: 'sqlite',
    component: 'SQLite (node:sqlite)',
    isAvailable: true,
    missingReason: '',
    freshOptions() {
      root ??= mkdtempSync(join(tmpdir(), 'countersign-sqlite-'));
      count += 1;
      return Promise.resolve({ engine: 'sqlite', dataDir: join(root, `data-${count}`) });
    },
    dispose() {
      if (root !== undefined) rmSync(root, { recursive: true, force: true });
      root = undefined;
      return Promise.resolve();
    },
  };
}

/** A fresh database per storage, on one cluster started at first use. */
export function createPostgresTestEngine(): TestStorageEngine {
  const isAvailable = findPostgresBinaries() !== undefined;
  let cluster: Promise<PostgresCluster | undefined> | undefined;
  return {
    engine: 'postgres',
    component: 'PostgreSQL',
    isAvailable,
    missingReason: POSTGRES_MISSING_REASON,
    async freshOptions() {
      cluster ??= startPostgresCluster();
      const started = await cluster;
      if (started === undefined) throw new Error(POSTGRES_MISSING_REASON);
      return { engine: 'postgres', url: await started.createDatabase() };
    },
    async dispose() {
      const started = await cluster;
      cluster = undefined;
      await started?.destroy();
    },
  };
}

/** Both engines, SQLite first. */
export function createTestStorageEngines(): TestStorageEngine[] {
  return [createSqliteTestEngine(), createPostgresTestEngine()];
}

/**
 * Opens a fresh storage on `engine`, closed when the test ends. Returns the internal
 * `SqlStorage` so tests can reach the Kysely handle; the options too, to reopen it.
 */
export async function openFreshStorage(
  t: TestContext,
  engine: TestStorageEngine,
  behaviour: OpenStorageBehaviour = {},
): Promise<{ storage: SqlStorage; options: StorageOptions }> {
  const options = await engine.freshOptions();
  const storage = await openStorage(options, behaviour);
  if (!(storage instanceof SqlStorage)) throw new Error('openStorage returned an unknown storage');
  t.after(() => storage.close());
  return { storage, options };
}
