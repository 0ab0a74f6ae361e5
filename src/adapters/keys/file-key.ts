/**
 * A P-256 private key kept in a PKCS#8 PEM file with owner-only permissions. This is the interim
 * home of the log key until the encrypted keystore and PKCS#11 backends (`createKeyBackend`) take
 * over; it refuses files that other users could access.
 */
import {
  createPrivateKey,
  createPublicKey,
  generateKeyPairSync,
  sign as signBytes,
} from 'node:crypto';
import type { KeyObject } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { AppError, isAppError } from '../../core/errors.ts';
import type { KeyHandle, KeyPurpose } from '../../core/ports.ts';
import { statOwnerOnly, writeFileAtomically } from './owner-only-file.ts';

export interface FileKeyOptions {
  readonly path: string;
  readonly id: string;
  readonly purpose: KeyPurpose;
  /** Create a fresh key when the file does not exist (default true). */
  readonly create?: boolean;
}

/**
 * Loads the key at `options.path`, creating it (mode 0600, written atomically) when absent.
 * Throws KEY_UNAVAILABLE when the file is unreadable, malformed, not P-256, or accessible to group
 * or others.
 */
export function loadOrCreateFileKey(options: FileKeyOptions): KeyHandle {
  const privateKey =
    statOwnerOnly(options.path, 'file') === undefined ? createKey(options) : readKey(options.path);
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

function createKey(options: FileKeyOptions): KeyObject {
  if (options.create === false) {
    throw new AppError('KEY_UNAVAILABLE', `key file ${options.path} does not exist`);
  }
  const privateKey = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey;
  try {
    mkdirSync(dirname(options.path), { recursive: true, mode: 0o700 });
    // No-clobber publication: when two processes create the key at once, both end up with the
    // winner's key instead of each keeping its own.
    writeFileAtomically(options.path, String(privateKey.export({ type: 'pkcs8', format: 'pem' })), {
      replace: false,
    });
    return privateKey;
  } catch (error) {
    if (isAppError(error, 'CONFLICT')) return readKey(options.path);
    if (isAppError(error)) throw error;
    throw new AppError('KEY_UNAVAILABLE', `cannot create key file ${options.path}`, {
      cause: error,
    });
  }
}

function readKey(path: string): KeyObject {
  statOwnerOnly(path, 'file');
  try {
    return createPrivateKey(readFileSync(path));
  } catch (cause) {
    throw new AppError('KEY_UNAVAILABLE', `key file ${path} is not a readable private key`, {
      cause,
    });
  }
}
