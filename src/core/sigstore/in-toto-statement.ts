/**
 * in-toto Statement v1 (github.com/in-toto/attestation `spec/v1/statement.md`): what a DSSE
 * attestation says about which artifacts (subjects, by digest).
 *
 * ```json
 * {"_type":"https://in-toto.io/Statement/v1",
 *  "subject":[{"name":"app.tar.gz","digest":{"sha256":"<hex>"}}],
 *  "predicateType":"https://…","predicate":{…}}
 * ```
 *
 * Statements we create are RFC 8785 canonical JSON, so the same statement is always the same
 * bytes. Statements we parse are attacker-controlled; parsing follows the in-toto rules
 * (unrecognised fields are ignored) but is strict about the fields verification relies on.
 */
import { canonicalJsonBytes } from '../canonical-json.ts';
import { AppError } from '../errors.ts';
import { getDigestSize, isHashAlgorithm, type HashAlgorithm } from './hash-algorithm.ts';

/** `_type` of in-toto Statement v1. */
export const IN_TOTO_STATEMENT_V1 = 'https://in-toto.io/Statement/v1';
/** `_type` of the older Statement v0.1, still produced by some builders; read, never written. */
export const IN_TOTO_STATEMENT_V01 = 'https://in-toto.io/Statement/v0.1';
/** Subjects per statement accepted when parsing. */
export const MAX_STATEMENT_SUBJECTS = 4096;

/** One subject: a name and its digests, algorithm → lowercase hex (or another encoding for non-hash algorithms such as `gitCommit`). */
export interface InTotoSubject {
  readonly name: string;
  readonly digest: Readonly<Record<string, string>>;
}

/** A parsed or to-be-created statement. */
export interface InTotoStatement {
  readonly type: string;
  readonly subjects: readonly InTotoSubject[];
  readonly predicateType: string;
  /** Arbitrary JSON, as parsed. */
  readonly predicate: unknown;
}

/**
 * The canonical JSON bytes of a Statement v1.
 *
 * @throws {@link AppError} INVALID_INPUT when there is no subject, a subject has no digest, a
 *   sha256/384/512 digest is not lowercase hex of the right length, the predicate type is empty,
 *   or the predicate is not canonicalisable JSON.
 */
export function createInTotoStatement(statement: {
  readonly subjects: readonly InTotoSubject[];
  readonly predicateType: string;
  readonly predicate: unknown;
}): Uint8Array {
  if (statement.subjects.length === 0) invalid('a statement needs at least one subject');
  statement.subjects.forEach((subject, i) => checkSubject(subject, `/subject/${i}`));
  if (statement.predicateType.length === 0) invalid('predicateType is required');
  return canonicalJsonBytes({
    _type: IN_TOTO_STATEMENT_V1,
    subject: statement.subjects.map((s) => ({ name: s.name, digest: { ...s.digest } })),
    predicateType: statement.predicateType,
    predicate: statement.predicate ?? {},
  });
}

/**
 * Parses a statement from DSSE payload bytes.
 *
 * @param payload - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when the bytes are not UTF-8 JSON, `_type` is not an
 *   in-toto Statement (v1 or v0.1), there is no subject, or a subject or digest is malformed.
 */
export function parseInTotoStatement(payload: Uint8Array): InTotoStatement {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(payload));
  } catch (cause) {
    throw new AppError('INVALID_INPUT', 'in-toto statement is not UTF-8 JSON', { cause });
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalid('in-toto statement must be a JSON object');
  }
  const record = value as Record<string, unknown>;
  const type = record['_type'];
  if (type !== IN_TOTO_STATEMENT_V1 && type !== IN_TOTO_STATEMENT_V01) {
    invalid('in-toto statement _type is not https://in-toto.io/Statement/v1');
  }
  const subjects = record['subject'];
  if (!Array.isArray(subjects) || subjects.length === 0)
    invalid('in-toto statement has no subject');
  if (subjects.length > MAX_STATEMENT_SUBJECTS) invalid('in-toto statement has too many subjects');
  const predicateType = record['predicateType'];
  if (typeof predicateType !== 'string' || predicateType.length === 0) {
    invalid('in-toto statement predicateType must be a non-empty string');
  }
  return {
    type,
    subjects: subjects.map((subject: unknown, i) => readSubject(subject, `/subject/${i}`)),
    predicateType,
    predicate: record['predicate'],
  };
}

/**
 * True when some subject carries `digest` (compared as lowercase hex) under `algorithm`.
 */
export function hasSubjectDigest(
  statement: InTotoStatement,
  algorithm: HashAlgorithm,
  digest: Uint8Array,
): boolean {
  const hex = Buffer.from(digest).toString('hex');
  return statement.subjects.some((subject) => subject.digest[algorithm] === hex);
}

/**
 * Why `statement` is not about exactly one subject, `subject.name` with the one digest
 * `subject.algorithm:subject.digest`; undefined when it is. Countersign signs an attestation about
 * one subject only, so every artifact a signature covers is one that was decided, approved and
 * recorded (threat-model INV-7, INV-9): extra subjects or extra digests would ride along unseen.
 */
export function soleSubjectMismatch(
  statement: InTotoStatement,
  subject: {
    readonly name: string;
    readonly algorithm: HashAlgorithm;
    readonly digest: Uint8Array;
  },
): string | undefined {
  const hex = Buffer.from(subject.digest).toString('hex');
  if (statement.subjects.length !== 1) {
    return `names ${String(statement.subjects.length)} subjects; it must name exactly one, the subject signed`;
  }
  const [only] = statement.subjects;
  if (only === undefined) return 'names no subject';
  const algorithms = Object.keys(only.digest);
  if (algorithms.length !== 1 || only.digest[subject.algorithm] !== hex) {
    return `subject digest must be exactly {"${subject.algorithm}": "${hex}"}, not ${JSON.stringify(only.digest)}`;
  }
  if (only.name !== subject.name) {
    return `subject name must be ${JSON.stringify(subject.name)}, the name signed, not ${JSON.stringify(only.name)}`;
  }
  return undefined;
}

function readSubject(value: unknown, pointer: string): InTotoSubject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalid(`${pointer} must be an object`);
  }
  const record = value as Record<string, unknown>;
  const name = record['name'] ?? '';
  if (typeof name !== 'string') invalid(`${pointer}/name must be a string`);
  const digest = record['digest'];
  if (typeof digest !== 'object' || digest === null || Array.isArray(digest)) {
    invalid(`${pointer}/digest must be an object`);
  }
  const entries = Object.entries(digest as Record<string, unknown>);
  for (const [algorithm, hex] of entries) {
    if (typeof hex !== 'string') invalid(`${pointer}/digest/${algorithm} must be a string`);
  }
  const subject = { name, digest: Object.fromEntries(entries) as Record<string, string> };
  checkSubject(subject, pointer);
  return subject;
}

function checkSubject(subject: InTotoSubject, pointer: string): void {
  const entries = Object.entries(subject.digest);
  if (entries.length === 0) invalid(`${pointer}/digest must name at least one digest`);
  for (const [algorithm, value] of entries) {
    if (!isHashAlgorithm(algorithm)) continue;
    const size = getDigestSize(algorithm);
    if (!new RegExp(`^[0-9a-f]{${size * 2}}$`).test(value)) {
      invalid(`${pointer}/digest/${algorithm} must be ${size * 2} lowercase hex digits`);
    }
  }
}

function invalid(message: string): never {
  throw new AppError('INVALID_INPUT', message);
}
