/**
 * The tables as Kysely sees them. The DDL lives in `migrations/`; this is the shape queries are
 * type-checked against. Column values are typed as the union the two engines may return and are
 * narrowed by `sql-values.ts` when rows become domain records.
 */

/** A 64-bit integer column: written as `bigint`, read as `bigint` (or `number` for int4). */
type Int = bigint | number;

export interface SchemaMigrationsTable {
  version: Int;
  name: string;
  /** Epoch milliseconds. */
  applied_at: Int;
}

export interface ApiTokensTable {
  id: string;
  name: string;
  role: string;
  secret_hash: Uint8Array;
  user_id: string | null;
  /** Epoch milliseconds. */
  created_at: Int;
  expires_at: Int | null;
  revoked_at: Int | null;
}

export interface LogEntriesTable {
  idx: Int;
  leaf_hash: Uint8Array;
  body: Uint8Array;
  kind: string;
  idempotency_key: string | null;
  /** Unix seconds: the Rekor `integratedTime` a SET signs, kept in the unit it is signed in. */
  integrated_time: Int;
}

export interface LogNodesTable {
  level: Int;
  idx: Int;
  hash: Uint8Array;
}

export interface LogCheckpointsTable {
  tree_size: Int;
  root_hash: Uint8Array;
  note: string;
  /** Epoch milliseconds. */
  created_at: Int;
}

export interface LogStateTable {
  id: Int;
  tree_size: Int;
}

export interface GovernanceVersionsTable {
  version: Int;
  file_name: string;
  file_text: string;
  /** `sha256:<hex>` of the file's UTF-8 bytes. */
  file_sha256: string;
  /** RFC 8785 canonical JSON of the validated governance snapshot. */
  document: string;
  /** JSON of the Cedar schema source `{ name, text, location? }`. */
  policy_schema: string;
  /** JSON array of the Cedar policy sources. */
  policy_sources: string;
  policy_hash: string;
  /** Epoch milliseconds. */
  applied_at: Int;
  applied_by_kind: string;
  applied_by_id: string;
  applied_by_name: string;
}

export interface UsedTokenIdsTable {
  issuer: string;
  token_id: string;
  /** Epoch milliseconds. */
  expires_at: Int;
}

/** Every table Countersign owns. Add a table here when a migration creates it. */
export interface StorageSchema {
  schema_migrations: SchemaMigrationsTable;
  api_tokens: ApiTokensTable;
  log_entries: LogEntriesTable;
  log_nodes: LogNodesTable;
  log_checkpoints: LogCheckpointsTable;
  log_state: LogStateTable;
  governance_versions: GovernanceVersionsTable;
  used_token_ids: UsedTokenIdsTable;
  pki_certificates: PkiCertificatesTable;
  signings: SigningsTable;
  approver_credentials: ApproverCredentialsTable;
  signing_requests: SigningRequestsTable;
  approvals: ApprovalsTable;
  webhooks: WebhooksTable;
  webhook_deliveries: WebhookDeliveriesTable;
  webauthn_challenges: WebAuthnChallengesTable;
  web_sessions: WebSessionsTable;
  enrolments: EnrolmentsTable;
  exceptions: ExceptionsTable;
  exception_approvals: ExceptionApprovalsTable;
  exception_uses: ExceptionUsesTable;
}

export interface PkiCertificatesTable {
  /** `root-ca`, `tsa` or `channel-ca:<product>/<channel>`: one row each. */
  scope: string;
  role: string;
  product: string | null;
  channel: string | null;
  key_id: string;
  certificate: Uint8Array;
  serial_number: string;
  /** Epoch milliseconds. */
  not_before: Int;
  not_after: Int;
  created_at: Int;
}

export interface SigningsTable {
  id: string;
  product: string;
  channel: string;
  kind: string;
  subject_name: string;
  digest_algorithm: string;
  digest_value: string;
  identity: string;
  decision_bundle: string | null;
  issuer: string;
  log_index: Int;
  decision_log_index: Int;
  /** The bundle JSON, attached after the log answered. */
  bundle: string | null;
  /** Epoch milliseconds. */
  created_at: Int;
}

