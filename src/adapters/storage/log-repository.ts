/**
 * `LogRepository` on SQL, for both engines (DESIGN.md §7). Tables: `log_entries` (one row per
 * leaf), `log_nodes` (hashes of complete subtrees, levels 1 and up), `log_checkpoints` (one per
 * tree size) and `log_state` (one row: the committed tree size, the compare-and-set target that
 * keeps the tree from forking, threat model INV-3 / E2).
 *
 * Level-0 nodes are the leaf hashes: they are stored once, in `log_entries.leaf_hash`, and read
 * from there by `nodes()` and `nodeRange()`. `appendBatch` accepts level-0 nodes for convenience
 * but only checks them against the entries' leaf hashes. `nodeRange()` returns the nodes from
 * `from` up to the first one missing: a short answer means the rest is not stored.
 */
import { CompiledQuery, type Kysely, type Selectable } from 'kysely';
import { AppError, isAppError } from '../../core/errors.ts';
import type {
  LogCheckpointRecord,
  LogEntryRecord,
  LogNodeRecord,
  LogRepository,
} from '../../core/ports.ts';
import { insertRows, type BulkTable } from './insert-rows.ts';
import type { SqlContext } from './sql-context.ts';
import {
  checkInt64,
  readBigInt,
  readBytes,
  readDate,
  readNullableString,
  readSafeInteger,
  readString,
  toMillis,
} from './sql-values.ts';
import type { LogCheckpointsTable, LogEntriesTable, StorageSchema } from './storage-schema.ts';

/** Deepest node level: a tree of at most 2^63 - 1 leaves has levels 0..62. */
const MAX_NODE_LEVEL = 63;
/** Node ids per lookup statement; a proof needs at most ~128, this only bounds odd callers. */
const MAX_NODE_IDS_PER_QUERY = 4096;
/** Idempotency keys per lookup statement (a batch has hundreds to thousands). */
const MAX_KEYS_PER_QUERY = 8192;
/** The advisory lock id PostgreSQL replicas serialise appends on ("Countersign log"). */
const POSTGRES_APPEND_LOCK_ID = 0x4353_6c6f_6761_7070n;

const LOG_ENTRIES: BulkTable = {
  name: 'log_entries',
  columns: [
    { name: 'idx', postgresType: 'bigint' },
    { name: 'leaf_hash', postgresType: 'bytea' },
    { name: 'body', postgresType: 'bytea' },
    { name: 'kind', postgresType: 'text' },
    { name: 'idempotency_key', postgresType: 'text' },
    { name: 'integrated_time', postgresType: 'bigint' },
  ],
};

const LOG_NODES: BulkTable = {
  name: 'log_nodes',
  columns: [
    { name: 'level', postgresType: 'integer' },
    { name: 'idx', postgresType: 'bigint' },
    { name: 'hash', postgresType: 'bytea' },
  ],
};

export class SqlLogRepository implements LogRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async treeSize(): Promise<bigint> {
    return readTreeSize(this.#context.db);
  }

  async entries(from: bigint, to: bigint): Promise<LogEntryRecord[]> {
    checkRange(from, to);
    if (from >= to) return [];
    const rows = await this.#context.db
      .selectFrom('log_entries')
      .selectAll()
      .where('idx', '>=', from)
      .where('idx', '<', to)
      .orderBy('idx')
      .execute();
    return rows.map(toLogEntryRecord);
  }

  async findEntryByIdempotencyKey(key: string): Promise<LogEntryRecord | undefined> {
    const row = await this.#context.db
      .selectFrom('log_entries')
      .selectAll()
      .where('idempotency_key', '=', key)
      .executeTakeFirst();
    return row === undefined ? undefined : toLogEntryRecord(row);
  }

  async findEntriesByIdempotencyKeys(keys: readonly string[]): Promise<LogEntryRecord[]> {
    const unique = [...new Set(keys)];
    const records: LogEntryRecord[] = [];
    for (let i = 0; i < unique.length; i += MAX_KEYS_PER_QUERY) {
      const rows = await this.#context.db
        .selectFrom('log_entries')
        .selectAll()
        .where('idempotency_key', 'in', unique.slice(i, i + MAX_KEYS_PER_QUERY))
        .execute();
      for (const row of rows) records.push(toLogEntryRecord(row));
    }
    return records;
  }

