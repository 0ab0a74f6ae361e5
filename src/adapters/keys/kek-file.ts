/**
 * The keystore's key-encryption key in a file: 32 random bytes, owner-only. Created on first start
 * so `npm start` needs no setup; production deployments put it on a separate volume or use a
 * passphrase or PKCS#11 instead.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { isAppError } from '../../core/errors.ts';
import { writeFileAtomically } from './owner-only-file.ts';

/** Creates the KEK file at `path` unless it exists (a concurrent creator wins cleanly). */
export function ensureKekFile(path: string): void {
  if (existsSync(path)) return;
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  try {
    writeFileAtomically(path, randomBytes(32), { replace: false });
  } catch (error) {
    if (!isAppError(error, 'CONFLICT')) throw error;
  }
}
