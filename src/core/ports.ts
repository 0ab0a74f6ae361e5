/**
 * Ports: the interfaces through which `core` and `app` reach the world. Adapters implement them;
 * `src/compose.ts` wires them. Nothing here does I/O.
 */

import type { WaivableCheck } from './governance/governance.ts';
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
  readonly approverCredentials: ApproverCredentialRepository;
  readonly signingRequests: SigningRequestRepository;
  readonly approvals: ApprovalRepository;
  readonly notifications: NotificationOutbox;
  readonly webhooks: WebhookRepository;
  readonly webauthnChallenges: WebAuthnChallengeRepository;
  readonly webSessions: WebSessionRepository;
  readonly enrolments: EnrolmentRepository;
  readonly exceptions: ExceptionRepository;
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
  /**
   * The governance user the token acts for, so a person can approve or ask for exceptions from
   * the CLI; null for tokens of scripts and services.
   */
  readonly userId: string | null;
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
  /** Whether `tokenId` of `issuer` has an unexpired record at `now`. Reads only. */
  isUsed(issuer: string, tokenId: string, now: Date): Promise<boolean>;
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
   * Signs `message` (hashing it with SHA-256) and returns a DER-encoded ECDSA signature that
   * verifies under `publicKeySpki`: backends guarantee it (the keystore matches each key to its
   * declared public key when loading it; PKCS#11 verifies every signature the token returns), so
   * callers do not verify again. Throws KEY_UNAVAILABLE when the backend cannot sign.
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
  /**
   * Whether `tokenId` of `issuer` was consumed and its record has not expired: the early, read-only
   * refusal of a replayed token whose consumption happens later, in a transaction (`sign-later`).
   */
  isUsed(issuer: string, tokenId: string): Promise<boolean>;
}

/**
 * Why a workload token is presented: `sign` tokens are single-use, `read` tokens are not.
 * `sign-later` checks what `sign` checks (a well-formed `jti`) but leaves consuming it to the
 * caller, who does it in the transaction that commits the signature (`Workload.tokenId` and
 * `tokenExpiresAt` say what to remember), so a request that only waits for approvals does not
 * spend the job's token.
 */
export type TokenPurpose = 'sign' | 'read' | 'sign-later';

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
  /**
   * Attaches the bundle and the decision attestation's bundle (JSON text) once the log has
   * answered. Throws NOT_FOUND.
   */
  attachBundle(id: string, bundle: string, decisionBundle?: string): Promise<void>;
  findById(
    id: string,
  ): Promise<
    | (SigningRecord & { readonly bundle: string | null; readonly decisionBundle: string | null })
    | undefined
  >;
  /** Newest first, at most `limit` (capped at 1000). */
  list(options: {
    readonly product?: string;
    readonly channel?: string;
    readonly limit: number;
  }): Promise<SigningRecord[]>;
}

/**
 * Events a webhook can subscribe to (issue #6, "Notifications outbox"). Closed list: a delivery's
 * `Countersign-Event` header is always one of these.
 */
export const NOTIFICATION_EVENTS = [
  'request.created',
  'request.approved',
  'request.rejected',
  'request.expired',
  'exception.requested',
  'exception.approved',
  'exception.rejected',
  'exception.used',
  'exception.expired',
  'exception.review-overdue',
  'credential.registered',
] as const;

export type NotificationEvent = (typeof NOTIFICATION_EVENTS)[number];

/**
 * The transactional outbox behind webhooks: a state change and the deliveries announcing it
 * commit together or not at all, and the delivery worker sends them later (at least once).
 */
export interface NotificationOutbox {
  /**
   * Queues a delivery to every enabled webhook subscribed to `event`, in the caller's transaction.
   * `data` must be JSON-serialisable; it becomes the body's `data` field. No webhook subscribed:
   * nothing is written.
   */
  enqueue(
    event: NotificationEvent,
    data: Readonly<Record<string, unknown>>,
    at: Date,
  ): Promise<void>;
}

