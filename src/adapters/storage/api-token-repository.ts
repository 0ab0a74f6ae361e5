/** `ApiTokenRepository` on SQL (table `api_tokens`), for both engines. */
import type { Selectable } from 'kysely';
import { AppError } from '../../core/errors.ts';
import type { ApiTokenRecord, ApiTokenRepository, Role } from '../../core/ports.ts';
import { withConflictMessage } from './with-conflict-message.ts';
import type { SqlContext } from './sql-context.ts';
import {
  readBytes,
  readDate,
  readNullableDate,
  readNullableString,
  readString,
  toMillis,
  toNullableMillis,
} from './sql-values.ts';
import type { ApiTokensTable } from './storage-schema.ts';

/** Every role, so a value read back from the database can be checked (DESIGN.md §5). */
const ROLES = {
  admin: true,
  approver: true,
  security: true,
  auditor: true,
} as const satisfies Record<Role, true>;

export class SqlApiTokenRepository implements ApiTokenRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async insert(token: ApiTokenRecord): Promise<void> {
    await withConflictMessage(
      () =>
        this.#context.db
          .insertInto('api_tokens')
          .values({
            id: token.id,
            name: token.name,
            role: token.role,
            user_id: token.userId,
            secret_hash: token.secretHash,
            created_at: toMillis(token.createdAt, 'createdAt'),
            expires_at: toNullableMillis(token.expiresAt, 'expiresAt'),
            revoked_at: toNullableMillis(token.revokedAt, 'revokedAt'),
          })
          .execute(),
      `API token ${token.id} already exists`,
    );
  }

  async findById(id: string): Promise<ApiTokenRecord | undefined> {
    const row = await this.#context.db
      .selectFrom('api_tokens')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toApiTokenRecord(row);
  }

  async list(): Promise<ApiTokenRecord[]> {
    const rows = await this.#context.db
      .selectFrom('api_tokens')
      .selectAll()
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toApiTokenRecord);
  }

  async revoke(id: string, at: Date): Promise<boolean> {
    // One conditional UPDATE: of two concurrent revocations exactly one reports true.
    const result = await this.#context.db
      .updateTable('api_tokens')
      .set({ revoked_at: toMillis(at, 'at') })
      .where('id', '=', id)
      .where('revoked_at', 'is', null)
      .executeTakeFirst();
    return result.numUpdatedRows > 0n;
  }
}

function toApiTokenRecord(row: Selectable<ApiTokensTable>): ApiTokenRecord {
  return {
    id: readString(row.id, 'api_tokens.id'),
    name: readString(row.name, 'api_tokens.name'),
    role: readRole(row.role),
    userId: readNullableString(row.user_id, 'api_tokens.user_id'),
    secretHash: readBytes(row.secret_hash, 'api_tokens.secret_hash'),
    createdAt: readDate(row.created_at, 'api_tokens.created_at'),
    expiresAt: readNullableDate(row.expires_at, 'api_tokens.expires_at'),
    revokedAt: readNullableDate(row.revoked_at, 'api_tokens.revoked_at'),
  };
}

function readRole(value: unknown): Role {
  if (typeof value === 'string' && Object.hasOwn(ROLES, value)) return value as Role;
  throw new AppError('INTERNAL', 'storage returned an unknown role in column api_tokens.role');
}
