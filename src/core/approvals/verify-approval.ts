/**
 * Verifies a person's signature over approval statement bytes (DESIGN.md §5 "Approval").
 *
 * Only plain ECDSA P-256 / SHA-256 keys exist today. WebAuthn passkeys arrive with the approval
 * page: they will add a `{ kind: 'webauthn', ... }` member to `ApproverKey`, whose assertion's
 * challenge is `approvalChallenge(statement)`; until then the union has one member, so no caller
 * can hand over a key kind this code does not check.
 */
import { createPublicKey, verify as verifyWithKey, type KeyObject } from 'node:crypto';

import { AppError } from '../errors.ts';

/** A DER ECDSA P-256 signature is at most 72 bytes; anything longer is not one. */
export const MAX_ECDSA_P256_DER_SIGNATURE_BYTES = 72;

/** A registered approver credential that is a plain P-256 key. */
export interface EcdsaP256ApproverKey {
  readonly kind: 'ecdsa-p256';
  /** DER SubjectPublicKeyInfo of a P-256 public key. */
  readonly spki: Uint8Array;
}

/** Every kind of approver credential the service can verify. */
export type ApproverKey = EcdsaP256ApproverKey;

export interface ApprovalSignature {
  /** The exact canonical statement bytes that were signed (attacker-controlled). */
  readonly statementBytes: Uint8Array;
  /** The signature (attacker-controlled): DER ECDSA-SHA256 for `ecdsa-p256`. */
  readonly signature: Uint8Array;
  /** The approver's registered key, from storage (trusted). */
  readonly approverKey: ApproverKey;
}

/**
 * Checks that `signature` is the approver's signature over `statementBytes`. Says nothing about
 * what the statement means: parse and bind it with `parseApprovalStatement` / `evaluateApprovals`.
 *
 * @throws {@link AppError} VERIFICATION_FAILED when the signature does not verify, is malformed,
 *   or the registered key is not a P-256 public key.
 */
export function verifyApprovalSignature(input: ApprovalSignature): void {
  const { approverKey } = input;
  switch (approverKey.kind) {
    case 'ecdsa-p256':
      verifyEcdsaP256(approverKey, input.statementBytes, input.signature);
      return;
  }
}

function verifyEcdsaP256(
  approverKey: EcdsaP256ApproverKey,
  message: Uint8Array,
  signature: Uint8Array,
): void {
  const key = p256Key(approverKey.spki);
  if (signature.byteLength === 0 || signature.byteLength > MAX_ECDSA_P256_DER_SIGNATURE_BYTES) {
    throw new AppError(
      'VERIFICATION_FAILED',
      'approval signature is not a DER ECDSA P-256 signature',
    );
  }
  let ok: boolean;
  try {
    ok = verifyWithKey('sha256', message, { key, dsaEncoding: 'der' }, signature);
  } catch (cause) {
    throw new AppError('VERIFICATION_FAILED', 'approval signature is malformed', { cause });
  }
  if (!ok) throw new AppError('VERIFICATION_FAILED', 'approval signature does not verify');
}

function p256Key(spki: Uint8Array): KeyObject {
  let key: KeyObject;
  try {
    key = createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new AppError('VERIFICATION_FAILED', 'approver key is not a DER SubjectPublicKeyInfo', {
      cause,
    });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new AppError('VERIFICATION_FAILED', 'approver key is not an ECDSA P-256 key');
  }
  return key;
}
