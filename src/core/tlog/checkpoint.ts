/**
 * C2SP tlog-checkpoint (c2sp.org/tlog-checkpoint): the signed tree head of the log, a signed note
 * whose text is
 *
 * ```
 * <origin>
 * <tree size, decimal>
 * <base64 RFC 6962 root hash>
 * [<extension line> ...]
 * ```
 *
 * Checkpoints from outside are attacker-controlled until `openCheckpoint` has verified them.
 */
import { AppError } from '../errors.ts';
import { decodeBase64Strict, encodeBase64 } from './bytes.ts';
import { HASH_SIZE, MAX_TREE_SIZE } from './merkle.ts';
import { verifySignedNote, type NoteVerifier } from './signed-note.ts';

/** Decimal without leading zeros, except the empty tree's `0` (tlog-checkpoint "Note text"). */
const TREE_SIZE_PATTERN = /^(?:0|[1-9][0-9]{0,19})$/;
/** ASCII control characters, newline included: none may appear inside a line. */
const CONTROL_CHARACTER = /[\u0000-\u001f]/;

/** The contents of a checkpoint. */
export interface Checkpoint {
  /** The log's identity, e.g. `log.example.com` (Sigstore v1: `rekor.sigstore.dev - <tree ID>`). */
  readonly origin: string;
  readonly treeSize: bigint;
  /** RFC 6962 Merkle Tree Hash of the first `treeSize` entries. */
  readonly rootHash: Uint8Array;
  /** Opaque extension lines (NOT RECOMMENDED by the spec; never used by Countersign's own log). */
  readonly extensions: readonly string[];
}

/** The fields to format a checkpoint from. */
export interface CheckpointFields {
  readonly origin: string;
  readonly treeSize: bigint;
  readonly rootHash: Uint8Array;
  readonly extensions?: readonly string[];
}

/** What `openCheckpoint` needs to trust a checkpoint. */
export interface OpenCheckpointOptions {
  /** The origin the checkpoint must carry, exactly. */
  readonly origin: string;
  /** The log's key(s); at least one must have signed the note. */
  readonly verifiers: readonly NoteVerifier[];
}

/**
 * The note text of a checkpoint: `origin\nsize\nbase64(root)\n` plus one line per extension.
 *
 * @throws {@link AppError} INVALID_INPUT when the origin is empty or contains a control
 *   character, the size is outside 0..2^64 - 1, the root is not 32 bytes, or an extension line is
 *   empty or contains a control character.
 */
export function formatCheckpoint(fields: CheckpointFields): string {
  const { origin, treeSize, rootHash, extensions = [] } = fields;
  assertLine(origin, 'origin');
  if (typeof treeSize !== 'bigint' || treeSize < 0n || treeSize > MAX_TREE_SIZE) {
    invalid('checkpoint tree size must be an integer in 0..2^64-1');
  }
  if (!(rootHash instanceof Uint8Array) || rootHash.byteLength !== HASH_SIZE) {
    invalid(`checkpoint root hash must be ${HASH_SIZE} bytes`);
  }
  for (const line of extensions) assertLine(line, 'extension line');
  return [origin, treeSize.toString(), encodeBase64(rootHash), ...extensions]
    .map((line) => `${line}\n`)
    .join('');
}

/**
 * Parses checkpoint note text (without signatures) strictly.
 *
 * @param text - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when the text does not end with a newline, has fewer than
 *   three lines or an empty line, the size has leading zeros or is outside 0..2^64 - 1, or the
 *   root is not canonical base64 of exactly 32 bytes.
 */
export function parseCheckpoint(text: string): Checkpoint {
  if (typeof text !== 'string' || !text.endsWith('\n')) {
    invalid('checkpoint text must end with a newline');
  }
  const lines = text.slice(0, -1).split('\n');
  const [origin, size, root, ...extensions] = lines;
  if (origin === undefined || size === undefined || root === undefined) {
    invalid('checkpoint needs an origin, a tree size and a root hash line');
  }
  for (const line of lines) {
    if (line.length === 0) invalid('checkpoint lines must not be empty');
    if (CONTROL_CHARACTER.test(line)) invalid('checkpoint contains a control character');
  }
  if (!TREE_SIZE_PATTERN.test(size)) invalid('checkpoint tree size is not a canonical decimal');
  const treeSize = BigInt(size);
  if (treeSize > MAX_TREE_SIZE) invalid('checkpoint tree size exceeds 2^64-1');
  const rootHash = decodeBase64Strict(root);
  if (rootHash?.byteLength !== HASH_SIZE) {
    invalid(`checkpoint root hash is not base64 of ${HASH_SIZE} bytes`);
  }
  return { origin, treeSize, rootHash, extensions };
}

/**
 * Verifies a signed checkpoint and returns its contents: the note must carry a valid signature by
 * one of `verifiers` (unknown signatures, such as witness cosignatures, are ignored) and its
 * origin must be `options.origin` exactly.
 *
 * @param note - attacker-controlled.
 * @throws {@link AppError} VERIFICATION_FAILED when the note or the checkpoint is malformed, no
 *   trusted signature verifies, a trusted signature fails, or the origin differs.
 */
export function openCheckpoint(
  note: string | Uint8Array,
  options: OpenCheckpointOptions,
): Checkpoint {
  const { text } = verifySignedNote(note, options.verifiers);
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(text);
  } catch (cause) {
    const reason = cause instanceof AppError ? cause.message : 'malformed checkpoint';
    throw new AppError('VERIFICATION_FAILED', reason, { cause });
  }
  if (checkpoint.origin !== options.origin) {
    throw new AppError(
      'VERIFICATION_FAILED',
      `checkpoint origin ${JSON.stringify(checkpoint.origin)} is not the expected ${JSON.stringify(options.origin)}`,
    );
  }
  return checkpoint;
}

function assertLine(line: string, what: string): void {
  if (typeof line !== 'string' || line.length === 0) invalid(`checkpoint ${what} is empty`);
  if (CONTROL_CHARACTER.test(line)) invalid(`checkpoint ${what} contains a control character`);
  if (!line.isWellFormed()) invalid(`checkpoint ${what} is not valid UTF-8`);
}

function invalid(message: string): never {
  throw new AppError('INVALID_INPUT', message);
}
