/**
 * The log's identity: its checkpoint origin and the note signer/verifier made from the log key.
 *
 * Origin and key name follow Rekor v1 (`<hostname> - <treeId>`, key name `<hostname>`), the only
 * form that sigstore-js 3.x/4.x and sigstore-go all accept for `hashedrekord/0.0.1` and
 * `dsse/0.0.1` entries (specs/sigstore-interop.md §3.2, G13).
 */
import { createHash, createPublicKey, verify as verifySignature } from 'node:crypto';
import { AppError } from '../core/errors.ts';
import type { KeyHandle } from '../core/ports.ts';
import type { NoteSigner, NoteVerifier } from '../core/tlog/signed-note.ts';

/** The 32-byte log id: SHA-256 of the log key's DER SubjectPublicKeyInfo (interop §2.7). */
export function computeLogId(publicKeySpki: Uint8Array): Uint8Array {
  return new Uint8Array(createHash('sha256').update(publicKeySpki).digest());
}

/**
 * The default origin for a log served at `hostname`: `<hostname> - <treeId>`, with a tree id
 * derived from the log key so that it is stable without extra state and differs between logs.
 */
export function defaultLogOrigin(hostname: string, publicKeySpki: Uint8Array): string {
  const id = computeLogId(publicKeySpki);
  const treeId = Buffer.from(id.subarray(0, 8)).readBigUInt64BE() & 0x7fff_ffff_ffff_ffffn;
  return `${hostname} - ${treeId}`;
}

/** The key name in checkpoint signature lines: the hostname part of a Rekor-v1-style origin. */
export function noteKeyNameForOrigin(origin: string): string {
  const match = /^(\S+) - [0-9]+$/.exec(origin);
  return match?.[1] ?? origin;
}

/** A note signer over the log key (hint = first 4 bytes of the log id, interop §3.3). */
export function createLogNoteSigner(origin: string, logKey: KeyHandle): NoteSigner {
  if (logKey.purpose !== 'log') {
    throw new AppError(
      'KEY_UNAVAILABLE',
      `key ${logKey.id} is a ${logKey.purpose} key, not a log key`,
    );
  }
  return {
    name: noteKeyNameForOrigin(origin),
    keyId: computeLogId(logKey.publicKeySpki).subarray(0, 4),
    sign: (message) => logKey.sign(message),
  };
}

/** A note verifier for checkpoints signed by the log key with the given SPKI. */
export function createLogNoteVerifier(origin: string, publicKeySpki: Uint8Array): NoteVerifier {
  const publicKey = createPublicKey({
    key: Buffer.from(publicKeySpki),
    format: 'der',
    type: 'spki',
  });
  return {
    name: noteKeyNameForOrigin(origin),
    keyId: computeLogId(publicKeySpki).subarray(0, 4),
    verify: (message, signature) => verifySignature('sha256', message, publicKey, signature),
  };
}

/** The log's public identity: origin, log id and key (what `GET /v1/log` and verifiers use). */
export function describeLog(
  origin: string,
  publicKeySpki: Uint8Array,
): { origin: string; logId: Uint8Array; publicKeySpki: Uint8Array } {
  return { origin, logId: computeLogId(publicKeySpki), publicKeySpki };
}
