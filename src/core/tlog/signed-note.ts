/**
 * C2SP signed-note (c2sp.org/signed-note): text signed by one or more keys, the envelope of
 * checkpoints and witness cosignatures.
 *
 * ```
 * <text, ending in a newline>
 * <blank line>
 * — <key name> <base64(4-byte key ID || signature)>
 * ...
 * ```
 *
 * Key IDs: Ed25519 (type 0x01) `SHA-256(name || 0x0A || 0x01 || 32-byte key)[:4]`; ECDSA P-256
 * (type 0x02, and what Sigstore's Rekor uses, sigstore-interop.md §2.7 and §3.3)
 * `SHA-256(DER SubjectPublicKeyInfo)[:4]` with a DER ECDSA signature over SHA-256(text).
 *
 * Notes arriving from outside (a witness, a bundle, a log being monitored) are attacker-controlled:
 * parsing is strict and bounded, and nothing in a note is trusted before `verifySignedNote`.
 */
import { createHash, createPublicKey, verify as verifyWithKey, type KeyObject } from 'node:crypto';
import { AppError } from '../errors.ts';
import { decodeBase64Strict, encodeBase64, equalBytes, viewBytes } from './bytes.ts';

/** Upper bound on signature lines (the spec requires accepting at least 16). */
export const MAX_NOTE_SIGNATURES = 100;
/**
 * Upper bound on a whole note in UTF-8 bytes: 100 signatures of the largest post-quantum size the
 * spec mentions (~5 kB, ~6.7 kB in base64) fit with room for the text.
 */
export const MAX_NOTE_BYTES = 1024 * 1024;
/** A key ID is a big-endian uint32 (signed-note "Signatures"). */
export const NOTE_KEY_ID_SIZE = 4;

/** C2SP signed-note signature type identifier for Ed25519. */
const SIGNATURE_TYPE_ED25519 = 0x01;
/** Every signature line starts with an em dash (U+2014) and a space. */
const SIGNATURE_LINE_PREFIX = '\u2014 ';
/** ASCII control characters other than newline: forbidden anywhere in a note. */
const FORBIDDEN_CONTROL = /[\u0000-\u0009\u000b-\u001f]/;
/** Key names are non-empty and contain no Unicode space and no plus sign. */
const INVALID_NAME_CHARACTER = /[\p{White_Space}+]/u;

/** One signature line. */
export interface NoteSignature {
  /** The key name. */
  readonly name: string;
  /** The 4-byte key ID. */
  readonly keyId: Uint8Array;
  /** The signature bytes, without the key ID. */
  readonly signature: Uint8Array;
}

/** A parsed, not yet verified, note. */
export interface SignedNote {
  /** The signed text, including its final newline. */
  readonly text: string;
  readonly signatures: readonly NoteSignature[];
}

/** A note whose signature by at least one trusted key verified. */
export interface VerifiedNote extends SignedNote {
  /** The signatures that matched a trusted key and verified. Never empty. */
  readonly verified: readonly NoteSignature[];
}

/** A trusted public key: signature lines with this exact (name, key ID) must verify with it. */
export interface NoteVerifier {
  readonly name: string;
  readonly keyId: Uint8Array;
  /** True when `signature` is a valid signature of `message` (the note text, UTF-8). */
  verify(message: Uint8Array, signature: Uint8Array): boolean;
}

/**
 * A private key, kept behind a port elsewhere (keystore, HSM): `sign` returns the raw signature
 * of `message` (Ed25519: 64 bytes; ECDSA: DER over SHA-256(message)).
 */
export interface NoteSigner {
  readonly name: string;
  readonly keyId: Uint8Array;
  sign(message: Uint8Array): Promise<Uint8Array>;
}

/**
 * Parses a signed note without verifying it. The text is separated from the signatures by the
 * last blank line (signed-note "Format").
 *
 * @param note - attacker-controlled: a string, or UTF-8 bytes.
 * @throws {@link AppError} INVALID_INPUT when the note is too large, not valid UTF-8, contains a
 *   control character other than newline (CR included), lacks the blank line or a final newline,
 *   has no or more than 100 signature lines, or a line is malformed.
 */
