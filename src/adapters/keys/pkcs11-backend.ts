/**
 * Keys on a PKCS#11 token (an HSM; SoftHSM2 in tests) through `pkcs11js`.
 *
 * - Keys are generated on the token (`C_GenerateKeyPair`, EC P-256) as sensitive, non-extractable,
 *   non-modifiable token objects. `CKA_ID` is the key id (UTF-8) and `CKA_LABEL` is
 *   `countersign:<purpose>:<id>`; the label cannot be changed afterwards, so neither can the purpose.
 * - Every private key is audited when the backend opens and whenever it is looked up: a key that is
 *   or ever was extractable, or is not sensitive, is refused (threat model M4).
 * - Signing: SHA-256 in Node, `CKM_ECDSA` over the digest on the token, raw `r || s` re-encoded as
 *   DER, and the signature verified against the public key read when the key was first looked up,
 *   so a stale handle pointing at another object can never produce a returned signature (FT-5).
 * - Faults (FT-5): a closed or invalid session, a missing token, a stale object handle, a lost
 *   login or a device error make the backend drop its sessions, find the token again (re-initialising
 *   the module when the token list changed), log in and re-find keys by `CKA_ID`, a bounded number
 *   of times per call; when it cannot, the call fails with KEY_UNAVAILABLE and nothing is signed.
 * - A refused PIN is never tried again (each wrong try brings the token closer to locking): the
 *   backend stays unavailable until it is reopened with a new configuration.
 * - Sessions form a small pool; one session runs one operation at a time, so concurrent signs are
 *   safe. The module is shared by every backend of the process (PKCS#11 state is per process).
 */
import { createHash, createPublicKey, verify as verifySignature } from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { performance } from 'node:perf_hooks';
import pkcs11js from 'pkcs11js';
import type { PKCS11, Template } from 'pkcs11js';
import { AppError, isAppError } from '../../core/errors.ts';
import type {
  KeyBackend,
  KeyBackendHealth,
  KeyHandle,
  KeyInfo,
  KeyPurpose,
} from '../../core/ports.ts';
import { createP256Spki, encodeEcdsaSignatureDer, P256_EC_PARAMS } from './ecdsa-p256.ts';
import { assertKeyId, isKeyPurpose } from './key-id.ts';
import { ReadWriteLock } from './read-write-lock.ts';

const ALGORITHM = 'ecdsa-p256-sha256';
const LABEL_PREFIX = 'countersign:';
/** One call = the first try plus at most two recoveries: enough for "session lost, then re-init". */
const MAX_ATTEMPTS = 3;
const DEFAULT_SESSIONS = 2;
const MAX_SESSIONS = 16;
const DEFAULT_RETRY_DELAY_MS = 1000;
/** A P-256 signature from `CKM_ECDSA`: r || s. */
const RAW_SIGNATURE_LENGTH = 64;
/** Signed and verified when a key is looked up: proves the private and public objects match. */
const SELF_TEST_MESSAGE = Buffer.from('countersign pkcs11 key self-test');

/** Errors after which a new session, login or module initialisation may help (FT-5). */
const RECOVERABLE = new Set<number>([
  pkcs11js.CKR_SESSION_HANDLE_INVALID,
  pkcs11js.CKR_SESSION_CLOSED,
  pkcs11js.CKR_TOKEN_NOT_PRESENT,
  pkcs11js.CKR_TOKEN_NOT_RECOGNIZED,
  pkcs11js.CKR_DEVICE_REMOVED,
  pkcs11js.CKR_DEVICE_ERROR,
  pkcs11js.CKR_DEVICE_MEMORY,
  pkcs11js.CKR_GENERAL_ERROR,
  pkcs11js.CKR_FUNCTION_FAILED,
  pkcs11js.CKR_OBJECT_HANDLE_INVALID,
  pkcs11js.CKR_KEY_HANDLE_INVALID,
  pkcs11js.CKR_USER_NOT_LOGGED_IN,
  pkcs11js.CKR_CRYPTOKI_NOT_INITIALIZED,
  pkcs11js.CKR_SLOT_ID_INVALID,
  pkcs11js.CKR_OPERATION_ACTIVE,
]);

