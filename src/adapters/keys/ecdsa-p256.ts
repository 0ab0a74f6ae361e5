/**
 * The few ECDSA P-256 encodings a PKCS#11 token needs translating: its raw `r || s` signature
 * (PKCS#11 v2.40 §2.3.1) into the DER `ECDSA-Sig-Value` every X.509 and Sigstore verifier expects
 * (RFC 5480 §2.2 / SEC 1 §C.5), and its `CKA_EC_POINT` into a SubjectPublicKeyInfo (RFC 5480 §2).
 */
import { AppError } from '../../core/errors.ts';

/** Size of a P-256 field element and scalar in bytes. */
const P256_SIZE = 32;

/** The order n of the P-256 base point (SEC 2 §2.4.2): r and s lie in [1, n − 1]. */
const P256_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** DER of the named curve OID prime256v1 (1.2.840.10045.3.1.7): the `CKA_EC_PARAMS` of a P-256 key. */
export const P256_EC_PARAMS = Uint8Array.from([
  0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07,
]);

/**
 * SubjectPublicKeyInfo DER up to the BIT STRING contents: SEQUENCE { SEQUENCE { id-ecPublicKey,
 * prime256v1 }, BIT STRING (0 unused bits) }, followed by the 65-byte uncompressed point.
 */
const P256_SPKI_PREFIX = Uint8Array.from([
  0x30, 0x59, 0x30, 0x13, 0x06, 0x07, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01, 0x06, 0x08, 0x2a,
  0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07, 0x03, 0x42, 0x00,
]);

/** Length of an uncompressed P-256 point: 0x04 || X || Y. */
const UNCOMPRESSED_POINT_LENGTH = 1 + 2 * P256_SIZE;

/**
 * Converts a raw P-256 signature `r || s` (64 bytes, big-endian, as PKCS#11 `CKM_ECDSA` returns
 * it) to DER with minimal INTEGER encodings (no superfluous leading zero, a 0x00 before a set high
 * bit), the only form strict verifiers accept. Throws KEY_UNAVAILABLE when `raw` is not a
 * well-formed P-256 signature (a misbehaving token).
 */
export function encodeEcdsaSignatureDer(raw: Uint8Array): Uint8Array {
  if (raw.length !== 2 * P256_SIZE) {
    throw malformed(`it is ${raw.length} bytes, not ${2 * P256_SIZE}`);
  }
  const r = encodeDerInteger(raw.subarray(0, P256_SIZE), 'r');
  const s = encodeDerInteger(raw.subarray(P256_SIZE), 's');
  // At most 2 × (2 + 33) = 70 content bytes: the short length form always fits.
  return Uint8Array.from([0x30, r.length + s.length, ...r, ...s]);
}

/**
 * Builds the SubjectPublicKeyInfo DER of a P-256 key from its `CKA_EC_POINT`, which PKCS#11
 * specifies as a DER OCTET STRING around the point; some tokens return the bare point, so both are
 * accepted. Only uncompressed points. Throws KEY_UNAVAILABLE on anything else (token output).
 */
export function createP256Spki(ecPoint: Uint8Array): Uint8Array {
  let point = ecPoint;
  if (
    ecPoint.length === UNCOMPRESSED_POINT_LENGTH + 2 &&
    ecPoint[0] === 0x04 &&
    ecPoint[1] === UNCOMPRESSED_POINT_LENGTH
  ) {
    point = ecPoint.subarray(2);
  }
  if (point.length !== UNCOMPRESSED_POINT_LENGTH || point[0] !== 0x04) {
    throw new AppError(
      'KEY_UNAVAILABLE',
      `the token returned a CKA_EC_POINT that is not an uncompressed P-256 point (${ecPoint.length} bytes)`,
    );
  }
  const spki = new Uint8Array(P256_SPKI_PREFIX.length + point.length);
  spki.set(P256_SPKI_PREFIX);
  spki.set(point, P256_SPKI_PREFIX.length);
  return spki;
}

function encodeDerInteger(bytes: Uint8Array, name: string): number[] {
  let start = 0;
  while (start < bytes.length && bytes[start] === 0) start += 1;
  const magnitude = bytes.subarray(start);
  if (magnitude.length === 0) throw malformed(`${name} is zero`);
  if (BigInt(`0x${Buffer.from(magnitude).toString('hex')}`) >= P256_ORDER) {
    throw malformed(`${name} is not below the group order`);
  }
  // A set high bit would read as negative: DER needs one 0x00 in front (X.690 §8.3.2).
  const pad = (magnitude[0] ?? 0) >= 0x80 ? [0x00] : [];
  return [0x02, pad.length + magnitude.length, ...pad, ...magnitude];
}

function malformed(why: string): AppError {
  return new AppError('KEY_UNAVAILABLE', `the token returned a malformed ECDSA signature: ${why}`);
}