  async lockForAppend(): Promise<void> {
    if (!this.#context.inTransaction) {
      // An advisory transaction lock taken in auto-commit mode ends with its own statement.
      throw new AppError('INTERNAL', 'lockForAppend must be called inside Storage.transaction');
    }
    switch (this.#context.engine) {
      case 'sqlite':
        // The data-directory lock makes this process the only writer, and its transactions run
        // one at a time (BEGIN IMMEDIATE on the single connection).
        return;
      case 'postgres':
        await this.#context.db.executeQuery(
          CompiledQuery.raw('SELECT pg_advisory_xact_lock($1)', [POSTGRES_APPEND_LOCK_ID]),
        );
        return;
    }
  }

  async nodes(
    ids: readonly { readonly level: number; readonly index: bigint }[],
  ): Promise<Uint8Array[]> {
    const wanted = new Map<string, { readonly level: number; readonly index: bigint }>();
    for (const id of ids) {
      checkNodeId(id.level, id.index);
      wanted.set(nodeKey(id.level, id.index), id);
    }
    const found = new Map<string, Uint8Array>();
    const unique = [...wanted.values()];
    for (let i = 0; i < unique.length; i += MAX_NODE_IDS_PER_QUERY) {
      const chunk = unique.slice(i, i + MAX_NODE_IDS_PER_QUERY);
      const result = await this.#context.db.executeQuery<NodeRow>(
        selectNodesQuery(this.#context.engine, chunk),
      );
      for (const row of result.rows) {
        const level = readSafeInteger(row.level, 'log_nodes.level');
        const index = readBigInt(row.idx, 'log_nodes.idx');
        found.set(nodeKey(level, index), readBytes(row.hash, 'log_nodes.hash'));
      }
    }
    return ids.map(({ level, index }) => {
      const hash = found.get(nodeKey(level, index));
      if (hash === undefined) throw missingNode(level, index);
      return hash;
    });
  }

  async nodeRange(level: number, from: bigint, to: bigint): Promise<Uint8Array[]> {
    checkNodeId(level, from);
    checkRange(from, to);
    if (from >= to) return [];
    const db = this.#context.db;
    const rows =
      level === 0
        ? await db
            .selectFrom('log_entries')
            .select(['idx', 'leaf_hash as hash'])
            .where('idx', '>=', from)
            .where('idx', '<', to)
            .orderBy('idx')
            .execute()
        : await db
            .selectFrom('log_nodes')
            .select(['idx', 'hash'])
            .where('level', '=', level)
            .where('idx', '>=', from)
            .where('idx', '<', to)
            .orderBy('idx')
            .execute();
    // A short answer means the rest is missing: stop at the first gap so that hashes[i] is always
    // the node at from + i (callers compare position by position).
    let expected = from;
    const hashes: Uint8Array[] = [];
    for (const row of rows) {
      if (readBigInt(row.idx, 'log_nodes.idx') !== expected) break;
      hashes.push(readBytes(row.hash, 'log_nodes.hash'));
      expected++;
    }
    return hashes;
  }

  async latestCheckpoint(): Promise<LogCheckpointRecord | undefined> {
    const row = await this.#context.db
      .selectFrom('log_checkpoints')
      .selectAll()
      .orderBy('tree_size', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : toLogCheckpointRecord(row);
  }

  async checkpoint(treeSize: bigint): Promise<LogCheckpointRecord | undefined> {
    checkInt64(treeSize, 'treeSize');
    const row = await this.#context.db
      .selectFrom('log_checkpoints')
      .selectAll()
      .where('tree_size', '=', treeSize)
      .executeTakeFirst();
    return row === undefined ? undefined : toLogCheckpointRecord(row);
  }

  async appendBatch(batch: {
    readonly previousSize: bigint;
    readonly entries: readonly LogEntryRecord[];
    readonly nodes: readonly LogNodeRecord[];
    readonly checkpoint: LogCheckpointRecord;
  }): Promise<void> {
    const { previousSize, entries, checkpoint } = batch;
    const newSize = checkInt64(previousSize, 'previousSize') + BigInt(entries.length);
    checkInt64(newSize, 'checkpoint.treeSize');
    if (checkpoint.treeSize !== newSize) {
      throw new AppError(
        'INTERNAL',
        `checkpoint size ${checkpoint.treeSize} does not match ${previousSize} + ${entries.length} entries`,
      );
    }
    const entryRows = entries.map((entry, i) => toEntryRow(entry, previousSize + BigInt(i)));
    const nodeRows = toNodeRows(batch.nodes, previousSize, entries);
    const createdAt = toMillis(checkpoint.createdAt, 'checkpoint.createdAt');
    const engine = this.#context.engine;
    await this.#context.atomic(async (db) => {
      // Compare-and-set first: a second sequencer that read the same size loses here, before it
      // writes anything (on PostgreSQL it waits for our row lock, then matches 0 rows).
      const cas = await db
        .updateTable('log_state')
        .set({ tree_size: newSize })
        .where('id', '=', 1)
        .where('tree_size', '=', previousSize)
        .executeTakeFirst();
      if (cas.numUpdatedRows !== 1n) {
        throw new AppError(
          'CONFLICT',
          `the log is no longer at size ${previousSize}: another sequencer appended first`,
        );
      }
      try {
        await insertRows(db, engine, LOG_ENTRIES, entryRows);
        await insertRows(db, engine, LOG_NODES, nodeRows);
        await db
          .insertInto('log_checkpoints')
          .values({
            tree_size: newSize,
            root_hash: checkpoint.rootHash,
            note: checkpoint.note,
            created_at: createdAt,
          })
          .execute();
      } catch (error) {
        if (!isAppError(error, 'CONFLICT')) throw error;
        throw new AppError(
          'CONFLICT',
          'the batch collides with stored log data: an index, node, checkpoint or idempotency key exists',
          { cause: error },
        );
      }
    });
  }
}