/** A registered webhook receiver. */
export interface WebhookRecord {
  /** `wh_` + random; safe to log. */
  readonly id: string;
  /** `https:` (or loopback `http:`) URL the deliveries are POSTed to. */
  readonly url: string;
  /** The events it receives, in `NOTIFICATION_EVENTS` order, at least one. */
  readonly events: readonly NotificationEvent[];
  /**
   * The HMAC-SHA256 key of `Countersign-Signature`. Stored as given (the receiver needs the same
   * bytes), so the database is as sensitive as the keystore; never logged, returned only once.
   */
  readonly secret: string;
  readonly enabled: boolean;
  readonly createdAt: Date;
  /** Who created it (API token id); safe to log. */
  readonly createdBy: string;
}

export type WebhookDeliveryState = 'pending' | 'delivered' | 'failed';

/** One event to send to one webhook, and how sending it went. */
export interface WebhookDeliveryRecord {
  /** `dl_` + random; also the body's `id` and the `Countersign-Delivery` header. */
  readonly id: string;
  readonly webhookId: string;
  readonly event: NotificationEvent;
  /** The exact JSON body POSTed (`{ id, event, occurredAt, data }`). */
  readonly body: string;
  readonly state: WebhookDeliveryState;
  /** Attempts made so far. */
  readonly attempts: number;
  /** When the next attempt is due; null once delivered or failed. */
  readonly nextAttemptAt: Date | null;
  /** HTTP status of the last attempt; null when none answered. */
  readonly lastStatusCode: number | null;
  /** Why the last attempt failed (a short excerpt of the response or the network error). */
  readonly lastError: string | null;
  readonly createdAt: Date;
  readonly updatedAt: Date;
}

export interface WebhookRepository {
  /** Throws CONFLICT when the id exists. */
  insert(webhook: WebhookRecord): Promise<void>;
  findById(id: string): Promise<WebhookRecord | undefined>;
  /** All webhooks, oldest first. */
  list(): Promise<WebhookRecord[]>;
  /** Deletes the webhook and its deliveries; false when there is no such webhook. */
  delete(id: string): Promise<boolean>;
  /** The webhook's deliveries, newest first, at most `limit` (capped at 1000). */
  listDeliveries(webhookId: string, limit: number): Promise<WebhookDeliveryRecord[]>;
  /** Pending deliveries due at `now`, oldest due first, at most `limit`. */
  dueDeliveries(now: Date, limit: number): Promise<WebhookDeliveryRecord[]>;
  /**
   * Claims a due delivery for one attempt: conditional update that moves its `nextAttemptAt` to
   * `leaseUntil` only if it is still pending and due at `now`. True for exactly one concurrent
   * caller (replicas share the outbox), so an attempt is made once per lease.
   */
  claimDelivery(id: string, now: Date, leaseUntil: Date): Promise<boolean>;
  /** Records the outcome of one attempt. Throws NOT_FOUND. */
  recordAttempt(
    id: string,
    outcome: {
      readonly state: WebhookDeliveryState;
      readonly attempts: number;
      readonly nextAttemptAt: Date | null;
      readonly lastStatusCode: number | null;
      readonly lastError: string | null;
      readonly at: Date;
    },
  ): Promise<void>;
}

/** How an approver's credential signs: a key registered from the CLI, or a passkey. */
export type CredentialKind = 'ecdsa-p256' | 'webauthn';

/** A credential a person approves with (DESIGN.md §5 User "passkeys"; approver keys). */
export interface ApproverCredentialRecord {
  /** ecdsa-p256: hex SHA-256 of the SPKI; webauthn: the base64url credential id. */
  readonly id: string;
  /** The governance user it belongs to (bound server-side, threat-model B5). */
  readonly userId: string;
  readonly kind: CredentialKind;
  /** DER SubjectPublicKeyInfo (passkeys' COSE keys are converted at registration). */
  readonly publicKeySpki: Uint8Array;
  /** COSE algorithm: -7 ES256, -8 EdDSA, -257 RS256. */
  readonly algorithm: number;
  /** WebAuthn relying party id; null for approver keys. */
  readonly rpId: string | null;
  /** WebAuthn signature counter; 0 for approver keys. */
  readonly signCount: number;
  readonly label: string;
  readonly createdAt: Date;
  readonly revokedAt: Date | null;
}

