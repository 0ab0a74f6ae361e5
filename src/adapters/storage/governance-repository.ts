/**
 * `GovernanceRepository` on SQL (table `governance_versions`), for both engines. Versions are
 * append-only: a row is inserted once and never updated, and the current governance is the row
 * with the highest version.
 */
import type { Selectable } from 'kysely';
import { AppError, isAppError } from '../../core/errors.ts';
import type { PolicySource } from '../../core/policy/policy-engine.ts';
import type {
  GovernanceActor,
  GovernanceRepository,
  GovernanceVersionRecord,
} from '../../core/ports.ts';
import type { SqlContext } from './sql-context.ts';
import { readDate, readSafeInteger, readString, toMillis } from './sql-values.ts';
import type { GovernanceVersionsTable } from './storage-schema.ts';

/** Largest version: PostgreSQL `integer`. Nobody applies governance two billion times. */
const MAX_VERSION = 2_147_483_647;

export class SqlGovernanceRepository implements GovernanceRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async latestVersion(): Promise<number> {
    const row = await this.#context.db
      .selectFrom('governance_versions')
      .select('version')
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? 0 : readSafeInteger(row.version, 'governance_versions.version');
  }

  async latest(): Promise<GovernanceVersionRecord | undefined> {
    const row = await this.#context.db
      .selectFrom('governance_versions')
      .selectAll()
      .orderBy('version', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  async findByVersion(version: number): Promise<GovernanceVersionRecord | undefined> {
    if (!Number.isSafeInteger(version) || version < 1 || version > MAX_VERSION) return undefined;
    const row = await this.#context.db
      .selectFrom('governance_versions')
      .selectAll()
      .where('version', '=', version)
      .executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  async insert(record: GovernanceVersionRecord): Promise<void> {
    if (
      !Number.isSafeInteger(record.version) ||
      record.version < 1 ||
      record.version > MAX_VERSION
    ) {
      throw new AppError(
        'INVALID_INPUT',
        `governance version ${String(record.version)} is out of range`,
      );
    }
    // ON CONFLICT DO NOTHING rather than a failing INSERT: on PostgreSQL a unique violation
    // aborts the whole transaction, and this insert runs inside the log's batch transaction.
    const result = await this.#context.db
      .insertInto('governance_versions')
      .values({
        version: record.version,
        file_name: record.fileName,
        file_text: record.fileText,
        file_sha256: record.fileSha256,
        document: record.document,
        policy_schema: JSON.stringify(record.policySchema),
        policy_sources: JSON.stringify(record.policies),
        policy_hash: record.policyHash,
        applied_at: toMillis(record.appliedAt, 'appliedAt'),
        applied_by_kind: record.appliedBy.kind,
        applied_by_id: record.appliedBy.id,
        applied_by_name: record.appliedBy.name,
      })
      .onConflict((conflict) => conflict.column('version').doNothing())
      .executeTakeFirst();
    if ((result.numInsertedOrUpdatedRows ?? 0n) === 0n) {
      throw new AppError(
        'CONFLICT',
        `governance version ${String(record.version)} already exists`,
        {
          hint: 'governance changed meanwhile: run `countersign plan` again',
        },
      );
    }
  }
}

function toRecord(row: Selectable<GovernanceVersionsTable>): GovernanceVersionRecord {
  return {
    version: readSafeInteger(row.version, 'governance_versions.version'),
    fileName: readString(row.file_name, 'governance_versions.file_name'),
    fileText: readString(row.file_text, 'governance_versions.file_text'),
    fileSha256: readString(row.file_sha256, 'governance_versions.file_sha256'),
    document: readString(row.document, 'governance_versions.document'),
    policySchema: readPolicySource(
      parseJson(row.policy_schema, 'governance_versions.policy_schema'),
      'governance_versions.policy_schema',
    ),
    policies: readPolicySources(row.policy_sources),
    policyHash: readString(row.policy_hash, 'governance_versions.policy_hash'),
    appliedAt: readDate(row.applied_at, 'governance_versions.applied_at'),
    appliedBy: readActor(row),
  };
}

function readActor(row: Selectable<GovernanceVersionsTable>): GovernanceActor {
  const kind = readString(row.applied_by_kind, 'governance_versions.applied_by_kind');
  if (kind !== 'api-token' && kind !== 'system')
    throw corrupt('governance_versions.applied_by_kind');
  return {
    kind,
    id: readString(row.applied_by_id, 'governance_versions.applied_by_id'),
    name: readString(row.applied_by_name, 'governance_versions.applied_by_name'),
  };
}

function readPolicySources(value: unknown): PolicySource[] {
  const column = 'governance_versions.policy_sources';
  const parsed = parseJson(value, column);
  if (!Array.isArray(parsed)) throw corrupt(column);
  return parsed.map((item: unknown) => readPolicySource(item, column));
}

function readPolicySource(value: unknown, column: string): PolicySource {
  if (typeof value !== 'object' || value === null) throw corrupt(column);
  const { name, text, location } = value as Record<string, unknown>;
  if (typeof name !== 'string' || typeof text !== 'string') throw corrupt(column);
  if (location === undefined) return { name, text };
  if (typeof location !== 'object' || location === null) throw corrupt(column);
  const { file, line } = location as Record<string, unknown>;
  if (typeof file !== 'string' || typeof line !== 'number' || !Number.isSafeInteger(line)) {
    throw corrupt(column);
  }
  return { name, text, location: { file, line } };
}

function parseJson(value: unknown, column: string): unknown {
  try {
    return JSON.parse(readString(value, column)) as unknown;
  } catch (error) {
    if (isAppError(error)) throw error;
    throw corrupt(column);
  }
}

function corrupt(column: string): AppError {
  return new AppError('INTERNAL', `storage returned a malformed value in column ${column}`);
}
