/**
 * ECDSA verification over a digest the caller already has (FIPS 186-5 §6.4.2), for verifying a
 * message signature when only the artifact's digest is known.
 *
 * node:crypto cannot do this: `crypto.verify(alg, data, …)` always hashes `data` (with `null` it
 * hashes with the key's default digest), so verifying over a digest would hash it a second time.
 * The arithmetic here is public-input only (a verifier holds no secret), so plain bigint math
 * without constant-time care is fine.
 */
import type { KeyObject } from 'node:crypto';
import { DER_TAG, readConstructed, parseDer, decodeInteger } from '../asn1/der.ts';

interface Curve {
  readonly p: bigint;
  readonly n: bigint;
  readonly gx: bigint;
  readonly gy: bigint;
}

/** NIST curves (FIPS 186-5 / SP 800-186 §3.2.1); all have a = -3. */
const CURVES: Readonly<Record<string, Curve>> = {
  'P-256': {
    p: 0xffffffff00000001000000000000000000000000ffffffffffffffffffffffffn,
    n: 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n,
    gx: 0x6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296n,
    gy: 0x4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5n,
  },
  'P-384': {
    p: 0xfffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffeffffffff0000000000000000ffffffffn,
    n: 0xffffffffffffffffffffffffffffffffffffffffffffffffc7634d81f4372ddf581a0db248b0a77aecec196accc52973n,
    gx: 0xaa87ca22be8b05378eb1c71ef320ad746e1d3b628ba79b9859f741e082542a385502f25dbf55296c3a545e3872760ab7n,
    gy: 0x3617de4a96262c6f5d9e98bf9292dc29f8f41dbd289a147ce9da3113b5f0b8c00a60b1ce1d7e819d7a431d7c90ea0e5fn,
  },
  'P-521': {
    p: (1n << 521n) - 1n,
    n: 0x01fffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffa51868783bf2f966b7fcc0148f709a5d03bb5c9b8899c47aebb6fb71e91386409n,
    gx: 0x00c6858e06b70404e9cd9e3ecb662395b4429c648139053fb521f828af606b4d3dbaa14b5e77efe75928fe1dc127a2ffa8de3348b3c1856a429bf97e7e31c2e5bd66n,
    gy: 0x011839296a789a3bc0045c8a5fb42c7d1bd998f54449579b446817afbd17273e662c97ee72995ef42640c550b9013fad0761353c7086a272c24088be94769fd16650n,
  },
};

/** A point in Jacobian coordinates (X/Z², Y/Z³); Z = 0 is the point at infinity. */
type Point = readonly [bigint, bigint, bigint];

/**
 * True when `signature` (DER `ECDSA-Sig-Value`) is a valid ECDSA signature of `digest` under
 * `publicKey` (P-256, P-384 or P-521). A digest longer than the group order is truncated to its
 * leftmost bits, as ECDSA specifies.
 *
 * @param digest - the hash of the message (attacker-influenced).
 * @param signature - attacker-controlled; anything malformed is simply `false`.
 * @returns false for any invalid signature, malformed DER or unsupported key.
 */
export function verifyPrehashedEcdsa(
  publicKey: KeyObject,
  digest: Uint8Array,
  signature: Uint8Array,
): boolean {
  if (publicKey.type !== 'public' || publicKey.asymmetricKeyType !== 'ec') return false;
  const jwk = publicKey.export({ format: 'jwk' });
  const curve = jwk.crv === undefined ? undefined : CURVES[jwk.crv];
  if (curve === undefined || jwk.x === undefined || jwk.y === undefined) return false;
  let r: bigint;
  let s: bigint;
  try {
    const [rElement, sElement, ...extra] = readConstructed(
      parseDer(signature),
      DER_TAG.SEQUENCE,
      'ECDSA signature',
    );
    if (extra.length > 0) return false;
    r = decodeInteger(rElement, 'r');
    s = decodeInteger(sElement, 's');
  } catch {
    return false;
  }
  const { n, p } = curve;
  if (r < 1n || r >= n || s < 1n || s >= n) return false;
  const e = digestToInteger(digest, n);
  const w = invert(s, n);
  const u1 = (e * w) % n;
  const u2 = (r * w) % n;
  const q: Point = [fromBase64Url(jwk.x), fromBase64Url(jwk.y), 1n];
  const g: Point = [curve.gx, curve.gy, 1n];
  const sum = addScaled(g, u1, q, u2, p);
  if (sum[2] === 0n) return false;
  const zInverse = invert(sum[2], p);
  const x = (sum[0] * zInverse * zInverse) % p;
  return x % n === r;
}

