/**
 * Key purposes are enforced where a key is used, not only where it is configured (DESIGN.md §5):
 * only a root-ca key signs channel CA and TSA certificates, only a channel-ca key signs leaves,
 * only a tsa key signs timestamps.
 */
import { AppError } from '../errors.ts';
import type { KeyHandle, KeyPurpose } from '../ports.ts';

/**
 * Throws unless `key` serves `purpose`.
 *
 * The code is KEY_UNAVAILABLE, as for the log key (`createLogNoteSigner`): a key of another
 * purpose is, for this operation, no key at all. It is always a wiring or configuration fault,
 * never something a caller's input can cause, so it must not read as FORBIDDEN to a client.
 *
 * @throws {@link AppError} KEY_UNAVAILABLE when `key.purpose !== purpose` or the key is not
 *   ECDSA P-256.
 */
export function assertKeyPurpose(key: KeyHandle, purpose: KeyPurpose, operation: string): void {
  if (key.purpose !== purpose) {
    throw new AppError(
      'KEY_UNAVAILABLE',
      `key ${key.id} is a ${key.purpose} key; ${operation} needs a ${purpose} key`,
    );
  }
  if (key.algorithm !== 'ecdsa-p256-sha256') {
    throw new AppError('KEY_UNAVAILABLE', `key ${key.id} is not an ECDSA P-256 key`);
  }
}