export interface WebhooksTable {
  id: string;
  url: string;
  /** JSON array of notification event names. */
  events: string;
  /** The HMAC key, as given (never logged). */
  secret: string;
  /** 1 or 0. */
  enabled: Int;
  /** Epoch milliseconds. */
  created_at: Int;
  created_by: string;
}

export interface WebhookDeliveriesTable {
  id: string;
  webhook_id: string;
  event: string;
  /** The exact JSON body POSTed. */
  body: string;
  /** `pending`, `delivered` or `failed`. */
  state: string;
  attempts: Int;
  /** Epoch milliseconds; null once delivered or failed. */
  next_attempt_at: Int | null;
  last_status_code: Int | null;
  last_error: string | null;
  /** Epoch milliseconds. */
  created_at: Int;
  updated_at: Int;
}

export interface ApproverCredentialsTable {
  id: string;
  user_id: string;
  kind: string;
  public_key_spki: Uint8Array;
  algorithm: Int;
  rp_id: string | null;
  sign_count: Int;
  label: string;
  /** Epoch milliseconds. */
  created_at: Int;
  revoked_at: Int | null;
}

export interface SigningRequestsTable {
  id: string;
  product: string;
  channel: string;
  kind: string;
  subject_name: string;
  digest_algorithm: string;
  digest_value: string;
  statement: Uint8Array | null;
  requester: string;
  requester_issuer: string;
  requester_subject: string;
  context: string;
  policy_hash: string;
  governance_version: Int;
  state: string;
  /** Epoch milliseconds. */
  created_at: Int;
  expires_at: Int;
  closed_at: Int | null;
  signing_id: string | null;
  log_index: Int;
}

export interface ApprovalsTable {
  id: string;
  request_id: string;
  user_id: string;
  credential_id: string;
  decision: string;
  comment: string;
  statement: Uint8Array;
  signature: Uint8Array;
  authenticator_data: Uint8Array | null;
  client_data_json: Uint8Array | null;
  /** Epoch milliseconds. */
  created_at: Int;
  log_index: Int;
}

/** Migration 0006: WebAuthn challenges not used yet (deleted on use). */
export interface WebAuthnChallengesTable {
  challenge: string;
  purpose: string;
  user_id: string | null;
  enrolment_id: string | null;
  /** Epoch milliseconds. */
  created_at: Int;
  expires_at: Int;
}

/** Migration 0006: passkey web sessions, keyed by the SHA-256 of the cookie secret. */
export interface WebSessionsTable {
  secret_hash: Uint8Array;
  user_id: string;
  credential_id: string;
  /** Epoch milliseconds. */
  created_at: Int;
  expires_at: Int;
}

/** Migration 0006: one-time passkey enrolment links. */
export interface EnrolmentsTable {
  id: string;
  secret_hash: Uint8Array;
  user_id: string;
  /** Epoch milliseconds. */
  created_at: Int;
  expires_at: Int;
  used_at: Int | null;
  created_by_kind: string;
  created_by_id: string;
  created_by_name: string;
}

export interface ExceptionsTable {
  id: string;
  product: string;
  channel: string;
  /** JSON array of waived checks. */
  waives: string;
  reason: string;
  requested_by: string;
  duration_seconds: Int;
  max_uses: Int;
  state: string;
  /** Epoch milliseconds (every time column below too). */
  not_after: Int | null;
  uses: Int;
  governance_version: Int;
  created_at: Int;
  activated_at: Int | null;
  ended_at: Int | null;
  ended_by: string | null;
  review_due_at: Int | null;
  reviewed_at: Int | null;
  reviewed_by: string | null;
  review_findings: string | null;
  review_overdue_notified_at: Int | null;
}

export interface ExceptionApprovalsTable {
  exception_id: string;
  user_id: string;
  /** `approve` or `reject`. */
  decision: string;
  comment: string;
  /** Epoch milliseconds. */
  created_at: Int;
}

export interface ExceptionUsesTable {
  exception_id: string;
  use_number: Int;
  /** Epoch milliseconds. */
  used_at: Int;
  /** The log entry of its `exception.used` event; null until logged. */
  log_index: Int | null;
}
