/**
 * The software keystore: a directory of key files, each private key encrypted at rest with
 * AES-256-GCM under a key-encryption key (KEK). The KEK comes from a passphrase (scrypt) or from a
 * key file of 32 random bytes (HKDF-SHA256); either way it is salted per store, so the same secret
 * opens no other store.
 *
 * ```
 * <dir>/               mode 0700
 *   keystore.json      format, KEK source and KDF parameters, and a KEK check value
 *   <key id>.key       one key: authenticated metadata + encrypted PKCS#8
 * ```
 *
 * A key's id, purpose, algorithm, creation time and public key are the AES-GCM additional data of
 * its ciphertext: editing any of them (re-labelling a log key as a channel CA, say) makes the file
 * fail authentication. Every file and the directory must be owner-only (threat model M5); files are
 * written atomically (FT-3). There is no way to export a key.
 */
import {
  createCipheriv,
  createDecipheriv,
  createPrivateKey,
  createPublicKey,
  createSecretKey,
  generateKeyPair,
  hkdf,
  randomBytes,
  scrypt,
  sign as signBytes,
  timingSafeEqual,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { AppError, isAppError, toAppError } from '../../core/errors.ts';
import type {
  Clock,
  KeyBackend,
  KeyBackendHealth,
  KeyHandle,
  KeyInfo,
  KeyPurpose,
} from '../../core/ports.ts';
import { systemClock } from '../system/system-clock.ts';
import { assertKeyId, isKeyPurpose } from './key-id.ts';
import { statOwnerOnly, writeFileAtomically } from './owner-only-file.ts';

const STORE_FORMAT = 'countersign-keystore/v1';
const KEY_FORMAT = 'countersign-keystore-key/v1';
const STORE_FILE = 'keystore.json';
const KEY_FILE_SUFFIX = '.key';
const ALGORITHM = 'ecdsa-p256-sha256';
const CIPHER = 'aes-256-gcm';
const KEK_LENGTH = 32;
const SALT_LENGTH = 16;
/** 96-bit nonces: the size GCM is defined for (NIST SP 800-38D §8.2); random per encryption. */
const NONCE_LENGTH = 12;
const TAG_LENGTH = 16;
/** Key files are a few hundred bytes; refuse to parse anything absurd. */
const MAX_FILE_SIZE = 64 * 1024;
/** Shorter passphrases fall to offline guessing even behind scrypt. */
const MIN_PASSPHRASE_LENGTH = 12;
/** Written into new stores: N = 2^15, r = 8, p = 1 (RFC 7914 §2's interactive-use choice). */
const SCRYPT_DEFAULTS = { N: 2 ** 15, r: 8, p: 1 } as const;
/** Bounds accepted when reading a store: never weaker than the defaults, never a memory bomb. */
const SCRYPT_MAX_N = 2 ** 20;
const HKDF_INFO = 'countersign keystore kek v1';
const KEK_CHECK_PLAINTEXT = 'countersign keystore kek check';

const scryptAsync = promisify(scrypt) as (
  password: Buffer,
  salt: Buffer,
  length: number,
  options: { N: number; r: number; p: number; maxmem: number },
) => Promise<Buffer>;
const hkdfAsync = promisify(hkdf);
const generateKeyPairAsync = promisify(generateKeyPair);

export interface KeystoreOptions {
  /** The keystore directory; created (mode 0700) when absent unless `create` is false. */
  readonly dir: string;
  /** Passphrase the KEK is derived from (scrypt). A secret: never logged. Exactly one of the two. */
  readonly passphrase?: string;
  /** File holding exactly 32 random bytes, owner-only, the KEK is derived from (HKDF-SHA256). */
  readonly kekFile?: string;
  /** Create an empty store when `dir` holds none (default true). */
  readonly create?: boolean;
  /** Stamps `createdAt` on new keys (default: the system clock). */
  readonly clock?: Clock;
}

/** How the KEK of a store is obtained, as recorded in `keystore.json`. */
type KekParameters =
  | {
      readonly source: 'passphrase';
      readonly kdf: 'scrypt';
      readonly salt: string;
      readonly N: number;
      readonly r: number;
      readonly p: number;
    }
  | { readonly source: 'key-file'; readonly kdf: 'hkdf-sha256'; readonly salt: string };

interface Sealed {
  readonly nonce: string;
  readonly ciphertext: string;
  readonly tag: string;
}

interface StoreFile {
  readonly format: typeof STORE_FORMAT;
  readonly kek: KekParameters;
  readonly check: Sealed;
}

interface KeyFile {
  readonly format: typeof KEY_FORMAT;
  readonly id: string;
  readonly purpose: KeyPurpose;
  readonly algorithm: typeof ALGORITHM;
  readonly createdAt: string;
  readonly publicKeySpki: string;
  readonly encryption: Sealed & { readonly cipher: typeof CIPHER };
}

interface LoadedKey {
  readonly info: KeyInfo;
  readonly privateKey: KeyObject;
}

/**
 * Opens (or creates) the keystore in `options.dir` and checks the KEK against it.
 *
 * Throws CONFIG_INVALID when neither or both of `passphrase` and `kekFile` are given, when the
 * passphrase is shorter than 12 characters, when the KEK file is not 32 bytes, or when the store
 * was created with the other kind of secret; KEY_UNAVAILABLE when the directory or a file in it is
 * accessible to group or others (the message names it and the `chmod` to run), when the secret is
 * wrong (AES-GCM authentication fails), or when the store cannot be read.
 */
export async function openKeystore(options: KeystoreOptions): Promise<KeyBackend> {
  const secret = readSecret(options);
  const dir = options.dir;
  if (statOwnerOnly(dir, 'directory') === undefined) {
    if (options.create === false) {
      throw new AppError('KEY_UNAVAILABLE', `keystore directory ${dir} does not exist`);
    }
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
    } catch (cause) {
      throw new AppError('KEY_UNAVAILABLE', `cannot create keystore directory ${dir}`, { cause });
    }
  }
  const storePath = join(dir, STORE_FILE);
  const keyFiles = listKeyFiles(dir);
  for (const name of keyFiles) statOwnerOnly(join(dir, name), 'file');

  let kek: KeyObject;
  const existing = readStoreFile(storePath);
  if (existing === undefined) {
    if (keyFiles.length > 0) {
      // Never mint a new KEK over keys sealed under a lost one: they would become unreadable.
      throw new AppError(
        'KEY_UNAVAILABLE',
        `keystore ${dir} has key files but no ${STORE_FILE}; restore it from a backup`,
      );
    }
    if (options.create === false) {
      throw new AppError('KEY_UNAVAILABLE', `${storePath} does not exist`);
    }
    const params = newKekParameters(secret);
    kek = await deriveKek(secret, params);
    const store: StoreFile = {
      format: STORE_FORMAT,
      kek: params,
      check: seal(kek, Buffer.from(KEK_CHECK_PLAINTEXT), kekCheckAad(params)),
    };
    writeFileAtomically(storePath, `${JSON.stringify(store, null, 2)}\n`, { replace: false });
  } else {
    if (existing.kek.source !== secret.source) {
      throw new AppError(
        'CONFIG_INVALID',
        `keystore ${dir} was created with a ${existing.kek.source === 'passphrase' ? 'passphrase' : 'KEK file'}; configure that instead`,
      );
    }
    kek = await deriveKek(secret, existing.kek);
    try {
      open(kek, existing.check, kekCheckAad(existing.kek));
    } catch (cause) {
      throw new AppError(
        'KEY_UNAVAILABLE',
        `cannot unlock keystore ${dir}: wrong ${secret.source === 'passphrase' ? 'passphrase' : 'KEK file'} (AES-GCM authentication failed)`,
        { cause },
      );
    }
  }
  return new Keystore(dir, kek, options.clock ?? systemClock);
}

