/**
 * The Signed Entry Timestamp (SET, `inclusionPromise.signedEntryTimestamp`), Rekor v1's signed
 * promise that an entry was integrated at a time (sigstore-interop §2.8). The log signs
 *
 * ```json
 * {"body":"<base64 canonicalizedBody>","integratedTime":<unix s>,"logID":"<hex log id>","logIndex":<n>}
 * ```
 *
 * canonicalised with RFC 8785, as ECDSA over SHA-256, DER. Signing goes through a `KeyHandle`
 * elsewhere; this module builds the payload and verifies.
 */
import { verify as verifySignature, type KeyObject } from 'node:crypto';
import { canonicalJsonBytes } from '../canonical-json.ts';
import { AppError } from '../errors.ts';
import { encodeBase64 } from '../tlog/bytes.ts';

/** What a SET covers. */
export interface SetPayloadFields {
  readonly body: Uint8Array;
  /** Unix seconds. */
  readonly integratedTime: bigint;
  /** 32-byte log ID (SHA-256 of the log key SPKI). */
  readonly logId: Uint8Array;
  /** The entry's top-level `logIndex`. */
  readonly logIndex: bigint;
}

/**
 * The bytes the log signs for a SET.
 *
 * @throws {@link AppError} INVALID_INPUT when a number is negative or beyond 2^53 - 1 (RFC 8785
 *   numbers are IEEE doubles: larger integers would not round-trip), or the body is empty.
 */
export function createSetPayload(fields: SetPayloadFields): Uint8Array {
  if (fields.body.byteLength === 0) throw new AppError('INVALID_INPUT', 'SET body is empty');
  return canonicalJsonBytes({
    body: encodeBase64(fields.body),
    integratedTime: toSafeNumber(fields.integratedTime, 'integratedTime'),
    logID: Buffer.from(fields.logId).toString('hex'),
    logIndex: toSafeNumber(fields.logIndex, 'logIndex'),
  });
}

/**
 * Verifies a SET with the log's ECDSA key (sigstore-go accepts only ECDSA for SETs, G6).
 *
 * @param fields - the entry's fields, attacker-controlled.
 * @param signature - attacker-controlled.
 * @throws {@link AppError} VERIFICATION_FAILED when the key is not ECDSA, a field is out of range or
 *   the signature does not verify.
 */
export function verifySignedEntryTimestamp(
  fields: SetPayloadFields,
  signature: Uint8Array,
  logKey: KeyObject,
): void {
  if (logKey.asymmetricKeyType !== 'ec') {
    throw new AppError('VERIFICATION_FAILED', 'SET: the log key is not an ECDSA key');
  }
  let payload: Uint8Array;
  try {
    payload = createSetPayload(fields);
  } catch (cause) {
    const reason = cause instanceof AppError ? cause.message : 'invalid fields';
    throw new AppError('VERIFICATION_FAILED', `SET: ${reason}`, { cause });
  }
  let valid = false;
  try {
    valid = verifySignature('sha256', payload, { key: logKey, dsaEncoding: 'der' }, signature);
  } catch {
    valid = false;
  }
  if (!valid)
    throw new AppError('VERIFICATION_FAILED', 'SET: signature does not verify with the log key');
}

function toSafeNumber(value: bigint, name: string): number {
  if (value < 0n || value > BigInt(Number.MAX_SAFE_INTEGER)) {
    throw new AppError('INVALID_INPUT', `SET ${name} must be in 0..2^53-1`);
  }
  return Number(value);
}