/** Reads the committed tree size (`log_state`). */
export async function readTreeSize(db: Kysely<StorageSchema>): Promise<bigint> {
  const row = await db
    .selectFrom('log_state')
    .select('tree_size')
    .where('id', '=', 1)
    .executeTakeFirst();
  if (row === undefined)
    throw new AppError('INTERNAL', 'log_state has no row: the schema is damaged');
  return readBigInt(row.tree_size, 'log_state.tree_size');
}

interface NodeRow {
  readonly level: unknown;
  readonly idx: unknown;
  readonly hash: unknown;
}

/**
 * One statement for all the nodes a proof needs: levels ≥ 1 from `log_nodes` by primary key,
 * level 0 from `log_entries` by index.
 */
function selectNodesQuery(
  engine: SqlContext['engine'],
  ids: readonly { readonly level: number; readonly index: bigint }[],
): CompiledQuery {
  const inner = ids.filter((id) => id.level > 0);
  const leaves = ids.filter((id) => id.level === 0).map((id) => id.index);
  const parts: string[] = [];
  const parameters: unknown[] = [];
  switch (engine) {
    case 'sqlite':
      if (inner.length > 0) {
        parts.push(
          'SELECT level, idx, hash FROM log_nodes WHERE (level, idx) IN (VALUES ' +
            inner.map(() => '(?, ?)').join(', ') +
            ')',
        );
        for (const id of inner) parameters.push(id.level, id.index);
      }
      if (leaves.length > 0) {
        parts.push(
          'SELECT 0 AS level, idx, leaf_hash AS hash FROM log_entries WHERE idx IN (' +
            leaves.map(() => '?').join(', ') +
            ')',
        );
        parameters.push(...leaves);
      }
      break;
    case 'postgres':
      // Fixed text whatever the count: arrays instead of one parameter per id.
      if (inner.length > 0) {
        parts.push(
          `SELECT n.level, n.idx, n.hash FROM log_nodes n JOIN unnest($${parameters.length + 1}::integer[], $${parameters.length + 2}::bigint[]) AS q(level, idx) ON n.level = q.level AND n.idx = q.idx`,
        );
        parameters.push(
          inner.map((id) => id.level),
          inner.map((id) => id.index),
        );
      }
      if (leaves.length > 0) {
        parts.push(
          `SELECT 0 AS level, e.idx, e.leaf_hash AS hash FROM log_entries e WHERE e.idx = ANY($${parameters.length + 1}::bigint[])`,
        );
        parameters.push(leaves);
      }
      break;
  }
  return CompiledQuery.raw(parts.join(' UNION ALL '), parameters);
}

