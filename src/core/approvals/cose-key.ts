/**
 * Converts a passkey's COSE public key (RFC 9052 §7, as a WebAuthn attestation carries it) to DER
 * SubjectPublicKeyInfo, the form every approver credential is stored and verified in. Done once,
 * at registration, so verification (online and offline) needs no CBOR.
 */
import { createPublicKey, type JsonWebKey } from 'node:crypto';

import { AppError } from '../errors.ts';
import { COSE_ALGORITHMS } from './verify-approval.ts';

/** COSE key parameters (RFC 9052 §7.1, RFC 9053 §7). */
const KTY = 1;
const ALG = 3;
const CRV = -1;
const X = -2;
const Y = -3;
const RSA_N = -1;
const RSA_E = -2;
const KTY_OKP = 1;
const KTY_EC2 = 2;
const KTY_RSA = 3;
const CRV_P256 = 1;
const CRV_ED25519 = 6;

/** A decoded COSE key: CBOR map keys (integers) to values. */
export type CoseKeyMap = ReadonlyMap<number, unknown>;

/**
 * The SPKI and COSE algorithm of `cose` (a decoded COSE_Key, attacker-controlled). Accepts ES256
 * on P-256, EdDSA on Ed25519 and RS256 with at least 2048 bits: what `verifyApprovalSignature`
 * verifies.
 *
 * @throws {@link AppError} INVALID_INPUT for any other key, or a malformed one.
 */
export function coseKeyToSpki(cose: CoseKeyMap): {
  readonly spki: Uint8Array;
  readonly algorithm: number;
} {
  const kty = cose.get(KTY);
  const alg = cose.get(ALG);
  let jwk: JsonWebKey;
  let algorithm: number;
  if (kty === KTY_EC2 && alg === COSE_ALGORITHMS.ES256 && cose.get(CRV) === CRV_P256) {
    algorithm = alg;
    jwk = {
      kty: 'EC',
      crv: 'P-256',
      x: coordinate(cose.get(X), 32),
      y: coordinate(cose.get(Y), 32),
    };
  } else if (kty === KTY_OKP && alg === COSE_ALGORITHMS.EdDSA && cose.get(CRV) === CRV_ED25519) {
    algorithm = alg;
    jwk = { kty: 'OKP', crv: 'Ed25519', x: coordinate(cose.get(X), 32) };
  } else if (kty === KTY_RSA && alg === COSE_ALGORITHMS.RS256) {
    algorithm = alg;
    jwk = { kty: 'RSA', n: coordinate(cose.get(RSA_N)), e: coordinate(cose.get(RSA_E)) };
  } else {
    throw new AppError(
      'INVALID_INPUT',
      `passkey key type ${String(kty)} with algorithm ${String(alg)} is not supported; use ES256, EdDSA (Ed25519) or RS256`,
    );
  }
  let spki: Buffer;
  try {
    const key = createPublicKey({ key: jwk, format: 'jwk' });
    if (key.asymmetricKeyType === 'rsa' && (key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
      throw new AppError('INVALID_INPUT', 'passkey RSA key is shorter than 2048 bits');
    }
    spki = key.export({ format: 'der', type: 'spki' });
  } catch (cause) {
    if (cause instanceof AppError) throw cause;
    throw new AppError('INVALID_INPUT', 'passkey public key is malformed', { cause });
  }
  return { spki: new Uint8Array(spki), algorithm };
}

function coordinate(value: unknown, length?: number): string {
  if (!(value instanceof Uint8Array) || value.byteLength === 0 || value.byteLength > 1024) {
    throw new AppError('INVALID_INPUT', 'passkey public key is malformed');
  }
  if (length !== undefined && value.byteLength !== length) {
    throw new AppError('INVALID_INPUT', 'passkey public key has a wrong coordinate length');
  }
  return Buffer.from(value).toString('base64url');
}