/** Login results that mean the PIN itself is wrong: trying again only burns a try. */
const PIN_REFUSED = new Set<number>([
  pkcs11js.CKR_PIN_INCORRECT,
  pkcs11js.CKR_PIN_INVALID,
  pkcs11js.CKR_PIN_LEN_RANGE,
  pkcs11js.CKR_PIN_EXPIRED,
  pkcs11js.CKR_PIN_LOCKED,
]);

export interface Pkcs11Options {
  /** Path of the vendor's PKCS#11 module (`.so`). */
  readonly module: string;
  /** The token to use, by label. Exactly one of `tokenLabel` and `slot`. */
  readonly tokenLabel?: string;
  /** The token to use, by slot id. Labels survive re-initialisation better; prefer them. */
  readonly slot?: number;
  /** The user PIN. A secret: never logged, never in an error message. */
  readonly pin: string;
  /** Sessions kept open for concurrent signing (default 2, at most 16). */
  readonly sessions?: number;
  /**
   * After a failed recovery, calls within this many milliseconds fail at once instead of hitting
   * the HSM again (default 1000; tests use 0).
   */
  readonly retryDelayMs?: number;
}

/** Counters for monitoring and for tests that must prove a PIN is not retried. */
export interface Pkcs11Stats {
  /** `C_Login` calls made, successful or not. */
  readonly loginAttempts: number;
  /** Times the backend dropped its sessions and connected again (first connection included). */
  readonly reconnects: number;
  /** Times the module was finalised and initialised again. */
  readonly reinitialisations: number;
}

/** A `KeyBackend` on a PKCS#11 token. */
export interface Pkcs11KeyBackend extends KeyBackend {
  readonly kind: 'pkcs11';
  stats(): Pkcs11Stats;
}

/**
 * Loads the module, finds the token, opens sessions, logs in and audits the attributes of every
 * Countersign key on the token.
 *
 * Throws CONFIG_INVALID for bad options or a module that cannot be loaded; KEY_UNAVAILABLE when the
 * token is absent, the PIN is refused (tried once), or a key on the token is extractable or not
 * sensitive.
 */
export async function openPkcs11Backend(options: Pkcs11Options): Promise<Pkcs11KeyBackend> {
  const sessions = options.sessions ?? DEFAULT_SESSIONS;
  const problems: { path: string; message: string }[] = [];
  if (typeof options.module !== 'string' || options.module === '') {
    problems.push({ path: 'module', message: 'the PKCS#11 module path is required' });
  }
  if ((options.tokenLabel === undefined) === (options.slot === undefined)) {
    problems.push({ path: 'tokenLabel', message: 'set exactly one of tokenLabel and slot' });
  }
  if (typeof options.pin !== 'string' || options.pin === '') {
    problems.push({ path: 'pin', message: 'the token PIN is required' });
  }
  if (!Number.isInteger(sessions) || sessions < 1 || sessions > MAX_SESSIONS) {
    problems.push({ path: 'sessions', message: `sessions must be 1 to ${MAX_SESSIONS}` });
  }
  if (problems.length > 0) {
    throw new AppError('CONFIG_INVALID', 'invalid PKCS#11 configuration', { errors: problems });
  }
  const module = acquireModule(options.module);
  const backend = new Pkcs11Backend(module, options, sessions);
  try {
    await backend.connect();
    // Start-up audit (threat model M4): refuse to run next to a key that could be exported.
    await backend.listKeys();
  } catch (error) {
    await backend.close();
    throw error;
  }
  return backend;
}

/** What the backend knows about one key; `object` is only valid for the epoch it was found in. */
interface KeyState {
  readonly info: KeyInfo;
  readonly publicKey: KeyObject;
  object: Buffer | undefined;
  objectEpoch: number;
}

/** Thrown inside an attempt to send the caller round the recovery loop. */
class RetryableFault extends Error {
  override readonly name = 'RetryableFault';
}

class Pkcs11Backend implements Pkcs11KeyBackend {
  readonly kind = 'pkcs11' as const;
  readonly #module: SharedModule;
  readonly #lib: PKCS11;
  readonly #tokenLabel: string | undefined;
  readonly #slotId: number | undefined;
  readonly #pin: string;
  readonly #poolSize: number;
  readonly #retryDelayMs: number;
  readonly #describe: string;

