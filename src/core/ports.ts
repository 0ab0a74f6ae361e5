/**
 * Ports: the interfaces through which `core` and `app` reach the world. Adapters implement them;
 * `src/compose.ts` wires them. Nothing here does I/O.
 */

import type { Workload } from './governance/workload.ts';
import type { PolicySource } from './policy/policy-engine.ts';

/** Wall-clock time. Tests pass a fake one; `core` never reads the system clock itself. */
export interface Clock {
  /** The current time. */
  now(): Date;
}

/** Cryptographically secure randomness. */
export interface Random {
  /** `length` bytes from a CSPRNG. */
  bytes(length: number): Uint8Array;
}

/** The storage engines Countersign runs on (DESIGN.md §4). */
export type StorageEngine = 'sqlite' | 'postgres';

/**
 * The repositories one unit of work sees. Inside `Storage.transaction` every call joins the
 * transaction; on the `Storage` itself each call commits on its own.
 */
export interface StorageSession {
  readonly apiTokens: ApiTokenRepository;
  readonly log: LogRepository;
  readonly governance: GovernanceRepository;
  readonly usedTokenIds: UsedTokenIdRepository;
  readonly pki: PkiStore;
  readonly signings: SigningRepository;
}

/** Durable storage. Every method throws `AppError('STORAGE_UNAVAILABLE')` when the engine is unreachable. */
export interface Storage extends StorageSession {
  readonly engine: StorageEngine;
  /**
   * Runs `work` in one transaction: it commits when `work` resolves and rolls back when it throws.
   * Resolves only after the commit is durable (SQLite `synchronous=FULL`, PostgreSQL
   * `synchronous_commit=on`).
   */
  transaction<T>(work: (session: StorageSession) => Promise<T>): Promise<T>;
  /** Reachability and schema state, for `/readyz` and `countersign status`. */
  health(): Promise<StorageHealth>;
  /** Closes connections and releases the data-directory lock. */
  close(): Promise<void>;
}

export interface StorageHealth {
  readonly reachable: boolean;
  /** The newest migration applied to the database. */
  readonly schemaVersion: number;
  /** The newest migration this code knows. Equal to `schemaVersion` when ready. */
  readonly codeSchemaVersion: number;
  /** Why it is not ready, in words an operator can act on. */
  readonly problem?: string;
}

/** Roles a human or an API token holds (DESIGN.md §5). */
export type Role = 'admin' | 'approver' | 'security' | 'auditor';

/** An operator API token. Only the SHA-256 of its secret is stored. */
export interface ApiTokenRecord {
  /** Public identifier, also the prefix of the token string; safe to log. */
  readonly id: string;
  readonly name: string;
  readonly role: Role;
  /** SHA-256 of the secret part of the token. */
  readonly secretHash: Uint8Array;
  readonly createdAt: Date;
  readonly expiresAt: Date | null;
  readonly revokedAt: Date | null;
}

export interface ApiTokenRepository {
  /** Throws CONFLICT when the id exists. */
  insert(token: ApiTokenRecord): Promise<void>;
  findById(id: string): Promise<ApiTokenRecord | undefined>;
  /** All tokens, oldest first. */
  list(): Promise<ApiTokenRecord[]>;
  /** Marks the token revoked at `at`; false when there is no such token or it was already revoked. */
  revoke(id: string, at: Date): Promise<boolean>;
}

/** One entry of the transparency log as stored. */
export interface LogEntryRecord {
  /** 0-based position in the log. */
  readonly index: bigint;
  /** RFC 6962 leaf hash of `body`. */
  readonly leafHash: Uint8Array;
  /** The exact bytes hashed into the leaf. */
  readonly body: Uint8Array;
  /** Entry kind, e.g. `hashedrekord/0.0.1`, `dsse/0.0.1`, `countersign.event/v1`. */
  readonly kind: string;
  /** Client-chosen key: a retry with the same key returns this entry instead of a new one. */
  readonly idempotencyKey: string | null;
  /** Unix seconds at which the sequencer integrated the entry. */
  readonly integratedTime: number;
}

/** A stored node hash: the root of the complete subtree of 2^level leaves starting at `index · 2^level`. */
export interface LogNodeRecord {
  readonly level: number;
  readonly index: bigint;
  readonly hash: Uint8Array;
}

