/**
 * Key ids and purposes as the key backends store them. An id names a keystore file and a PKCS#11
 * object, so it is kept to a small, file-name-safe alphabet.
 */
import { AppError } from '../../core/errors.ts';
import type { KeyPurpose } from '../../core/ports.ts';

/** 1–64 characters, letters, digits, `.`, `_`, `-`; starts with a letter or digit (no `..`, no `/`). */
const KEY_ID_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/** Every purpose, written out so a new `KeyPurpose` fails to compile until it is listed here. */
const PURPOSES: Readonly<Record<KeyPurpose, true>> = {
  'root-ca': true,
  'channel-ca': true,
  log: true,
  tsa: true,
  'managed-signing': true,
};

/** Throws INVALID_INPUT unless `id` is a valid key id. */
export function assertKeyId(id: string): void {
  if (!KEY_ID_PATTERN.test(id)) {
    throw new AppError(
      'INVALID_INPUT',
      `invalid key id ${JSON.stringify(id.slice(0, 80))}: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit`,
    );
  }
}

/** True when `value` (possibly read from a file or a token: untrusted) is a `KeyPurpose`. */
export function isKeyPurpose(value: unknown): value is KeyPurpose {
  return typeof value === 'string' && Object.hasOwn(PURPOSES, value);
}