  #slot: Buffer | undefined;
  #sessions: Buffer[] = [];
  #idle: Buffer[] = [];
  readonly #waiters: ((session: Buffer | undefined) => void)[] = [];
  /** Bumped on every successful (re)connection; sessions and object handles carry the one they came from. */
  #epoch = 0;
  /** Bumped on every (re)connection attempt, so concurrent callers share one attempt. */
  #attempts = 0;
  #connected = false;
  /** The module generation our sessions belong to. */
  #generation = -1;
  /** Why the last (re)connection failed; returned while inside the retry delay. */
  #broken: AppError | undefined;
  #brokenAt = 0;
  /** A PIN refusal or locked token: permanent for this backend. */
  #fatal: AppError | undefined;
  #closed = false;
  readonly #keys = new Map<string, KeyState>();
  #createQueue: Promise<unknown> = Promise.resolve();
  #loginAttempts = 0;
  #reconnects = 0;
  #reinitialisations = 0;

  constructor(module: SharedModule, options: Pkcs11Options, sessions: number) {
    this.#module = module;
    this.#lib = module.lib;
    this.#tokenLabel = options.tokenLabel;
    this.#slotId = options.slot;
    this.#pin = options.pin;
    this.#poolSize = sessions;
    this.#retryDelayMs = options.retryDelayMs ?? DEFAULT_RETRY_DELAY_MS;
    this.#describe =
      options.tokenLabel === undefined
        ? `PKCS#11 slot ${String(options.slot)}`
        : `PKCS#11 token "${options.tokenLabel}"`;
  }

  stats(): Pkcs11Stats {
    return {
      loginAttempts: this.#loginAttempts,
      reconnects: this.#reconnects,
      reinitialisations: this.#reinitialisations,
    };
  }

  /** The first connection; later ones happen inside `#run`. */
  async connect(): Promise<void> {
    await this.#reconnect(this.#attempts);
  }

  async createKey(id: string, purpose: KeyPurpose): Promise<KeyHandle> {
    assertKeyId(id);
    if (!isKeyPurpose(purpose)) throw new AppError('INVALID_INPUT', 'unknown key purpose');
    // One creation at a time, so two calls for one id cannot both pass the existence check.
    const created = this.#createQueue.then(() => this.#createKey(id, purpose));
    this.#createQueue = created.catch(() => undefined);
    return created;
  }

  async getKey(id: string, purpose: KeyPurpose): Promise<KeyHandle> {
    assertKeyId(id);
    this.#assertUsable();
    const cached = this.#keys.get(id);
    if (cached !== undefined && this.#connected) {
      // Proven on this connection already: served from memory (parse once, DESIGN.md §8).
      return this.#handleOf(assertPurpose(cached, purpose));
    }
    // Not seen yet, or the token went away since: look it up again (reconnecting first).
    const found = assertPurpose(
      await this.#run(`look up key ${id}`, (session) => this.#load(session, id)),
      purpose,
    );
    if (cached !== undefined) {
      if (!equalBytes(found.info.publicKeySpki, cached.info.publicKeySpki)) {
        throw new AppError(
          'KEY_UNAVAILABLE',
          `key ${id} on ${this.#describe} is not the key it was when first used`,
        );
      }
      return this.#handleOf(cached);
    }
    const handle = this.#handleOf(found);
    // Prove the private object signs for the public key read beside it before trusting either.
    await handle.sign(SELF_TEST_MESSAGE);
    this.#keys.set(id, found);
    return handle;
  }