/** A signed checkpoint as stored: one per tree size, never two. */
export interface LogCheckpointRecord {
  readonly treeSize: bigint;
  readonly rootHash: Uint8Array;
  /** The C2SP signed note, exactly as served. */
  readonly note: string;
  readonly createdAt: Date;
}

export interface LogRepository {
  /** The size of the tree whose checkpoint was committed last (0 for an empty log). */
  treeSize(): Promise<bigint>;
  /** Entries `[from, to)`, in order. */
  entries(from: bigint, to: bigint): Promise<LogEntryRecord[]>;
  findEntryByIdempotencyKey(key: string): Promise<LogEntryRecord | undefined>;
  /** The entries carrying any of `keys` (one query; order unspecified). */
  findEntriesByIdempotencyKeys(keys: readonly string[]): Promise<LogEntryRecord[]>;
  /**
   * Takes the append lock until the end of the current transaction. PostgreSQL replicas serialise
   * their batches on it (an advisory transaction lock), so only one writes the tree at a time and
   * the others see its size when they get the lock. On SQLite the data-directory lock already
   * makes this process the only writer. Call first inside `Storage.transaction`.
   */
  lockForAppend(): Promise<void>;
  /** Node hashes for the given ids; throws INTERNAL if one is missing (the tree is corrupt). */
  nodes(ids: readonly { readonly level: number; readonly index: bigint }[]): Promise<Uint8Array[]>;
  /** Node hashes at `level` for indices `[from, to)`, in order (tiles read this). */
  nodeRange(level: number, from: bigint, to: bigint): Promise<Uint8Array[]>;
  latestCheckpoint(): Promise<LogCheckpointRecord | undefined>;
  checkpoint(treeSize: bigint): Promise<LogCheckpointRecord | undefined>;
  /**
   * Appends one batch: entries, the node hashes it completes, and the checkpoint over the new size.
   * Compare-and-set: throws CONFLICT unless the committed size is still `previousSize`, so the
   * tree never forks and the size never decreases. Call inside `Storage.transaction`.
   */
  appendBatch(batch: {
    readonly previousSize: bigint;
    readonly entries: readonly LogEntryRecord[];
    readonly nodes: readonly LogNodeRecord[];
    readonly checkpoint: LogCheckpointRecord;
  }): Promise<void>;
}

/** Who changed governance: an operator API token, or Countersign itself (the demo workspace). */
export interface GovernanceActor {
  readonly kind: 'api-token' | 'system';
  /** The API token id, or a fixed name such as `demo-workspace`. Safe to log. */
  readonly id: string;
  /** The token's name, or a description of the system actor. */
  readonly name: string;
}

/**
 * One applied governance version: the file exactly as applied, the validated snapshot, and the
 * complete policy set that decides under it. Versions are immutable; the highest is current.
 */
export interface GovernanceVersionRecord {
  /** 1, 2, 3…: one more than the version it replaced. */
  readonly version: number;
  /** The file name the operator applied, as shown in messages (e.g. `governance.yaml`). */
  readonly fileName: string;
  /** The applied file, byte for byte (as UTF-8 text). */
  readonly fileText: string;
  /** `sha256:<hex>` of `fileText`'s UTF-8 bytes. */
  readonly fileSha256: string;
  /** RFC 8785 canonical JSON of the validated `Governance` snapshot (dates as ISO strings). */
  readonly document: string;
  /** The Cedar schema the policies were validated against. */
  readonly policySchema: PolicySource;
  /** Every Cedar policy source of the set, in policy-set order. */
  readonly policies: readonly PolicySource[];
  /** `sha256:<hex>` over schema and policies (`computePolicyHash`). */
  readonly policyHash: string;
  readonly appliedAt: Date;
  readonly appliedBy: GovernanceActor;
}

export interface GovernanceRepository {
  /** The highest applied version, 0 when governance was never applied. One indexed read. */
  latestVersion(): Promise<number>;
  /** The current (highest) version, or undefined when none was applied. */
  latest(): Promise<GovernanceVersionRecord | undefined>;
  findByVersion(version: number): Promise<GovernanceVersionRecord | undefined>;
  /**
   * Stores a new version. Throws CONFLICT when `record.version` exists: two applies raced and
   * this one lost; INVALID_INPUT for a version below 1.
   */
  insert(record: GovernanceVersionRecord): Promise<void>;
}

/**
 * Workload-token ids already used for signing, shared by every replica (threat model A11). The
 * storage-backed `TokenIdStore` is built on it.
 */
