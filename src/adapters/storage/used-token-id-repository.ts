/**
 * `UsedTokenIdRepository` on SQL (table `used_token_ids`), for both engines: the single-use
 * record of workload-token ids (threat model A11) that every replica shares.
 */
import { sql } from 'kysely';
import type { UsedTokenIdRepository } from '../../core/ports.ts';
import type { SqlContext } from './sql-context.ts';
import { toMillis } from './sql-values.ts';

export class SqlUsedTokenIdRepository implements UsedTokenIdRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async consume(issuer: string, tokenId: string, expiresAt: Date, now: Date): Promise<boolean> {
    const expiry = toMillis(expiresAt, 'expiresAt');
    const nowMillis = toMillis(now, 'now');
    // One statement, atomic on both engines: a new id is inserted; an id whose record has expired
    // (not purged yet) takes the new expiry; an unexpired id changes nothing and counts 0 rows.
    // The primary key decides races between replicas, and no unique violation is ever raised,
    // which on PostgreSQL would abort an enclosing transaction.
    const result = await this.#context.db
      .insertInto('used_token_ids')
      .values({ issuer, token_id: tokenId, expires_at: expiry })
      .onConflict((conflict) =>
        conflict
          .columns(['issuer', 'token_id'])
          .doUpdateSet({ expires_at: expiry })
          .where(sql.ref('used_token_ids.expires_at'), '<=', nowMillis),
      )
      .executeTakeFirst();
    return (result.numInsertedOrUpdatedRows ?? 0n) > 0n;
  }

  async isUsed(issuer: string, tokenId: string, now: Date): Promise<boolean> {
    const row = await this.#context.db
      .selectFrom('used_token_ids')
      .select('token_id')
      .where('issuer', '=', issuer)
      .where('token_id', '=', tokenId)
      .where('expires_at', '>', toMillis(now, 'now'))
      .executeTakeFirst();
    return row !== undefined;
  }

  async purgeExpired(now: Date): Promise<number> {
    const result = await this.#context.db
      .deleteFrom('used_token_ids')
      .where('expires_at', '<=', toMillis(now, 'now'))
      .executeTakeFirst();
    return Number(result.numDeletedRows);
  }
}
