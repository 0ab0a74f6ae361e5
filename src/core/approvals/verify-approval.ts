/**
 * Verifies a person's signature over approval statement bytes (DESIGN.md §5 "Approval").
 *
 * Two kinds of approver credential exist: a plain ECDSA P-256 key registered from the CLI, which
 * signs the statement bytes themselves, and a WebAuthn passkey, which signs an assertion whose
 * challenge is `approvalChallenge(statement)` (SHA-256 of the canonical statement bytes), so the
 * assertion cannot be replayed for any other statement (threat-model D10). Both are checked here
 * with node:crypto only, so a decision attestation verifies offline with the same code.
 */
import { createHash, createPublicKey, verify as verifyWithKey, type KeyObject } from 'node:crypto';

import { AppError } from '../errors.ts';

/** A DER ECDSA P-256 signature is at most 72 bytes; anything longer is not one. */
export const MAX_ECDSA_P256_DER_SIGNATURE_BYTES = 72;
/** Assertion signatures are at most this long (an RSA-4096 signature is 512 bytes). */
export const MAX_WEBAUTHN_SIGNATURE_BYTES = 1024;
/** Authenticator data beyond this is refused before it is parsed (it is 37 bytes plus extensions). */
export const MAX_WEBAUTHN_AUTHENTICATOR_DATA_BYTES = 1024;
/** Client data beyond this is refused before it is decoded. */
export const MAX_WEBAUTHN_CLIENT_DATA_BYTES = 4096;

/** COSE algorithm identifiers (RFC 9053, IANA "COSE Algorithms") a passkey may use. */
export const COSE_ALGORITHMS = { ES256: -7, EdDSA: -8, RS256: -257 } as const;

/** WebAuthn L2 §6.1 authenticator data flags. */
const FLAG_USER_PRESENT = 0x01;
const FLAG_USER_VERIFIED = 0x04;
/** rpIdHash (32) + flags (1) + signCount (4). */
const AUTHENTICATOR_DATA_HEADER_BYTES = 37;

/** A registered approver credential that is a plain P-256 key. */
export interface EcdsaP256ApproverKey {
  readonly kind: 'ecdsa-p256';
  /** DER SubjectPublicKeyInfo of a P-256 public key. */
  readonly spki: Uint8Array;
}

/** A registered passkey (its COSE key converted to SPKI when it was registered). */
export interface WebAuthnApproverKey {
  readonly kind: 'webauthn';
  /** DER SubjectPublicKeyInfo of the credential public key. */
  readonly spki: Uint8Array;
  /** COSE algorithm: -7 ES256, -8 EdDSA (Ed25519), -257 RS256. */
  readonly algorithm: number;
  /** The WebAuthn relying party id the passkey is scoped to (the service's host name). */
  readonly rpId: string;
}

/** Every kind of approver credential the service can verify. */
export type ApproverKey = EcdsaP256ApproverKey | WebAuthnApproverKey;

/** The parts of a WebAuthn assertion besides its signature (attacker-controlled). */
export interface WebAuthnAssertion {
  readonly authenticatorData: Uint8Array;
  /** The exact JSON bytes the browser produced; hashed as sent. */
  readonly clientDataJSON: Uint8Array;
}

export interface ApprovalSignature {
  /** The exact canonical statement bytes that were signed (attacker-controlled). */
  readonly statementBytes: Uint8Array;
  /**
   * The signature (attacker-controlled): DER ECDSA-SHA256 over the statement for `ecdsa-p256`;
   * the assertion signature over `authenticatorData ‖ SHA-256(clientDataJSON)` for `webauthn`.
   */
  readonly signature: Uint8Array;
  /** The approver's registered key, from storage (trusted). */
  readonly approverKey: ApproverKey;
  /** Required for a `webauthn` key, ignored otherwise. */
  readonly webauthn?: WebAuthnAssertion;
}

/**
 * Checks that `signature` is the approver's signature over `statementBytes`. Says nothing about
 * what the statement means: parse and bind it with `parseApprovalStatement` / `evaluateApprovals`.
 *
 * For a passkey it checks, per WebAuthn L2 §7.2: client data type `webauthn.get`, challenge =
 * base64url(SHA-256(statementBytes)), not cross-origin; rpIdHash = SHA-256(rpId); the user
 * present (UP) and user verified (UV) flags (B3); and the signature over
 * `authenticatorData ‖ SHA-256(clientDataJSON)`. The origin is not checked here (offline there is
 * nothing to check it against): the server checks it against its public URL on submission.
 *
 * @throws {@link AppError} VERIFICATION_FAILED when the signature does not verify, is malformed,
 *   a passkey assertion is missing or wrong, or the registered key does not fit its kind.
 */
export function verifyApprovalSignature(input: ApprovalSignature): void {
  const { approverKey } = input;
  switch (approverKey.kind) {
    case 'ecdsa-p256':
      verifyEcdsaP256(approverKey, input.statementBytes, input.signature);
      return;
    case 'webauthn':
      verifyWebAuthnApproval(approverKey, input);
      return;
  }
}