export interface UsedTokenIdRepository {
  /**
   * Records `tokenId` of `issuer` as used until `expiresAt`, atomically: resolves true when it
   * was not recorded or its record had expired by `now` (the record is then replaced), false when
   * an unexpired record exists (a replay). Concurrent calls for one id: exactly one gets true.
   */
  consume(issuer: string, tokenId: string, expiresAt: Date, now: Date): Promise<boolean>;
  /** Deletes the records that expired at or before `now`; resolves to how many. */
  purgeExpired(now: Date): Promise<number>;
}

/**
 * What a key may be used for. A key serves exactly one purpose, enforced in code: the log key can
 * never sign an artifact, a channel CA never signs a checkpoint (DESIGN.md §5).
 */
export type KeyPurpose = 'root-ca' | 'channel-ca' | 'log' | 'tsa' | 'managed-signing';

/** A private key held by a key backend (keystore file or PKCS#11 token); it never leaves it. */
export interface KeyHandle {
  readonly id: string;
  readonly purpose: KeyPurpose;
  /** Only ECDSA P-256 with SHA-256 for now: what every Sigstore verifier accepts. */
  readonly algorithm: 'ecdsa-p256-sha256';
  /** The public key as DER SubjectPublicKeyInfo. */
  readonly publicKeySpki: Uint8Array;
  /**
   * Signs `message` (hashing it with SHA-256) and returns a DER-encoded ECDSA signature.
   * Throws KEY_UNAVAILABLE when the backend cannot sign.
   */
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/** Where private keys live: an encrypted keystore directory or a PKCS#11 token (DESIGN.md §3). */
export type KeyBackendKind = 'keystore' | 'pkcs11';

/** What a backend tells about one key it holds; never anything secret. */
export interface KeyInfo {
  readonly id: string;
  readonly purpose: KeyPurpose;
  readonly algorithm: 'ecdsa-p256-sha256';
  /** The public key as DER SubjectPublicKeyInfo. */
  readonly publicKeySpki: Uint8Array;
}

/** Whether a key backend can sign right now, for `/readyz` and `countersign status`. */
export interface KeyBackendHealth {
  readonly ok: boolean;
  /** Why not, in words an operator can act on (never a PIN or passphrase). */
  readonly problem?: string;
}

/**
 * Holds private keys and signs with them; the keys never leave it. There is deliberately no
 * export operation: a key is created inside the backend and dies there (threat model M4).
 *
 * Every key serves one `KeyPurpose`, fixed when it is created and stored authenticated with it, so
 * a key of one purpose can never be obtained as a key of another.
 *
 * Key ids are 1–64 characters of `A–Z a–z 0–9 . _ -`, starting with a letter or digit; anything
 * else throws INVALID_INPUT.
 */
export interface KeyBackend {
  readonly kind: KeyBackendKind;
  /**
   * Generates a new ECDSA P-256 key inside the backend. Throws CONFLICT when `id` exists,
   * KEY_UNAVAILABLE when the backend cannot create it.
   */
  createKey(id: string, purpose: KeyPurpose): Promise<KeyHandle>;
  /**
   * The key `id`, which must have been created for `purpose`. Throws NOT_FOUND when there is no
   * such key, KEY_UNAVAILABLE when it has another purpose, fails its integrity or attribute checks,
   * or the backend is unreachable.
   */
  getKey(id: string, purpose: KeyPurpose): Promise<KeyHandle>;
  /** Every key the backend holds, sorted by id. Throws KEY_UNAVAILABLE when one cannot be read. */
  listKeys(): Promise<KeyInfo[]>;
  /** Never throws. */
  health(): Promise<KeyBackendHealth>;
  /** Releases sessions and forgets key material; handles fail with KEY_UNAVAILABLE afterwards. */
  close(): Promise<void>;
}

/**
 * Remembers which workload-token ids (`jti`) were used, so a token authorises at most one signing
 * (threat model A11). Entries live until the token expires; a DB-backed store shares them across
 * replicas.
 */
export interface TokenIdStore {
  /**
   * Records `tokenId` of `issuer` as used until `expiresAt`. Resolves true the first time and
   * false on every later call before `expiresAt` (a replay). Throws STORAGE_UNAVAILABLE or
   * RATE_LIMITED when it cannot record the id; callers then fail closed.
   */
  consume(issuer: string, tokenId: string, expiresAt: Date): Promise<boolean>;
}

/** Why a workload token is presented: `sign` tokens are single-use, `read` tokens are not. */
export type TokenPurpose = 'sign' | 'read';

/** Verifies a CI workload's OIDC token and returns its normalised identity (DESIGN.md §6 step 1). */
export interface WorkloadVerifier {
  /**
   * Verifies `token` (untrusted input) against the trusted issuers. Throws UNAUTHENTICATED with
   * a specific, non-leaky reason when the token is not acceptable.
   */
  verify(token: string, options: { readonly purpose: TokenPurpose }): Promise<Workload>;
}

/** The certificates of Countersign's own PKI (issue "Sign and verify" item 2). */
export type PkiCertificateRole = 'root-ca' | 'channel-ca' | 'tsa';

/** One CA or TSA certificate the service issued, with the key it certifies. */
export interface PkiCertificateRecord {
  readonly role: PkiCertificateRole;
  /** The product and channel of a channel CA; null for the root and the TSA. */
  readonly product: string | null;
  readonly channel: string | null;
  /** The id of the certified key in its key backend (an offline root's is in its own keystore). */
  readonly keyId: string;
  /** The certificate, DER. */
  readonly certificate: Uint8Array;
  /** Lower-case hex of the serial number's magnitude. */
  readonly serialNumber: string;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly createdAt: Date;
}

/**
 * Where the PKI's certificates are kept. Certificates are public; what matters is that there is
 * one root, one TSA certificate and one CA per product and channel, and that no key is certified
 * twice (DESIGN.md §5: CA keys are never shared).
 */
export interface PkiStore {
  /**
   * Adds `records` all together or not at all. Throws CONFLICT when a stored record has the role,
   * product and channel or the `keyId` of one of them; STORAGE_UNAVAILABLE.
   */
  insert(records: readonly PkiCertificateRecord[]): Promise<void>;
  /** The record of `role` (with `product` and `channel` for a channel CA), if any. */
  find(
    role: PkiCertificateRole,
    scope?: { readonly product: string; readonly channel: string },
  ): Promise<PkiCertificateRecord | undefined>;
  /** Every record: the root first, then the TSA, then channel CAs by product and channel. */
  list(): Promise<PkiCertificateRecord[]>;
}

/**
 * A short-lived P-256 key for one signing request (DESIGN.md §6 step 6): generated in memory,
 * certified for minutes by the channel CA, never stored, dropped when the request ends.
 */
export interface EphemeralKey {
  /** The public key as DER SubjectPublicKeyInfo, for the leaf certificate. */
  readonly publicKeySpki: Uint8Array;
  /**
   * ECDSA over a digest the client computed (SHA-256, -384 or -512 of the artifact), DER: the
   * Sigstore message signature, which verifies as a signature over the artifact itself.
   */
  signDigest(digest: Uint8Array): Uint8Array;
  /** ECDSA-SHA256 over `message` (a DSSE PAE), DER. */
  sign(message: Uint8Array): Uint8Array;
}

export interface EphemeralKeyFactory {
  create(): EphemeralKey;
}

/** One signature the service made: the index of what the log holds (DESIGN.md §5 SigningRequest). */
export interface SigningRecord {
  readonly id: string;
  readonly product: string;
  readonly channel: string;
  readonly kind: 'artifact' | 'attestation';
  readonly subjectName: string;
  readonly digestAlgorithm: string;
  /** Lower-case hex. */
  readonly digestValue: string;
  /** The workload identity URI the leaf certificate names. */
  readonly identity: string;
  /** The workload's OIDC issuer. */
  readonly issuer: string;
  /** The log entry of the signature. */
  readonly logIndex: bigint;
  /** The log entry of the `signing.decided` event that allowed it. */
  readonly decisionLogIndex: bigint;
  readonly createdAt: Date;
}

export interface SigningRepository {
  /** Written in the transaction of the signature's log entry. Throws CONFLICT on a repeated id or log index. */
  insert(record: SigningRecord): Promise<void>;
  /** Attaches the bundle (JSON text) once the log has answered. Throws NOT_FOUND. */
  attachBundle(id: string, bundle: string): Promise<void>;
  findById(id: string): Promise<(SigningRecord & { readonly bundle: string | null }) | undefined>;
  /** Newest first, at most `limit` (capped at 1000). */
  list(options: {
    readonly product?: string;
    readonly channel?: string;
    readonly limit: number;
  }): Promise<SigningRecord[]>;
}
