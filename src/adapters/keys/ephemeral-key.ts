/**
 * Per-request ephemeral signing keys (DESIGN.md §6 step 6): a fresh P-256 key generated in
 * memory for one signing request, certified for minutes, and dropped when the request ends. It
 * is never written anywhere.
 *
 * Sigstore message signatures are ECDSA over the artifact, but Countersign only ever receives the
 * artifact's digest (clients hash locally). Node's `crypto.sign` always hashes its input, so
 * `signDigest` computes ECDSA over the given digest itself (SEC 1 v2 §4.1.3): the point k·G comes
 * from OpenSSL's native scalar multiplication (ECDH), the rest is BigInt arithmetic modulo n. The
 * key itself is a uniform scalar from the CSPRNG whose public point OpenSSL derives the same way,
 * and a DSSE signature is the same computation over SHA-256 of the message: no key object is
 * built or exported for a key that signs once or twice (a third of the cost of a signing key).
 * BigInt arithmetic is not constant-time; that is acceptable here only because an ephemeral key
 * signs once or twice and is discarded, so no attacker can collect the many timings a side
 * channel needs. Long-lived keys never use this path.
 */
import { createECDH, createHash, randomBytes } from 'node:crypto';
import { AppError } from '../../core/errors.ts';
import type { EphemeralKey, EphemeralKeyFactory } from '../../core/ports.ts';
import { createP256Spki, encodeEcdsaSignatureDer } from './ecdsa-p256.ts';

/** The order n of the P-256 base point (SEC 2 §2.4.2). */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;
const SCALAR_BYTES = 32;

/**
 * OpenSSL's P-256 scalar multiplication by the base point, reused: `setPrivateKey` replaces the
 * scalar (and checks it lies in [1, n − 1]) and derives its point synchronously, so no state
 * outlives one call on this single-threaded path.
 */
const baseMultiplier = createECDH('prime256v1');

/** Creates ephemeral P-256 keys. */
export function createEphemeralKeyFactory(): EphemeralKeyFactory {
  return { create: createEphemeralKey };
}

function createEphemeralKey(): EphemeralKey {
  const scalar = randomScalar();
  return {
    publicKeySpki: createP256Spki(multiplyBase(scalar)),
    signDigest: (digest) => signP256Digest(scalar, digest),
    sign: (message) => signP256Digest(scalar, createHash('sha256').update(message).digest()),
  };
}

/** The uncompressed point d·G (0x04 ‖ x ‖ y). */
function multiplyBase(d: bigint): Uint8Array {
  baseMultiplier.setPrivateKey(bigIntToBytes(d));
  return baseMultiplier.getPublicKey();
}

/**
 * ECDSA P-256 over a precomputed SHA-256/384/512 digest, DER-encoded with a low s. The digest is
 * truncated to its leftmost 256 bits, as SEC 1 §4.1.3 step 5 prescribes for hashes longer than n.
 * Exported for tests; use an `EphemeralKey`.
 */
export function signP256Digest(d: bigint, digest: Uint8Array): Uint8Array {
  if (![32, 48, 64].includes(digest.length)) {
    throw new AppError(
      'INVALID_INPUT',
      `a digest to sign must be 32, 48 or 64 bytes, got ${digest.length}`,
    );
  }
  if (d <= 0n || d >= P256_ORDER) throw new AppError('INTERNAL', 'private scalar out of range');
  const z = bytesToBigInt(digest.subarray(0, SCALAR_BYTES));
  for (;;) {
    const k = randomScalar();
    const point = multiplyBase(k); // 0x04 ‖ x ‖ y: the point k·G
    const r = bytesToBigInt(point.subarray(1, 1 + SCALAR_BYTES)) % P256_ORDER;
    if (r === 0n) continue;
    let s = (invertModOrder(k) * ((z + r * d) % P256_ORDER)) % P256_ORDER;
    if (s === 0n) continue;
    if (s > P256_ORDER >> 1n) s = P256_ORDER - s; // low s: one canonical signature per (r, message)
    return encodeEcdsaSignatureDer(scalarsToBytes(r, s));
  }
}

/** A uniform scalar in [1, n-1], by rejection sampling from a CSPRNG. */
function randomScalar(): bigint {
  for (;;) {
    const k = bytesToBigInt(randomBytes(SCALAR_BYTES));
    if (k > 0n && k < P256_ORDER) return k;
  }
}

/** k⁻¹ mod n by the extended Euclidean algorithm (n is prime and 0 < k < n). */
function invertModOrder(k: bigint): bigint {
  let [oldR, r] = [k, P256_ORDER];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const q = oldR / r;
    [oldR, r] = [r, oldR - q * r];
    [oldS, s] = [s, oldS - q * s];
  }
  return ((oldS % P256_ORDER) + P256_ORDER) % P256_ORDER;
}

function bytesToBigInt(bytes: Uint8Array): bigint {
  return bytes.length === 0 ? 0n : BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
}

/** `r ‖ s`, 32 big-endian bytes each. */
function scalarsToBytes(r: bigint, s: bigint): Uint8Array {
  const hex =
    r.toString(16).padStart(SCALAR_BYTES * 2, '0') + s.toString(16).padStart(SCALAR_BYTES * 2, '0');
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

function bigIntToBytes(value: bigint): Uint8Array {
  return Uint8Array.from(Buffer.from(value.toString(16).padStart(SCALAR_BYTES * 2, '0'), 'hex'));
}