  async listKeys(): Promise<KeyInfo[]> {
    const states = await this.#run('list keys', (session) => {
      const ids = new Set<string>();
      for (const object of this.#findObjects(session, [
        { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      ])) {
        const [label, id] = this.#attributes(session, object, [
          pkcs11js.CKA_LABEL,
          pkcs11js.CKA_ID,
        ]);
        if (label?.toString('utf8').startsWith(LABEL_PREFIX) === true && id !== undefined) {
          ids.add(id.toString('utf8'));
        }
      }
      return [...ids].sort().map((id) => this.#load(session, id));
    });
    return states.map((state) => state.info);
  }

  async health(): Promise<KeyBackendHealth> {
    try {
      await this.#run('check the token', (session) => {
        this.#lib.C_GetSessionInfo(session);
        if (this.#slot !== undefined) this.#lib.C_GetTokenInfo(this.#slot);
      });
      return { ok: true };
    } catch (error) {
      return {
        ok: false,
        problem: isAppError(error) ? error.message : `${this.#describe} is unavailable`,
      };
    }
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    await this.#module.lock.exclusive(() => this.#closeSessions());
    this.#keys.clear();
    releaseModule(this.#module);
  }

  // ---- signing -------------------------------------------------------------------------------

  #handleOf(state: KeyState): KeyHandle {
    const { id, purpose, publicKeySpki } = state.info;
    return {
      id,
      purpose,
      algorithm: ALGORITHM,
      publicKeySpki: new Uint8Array(publicKeySpki),
      sign: (message: Uint8Array) => this.#sign(state, message),
    };
  }

  async #sign(state: KeyState, message: Uint8Array): Promise<Uint8Array> {
    const digest = createHash('sha256').update(message).digest();
    return this.#run(`sign with key ${state.info.id}`, async (session, epoch) => {
      const object = this.#privateObject(session, state, epoch);
      this.#lib.C_SignInit(session, { mechanism: pkcs11js.CKM_ECDSA }, object);
      const raw = await this.#lib.C_SignAsync(session, digest, Buffer.alloc(RAW_SIGNATURE_LENGTH));
      const signature = encodeEcdsaSignatureDer(raw);
      const valid = verifySignature(
        'sha256',
        message,
        { key: state.publicKey, dsaEncoding: 'der' },
        signature,
      );
      if (!valid) {
        // A handle that now names another object (re-initialised token, swapped key): never return
        // its signature. Forget the handle and go round the recovery loop.
        state.object = undefined;
        throw new RetryableFault(
          `the token's signature for key ${state.info.id} does not verify against its public key`,
        );
      }
      return signature;
    });
  }

  /** The private key object for this epoch, re-found by `CKA_ID` and re-audited when stale. */
  #privateObject(session: Buffer, state: KeyState, epoch: number): Buffer {
    if (state.object !== undefined && state.objectEpoch === epoch) return state.object;
    let found: KeyState;
    try {
      found = this.#load(session, state.info.id);
    } catch (error) {
      if (!isAppError(error, 'NOT_FOUND')) throw error;
      throw new AppError(
        'KEY_UNAVAILABLE',
        `key ${state.info.id} is no longer on ${this.#describe}`,
        {
          cause: error,
        },
      );
    }
    if (found.info.purpose !== state.info.purpose) {
      throw new AppError('KEY_UNAVAILABLE', `key ${state.info.id} changed purpose on the token`);
    }
    state.object = found.object;
    state.objectEpoch = epoch;
    return found.object as Buffer;
  }

  // ---- keys on the token ---------------------------------------------------------------------

  async #createKey(id: string, purpose: KeyPurpose): Promise<KeyHandle> {
    await this.#run(`create key ${id}`, async (session) => {
      const ckaId = Buffer.from(id, 'utf8');
      if (this.#findObjects(session, [{ type: pkcs11js.CKA_ID, value: ckaId }]).length > 0) {
        throw new AppError('CONFLICT', `key ${id} already exists on ${this.#describe}`);
      }
      const label = `${LABEL_PREFIX}${purpose}:${id}`;
      const common: Template = [
        { type: pkcs11js.CKA_TOKEN, value: true },
        { type: pkcs11js.CKA_ID, value: ckaId },
        { type: pkcs11js.CKA_LABEL, value: label },
        { type: pkcs11js.CKA_MODIFIABLE, value: false },
      ];
      await this.#lib.C_GenerateKeyPairAsync(
        session,
        { mechanism: pkcs11js.CKM_EC_KEY_PAIR_GEN },
        [
          ...common,
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PUBLIC_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
          { type: pkcs11js.CKA_EC_PARAMS, value: Buffer.from(P256_EC_PARAMS) },
          { type: pkcs11js.CKA_PRIVATE, value: false },
          { type: pkcs11js.CKA_VERIFY, value: true },
        ],
        [
          ...common,
          { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
          { type: pkcs11js.CKA_KEY_TYPE, value: pkcs11js.CKK_EC },
          { type: pkcs11js.CKA_PRIVATE, value: true },
          { type: pkcs11js.CKA_SENSITIVE, value: true },
          { type: pkcs11js.CKA_EXTRACTABLE, value: false },
          { type: pkcs11js.CKA_SIGN, value: true },
          { type: pkcs11js.CKA_DERIVE, value: false },
          { type: pkcs11js.CKA_DECRYPT, value: false },
          { type: pkcs11js.CKA_UNWRAP, value: false },
        ],
      );
    });
    return this.getKey(id, purpose);
  }

  /**
   * Finds key `id` (private and public object by `CKA_ID`) and audits it. Everything read from the
   * token is checked, not trusted. NOT_FOUND when absent, KEY_UNAVAILABLE when unacceptable.
   */
  #load(session: Buffer, id: string): KeyState {
    const ckaId = Buffer.from(id, 'utf8');
    const privates = this.#findObjects(session, [
      { type: pkcs11js.CKA_CLASS, value: pkcs11js.CKO_PRIVATE_KEY },
      { type: pkcs11js.CKA_ID, value: ckaId },
    ]);
    const [object] = privates;
    if (object === undefined) {
      throw new AppError('NOT_FOUND', `key ${id} does not exist on ${this.#describe}`);
    }
    if (privates.length > 1) {
      throw new AppError(
        'KEY_UNAVAILABLE',
        `${this.#describe} holds several private keys with id ${id}`,
      );
    }
    const refuse = (why: string): AppError =>
      new AppError('KEY_UNAVAILABLE', `key ${id} on ${this.#describe} is refused: ${why}`);

    const A = pkcs11js;
    const [
      label,
      keyType,
      params,
      token,
      isPrivate,
      sensitive,
      alwaysSensitive,
      extractable,
      neverExtractable,
      canSign,
      modifiable,
    ] = this.#attributes(session, object, [
      A.CKA_LABEL,
      A.CKA_KEY_TYPE,
      A.CKA_EC_PARAMS,
      A.CKA_TOKEN,
      A.CKA_PRIVATE,
      A.CKA_SENSITIVE,
      A.CKA_ALWAYS_SENSITIVE,
      A.CKA_EXTRACTABLE,
      A.CKA_NEVER_EXTRACTABLE,
      A.CKA_SIGN,
      A.CKA_MODIFIABLE,
    ]);
    const match = /^countersign:([a-z-]+):(.+)$/.exec(label?.toString('utf8') ?? '');
    const purpose = match?.[1];
    if (match === null || match[2] !== id || !isKeyPurpose(purpose)) {
      throw refuse(`its label is not countersign:<purpose>:${id}`);
    }
    if (readUlong(keyType) !== A.CKK_EC || !equalBytes(params, P256_EC_PARAMS)) {
      throw refuse('it is not an EC P-256 key');
    }
    // M4: the key must never have been exportable, not merely be unexportable today.
    if (!isTrue(sensitive) || !isTrue(alwaysSensitive))
      throw refuse('it is not (always) sensitive');
    if (isTrue(extractable) || !isTrue(neverExtractable)) throw refuse('it is or was extractable');
    if (!isTrue(token) || !isTrue(isPrivate)) throw refuse('it is not a private token object');
    if (!isTrue(canSign)) throw refuse('it cannot sign');
    // The purpose lives in the label: a modifiable label would let the purpose change.
    if (isTrue(modifiable))
      throw refuse('it is modifiable, so its label (and purpose) could change');

    const publics = this.#findObjects(session, [
      { type: A.CKA_CLASS, value: A.CKO_PUBLIC_KEY },
      { type: A.CKA_ID, value: ckaId },
    ]);
    const [publicObject] = publics;
    if (publicObject === undefined || publics.length > 1) {
      throw refuse('it has no single public key object with the same CKA_ID');
    }
    const [point, publicParams] = this.#attributes(session, publicObject, [
      A.CKA_EC_POINT,
      A.CKA_EC_PARAMS,
    ]);
    if (point === undefined || !equalBytes(publicParams, P256_EC_PARAMS)) {
      throw refuse('its public key is not an EC P-256 key');
    }
    const publicKeySpki = createP256Spki(point);
    let publicKey: KeyObject;
    try {
      publicKey = createPublicKey({ key: Buffer.from(publicKeySpki), format: 'der', type: 'spki' });
    } catch (cause) {
      throw new AppError(
        'KEY_UNAVAILABLE',
        `key ${id}: the token's public key is not a valid P-256 point`,
        {
          cause,
        },
      );
    }
    return {
      info: { id, purpose, algorithm: ALGORITHM, publicKeySpki },
      publicKey,
      object,
      objectEpoch: this.#epoch,
    };
  }

  #findObjects(session: Buffer, template: Template): Buffer[] {
    this.#lib.C_FindObjectsInit(session, template);
    const found: Buffer[] = [];
    try {
      for (let batch = this.#lib.C_FindObjects(session, 32); batch.length > 0;) {
        found.push(...batch);
        batch = this.#lib.C_FindObjects(session, 32);
      }
    } finally {
      this.#lib.C_FindObjectsFinal(session);
    }
    return found;
  }

  #attributes(session: Buffer, object: Buffer, types: readonly number[]): (Buffer | undefined)[] {
    const result = this.#lib.C_GetAttributeValue(
      session,
      object,
      types.map((type) => ({ type })),
    );
    return types.map((type) => result.find((attribute) => attribute.type === type)?.value);
  }

  // ---- sessions and recovery -----------------------------------------------------------------

  /**
   * Runs `operation` on a pooled session. On a fault that a reconnection may cure, reconnects and
   * tries again, at most MAX_ATTEMPTS times in all; otherwise fails with KEY_UNAVAILABLE (or the
   * AppError the operation threw). Nothing `operation` produced escapes a failed attempt.
   */
  async #run<T>(
    what: string,
    operation: (session: Buffer, epoch: number) => Promise<T> | T,
  ): Promise<T> {
    for (let attempt = 1; ; attempt += 1) {
      this.#assertUsable();
      const seen = this.#attempts;
      if (!this.#connected) await this.#reconnect(seen);
      const observed = this.#attempts;
      try {
        return await this.#module.lock.shared(async () => {
          if (this.#generation !== this.#module.generation) {
            // Another backend re-initialised the module: our session and object handles are now
            // numbers that may name its sessions and objects.
            throw new RetryableFault('the module was re-initialised');
          }
          const session = await this.#acquire();
          const epoch = this.#epoch;
          try {
            return await operation(session, epoch);
          } finally {
            this.#release(session, epoch);
          }
        });
      } catch (error) {
        if (isAppError(error)) throw error;
        if (!isRecoverable(error)) throw this.#wrap(what, error);
        if (attempt >= MAX_ATTEMPTS) {
          throw this.#wrap(`${what} (gave up after ${MAX_ATTEMPTS} attempts)`, error);
        }
        await this.#reconnect(observed);
      }
    }
  }

  /**
   * Drops every session and connects again: find the token (re-initialising the module if the
   * token list changed), open the pool, log in. Callers pass the attempt counter they saw, so a
   * crowd of failing calls triggers one reconnection, not one each. Throws KEY_UNAVAILABLE.
   */
  async #reconnect(seen: number): Promise<void> {
    await this.#module.lock.exclusive(() => {
      this.#assertUsable();
      if (this.#attempts !== seen) {
        if (this.#connected) return;
        if (this.#broken !== undefined) throw this.#broken;
      }
      if (this.#broken !== undefined && performance.now() - this.#brokenAt < this.#retryDelayMs) {
        throw this.#broken;
      }
      this.#attempts += 1;
      this.#reconnects += 1;
      this.#connected = false;
      this.#closeSessions();
      try {
        try {
          this.#openSessions();
        } catch (error) {
          if (this.#fatal !== undefined || !isRecoverable(error)) throw error;
          // The token list changed (token removed and re-inserted, HSM reset): PKCS#11 modules
          // only rescan on initialisation (krill PR #761 does the same).
          this.#closeSessions();
          this.#reinitialise();
          this.#openSessions();
        }
      } catch (error) {
        this.#closeSessions();
        this.#broken = this.#fatal ?? (isAppError(error) ? error : this.#wrap('connect', error));
        this.#brokenAt = performance.now();
        throw this.#broken;
      }
      this.#epoch += 1;
      this.#generation = this.#module.generation;
      this.#connected = true;
      this.#broken = undefined;
      for (const waiter of this.#waiters.splice(0)) waiter(this.#idle.pop());
    });
  }

  #openSessions(): void {
    const lib = this.#lib;
    const slot = this.#findSlot();
    const info = lib.C_GetTokenInfo(slot);
    if ((info.flags & pkcs11js.CKF_USER_PIN_LOCKED) !== 0) {
      throw this.#setFatal(
        `${this.#describe}: the user PIN is locked; unlock it with the security officer PIN`,
      );
    }
    if ((info.flags & pkcs11js.CKF_USER_PIN_FINAL_TRY) !== 0) {
      // One more wrong try would lock the token: leave that try to a human.
      throw this.#setFatal(
        `${this.#describe}: one more wrong PIN would lock the token; log in once with the right PIN using the vendor's tool, then restart`,
      );
    }
    if ((info.flags & pkcs11js.CKF_USER_PIN_INITIALIZED) === 0) {
      throw this.#setFatal(`${this.#describe}: the user PIN is not initialised`);
    }
    this.#slot = slot;
    for (let i = 0; i < this.#poolSize; i += 1) {
      this.#sessions.push(
        lib.C_OpenSession(slot, pkcs11js.CKF_SERIAL_SESSION | pkcs11js.CKF_RW_SESSION),
      );
    }
    const [first] = this.#sessions;
    if (first === undefined) throw new AppError('INTERNAL', 'no PKCS#11 session');
    this.#loginAttempts += 1;
    try {
      lib.C_Login(first, pkcs11js.CKU_USER, this.#pin);
    } catch (error) {
      const code = ckrCode(error);
      // Another backend of this process (same token) logged in: the login state is per application.
      if (code === pkcs11js.CKR_USER_ALREADY_LOGGED_IN) {
        this.#idle = [...this.#sessions];
        return;
      }
      if (code !== undefined && PIN_REFUSED.has(code)) {
        throw this.#setFatal(
          `${this.#describe} refused the PIN (${ckrName(error)}); it will not be tried again, so the token does not lock: fix the PIN in the configuration and restart`,
          error,
        );
      }
      throw error;
    }
    this.#idle = [...this.#sessions];
  }

  #findSlot(): Buffer {
    const lib = this.#lib;
    for (const slot of lib.C_GetSlotList(true)) {
      if (this.#slotId !== undefined) {
        if (slotNumber(slot) === this.#slotId) return slot;
        continue;
      }
      let label: string;
      try {
        label = lib.C_GetTokenInfo(slot).label.trimEnd();
      } catch {
        // A token that vanished under its slot (SoftHSM2 answers CKR_GENERAL_ERROR until the
        // module is re-initialised) must not hide ours in another slot.
        continue;
      }
      if (label === this.#tokenLabel) return slot;
    }
    // Recoverable on purpose: the caller re-initialises the module once and looks again.
    throw new RetryableFault('the token is not present');
  }

  #reinitialise(): void {
    const lib = this.#lib;
    try {
      lib.C_Finalize();
    } catch {
      // Not initialised (someone else finalised it): that is the state we want anyway.
    }
    try {
      lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
    } catch (error) {
      if (ckrCode(error) !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) throw error;
    }
    this.#module.generation += 1;
    this.#reinitialisations += 1;
  }

  #closeSessions(): void {
    for (const session of this.#sessions) {
      try {
        this.#lib.C_CloseSession(session);
      } catch {
        // Already gone with the token or the module: nothing left to close.
      }
    }
    this.#sessions = [];
    this.#idle = [];
    this.#connected = false;
  }

  #acquire(): Promise<Buffer> {
    const session = this.#idle.pop();
    if (session !== undefined) return Promise.resolve(session);
    if (!this.#connected) {
      return Promise.reject(new RetryableFault('the sessions were lost'));
    }
    return new Promise((resolve, reject) => {
      this.#waiters.push((next) => {
        if (next === undefined) reject(new RetryableFault('the sessions were lost'));
        else resolve(next);
      });
    });
  }

  #release(session: Buffer, epoch: number): void {
    if (epoch !== this.#epoch || !this.#sessions.includes(session)) return; // from a dropped pool
    const waiter = this.#waiters.shift();
    if (waiter !== undefined) waiter(session);
    else this.#idle.push(session);
  }

  #assertUsable(): void {
    if (this.#closed)
      throw new AppError('KEY_UNAVAILABLE', `${this.#describe}: the key backend is closed`);
    if (this.#fatal !== undefined) throw this.#fatal;
  }

  #setFatal(message: string, cause?: unknown): AppError {
    this.#fatal = new AppError('KEY_UNAVAILABLE', message, cause === undefined ? {} : { cause });
    return this.#fatal;
  }

  #wrap(what: string, error: unknown): AppError {
    if (isAppError(error)) return error;
    const reason =
      error instanceof RetryableFault ? error.message : (ckrName(error) ?? 'driver error');
    return new AppError('KEY_UNAVAILABLE', `${this.#describe}: cannot ${what}: ${reason}`, {
      cause: error,
    });
  }
}