/** What an approval assertion's client data says (WebAuthn L2 §5.8.1), as parsed. */
export interface WebAuthnClientData {
  readonly type: string;
  /** base64url, as the browser wrote it. */
  readonly challenge: string;
  readonly origin: string;
  readonly crossOrigin: boolean;
}

/**
 * Parses `clientDataJSON` (attacker-controlled): bounded size, UTF-8, a JSON object whose `type`,
 * `challenge` and `origin` are strings. The server uses it to check `origin` against its public
 * URL; unknown members are allowed, as the specification requires.
 *
 * @throws {@link AppError} VERIFICATION_FAILED when it is not such a document.
 */
export function parseWebAuthnClientData(clientDataJSON: Uint8Array): WebAuthnClientData {
  if (clientDataJSON.byteLength > MAX_WEBAUTHN_CLIENT_DATA_BYTES) {
    throw new AppError('VERIFICATION_FAILED', 'WebAuthn client data is too large');
  }
  let value: unknown;
  try {
    value = JSON.parse(
      new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(clientDataJSON),
    );
  } catch (cause) {
    throw new AppError('VERIFICATION_FAILED', 'WebAuthn client data is not UTF-8 JSON', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new AppError('VERIFICATION_FAILED', 'WebAuthn client data is not a JSON object');
  }
  const record = value as Record<string, unknown>;
  const { type, challenge, origin, crossOrigin } = record;
  if (typeof type !== 'string' || typeof challenge !== 'string' || typeof origin !== 'string') {
    throw new AppError(
      'VERIFICATION_FAILED',
      'WebAuthn client data lacks its type, challenge or origin',
    );
  }
  if (crossOrigin !== undefined && typeof crossOrigin !== 'boolean') {
    throw new AppError('VERIFICATION_FAILED', 'WebAuthn client data crossOrigin is not a boolean');
  }
  return { type, challenge, origin, crossOrigin: crossOrigin === true };
}

/** What authenticator data says (WebAuthn L2 §6.1), as parsed. */
export interface WebAuthnAuthenticatorData {
  readonly rpIdHash: Uint8Array;
  readonly userPresent: boolean;
  readonly userVerified: boolean;
  /** The signature counter; 0 when the authenticator does not keep one. */
  readonly signCount: number;
}

/**
 * Parses the fixed header of `authenticatorData` (attacker-controlled).
 *
 * @throws {@link AppError} VERIFICATION_FAILED when it is too short or too long.
 */
export function parseWebAuthnAuthenticatorData(
  authenticatorData: Uint8Array,
): WebAuthnAuthenticatorData {
  if (
    authenticatorData.byteLength < AUTHENTICATOR_DATA_HEADER_BYTES ||
    authenticatorData.byteLength > MAX_WEBAUTHN_AUTHENTICATOR_DATA_BYTES
  ) {
    throw new AppError('VERIFICATION_FAILED', 'WebAuthn authenticator data has a wrong length');
  }
  const flags = authenticatorData[32] ?? 0;
  const view = new DataView(
    authenticatorData.buffer,
    authenticatorData.byteOffset,
    authenticatorData.byteLength,
  );
  return {
    rpIdHash: authenticatorData.slice(0, 32),
    userPresent: (flags & FLAG_USER_PRESENT) !== 0,
    userVerified: (flags & FLAG_USER_VERIFIED) !== 0,
    signCount: view.getUint32(33, false),
  };
}

/** base64url (no padding) of SHA-256 of `statementBytes`: the challenge of an approval assertion. */
export function approvalChallengeOfBytes(statementBytes: Uint8Array): string {
  return createHash('sha256').update(statementBytes).digest('base64url');
}

function verifyWebAuthnApproval(approverKey: WebAuthnApproverKey, input: ApprovalSignature): void {
  if (input.webauthn === undefined) {
    throw new AppError(
      'VERIFICATION_FAILED',
      'a passkey approval needs its authenticator data and client data',
    );
  }
  verifyWebAuthnAssertion({
    key: approverKey,
    challenge: approvalChallengeOfBytes(input.statementBytes),
    signature: input.signature,
    assertion: input.webauthn,
  });
}

/** A WebAuthn assertion to check against a known challenge. */
export interface WebAuthnAssertionInput {
  /** The registered passkey (trusted). */
  readonly key: WebAuthnApproverKey;
  /** The challenge the assertion must carry, base64url (trusted: the server chose or derived it). */
  readonly challenge: string;
  /** The assertion signature (attacker-controlled). */
  readonly signature: Uint8Array;
  readonly assertion: WebAuthnAssertion;
}

/**
 * Checks a WebAuthn assertion (WebAuthn L2 §7.2 steps 11–21, less the origin, which only the
 * server can judge): client data type `webauthn.get`, exactly `challenge`, not cross-origin;
 * rpIdHash = SHA-256(key.rpId); UP and UV set (B3); the signature over
 * `authenticatorData ‖ SHA-256(clientDataJSON)` by `key`. Returns what was parsed, so the
 * caller can check the origin and the signature counter (B4).
 *
 * @throws {@link AppError} VERIFICATION_FAILED on any mismatch.
 */
export function verifyWebAuthnAssertion(input: WebAuthnAssertionInput): {
  readonly clientData: WebAuthnClientData;
  readonly authenticatorData: WebAuthnAuthenticatorData;
} {
  const { key, assertion } = input;
  const clientData = parseWebAuthnClientData(assertion.clientDataJSON);
  if (clientData.type !== 'webauthn.get') {
    throw new AppError('VERIFICATION_FAILED', 'WebAuthn client data is not an assertion');
  }
  if (clientData.challenge !== input.challenge) {
    throw new AppError(
      'VERIFICATION_FAILED',
      'the passkey assertion was made for another challenge (another statement or action)',
    );
  }
  if (clientData.crossOrigin) {
    throw new AppError('VERIFICATION_FAILED', 'the passkey assertion was made cross-origin');
  }
  const data = parseWebAuthnAuthenticatorData(assertion.authenticatorData);
  const expectedRpIdHash = createHash('sha256').update(key.rpId, 'utf8').digest();
  if (!expectedRpIdHash.equals(data.rpIdHash)) {
    throw new AppError(
      'VERIFICATION_FAILED',
      `the passkey assertion was made for another relying party than ${key.rpId}`,
    );
  }
  if (!data.userPresent) {
    throw new AppError('VERIFICATION_FAILED', 'the passkey assertion lacks user presence');
  }
  // Threat model B3: presence alone (a touch) is not enough to approve; the person must be verified.
  if (!data.userVerified) {
    throw new AppError('VERIFICATION_FAILED', 'the passkey assertion lacks user verification');
  }
  if (
    input.signature.byteLength === 0 ||
    input.signature.byteLength > MAX_WEBAUTHN_SIGNATURE_BYTES
  ) {
    throw new AppError('VERIFICATION_FAILED', 'passkey signature has a wrong length');
  }
  const signed = Buffer.concat([
    assertion.authenticatorData,
    createHash('sha256').update(assertion.clientDataJSON).digest(),
  ]);
  let ok: boolean;
  try {
    ok = verifyWithAlgorithm(key, signed, input.signature);
  } catch (cause) {
    if (cause instanceof AppError) throw cause;
    throw new AppError('VERIFICATION_FAILED', 'passkey signature is malformed', { cause });
  }
  if (!ok) throw new AppError('VERIFICATION_FAILED', 'passkey signature does not verify');
  return { clientData, authenticatorData: data };
}

function verifyWithAlgorithm(
  approverKey: WebAuthnApproverKey,
  message: Uint8Array,
  signature: Uint8Array,
): boolean {
  const key = spkiKey(approverKey.spki);
  switch (approverKey.algorithm) {
    case COSE_ALGORITHMS.ES256:
      assertKeyType(key, 'ec', 'prime256v1', 'ES256');
      return verifyWithKey('sha256', message, { key, dsaEncoding: 'der' }, signature);
    case COSE_ALGORITHMS.EdDSA:
      assertKeyType(key, 'ed25519', undefined, 'EdDSA');
      return verifyWithKey(null, message, key, signature);
    case COSE_ALGORITHMS.RS256:
      assertKeyType(key, 'rsa', undefined, 'RS256');
      if ((key.asymmetricKeyDetails?.modulusLength ?? 0) < 2048) {
        throw new AppError('VERIFICATION_FAILED', 'passkey RSA key is shorter than 2048 bits');
      }
      return verifyWithKey('sha256', message, key, signature);
    default:
      throw new AppError(
        'VERIFICATION_FAILED',
        `passkey algorithm ${String(approverKey.algorithm)} is not supported (ES256, EdDSA, RS256 are)`,
      );
  }
}

function assertKeyType(
  key: KeyObject,
  type: string,
  curve: string | undefined,
  algorithm: string,
): void {
  if (
    key.asymmetricKeyType !== type ||
    (curve !== undefined && key.asymmetricKeyDetails?.namedCurve !== curve)
  ) {
    throw new AppError(
      'VERIFICATION_FAILED',
      `passkey key does not fit its algorithm ${algorithm}`,
    );
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

function spkiKey(spki: Uint8Array): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new AppError('VERIFICATION_FAILED', 'approver key is not a DER SubjectPublicKeyInfo', {
      cause,
    });
  }
}

function p256Key(spki: Uint8Array): KeyObject {
  const key = spkiKey(spki);
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new AppError('VERIFICATION_FAILED', 'approver key is not an ECDSA P-256 key');
  }
  return key;
}
