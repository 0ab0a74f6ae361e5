/** `SigningRequestRepository` and `ApprovalRepository` on SQL, for both engines. */
import type { Selectable } from 'kysely';
import { AppError } from '../../core/errors.ts';
import type {
  ApprovalRecord,
  ApprovalRepository,
  SigningRequestRecord,
  SigningRequestRepository,
  SigningRequestState,
} from '../../core/ports.ts';
import { withConflictMessage } from './with-conflict-message.ts';
import type { SqlContext } from './sql-context.ts';
import {
  readBigInt,
  readBytes,
  readDate,
  readNullableDate,
  readNullableString,
  readSafeInteger,
  readString,
  toMillis,
} from './sql-values.ts';
import type { ApprovalsTable, SigningRequestsTable } from './storage-schema.ts';

const MAX_LIST = 500;
const STATES = {
  pending: true,
  signed: true,
  rejected: true,
  expired: true,
  cancelled: true,
} as const satisfies Record<SigningRequestState, true>;
const DIGEST_ALGORITHMS = { sha256: true, sha384: true, sha512: true } as const;

export class SqlSigningRequestRepository implements SigningRequestRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async insert(record: SigningRequestRecord): Promise<void> {
    await withConflictMessage(
      () =>
        this.#context.db
          .insertInto('signing_requests')
          .values({
            id: record.id,
            product: record.product,
            channel: record.channel,
            kind: record.kind,
            subject_name: record.subjectName,
            digest_algorithm: record.digestAlgorithm,
            digest_value: record.digestValue,
            statement: record.statement,
            requester: record.requester,
            requester_issuer: record.requesterIssuer,
            requester_subject: record.requesterSubject,
            context: record.context,
            policy_hash: record.policyHash,
            governance_version: record.governanceVersion,
            state: record.state,
            created_at: toMillis(record.createdAt, 'createdAt'),
            expires_at: toMillis(record.expiresAt, 'expiresAt'),
            closed_at: record.closedAt === null ? null : toMillis(record.closedAt, 'closedAt'),
            signing_id: record.signingId,
            log_index: record.logIndex,
          })
          .execute(),
      `signing request ${record.id} exists already`,
    );
  }

  async findById(id: string): Promise<SigningRequestRecord | undefined> {
    const row = await this.#context.db
      .selectFrom('signing_requests')
      .selectAll()
      .where('id', '=', id)
      .executeTakeFirst();
    return row === undefined ? undefined : toRequest(row);
  }

  async findLatest(match: {
    readonly state: SigningRequestState;
    readonly requesterIssuer: string;
    readonly requesterSubject: string;
    readonly product: string;
    readonly channel: string;
    readonly kind: 'artifact' | 'attestation';
    readonly digestAlgorithm: string;
    readonly digestValue: string;
  }): Promise<SigningRequestRecord | undefined> {
    const row = await this.#context.db
      .selectFrom('signing_requests')
      .selectAll()
      .where('requester_issuer', '=', match.requesterIssuer)
      .where('requester_subject', '=', match.requesterSubject)
      .where('digest_value', '=', match.digestValue)
      .where('digest_algorithm', '=', match.digestAlgorithm)
      .where('product', '=', match.product)
      .where('channel', '=', match.channel)
      .where('kind', '=', match.kind)
      .where('state', '=', match.state)
      .orderBy('created_at', 'desc')
      .limit(1)
      .executeTakeFirst();
    return row === undefined ? undefined : toRequest(row);
  }

  async list(options: {
    readonly state?: SigningRequestState;
    readonly product?: string;
    readonly limit: number;
  }): Promise<SigningRequestRecord[]> {
    let query = this.#context.db.selectFrom('signing_requests').selectAll();
    if (options.state !== undefined) query = query.where('state', '=', options.state);
    if (options.product !== undefined) query = query.where('product', '=', options.product);
    const rows = await query
      .orderBy('created_at', 'desc')
      .orderBy('id')
      .limit(Math.min(Math.max(options.limit, 1), MAX_LIST))
      .execute();
    return rows.map(toRequest);
  }

  async close(
    id: string,
    state: Exclude<SigningRequestState, 'pending'>,
    at: Date,
    signingId?: string,
  ): Promise<boolean> {
    // One conditional UPDATE, so of racing signers exactly one moves the request (E1).
    const result = await this.#context.db
      .updateTable('signing_requests')
      .set({ state, closed_at: toMillis(at, 'at'), signing_id: signingId ?? null })
      .where('id', '=', id)
      .where('state', '=', 'pending')
      .executeTakeFirst();
    return result.numUpdatedRows === 1n;
  }
}