export interface ApproverCredentialRepository {
  /** Throws CONFLICT when the id is registered already (to anyone). */
  insert(record: ApproverCredentialRecord): Promise<void>;
  findById(id: string): Promise<ApproverCredentialRecord | undefined>;
  /** Oldest first, revoked ones included. */
  listByUser(userId: string): Promise<ApproverCredentialRecord[]>;
  /**
   * Moves the WebAuthn signature counter forward to `signCount`, atomically: false (nothing
   * changes) unless the stored counter is below it, or both are 0 (authenticators without a
   * counter). Of two concurrent uses of a cloned authenticator at most one advances (B4).
   */
  advanceSignCount(id: string, signCount: number): Promise<boolean>;
  /** False when there is no such credential or it was revoked already. */
  revoke(id: string, at: Date): Promise<boolean>;
}

/** Stored states of a signing request; `approved` is derived when reading (quorum met now). */
export type SigningRequestState = 'pending' | 'signed' | 'rejected' | 'expired' | 'cancelled';

/** A signing request waiting for approvals (DESIGN.md §5 SigningRequest). Immutable but `state`. */
export interface SigningRequestRecord {
  readonly id: string;
  readonly product: string;
  readonly channel: string;
  readonly kind: 'artifact' | 'attestation';
  readonly subjectName: string;
  readonly digestAlgorithm: 'sha256' | 'sha384' | 'sha512';
  readonly digestValue: string;
  /** For `attestation`: the in-toto statement bytes that will be signed. */
  readonly statement: Uint8Array | null;
  /** The requesting workload (a `Workload`), as canonical JSON text. */
  readonly requester: string;
  /** Issuer and subject of the requester, for lookups. */
  readonly requesterIssuer: string;
  readonly requesterSubject: string;
  /** What approvers are shown besides the subject (repository, commit, evidence…), JSON text. */
  readonly context: string;
  /** The policy version the request was created under. */
  readonly policyHash: string;
  readonly governanceVersion: number;
  readonly state: SigningRequestState;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** When it left `pending`. */
  readonly closedAt: Date | null;
  /** The signing that consumed it. */
  readonly signingId: string | null;
  readonly logIndex: bigint;
}

export interface SigningRequestRepository {
  /** Throws CONFLICT on a repeated id. */
  insert(record: SigningRequestRecord): Promise<void>;
  findById(id: string): Promise<SigningRequestRecord | undefined>;
  /** The newest request in `state` of this requester for exactly this subject, if any. */
  findLatest(match: {
    readonly state: SigningRequestState;
    readonly requesterIssuer: string;
    readonly requesterSubject: string;
    readonly product: string;
    readonly channel: string;
    readonly kind: 'artifact' | 'attestation';
    readonly digestAlgorithm: string;
    readonly digestValue: string;
  }): Promise<SigningRequestRecord | undefined>;
  /** Newest first, at most `limit` (capped at 500). */
  list(options: {
    readonly state?: SigningRequestState;
    readonly product?: string;
    readonly limit: number;
  }): Promise<SigningRequestRecord[]>;
  /**
   * Moves a `pending` request to `state` (one conditional UPDATE: of two racing callers exactly
   * one gets true, threat-model E1). False when it was not pending.
   */
  close(
    id: string,
    state: Exclude<SigningRequestState, 'pending'>,
    at: Date,
    signingId?: string,
  ): Promise<boolean>;
}

/** One approval or rejection of a signing request, as submitted (threat-model INV-7). */
export interface ApprovalRecord {
  readonly id: string;
  readonly requestId: string;
  readonly userId: string;
  readonly credentialId: string;
  readonly decision: 'approve' | 'reject';
  readonly comment: string;
  /** The canonical approval statement bytes that were signed. */
  readonly statement: Uint8Array;
  readonly signature: Uint8Array;
  /** For passkeys: the WebAuthn authenticator data and client data the signature covers. */
  readonly authenticatorData: Uint8Array | null;
  readonly clientDataJson: Uint8Array | null;
  readonly createdAt: Date;
  /** The `approval.submitted` event. */
  readonly logIndex: bigint;
}

export interface ApprovalRepository {
  /**
   * Throws CONFLICT on a repeated id. A person may answer again (say after a policy change voided
   * their first approval); counting takes one vote per person (`evaluateApprovals`).
   */
  insert(record: ApprovalRecord): Promise<void>;
  /** Oldest first. */
  listByRequest(requestId: string): Promise<ApprovalRecord[]>;
}

/** What a WebAuthn challenge was issued for; a challenge of one purpose never serves another. */
export type WebAuthnChallengePurpose = 'registration' | 'sign-in';

