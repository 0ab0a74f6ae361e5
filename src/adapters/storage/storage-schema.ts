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
  issuer: string;
  log_index: Int;
  decision_log_index: Int;
  /** The bundle JSON, attached after the log answered. */
  bundle: string | null;
  /** Epoch milliseconds. */
  created_at: Int;
}