// ---- the module, shared per process ----------------------------------------------------------

interface SharedModule {
  readonly path: string;
  readonly lib: PKCS11;
  /** Operations hold it shared; (re)connection and re-initialisation hold it exclusive. */
  readonly lock: ReadWriteLock;
  /** Bumped by every re-initialisation: session and object handles from before are meaningless. */
  generation: number;
  users: number;
}

const modules = new Map<string, SharedModule>();

function acquireModule(path: string): SharedModule {
  const existing = modules.get(path);
  if (existing !== undefined) {
    existing.users += 1;
    return existing;
  }
  const lib = new pkcs11js.PKCS11();
  try {
    lib.load(path);
  } catch (cause) {
    throw new AppError('CONFIG_INVALID', `cannot load the PKCS#11 module ${path}`, {
      cause,
      errors: [{ path: 'module', message: 'not a loadable PKCS#11 module' }],
    });
  }
  try {
    // OS locking: signatures run on libuv worker threads while other calls run on the main one.
    lib.C_Initialize({ flags: pkcs11js.CKF_OS_LOCKING_OK });
  } catch (error) {
    if (ckrCode(error) !== pkcs11js.CKR_CRYPTOKI_ALREADY_INITIALIZED) {
      lib.close();
      throw new AppError('KEY_UNAVAILABLE', `cannot initialise the PKCS#11 module ${path}`, {
        cause: error,
      });
    }
  }
  const module: SharedModule = { path, lib, lock: new ReadWriteLock(), generation: 0, users: 1 };
  modules.set(path, module);
  return module;
}