export function parseSignedNote(note: string | Uint8Array): SignedNote {
  const text = decodeNote(note);
  assertNoteCharacters(text);
  const split = text.lastIndexOf('\n\n');
  if (split < 0) invalid('note has no blank line before its signatures');
  const body = text.slice(0, split + 1);
  const block = text.slice(split + 2);
  if (block.length === 0) invalid('note has no signature lines');
  if (!block.endsWith('\n')) invalid('note must end with a newline');
  const lines = block.slice(0, -1).split('\n');
  if (lines.length > MAX_NOTE_SIGNATURES) {
    invalid(`note has more than ${MAX_NOTE_SIGNATURES} signature lines`);
  }
  return { text: body, signatures: lines.map(parseSignatureLine) };
}

/**
 * Encodes a note: its text, a blank line, one line per signature.
 *
 * @throws {@link AppError} INVALID_INPUT when the text is not a valid note text (see
 *   `parseSignedNote`), there are no or too many signatures, a key name is invalid, a key ID is
 *   not 4 bytes or a signature is empty.
 */
export function formatSignedNote(note: SignedNote): string {
  assertNoteText(note.text);
  if (note.signatures.length === 0) invalid('a note needs at least one signature');
  if (note.signatures.length > MAX_NOTE_SIGNATURES) {
    invalid(`a note carries at most ${MAX_NOTE_SIGNATURES} signatures`);
  }
  const lines = note.signatures.map(({ name, keyId, signature }) => {
    assertKeyName(name);
    assertKeyId(keyId);
    if (signature.byteLength === 0) invalid(`signature by ${name} is empty`);
    const bytes = new Uint8Array(NOTE_KEY_ID_SIZE + signature.byteLength);
    bytes.set(keyId);
    bytes.set(signature, NOTE_KEY_ID_SIZE);
    return `${SIGNATURE_LINE_PREFIX}${name} ${encodeBase64(bytes)}\n`;
  });
  const encoded = `${note.text}\n${lines.join('')}`;
  if (Buffer.byteLength(encoded, 'utf8') > MAX_NOTE_BYTES) {
    invalid(`note is larger than ${MAX_NOTE_BYTES} bytes`);
  }
  return encoded;
}

/**
 * Parses a note and checks its signatures against trusted keys (signed-note "Signatures"):
 * lines whose (name, key ID) match no verifier are ignored; a line that matches one must verify,
 * or the whole note is rejected; at least one must verify, wherever it appears.
 *
 * @param note - attacker-controlled.
 * @throws {@link AppError} VERIFICATION_FAILED when the note is malformed, a signature by a
 *   trusted key does not verify, or no signature by a trusted key is present.
 * @throws {@link AppError} INVALID_INPUT when a verifier's key ID is not 4 bytes.
 */
export function verifySignedNote(
  note: string | Uint8Array,
  verifiers: readonly NoteVerifier[],
): VerifiedNote {
  for (const verifier of verifiers) assertKeyId(verifier.keyId);
  let parsed: SignedNote;
  try {
    parsed = parseSignedNote(note);
  } catch (cause) {
    const reason = cause instanceof AppError ? cause.message : 'malformed note';
    throw new AppError('VERIFICATION_FAILED', `signed note is malformed: ${reason}`, { cause });
  }
  const message = new TextEncoder().encode(parsed.text);
  const verified: NoteSignature[] = [];
  for (const signature of parsed.signatures) {
    const candidates = verifiers.filter(
      (v) => v.name === signature.name && equalBytes(v.keyId, signature.keyId),
    );
    if (candidates.length === 0) continue;
    if (!candidates.some((v) => safeVerify(v, message, signature.signature))) {
      throw new AppError(
        'VERIFICATION_FAILED',
        `signature by trusted key ${signature.name} (${hex(signature.keyId)}) does not verify`,
      );
    }
    verified.push(signature);
  }
  if (verified.length === 0) {
    const names = verifiers.map((v) => `${v.name} (${hex(v.keyId)})`).join(', ');
    throw new AppError(
      'VERIFICATION_FAILED',
      `note carries no signature by a trusted key: ${names}`,
    );
  }
  return { ...parsed, verified };
}

