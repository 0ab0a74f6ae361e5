/**
 * A P-256 private key kept in a PKCS#8 PEM file with owner-only permissions. This is the interim
 * home of the log key until the encrypted keystore and PKCS#11 backends take over; it refuses
 * files that other users could read.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as signBytes,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import {
  chmodSync,
  mkdirSync,
  openSync,
  readFileSync,
  statSync,
  writeSync,
  closeSync,
  fsyncSync,
  renameSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { AppError } from '../../core/errors.ts';
import type { KeyHandle, KeyPurpose } from '../../core/ports.ts';

/** Mode bits that must be clear on a key file: no access for group or others. */
const GROUP_OR_WORLD_ACCESS = 0o077;

export interface FileKeyOptions {
  readonly path: string;
  readonly id: string;
  readonly purpose: KeyPurpose;
  /** Create a fresh key when the file does not exist (default true). */
  readonly create?: boolean;
}

/**
 * Loads the key at `options.path`, creating it (mode 0600, written atomically) when absent.
 * Throws KEY_UNAVAILABLE when the file is unreadable, malformed, not P-256, or readable by group
 * or others.
 */
export function loadOrCreateFileKey(options: FileKeyOptions): KeyHandle {
  let privateKey: KeyObject;
  const exists = statIfExists(options.path);
  if (exists === undefined) {
    if (options.create === false) {
      throw new AppError('KEY_UNAVAILABLE', `key file ${options.path} does not exist`);
    }
    privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
    writeKeyFileAtomically(
      options.path,
      String(privateKey.export({ type: 'pkcs8', format: 'pem' })),
    );
  } else {
    if ((exists.mode & GROUP_OR_WORLD_ACCESS) !== 0) {
      throw new AppError(
        'KEY_UNAVAILABLE',
        `key file ${options.path} is accessible to other users (mode ${(exists.mode & 0o777).toString(8)})`,
        { hint: `run: chmod 600 ${options.path}` },
      );
    }
    try {
      privateKey = createPrivateKey(readFileSync(options.path));
    } catch (cause) {
      throw new AppError(
        'KEY_UNAVAILABLE',
        `key file ${options.path} is not a readable private key`,
        {
          cause,
        },
      );
    }
  }
  if (
    privateKey.asymmetricKeyType !== 'ec' ||
    privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1'
  ) {
    throw new AppError(
      'KEY_UNAVAILABLE',
      `key file ${options.path} does not hold an ECDSA P-256 key`,
    );
  }
  const publicKeySpki = new Uint8Array(
    createPublicKey(privateKey).export({ type: 'spki', format: 'der' }),
  );
  return {
    id: options.id,
    purpose: options.purpose,
    algorithm: 'ecdsa-p256-sha256',
    publicKeySpki,
    sign(message: Uint8Array): Promise<Uint8Array> {
      try {
        return Promise.resolve(
          new Uint8Array(signBytes('sha256', message, { key: privateKey, dsaEncoding: 'der' })),
        );
      } catch (cause) {
        return Promise.reject(
          new AppError('KEY_UNAVAILABLE', `key ${options.id} could not sign`, { cause }),
        );
      }
    },
  };
}

function statIfExists(path: string): { mode: number } | undefined {
  try {
    return statSync(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AppError('KEY_UNAVAILABLE', `key file ${path} cannot be read`, { cause: error });
  }
}

/** write-temp, fsync, rename, fsync-dir (threat-model FT-3): never a half-written key file. */
function writeKeyFileAtomically(path: string, pem: string): void {
  const dir = dirname(path);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const temp = `${path}.tmp-${process.pid}`;
  const fd = openSync(temp, 'wx', 0o600);
  try {
    writeSync(fd, pem);
    fsyncSync(fd);
  } finally {
    closeSync(fd);
  }
  chmodSync(temp, 0o600);
  renameSync(temp, path);
  const dirFd = openSync(dir, 'r');
  try {
    fsyncSync(dirFd);
  } finally {
    closeSync(dirFd);
  }
}
