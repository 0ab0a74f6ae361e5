/**
 * Ports: the interfaces through which `core` and `app` reach the world. Adapters implement them;
 * `src/compose.ts` wires them. Nothing here does I/O.
 */

import type { Workload } from './governance/workload.ts';

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