/**
 * Signs `text` with every signer and encodes the note, signatures in the order of `signers`.
 *
 * @throws {@link AppError} INVALID_INPUT when the text, a key name or key ID is invalid (see
 *   `formatSignedNote`) or a signer returns an empty signature. Errors of the signers (e.g.
 *   KEY_UNAVAILABLE) propagate unchanged.
 */
export async function signNote(text: string, signers: readonly NoteSigner[]): Promise<string> {
  assertNoteText(text);
  if (signers.length === 0) invalid('a note needs at least one signer');
  const message = new TextEncoder().encode(text);
  const signatures = await Promise.all(
    signers.map(async (signer) => ({
      name: signer.name,
      keyId: signer.keyId,
      signature: await signer.sign(message),
    })),
  );
  return formatSignedNote({ text, signatures });
}

/**
 * The key ID of a public key under `name`: Ed25519 per signed-note (name and key type hashed in);
 * ECDSA P-256 as Sigstore and C2SP type 0x02 define it (SHA-256 of the DER SPKI, name not hashed).
 *
 * @param publicKey - a public `KeyObject`, or DER SubjectPublicKeyInfo bytes.
 * @throws {@link AppError} INVALID_INPUT when the name is invalid or the key is neither Ed25519 nor
 *   ECDSA P-256.
 */
export function noteKeyId(name: string, publicKey: KeyObject | Uint8Array): Uint8Array {
  assertKeyName(name);
  return keyIdOf(name, describeKey(publicKey));
}

/**
 * A verifier for signatures by `publicKey` under `name`. Ed25519 checks a pure Ed25519 signature
 * over the text; ECDSA P-256 a DER signature over SHA-256(text).
 *
 * @throws {@link AppError} INVALID_INPUT as `noteKeyId`.
 */
export function createNoteVerifier(name: string, publicKey: KeyObject | Uint8Array): NoteVerifier {
  assertKeyName(name);
  const key = describeKey(publicKey);
  const keyId = keyIdOf(name, key);
  if (key.type === 'ed25519') {
    return {
      name,
      keyId,
      verify: (message, signature) =>
        signature.byteLength === 64 && verifyWithKey(null, message, key.object, signature),
    };
  }
  return {
    name,
    keyId,
    verify: (message, signature) =>
      verifyWithKey('sha256', message, { key: key.object, dsaEncoding: 'der' }, signature),
  };
}

/**
 * A signer for `name` whose private key lives elsewhere: `sign` is called with the note text and
 * returns the raw signature (see `NoteSigner`). The key ID comes from the public key.
 *
 * @throws {@link AppError} INVALID_INPUT as `noteKeyId`.
 */
export function createNoteSigner(
  name: string,
  publicKey: KeyObject | Uint8Array,
  sign: (message: Uint8Array) => Promise<Uint8Array>,
): NoteSigner {
  return { name, keyId: noteKeyId(name, publicKey), sign };
}

type DescribedKey =
  | { readonly type: 'ed25519'; readonly object: KeyObject; readonly raw: Uint8Array }
  | { readonly type: 'ecdsa-p256'; readonly object: KeyObject; readonly spki: Uint8Array };

function describeKey(publicKey: KeyObject | Uint8Array): DescribedKey {
  let object: KeyObject;
  if (publicKey instanceof Uint8Array) {
    try {
      object = createPublicKey({ key: Buffer.from(publicKey), format: 'der', type: 'spki' });
    } catch (cause) {
      throw new AppError('INVALID_INPUT', 'public key is not a DER SubjectPublicKeyInfo', {
        cause,
      });
    }
  } else {
    object = publicKey;
  }
  if (object.type !== 'public') invalid('a note verifier needs a public key');
  const spki = viewBytes(object.export({ format: 'der', type: 'spki' }));
  if (object.asymmetricKeyType === 'ed25519') {
    // RFC 8410: the Ed25519 SPKI is a fixed 12-byte header followed by the 32-byte key.
    return { type: 'ed25519', object, raw: spki.subarray(spki.byteLength - 32) };
  }
  if (
    object.asymmetricKeyType === 'ec' &&
    object.asymmetricKeyDetails?.namedCurve === 'prime256v1'
  ) {
    return { type: 'ecdsa-p256', object, spki };
  }
  return invalid('note keys must be Ed25519 or ECDSA P-256');
}