/** FIPS 186-5 §6.4.2 step 3: the leftmost bitlen(n) bits of the digest as an integer. */
function digestToInteger(digest: Uint8Array, n: bigint): bigint {
  let e = 0n;
  for (const byte of digest) e = (e << 8n) | BigInt(byte);
  const excess = digest.byteLength * 8 - n.toString(2).length;
  return excess > 0 ? e >> BigInt(excess) : e;
}

/** u1·G + u2·Q by Shamir's trick (one shared double-and-add pass). */
function addScaled(g: Point, u1: bigint, q: Point, u2: bigint, p: bigint): Point {
  const gq = add(g, q, p);
  let acc: Point = [0n, 1n, 0n];
  const bits = Math.max(u1.toString(2).length, u2.toString(2).length);
  for (let i = bits - 1; i >= 0; i--) {
    acc = double(acc, p);
    const b1 = (u1 >> BigInt(i)) & 1n;
    const b2 = (u2 >> BigInt(i)) & 1n;
    if (b1 === 1n && b2 === 1n) acc = add(acc, gq, p);
    else if (b1 === 1n) acc = add(acc, g, p);
    else if (b2 === 1n) acc = add(acc, q, p);
  }
  return acc;
}

/** Point doubling for a = -3 (EFD "dbl-2001-b"). */
function double(point: Point, p: bigint): Point {
  const [x, y, z] = point;
  if (z === 0n || y === 0n) return [0n, 1n, 0n];
  const delta = (z * z) % p;
  const gamma = (y * y) % p;
  const beta = (x * gamma) % p;
  const alpha = (3n * (((x - delta) % p) + p) * ((x + delta) % p)) % p;
  const x3 = mod(alpha * alpha - 8n * beta, p);
  const z3 = mod((y + z) * (y + z) - gamma - delta, p);
  const y3 = mod(alpha * (4n * beta - x3) - 8n * gamma * gamma, p);
  return [x3, y3, z3];
}

/** General Jacobian addition (EFD "add-2007-bl"), handling infinity and doubling. */
function add(a: Point, b: Point, p: bigint): Point {
  const [x1, y1, z1] = a;
  const [x2, y2, z2] = b;
  if (z1 === 0n) return b;
  if (z2 === 0n) return a;
  const z1z1 = (z1 * z1) % p;
  const z2z2 = (z2 * z2) % p;
  const u1 = (x1 * z2z2) % p;
  const u2 = (x2 * z1z1) % p;
  const s1 = (y1 * z2 * z2z2) % p;
  const s2 = (y2 * z1 * z1z1) % p;
  if (u1 === u2) return s1 === s2 ? double(a, p) : [0n, 1n, 0n];
  const h = mod(u2 - u1, p);
  const i = (4n * h * h) % p;
  const j = (h * i) % p;
  const r = mod(2n * (s2 - s1), p);
  const v = (u1 * i) % p;
  const x3 = mod(r * r - j - 2n * v, p);
  const y3 = mod(r * (v - x3) - 2n * s1 * j, p);
  const z3 = mod(((z1 + z2) * (z1 + z2) - z1z1 - z2z2) * h, p);
  return [x3, y3, z3];
}

function mod(a: bigint, m: bigint): bigint {
  const r = a % m;
  return r < 0n ? r + m : r;
}

/** Modular inverse by the extended Euclidean algorithm (m prime, a ≠ 0 mod m). */
function invert(a: bigint, m: bigint): bigint {
  let [oldR, r] = [mod(a, m), m];
  let [oldS, s] = [1n, 0n];
  while (r !== 0n) {
    const quotient = oldR / r;
    [oldR, r] = [r, oldR - quotient * r];
    [oldS, s] = [s, oldS - quotient * s];
  }
  return mod(oldS, m);
}

function fromBase64Url(text: string): bigint {
  const hex = Buffer.from(text, 'base64url').toString('hex');
  return hex.length === 0 ? 0n : BigInt(`0x${hex}`);
}