function toEntryRow(entry: LogEntryRecord, expectedIndex: bigint): unknown[] {
  if (entry.index !== expectedIndex) {
    throw new AppError(
      'INTERNAL',
      `log entry index ${entry.index} is out of sequence (expected ${expectedIndex})`,
    );
  }
  if (!Number.isSafeInteger(entry.integratedTime) || entry.integratedTime < 0) {
    throw new AppError('INTERNAL', `log entry ${entry.index} has an invalid integratedTime`);
  }
  return [
    entry.index,
    entry.leafHash,
    entry.body,
    entry.kind,
    entry.idempotencyKey,
    BigInt(entry.integratedTime),
  ];
}

function toNodeRows(
  nodes: readonly LogNodeRecord[],
  previousSize: bigint,
  entries: readonly LogEntryRecord[],
): unknown[][] {
  const rows: unknown[][] = [];
  for (const node of nodes) {
    checkNodeId(node.level, node.index);
    if (node.level > 0) {
      rows.push([node.level, node.index, node.hash]);
      continue;
    }
    // A level-0 node is a leaf hash, already stored with its entry: accept it only if it is one
    // of this batch's leaves with the same hash.
    const entry = entries[Number(node.index - previousSize)];
    if (
      node.index < previousSize ||
      entry === undefined ||
      !equalBytes(entry.leafHash, node.hash)
    ) {
      throw new AppError('INTERNAL', `level-0 node ${node.index} is not a leaf of this batch`);
    }
  }
  return rows;
}

function toLogEntryRecord(row: Selectable<LogEntriesTable>): LogEntryRecord {
  return {
    index: readBigInt(row.idx, 'log_entries.idx'),
    leafHash: readBytes(row.leaf_hash, 'log_entries.leaf_hash'),
    body: readBytes(row.body, 'log_entries.body'),
    kind: readString(row.kind, 'log_entries.kind'),
    idempotencyKey: readNullableString(row.idempotency_key, 'log_entries.idempotency_key'),
    integratedTime: readSafeInteger(row.integrated_time, 'log_entries.integrated_time'),
  };
}

function toLogCheckpointRecord(row: Selectable<LogCheckpointsTable>): LogCheckpointRecord {
  return {
    treeSize: readBigInt(row.tree_size, 'log_checkpoints.tree_size'),
    rootHash: readBytes(row.root_hash, 'log_checkpoints.root_hash'),
    note: readString(row.note, 'log_checkpoints.note'),
    createdAt: readDate(row.created_at, 'log_checkpoints.created_at'),
  };
}

function checkRange(from: bigint, to: bigint): void {
  checkInt64(from, 'from');
  checkInt64(to, 'to');
}

function checkNodeId(level: number, index: bigint): void {
  if (!Number.isInteger(level) || level < 0 || level > MAX_NODE_LEVEL) {
    throw new AppError('INVALID_INPUT', `node level ${level} is outside 0..${MAX_NODE_LEVEL}`, {
      errors: [{ path: 'level', message: 'out of range' }],
    });
  }
  checkInt64(index, 'index');
}

function nodeKey(level: number, index: bigint): string {
  return `${level}/${index}`;
}

function missingNode(level: number, index: bigint): AppError {
  return new AppError(
    'INTERNAL',
    `log node at level ${level}, index ${index} is missing: the stored tree is incomplete`,
  );
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