/** A WebAuthn challenge the server issued and has not seen used yet (threat-model B1). */
export interface WebAuthnChallengeRecord {
  /** base64url of at least 128 random bits, exactly as sent to the browser. */
  readonly challenge: string;
  readonly purpose: WebAuthnChallengePurpose;
  /** The user a registration challenge was issued to; null for sign-in. */
  readonly userId: string | null;
  /** The enrolment a registration challenge belongs to; null for sign-in. */
  readonly enrolmentId: string | null;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

export interface WebAuthnChallengeRepository {
  /** Throws CONFLICT when the challenge exists (a broken random source). */
  insert(record: WebAuthnChallengeRecord): Promise<void>;
  /**
   * Deletes the challenge and returns it when it was issued for `purpose` and is unexpired at
   * `now`; undefined otherwise (unknown, used, expired or of another purpose). Of concurrent
   * callers for one challenge at most one gets it. An expired challenge is deleted too.
   */
  consume(
    challenge: string,
    purpose: WebAuthnChallengePurpose,
    now: Date,
  ): Promise<WebAuthnChallengeRecord | undefined>;
  /** Deletes challenges that expired at or before `now`; resolves to how many. */
  purgeExpired(now: Date): Promise<number>;
}

/** A passkey web session. Only the SHA-256 of the cookie secret is stored. */
export interface WebSessionRecord {
  readonly secretHash: Uint8Array;
  readonly userId: string;
  /** The passkey that signed in; revoking it ends the session. */
  readonly credentialId: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
}

export interface WebSessionRepository {
  /** Throws CONFLICT when a session with this hash exists. */
  insert(record: WebSessionRecord): Promise<void>;
  findBySecretHash(secretHash: Uint8Array): Promise<WebSessionRecord | undefined>;
  /** Ends the session; false when there was none. */
  delete(secretHash: Uint8Array): Promise<boolean>;
  /** Deletes sessions that expired at or before `now`; resolves to how many. */
  purgeExpired(now: Date): Promise<number>;
}

/** A one-time link that lets one person register one passkey. Only the secret's SHA-256 is stored. */
export interface EnrolmentRecord {
  /** Public identifier (the token string starts with it); safe to log. */
  readonly id: string;
  readonly secretHash: Uint8Array;
  /** The governance user the passkey will belong to. */
  readonly userId: string;
  readonly createdAt: Date;
  readonly expiresAt: Date;
  /** When a passkey was registered with it; null while unused. */
  readonly usedAt: Date | null;
  readonly createdBy: GovernanceActor;
}

export interface EnrolmentRepository {
  /** Throws CONFLICT when the id exists. */
  insert(record: EnrolmentRecord): Promise<void>;
  findById(id: string): Promise<EnrolmentRecord | undefined>;
  /**
   * Marks the enrolment used at `at` when it is unused and unexpired at `at` (one conditional
   * UPDATE: of concurrent callers exactly one gets true).
   */
  markUsed(id: string, at: Date): Promise<boolean>;
}

/**
 * Where an exception (break-glass) is in its life. `pending` waits for the emergency group;
 * `active` may be used while `uses < maxUses` and before `notAfter`; the others are final.
 * `expired` and `exhausted` are recorded when noticed: an `active` row past its time or out of
 * uses is never usable, whether or not its state says so yet.
 */
export type ExceptionState =
  'pending' | 'active' | 'rejected' | 'cancelled' | 'expired' | 'exhausted';

/** One exception as stored (issue #6; DESIGN.md §5 Exception). */
export interface ExceptionRecord {
  readonly id: string;
  readonly product: string;
  readonly channel: string;
  /** Which checks it waives: a non-empty subset of `WAIVABLE_CHECKS`. */
  readonly waives: readonly WaivableCheck[];
  /** Why, in the requester's words. */
  readonly reason: string;
  /** The governance user id of the requester. */
  readonly requestedBy: string;
  /** How long it stays usable once approved. */
  readonly durationSeconds: number;
  readonly maxUses: number;
  readonly state: ExceptionState;
  /** Set on activation: approval time + duration. */
  readonly notAfter: Date | null;
  readonly uses: number;
  /** The governance version in force when it was requested. */
  readonly governanceVersion: number;
  readonly createdAt: Date;
  readonly activatedAt: Date | null;
  /** When it was rejected, cancelled, expired or exhausted. */
  readonly endedAt: Date | null;
  /** Who rejected or cancelled it; null when it ended on its own. */
  readonly endedBy: string | null;
  /** When its post-incident review is due; set on activation. */
  readonly reviewDueAt: Date | null;
  readonly reviewedAt: Date | null;
  readonly reviewedBy: string | null;
  readonly reviewFindings: string | null;
  /** When the `exception.review-overdue` notification went out; null before. */
  readonly reviewOverdueNotifiedAt: Date | null;
}

/** One person's vote on an exception. */
export interface ExceptionApprovalRecord {
  readonly exceptionId: string;
  readonly userId: string;
  readonly decision: 'approve' | 'reject';
  readonly comment: string;
  readonly createdAt: Date;
}

/** One spent use of an exception, written in the transaction of the signing it allowed. */
export interface ExceptionUseRecord {
  readonly exceptionId: string;
  /** 1 for the first use. */
  readonly use: number;
  readonly usedAt: Date;
  /** The log entry of its `exception.used` event; null until logged. */
  readonly logIndex: bigint | null;
}

/** Which exceptions `ExceptionRepository.list` returns. */
export interface ExceptionFilter {
  readonly state?: ExceptionState;
  readonly product?: string;
  readonly channel?: string;
  /** Only activated exceptions whose review was due at or before this instant and is not done. */
  readonly reviewOverdueAt?: Date;
  /** At most this many, newest first (capped at 1000). */
  readonly limit: number;
}

export interface ExceptionRepository {
  /** Throws CONFLICT when the id exists. */
  insert(record: ExceptionRecord): Promise<void>;
  findById(id: string): Promise<ExceptionRecord | undefined>;
  /**
   * Reads the exception and, inside `Storage.transaction`, holds its row until the transaction
   * ends (PostgreSQL row lock; SQLite has one writer), so votes on it are counted one at a time.
   */
  lock(id: string): Promise<ExceptionRecord | undefined>;
  list(filter: ExceptionFilter): Promise<ExceptionRecord[]>;
  /** Its votes, oldest first. */
  listApprovals(exceptionId: string): Promise<ExceptionApprovalRecord[]>;
  /** Throws CONFLICT when this person has voted on this exception already. */
  insertApproval(record: ExceptionApprovalRecord): Promise<void>;
  /** `pending` → `active`; false when it was not pending any more. */
  activate(
    id: string,
    activation: { readonly at: Date; readonly notAfter: Date; readonly reviewDueAt: Date },
  ): Promise<boolean>;
  /**
   * Moves it from one of `from` to the final state `to`, recording when and by whom; false when
   * it was in none of `from` (someone else ended it first).
   */
  end(
    id: string,
    change: {
      readonly from: readonly ExceptionState[];
      readonly to: 'rejected' | 'cancelled' | 'expired' | 'exhausted';
      readonly at: Date;
      readonly by: string | null;
    },
  ): Promise<boolean>;
  /**
   * Spends one use: one conditional UPDATE `… SET uses = uses + 1 WHERE id = ? AND state =
   * 'active' AND uses < max_uses AND not_after > now` (threat model E1). Resolves to the new
   * number of uses, or undefined when nothing was left: of N concurrent callers on the last use,
   * exactly one gets a number. The use is recorded (`listUnloggedUses`) in the same statement
   * batch.
   */
  consumeUse(id: string, now: Date): Promise<number | undefined>;
  /** Spent uses whose `exception.used` event is not in the log yet, oldest first. */
  listUnloggedUses(limit: number): Promise<ExceptionUseRecord[]>;
  /** Records the log entry of a use's event; false when it was recorded already. */
  markUseLogged(exceptionId: string, use: number, logIndex: bigint): Promise<boolean>;
  /**
   * The usable exceptions of product/channel at `now` (active, uses left, `notAfter` after
   * `now`), the one ending first first.
   */
  findUsable(product: string, channel: string, now: Date): Promise<ExceptionRecord[]>;
  /** Records the review once; false when it was reviewed already or never activated. */
  recordReview(
    id: string,
    review: { readonly at: Date; readonly by: string; readonly findings: string },
  ): Promise<boolean>;
  /** Marks the overdue-review notification as sent; false when it was marked already. */
  markReviewOverdueNotified(id: string, at: Date): Promise<boolean>;
}
