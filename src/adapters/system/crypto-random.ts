/**
 * The `Random` port over Node's CSPRNG.
 */
import { randomBytes } from 'node:crypto';
import type { Random } from '../../core/ports.ts';

/** Randomness from `crypto.randomBytes` (the operating system's CSPRNG). */
export const cryptoRandom: Random = {
  bytes: (length) => new Uint8Array(randomBytes(length)),
};