function keyIdOf(name: string, key: DescribedKey): Uint8Array {
  const hash = createHash('sha256');
  if (key.type === 'ed25519') {
    hash.update(name, 'utf8').update(Uint8Array.of(0x0a, SIGNATURE_TYPE_ED25519)).update(key.raw);
  } else {
    hash.update(key.spki);
  }
  return viewBytes(hash.digest().subarray(0, NOTE_KEY_ID_SIZE));
}

function safeVerify(verifier: NoteVerifier, message: Uint8Array, signature: Uint8Array): boolean {
  try {
    return verifier.verify(message, signature);
  } catch {
    // A malformed signature (e.g. bad DER) is a failed signature, not a crash.
    return false;
  }
}

function decodeNote(note: string | Uint8Array): string {
  if (typeof note === 'string') {
    if (note.length > MAX_NOTE_BYTES || Buffer.byteLength(note, 'utf8') > MAX_NOTE_BYTES) {
      invalid(`note is larger than ${MAX_NOTE_BYTES} bytes`);
    }
    if (!note.isWellFormed()) invalid('note is not valid UTF-8');
    return note;
  }
  if (note.byteLength > MAX_NOTE_BYTES) invalid(`note is larger than ${MAX_NOTE_BYTES} bytes`);
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(note);
  } catch (cause) {
    throw new AppError('INVALID_INPUT', 'note is not valid UTF-8', { cause });
  }
}

function assertNoteCharacters(text: string): void {
  if (text.includes('\r')) invalid('note contains a carriage return');
  if (FORBIDDEN_CONTROL.test(text)) invalid('note contains a control character');
}

function assertNoteText(text: string): void {
  if (typeof text !== 'string' || text.length === 0) invalid('note text is empty');
  if (!text.isWellFormed()) invalid('note text is not valid UTF-8');
  assertNoteCharacters(text);
  if (!text.endsWith('\n')) invalid('note text must end with a newline');
}

function parseSignatureLine(line: string): NoteSignature {
  if (!line.startsWith(SIGNATURE_LINE_PREFIX)) {
    invalid('signature line must start with an em dash and a space');
  }
  const fields = line.slice(SIGNATURE_LINE_PREFIX.length).split(' ');
  if (fields.length !== 2) invalid('signature line must be "— <name> <base64>"');
  const [name = '', encoded = ''] = fields;
  assertKeyName(name);
  const bytes = decodeBase64Strict(encoded);
  if (bytes === undefined) invalid(`signature by ${name} is not canonical base64`);
  if (bytes.byteLength <= NOTE_KEY_ID_SIZE) invalid(`signature by ${name} is too short`);
  return {
    name,
    keyId: bytes.subarray(0, NOTE_KEY_ID_SIZE),
    signature: bytes.subarray(NOTE_KEY_ID_SIZE),
  };
}

function assertKeyName(name: string): void {
  if (typeof name !== 'string' || name.length === 0) invalid('key name is empty');
  if (INVALID_NAME_CHARACTER.test(name)) invalid('key name contains a space or a plus sign');
  if (FORBIDDEN_CONTROL.test(name) || name.includes('\n')) {
    invalid('key name contains a control character');
  }
}

function assertKeyId(keyId: Uint8Array): void {
  if (!(keyId instanceof Uint8Array) || keyId.byteLength !== NOTE_KEY_ID_SIZE) {
    invalid(`key ID must be ${NOTE_KEY_ID_SIZE} bytes`);
  }
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function invalid(message: string): never {
  throw new AppError('INVALID_INPUT', message);
}