class Keystore implements KeyBackend {
  readonly kind = 'keystore' as const;
  readonly #dir: string;
  readonly #kek: KeyObject;
  readonly #clock: Clock;
  /** Keys already decrypted and authenticated: parsed once, not per signature (DESIGN.md §8). */
  readonly #loaded = new Map<string, LoadedKey>();
  #closed = false;

  constructor(dir: string, kek: KeyObject, clock: Clock) {
    this.#dir = dir;
    this.#kek = kek;
    this.#clock = clock;
  }

  async createKey(id: string, purpose: KeyPurpose): Promise<KeyHandle> {
    this.#assertOpen();
    assertKeyId(id);
    if (!isKeyPurpose(purpose)) throw new AppError('INVALID_INPUT', 'unknown key purpose');
    const path = this.#pathOf(id);
    if (statOwnerOnly(path, 'file') !== undefined) {
      throw new AppError('CONFLICT', `key ${id} already exists in keystore ${this.#dir}`);
    }
    let privateKey: KeyObject;
    try {
      ({ privateKey } = await generateKeyPairAsync('ec', { namedCurve: 'P-256' }));
    } catch (cause) {
      throw new AppError('KEY_UNAVAILABLE', `cannot generate key ${id}`, { cause });
    }
    const publicKeySpki = spkiOf(privateKey);
    const metadata = {
      format: KEY_FORMAT,
      id,
      purpose,
      algorithm: ALGORITHM,
      createdAt: this.#clock.now().toISOString(),
      publicKeySpki: publicKeySpki.toString('base64'),
    } as const;
    const pkcs8 = privateKey.export({ format: 'der', type: 'pkcs8' });
    let file: KeyFile;
    try {
      file = {
        ...metadata,
        encryption: { cipher: CIPHER, ...seal(this.#kek, pkcs8, keyAad(metadata)) },
      };
    } finally {
      pkcs8.fill(0);
    }
    // Hard-link publication: two creators racing for one id cannot overwrite each other.
    writeFileAtomically(path, `${JSON.stringify(file, null, 2)}\n`, { replace: false });
    const loaded: LoadedKey = {
      info: { id, purpose, algorithm: ALGORITHM, publicKeySpki: new Uint8Array(publicKeySpki) },
      privateKey,
    };
    this.#loaded.set(id, loaded);
    return this.#handleOf(loaded);
  }

  getKey(id: string, purpose: KeyPurpose): Promise<KeyHandle> {
    try {
      this.#assertOpen();
      assertKeyId(id);
      const loaded = this.#load(id);
      if (loaded.info.purpose !== purpose) {
        // The purpose is authenticated, so this is a wiring mistake, not tampering; refuse anyway.
        throw new AppError(
          'KEY_UNAVAILABLE',
          `key ${id} is a ${loaded.info.purpose} key and cannot be used as a ${purpose} key`,
        );
      }
      return Promise.resolve(this.#handleOf(loaded));
    } catch (error) {
      return Promise.reject(toAppError(error));
    }
  }

  listKeys(): Promise<KeyInfo[]> {
    try {
      this.#assertOpen();
      const ids = listKeyFiles(this.#dir).map((name) => name.slice(0, -KEY_FILE_SUFFIX.length));
      const infos = ids.map((id) => this.#load(id).info);
      return Promise.resolve(infos.sort((a, b) => (a.id < b.id ? -1 : a.id > b.id ? 1 : 0)));
    } catch (error) {
      return Promise.reject(toAppError(error));
    }
  }

  health(): Promise<KeyBackendHealth> {
    if (this.#closed) return Promise.resolve({ ok: false, problem: 'the keystore is closed' });
    try {
      if (statOwnerOnly(this.#dir, 'directory') === undefined) {
        return Promise.resolve({ ok: false, problem: `keystore directory ${this.#dir} is gone` });
      }
      statOwnerOnly(join(this.#dir, STORE_FILE), 'file');
      for (const name of listKeyFiles(this.#dir)) statOwnerOnly(join(this.#dir, name), 'file');
      return Promise.resolve({ ok: true });
    } catch (error) {
      return Promise.resolve({
        ok: false,
        problem: isAppError(error) ? error.message : `keystore ${this.#dir} cannot be read`,
      });
    }
  }

  close(): Promise<void> {
    this.#closed = true;
    this.#loaded.clear();
    return Promise.resolve();
  }

  #assertOpen(): void {
    if (this.#closed) throw new AppError('KEY_UNAVAILABLE', `keystore ${this.#dir} is closed`);
  }

  #pathOf(id: string): string {
    return join(this.#dir, `${id}${KEY_FILE_SUFFIX}`);
  }

  /** Reads, authenticates and decrypts key `id`. NOT_FOUND when absent, KEY_UNAVAILABLE otherwise. */
  #load(id: string): LoadedKey {
    const cached = this.#loaded.get(id);
    if (cached !== undefined) return cached;
    const path = this.#pathOf(id);
    const stats = statOwnerOnly(path, 'file');
    if (stats === undefined) {
      throw new AppError('NOT_FOUND', `key ${id} does not exist in keystore ${this.#dir}`);
    }
    // Everything read from the file is attacker-controlled until the GCM tag checks out.
    const file = parseKeyFile(readBounded(path, stats.size), path);
    if (file.id !== id) {
      throw new AppError(
        'KEY_UNAVAILABLE',
        `key file ${path} holds key ${JSON.stringify(file.id)}, not ${id}`,
      );
    }
    const metadata = {
      format: file.format,
      id: file.id,
      purpose: file.purpose,
      algorithm: file.algorithm,
      createdAt: file.createdAt,
      publicKeySpki: file.publicKeySpki,
    };
    let pkcs8: Buffer;
    try {
      pkcs8 = open(this.#kek, file.encryption, keyAad(metadata));
    } catch (cause) {
      throw new AppError(
        'KEY_UNAVAILABLE',
        `key file ${path} failed authentication (AES-GCM): it was modified or re-labelled after it was written`,
        { cause },
      );
    }
    let privateKey: KeyObject;
    try {
      privateKey = createPrivateKey({ key: pkcs8, format: 'der', type: 'pkcs8' });
    } catch (cause) {
      throw new AppError('KEY_UNAVAILABLE', `key file ${path} does not hold a private key`, {
        cause,
      });
    } finally {
      pkcs8.fill(0);
    }
    const publicKeySpki = spkiOf(privateKey);
    if (
      privateKey.asymmetricKeyType !== 'ec' ||
      privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1' ||
      !equalBytes(publicKeySpki, decodeBase64(file.publicKeySpki, path))
    ) {
      throw new AppError(
        'KEY_UNAVAILABLE',
        `key file ${path} does not hold the P-256 key it declares`,
      );
    }
    const loaded: LoadedKey = {
      info: {
        id,
        purpose: file.purpose,
        algorithm: ALGORITHM,
        publicKeySpki: new Uint8Array(publicKeySpki),
      },
      privateKey,
    };
    this.#loaded.set(id, loaded);
    return loaded;
  }

  #handleOf(loaded: LoadedKey): KeyHandle {
    const { id, purpose, publicKeySpki } = loaded.info;
    return {
      id,
      purpose,
      algorithm: ALGORITHM,
      publicKeySpki: new Uint8Array(publicKeySpki),
      sign: (message: Uint8Array): Promise<Uint8Array> => {
        try {
          this.#assertOpen();
          // The key was checked against its declared public key when loaded and never leaves this
          // process, so, unlike a token, there is no stale-key hazard to verify against here.
          return Promise.resolve(
            new Uint8Array(
              signBytes('sha256', message, loaded.privateKey), // DER, Node's default encoding,
            ),
          );
        } catch (cause) {
          return Promise.reject(
            isAppError(cause)
              ? cause
              : new AppError('KEY_UNAVAILABLE', `key ${id} could not sign`, { cause }),
          );
        }
      },
    };
  }
}

type Secret =
  | { readonly source: 'passphrase'; readonly passphrase: string }
  | { readonly source: 'key-file'; readonly material: Buffer };

function readSecret(options: KeystoreOptions): Secret {
  const { passphrase, kekFile } = options;
  if ((passphrase === undefined) === (kekFile === undefined)) {
    throw new AppError(
      'CONFIG_INVALID',
      'configure exactly one of a keystore passphrase or a KEK file',
      {
        errors: [
          {
            path: 'keys.passphrase',
            message: 'set either a passphrase or a KEK file, not both or neither',
          },
        ],
      },
    );
  }
  if (passphrase !== undefined) {
    if (passphrase.length < MIN_PASSPHRASE_LENGTH) {
      throw new AppError(
        'CONFIG_INVALID',
        `the keystore passphrase must be at least ${MIN_PASSPHRASE_LENGTH} characters long`,
      );
    }
    return { source: 'passphrase', passphrase };
  }
  const path = kekFile as string;
  const stats = statOwnerOnly(path, 'file');
  if (stats === undefined) throw new AppError('CONFIG_INVALID', `KEK file ${path} does not exist`);
  const material = readBounded(path, stats.size);
  if (material.length !== KEK_LENGTH) {
    material.fill(0);
    throw new AppError(
      'CONFIG_INVALID',
      `KEK file ${path} must hold exactly ${KEK_LENGTH} random bytes`,
      {
        hint: `create one with: head -c ${KEK_LENGTH} /dev/urandom > ${path} && chmod 600 ${path}`,
      },
    );
  }
  return { source: 'key-file', material };
}

function newKekParameters(secret: Secret): KekParameters {
  const salt = randomBytes(SALT_LENGTH).toString('base64');
  return secret.source === 'passphrase'
    ? { source: 'passphrase', kdf: 'scrypt', salt, ...SCRYPT_DEFAULTS }
    : { source: 'key-file', kdf: 'hkdf-sha256', salt };
}

async function deriveKek(secret: Secret, params: KekParameters): Promise<KeyObject> {
  const salt = Buffer.from(params.salt, 'base64');
  let kek: Buffer;
  try {
    if (secret.source === 'passphrase' && params.source === 'passphrase') {
      const { N, r, p } = params;
      // scrypt needs 128·N·r bytes; Node's default 32 MiB cap is exactly that at N = 2^15, r = 8.
      kek = await scryptAsync(
        Buffer.from(secret.passphrase.normalize('NFC'), 'utf8'),
        salt,
        KEK_LENGTH,
        {
          N,
          r,
          p,
          maxmem: 256 * N * r,
        },
      );
    } else if (secret.source === 'key-file' && params.source === 'key-file') {
      kek = Buffer.from(await hkdfAsync('sha256', secret.material, salt, HKDF_INFO, KEK_LENGTH));
      secret.material.fill(0);
    } else {
      throw new AppError('CONFIG_INVALID', 'the keystore secret does not match the store');
    }
  } catch (cause) {
    if (isAppError(cause)) throw cause;
    throw new AppError('KEY_UNAVAILABLE', 'cannot derive the keystore key-encryption key', {
      cause,
    });
  }
  const key = createSecretKey(kek);
  kek.fill(0);
  return key;
}

function kekCheckAad(params: KekParameters): Buffer {
  // Binds the KDF parameters too: editing them cannot go unnoticed.
  return Buffer.from(JSON.stringify([STORE_FORMAT, 'kek-check', params]), 'utf8');
}

function keyAad(metadata: Omit<KeyFile, 'encryption'>): Buffer {
  // A fixed-order array: one canonical byte string per metadata value.
  return Buffer.from(
    JSON.stringify([
      metadata.format,
      metadata.id,
      metadata.purpose,
      metadata.algorithm,
      metadata.createdAt,
      metadata.publicKeySpki,
    ]),
    'utf8',
  );
}

function seal(kek: KeyObject, plaintext: Uint8Array, aad: Buffer): Sealed {
  const nonce = randomBytes(NONCE_LENGTH);
  const cipher = createCipheriv(CIPHER, kek, nonce, { authTagLength: TAG_LENGTH });
  cipher.setAAD(aad);
  const ciphertext = Buffer.concat([cipher.update(plaintext), cipher.final()]);
  return {
    nonce: nonce.toString('base64'),
    ciphertext: ciphertext.toString('base64'),
    tag: cipher.getAuthTag().toString('base64'),
  };
}

/** Decrypts and authenticates; throws (GCM authentication failure) on any change. */
function open(kek: KeyObject, sealed: Sealed, aad: Buffer): Buffer {
  const nonce = decodeBase64(sealed.nonce, 'nonce');
  const tag = decodeBase64(sealed.tag, 'tag');
  if (nonce.length !== NONCE_LENGTH || tag.length !== TAG_LENGTH) {
    throw new Error('bad nonce or tag length');
  }
  const decipher = createDecipheriv(CIPHER, kek, nonce, { authTagLength: TAG_LENGTH });
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  return Buffer.concat([
    decipher.update(decodeBase64(sealed.ciphertext, 'ciphertext')),
    decipher.final(),
  ]);
}

function readStoreFile(path: string): StoreFile | undefined {
  const stats = statOwnerOnly(path, 'file');
  if (stats === undefined) return undefined;
  const value = parseJson(readBounded(path, stats.size), path);
  const kek = isRecord(value) ? value['kek'] : undefined;
  if (
    !isRecord(value) ||
    value['format'] !== STORE_FORMAT ||
    !isRecord(kek) ||
    !isSealed(value['check']) ||
    typeof kek['salt'] !== 'string'
  ) {
    throw new AppError('KEY_UNAVAILABLE', `${path} is not a Countersign keystore file`);
  }
  if (kek['source'] === 'passphrase' && kek['kdf'] === 'scrypt') {
    const { N, r, p } = kek;
    if (
      typeof N !== 'number' ||
      typeof r !== 'number' ||
      typeof p !== 'number' ||
      !Number.isInteger(Math.log2(N)) ||
      N < SCRYPT_DEFAULTS.N ||
      N > SCRYPT_MAX_N ||
      !Number.isInteger(r) ||
      r < SCRYPT_DEFAULTS.r ||
      r > 32 ||
      !Number.isInteger(p) ||
      p < 1 ||
      p > 16
    ) {
      throw new AppError('KEY_UNAVAILABLE', `${path} has unsupported scrypt parameters`);
    }
    return {
      format: STORE_FORMAT,
      kek: { source: 'passphrase', kdf: 'scrypt', salt: kek['salt'], N, r, p },
      check: value['check'],
    };
  }
  if (kek['source'] === 'key-file' && kek['kdf'] === 'hkdf-sha256') {
    return {
      format: STORE_FORMAT,
      kek: { source: 'key-file', kdf: 'hkdf-sha256', salt: kek['salt'] },
      check: value['check'],
    };
  }
  throw new AppError('KEY_UNAVAILABLE', `${path} names an unsupported key-encryption method`);
}

function parseKeyFile(bytes: Buffer, path: string): KeyFile {
  const value = parseJson(bytes, path);
  const encryption = isRecord(value) ? value['encryption'] : undefined;
  if (
    isRecord(value) &&
    value['format'] === KEY_FORMAT &&
    typeof value['id'] === 'string' &&
    isKeyPurpose(value['purpose']) &&
    value['algorithm'] === ALGORITHM &&
    typeof value['createdAt'] === 'string' &&
    typeof value['publicKeySpki'] === 'string' &&
    isSealed(encryption) &&
    isRecord(encryption) &&
    encryption['cipher'] === CIPHER
  ) {
    return {
      format: KEY_FORMAT,
      id: value['id'],
      purpose: value['purpose'],
      algorithm: ALGORITHM,
      createdAt: value['createdAt'],
      publicKeySpki: value['publicKeySpki'],
      encryption: {
        cipher: CIPHER,
        nonce: encryption.nonce,
        ciphertext: encryption.ciphertext,
        tag: encryption.tag,
      },
    };
  }
  throw new AppError('KEY_UNAVAILABLE', `key file ${path} is not a Countersign key file`);
}

function isSealed(value: unknown): value is Sealed {
  return (
    isRecord(value) &&
    typeof value['nonce'] === 'string' &&
    typeof value['ciphertext'] === 'string' &&
    typeof value['tag'] === 'string'
  );
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function parseJson(bytes: Buffer, path: string): unknown {
  try {
    return JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes)) as unknown;
  } catch (cause) {
    throw new AppError(
      'KEY_UNAVAILABLE',
      `${path} is not valid JSON: it is damaged or was edited`,
      {
        cause,
      },
    );
  }
}

/** Strict base64: `Buffer.from` silently skips junk, so re-encode and compare. */
function decodeBase64(text: string, what: string): Buffer {
  const bytes = Buffer.from(text, 'base64');
  if (bytes.toString('base64') !== text) {
    throw new AppError('KEY_UNAVAILABLE', `${what}: malformed base64`);
  }
  return bytes;
}

function readBounded(path: string, size: number): Buffer {
  if (size > MAX_FILE_SIZE)
    throw new AppError('KEY_UNAVAILABLE', `${path} is too large to be a key file`);
  try {
    return readFileSync(path);
  } catch (cause) {
    throw new AppError('KEY_UNAVAILABLE', `cannot read ${path}`, { cause });
  }
}

/** Key file names (`<id>.key`, valid ids only); temp files start with a dot and are skipped. */
function listKeyFiles(dir: string): string[] {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch (cause) {
    throw new AppError('KEY_UNAVAILABLE', `cannot list keystore directory ${dir}`, { cause });
  }
  return names.filter((name) => {
    if (!name.endsWith(KEY_FILE_SUFFIX)) return false;
    try {
      assertKeyId(name.slice(0, -KEY_FILE_SUFFIX.length));
      return true;
    } catch {
      return false;
    }
  });
}

function spkiOf(privateKey: KeyObject): Buffer {
  return createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
}

function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && timingSafeEqual(a, b);
}