export class SqlApprovalRepository implements ApprovalRepository {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async insert(record: ApprovalRecord): Promise<void> {
    await withConflictMessage(
      () =>
        this.#context.db
          .insertInto('approvals')
          .values({
            id: record.id,
            request_id: record.requestId,
            user_id: record.userId,
            credential_id: record.credentialId,
            decision: record.decision,
            comment: record.comment,
            statement: record.statement,
            signature: record.signature,
            authenticator_data: record.authenticatorData,
            client_data_json: record.clientDataJson,
            created_at: toMillis(record.createdAt, 'createdAt'),
            log_index: record.logIndex,
          })
          .execute(),
      `approval ${record.id} exists already`,
    );
  }

  async listByRequest(requestId: string): Promise<ApprovalRecord[]> {
    const rows = await this.#context.db
      .selectFrom('approvals')
      .selectAll()
      .where('request_id', '=', requestId)
      .orderBy('created_at')
      .orderBy('id')
      .execute();
    return rows.map(toApproval);
  }
}

function toRequest(row: Selectable<SigningRequestsTable>): SigningRequestRecord {
  const kind = readString(row.kind, 'signing_requests.kind');
  const state = readString(row.state, 'signing_requests.state');
  const algorithm = readString(row.digest_algorithm, 'signing_requests.digest_algorithm');
  if (kind !== 'artifact' && kind !== 'attestation') {
    throw new AppError('INTERNAL', `unknown signing request kind ${kind} in storage`);
  }
  if (!Object.hasOwn(STATES, state)) {
    throw new AppError('INTERNAL', `unknown signing request state ${state} in storage`);
  }
  if (!Object.hasOwn(DIGEST_ALGORITHMS, algorithm)) {
    throw new AppError('INTERNAL', `unknown digest algorithm ${algorithm} in storage`);
  }
  return {
    id: readString(row.id, 'signing_requests.id'),
    product: readString(row.product, 'signing_requests.product'),
    channel: readString(row.channel, 'signing_requests.channel'),
    kind,
    subjectName: readString(row.subject_name, 'signing_requests.subject_name'),
    digestAlgorithm: algorithm as SigningRequestRecord['digestAlgorithm'],
    digestValue: readString(row.digest_value, 'signing_requests.digest_value'),
    statement:
      row.statement === null ? null : readBytes(row.statement, 'signing_requests.statement'),
    requester: readString(row.requester, 'signing_requests.requester'),
    requesterIssuer: readString(row.requester_issuer, 'signing_requests.requester_issuer'),
    requesterSubject: readString(row.requester_subject, 'signing_requests.requester_subject'),
    context: readString(row.context, 'signing_requests.context'),
    policyHash: readString(row.policy_hash, 'signing_requests.policy_hash'),
    governanceVersion: readSafeInteger(
      row.governance_version,
      'signing_requests.governance_version',
    ),
    state: state as SigningRequestState,
    createdAt: readDate(row.created_at, 'signing_requests.created_at'),
    expiresAt: readDate(row.expires_at, 'signing_requests.expires_at'),
    closedAt: readNullableDate(row.closed_at, 'signing_requests.closed_at'),
    signingId: readNullableString(row.signing_id, 'signing_requests.signing_id'),
    logIndex: readBigInt(row.log_index, 'signing_requests.log_index'),
  };
}

function toApproval(row: Selectable<ApprovalsTable>): ApprovalRecord {
  const decision = readString(row.decision, 'approvals.decision');
  if (decision !== 'approve' && decision !== 'reject') {
    throw new AppError('INTERNAL', `unknown approval decision ${decision} in storage`);
  }
  return {
    id: readString(row.id, 'approvals.id'),
    requestId: readString(row.request_id, 'approvals.request_id'),
    userId: readString(row.user_id, 'approvals.user_id'),
    credentialId: readString(row.credential_id, 'approvals.credential_id'),
    decision,
    comment: readString(row.comment, 'approvals.comment'),
    statement: readBytes(row.statement, 'approvals.statement'),
    signature: readBytes(row.signature, 'approvals.signature'),
    authenticatorData:
      row.authenticator_data === null
        ? null
        : readBytes(row.authenticator_data, 'approvals.authenticator_data'),
    clientDataJson:
      row.client_data_json === null
        ? null
        : readBytes(row.client_data_json, 'approvals.client_data_json'),
    createdAt: readDate(row.created_at, 'approvals.created_at'),
    logIndex: readBigInt(row.log_index, 'approvals.log_index'),
  };
}