function releaseModule(module: SharedModule): void {
  module.users -= 1;
  if (module.users > 0) return;
  modules.delete(module.path);
  try {
    module.lib.C_Finalize();
  } catch {
    // Already finalised.
  }
  module.lib.close();
}

// ---- small helpers ---------------------------------------------------------------------------

/** Throws KEY_UNAVAILABLE unless `state` was created for `purpose`. */
function assertPurpose(state: KeyState, purpose: KeyPurpose): KeyState {
  if (state.info.purpose !== purpose) {
    throw new AppError(
      'KEY_UNAVAILABLE',
      `key ${state.info.id} is a ${state.info.purpose} key and cannot be used as a ${purpose} key`,
    );
  }
  return state;
}

function isRecoverable(error: unknown): boolean {
  if (error instanceof RetryableFault) return true;
  const code = ckrCode(error);
  return code !== undefined && RECOVERABLE.has(code);
}

/** The CK_RV of a pkcs11js error, if it is one. */
function ckrCode(error: unknown): number | undefined {
  if (!(error instanceof Error)) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === 'number' && error.message.startsWith('CKR_') ? code : undefined;
}

function ckrName(error: unknown): string | undefined {
  return ckrCode(error) === undefined ? undefined : (error as Error).message;
}

function isTrue(value: Buffer | undefined): boolean {
  return value !== undefined && value.length > 0 && value[0] !== 0;
}

function readUlong(value: Buffer | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (value.length === 8) return Number(value.readBigUInt64LE());
  if (value.length === 4) return value.readUInt32LE();
  return undefined;
}

/** A slot id as a number: pkcs11js hands out CK_SLOT_ID as a little-endian CK_ULONG buffer. */
function slotNumber(slot: Buffer): number | undefined {
  return readUlong(slot);
}

function equalBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && Buffer.compare(a, b) === 0;
}
