/**
 * The approval statement: what a person signs when they approve (or reject) a signing request
 * (DESIGN.md §5 "Approval"; threat-model INV-7, D1–D4). It names exactly one request, its
 * product/channel, every subject digest, the kind, the requester, the policy version and an
 * expiry, so an approval cannot be carried over to anything else.
 *
 * The signed form is the RFC 8785 canonical JSON of the statement; `parseApprovalStatement` only
 * accepts bytes that are already canonical, so the verified bytes are the bytes used (INV-9).
 */
import { createHash } from 'node:crypto';

import { canonicalJsonBytes } from '../canonical-json.ts';
import { AppError, type FieldError } from '../errors.ts';

/** The `apiVersion` of every approval statement this code writes and reads. */
export const APPROVAL_STATEMENT_API_VERSION = 'countersign.dev/approval/v1';

/** Statements larger than this are rejected before they are decoded (hostile input). */
export const MAX_APPROVAL_STATEMENT_BYTES = 32 * 1024;
/** At most this many subjects per statement. */
export const MAX_APPROVAL_SUBJECTS = 64;
/** At most this many UTF-16 code units in the free-text comment. */
export const MAX_APPROVAL_COMMENT_LENGTH = 2000;
/** At most this many UTF-16 code units in any other string field. */
export const MAX_APPROVAL_FIELD_LENGTH = 1024;

/** Digest algorithms a subject may name, with the length of their lowercase hex value. */
export const APPROVAL_DIGEST_HEX_LENGTHS = { sha256: 64, sha384: 96, sha512: 128 } as const;
export type ApprovalDigestAlgorithm = keyof typeof APPROVAL_DIGEST_HEX_LENGTHS;

export const APPROVAL_DECISIONS = ['approve', 'reject'] as const;
export type ApprovalDecision = (typeof APPROVAL_DECISIONS)[number];

/** What is being signed (DESIGN.md §5 SigningRequest `kind`). */
export const APPROVAL_SUBJECT_KINDS = ['artifact', 'attestation'] as const;
export type ApprovalSubjectKind = (typeof APPROVAL_SUBJECT_KINDS)[number];

export interface ApprovalDigest {
  readonly algorithm: ApprovalDigestAlgorithm;
  /** Lowercase hex. */
  readonly value: string;
}

export interface ApprovalSubject {
  /** An opaque label (never a path, threat-model C9). */
  readonly name: string;
  readonly digest: ApprovalDigest;
}

/** The workload that asked for the signature (see `Workload`). */
export interface ApprovalRequester {
  readonly issuer: string;
  readonly subject: string;
  readonly identityUri: string;
  readonly repositoryId?: string;
}

/** The statement a person signs. Every field is bound: any change makes a different statement. */
export interface ApprovalStatement {
  readonly apiVersion: typeof APPROVAL_STATEMENT_API_VERSION;
  readonly requestId: string;
  readonly product: string;
  readonly channel: string;
  readonly subjects: readonly ApprovalSubject[];
  readonly kind: ApprovalSubjectKind;
  readonly requester: ApprovalRequester;
  /** The policy version (`PolicyEngine.policyHash`) the request was evaluated under. */
  readonly policyHash: string;
  /**
   * When the statement was issued, RFC 3339 UTC (`YYYY-MM-DDTHH:MM:SS[.fff]Z`). Lets the counter
   * refuse statements issued for longer than the rule's lifetime.
   */
  readonly issuedAt: string;
  /** After this instant the statement no longer counts; same format as `issuedAt`. */
  readonly expiresAt: string;
  readonly decision: ApprovalDecision;
  /** Free text from the approver; may be empty. */
  readonly comment: string;
}

/**
 * The RFC 8785 canonical bytes of `statement`: what the approver signs.
 *
 * @throws {@link AppError} INVALID_INPUT when the statement is malformed (every problem at once in
 *   `errors`), exactly as `parseApprovalStatement` would reject it.
 */
export function encodeApprovalStatement(statement: ApprovalStatement): Uint8Array {
  return canonicalJsonBytes(validateStatement(statement));
}

/**
 * SHA-256 of `encodeApprovalStatement(statement)`: the challenge a WebAuthn assertion over this
 * statement will carry, so the assertion cannot be replayed for another action (threat-model D10).
 *
 * @throws {@link AppError} INVALID_INPUT as `encodeApprovalStatement`.
 */
export function approvalChallenge(statement: ApprovalStatement): Uint8Array {
  return new Uint8Array(createHash('sha256').update(encodeApprovalStatement(statement)).digest());
}

/**
 * Parses signed statement bytes (attacker-controlled). Strict: bounded size, UTF-8, canonical
 * RFC 8785 form only (so duplicate keys and alternative encodings are refused), no unknown
 * fields, exact types and formats.
 *
 * @throws {@link AppError} INVALID_INPUT with every problem in `errors`.
 */
export function parseApprovalStatement(bytes: Uint8Array): ApprovalStatement {
  if (bytes.byteLength > MAX_APPROVAL_STATEMENT_BYTES) {
    throw new AppError(
      'INVALID_INPUT',
      `approval statement is larger than ${String(MAX_APPROVAL_STATEMENT_BYTES)} bytes`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
  } catch (cause) {
    throw new AppError('INVALID_INPUT', 'approval statement is not UTF-8 JSON', { cause });
  }
  const statement = validateStatement(value);
  if (!sameBytes(canonicalJsonBytes(statement), bytes)) {
    throw new AppError('INVALID_INPUT', 'approval statement is not in RFC 8785 canonical form');
  }
  return statement;
}

// The statement is rebuilt field by field, so nothing unvalidated is carried through.
function validateStatement(value: unknown): ApprovalStatement {
  const errors: FieldError[] = [];
  const problem = (path: string, message: string): void => {
    errors.push({ path, message });
  };
  const root = object(value, '', STATEMENT_KEYS, problem);
  if (root === undefined) throw invalid(errors);

  if (root['apiVersion'] !== APPROVAL_STATEMENT_API_VERSION) {
    problem('/apiVersion', `must be "${APPROVAL_STATEMENT_API_VERSION}"`);
  }
  const requestId = text(root['requestId'], '/requestId', problem);
  const product = text(root['product'], '/product', problem);
  const channel = text(root['channel'], '/channel', problem);
  const subjects = subjectList(root['subjects'], problem);
  const kind = oneOf(root['kind'], '/kind', APPROVAL_SUBJECT_KINDS, problem);
  const requester = requesterOf(root['requester'], problem);
  const policyHash = text(root['policyHash'], '/policyHash', problem);
  const issuedAt = instant(root['issuedAt'], '/issuedAt', problem);
  const expiresAt = instant(root['expiresAt'], '/expiresAt', problem);
  const decision = oneOf(root['decision'], '/decision', APPROVAL_DECISIONS, problem);
  const comment = root['comment'];
  if (typeof comment !== 'string') problem('/comment', 'must be a string');
  else if (comment.length > MAX_APPROVAL_COMMENT_LENGTH) {
    problem('/comment', `must be at most ${String(MAX_APPROVAL_COMMENT_LENGTH)} characters`);
  }
  if (issuedAt !== undefined && expiresAt !== undefined && expiresAt <= issuedAt) {
    problem('/expiresAt', 'must be after issuedAt');
  }

  if (
    errors.length > 0 ||
    requestId === undefined ||
    product === undefined ||
    channel === undefined ||
    subjects === undefined ||
    kind === undefined ||
    requester === undefined ||
    policyHash === undefined ||
    issuedAt === undefined ||
    expiresAt === undefined ||
    decision === undefined ||
    typeof comment !== 'string'
  ) {
    throw invalid(errors);
  }
  return {
    apiVersion: APPROVAL_STATEMENT_API_VERSION,
    requestId,
    product,
    channel,
    subjects,
    kind,
    requester,
    policyHash,
    issuedAt: root['issuedAt'] as string,
    expiresAt: root['expiresAt'] as string,
    decision,
    comment,
  };
}

const STATEMENT_KEYS = [
  'apiVersion',
  'requestId',
  'product',
  'channel',
  'subjects',
  'kind',
  'requester',
  'policyHash',
  'issuedAt',
  'expiresAt',
  'decision',
  'comment',
] as const;
const SUBJECT_KEYS = ['name', 'digest'] as const;
const DIGEST_KEYS = ['algorithm', 'value'] as const;
const REQUESTER_KEYS = ['issuer', 'subject', 'identityUri', 'repositoryId'] as const;
const OPTIONAL_KEYS: ReadonlySet<string> = new Set(['repositoryId']);

type Problem = (path: string, message: string) => void;

function object(
  value: unknown,
  path: string,
  keys: readonly string[],
  problem: Problem,
): Record<string, unknown> | undefined {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    problem(path || '/', 'must be an object');
    return undefined;
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!keys.includes(key)) problem(`${path}/${key}`, 'is not a known field');
  }
  for (const key of keys) {
    if (!Object.hasOwn(record, key) && !OPTIONAL_KEYS.has(key)) {
      problem(`${path}/${key}`, 'is required');
    }
  }
  return record;
}

function text(value: unknown, path: string, problem: Problem): string | undefined {
  if (typeof value !== 'string' || value.length === 0) {
    problem(path, 'must be a non-empty string');
    return undefined;
  }
  if (value.length > MAX_APPROVAL_FIELD_LENGTH) {
    problem(path, `must be at most ${String(MAX_APPROVAL_FIELD_LENGTH)} characters`);
    return undefined;
  }
  // Control characters have no place in ids, names or URIs and make log lines ambiguous.
  if (/[\u0000-\u001f\u007f]/u.test(value)) {
    problem(path, 'must not contain control characters');
    return undefined;
  }
  return value;
}

function oneOf<T extends string>(
  value: unknown,
  path: string,
  allowed: readonly T[],
  problem: Problem,
): T | undefined {
  if (typeof value === 'string' && (allowed as readonly string[]).includes(value)) {
    return value as T;
  }
  problem(path, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  return undefined;
}

const RFC3339_UTC = /^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$/u;

/** Milliseconds since the epoch of a strict RFC 3339 UTC timestamp (no leap second, real date). */
function instant(value: unknown, path: string, problem: Problem): number | undefined {
  const match = typeof value === 'string' ? RFC3339_UTC.exec(value) : null;
  if (match === null) {
    problem(path, 'must be an RFC 3339 UTC timestamp like 2026-01-02T03:04:05Z');
    return undefined;
  }
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const fraction = match[7] ?? '';
  const ms = Date.UTC(
    year,
    month - 1,
    day,
    hour,
    minute,
    second,
    Number(fraction.slice(0, 3).padEnd(3, '0')),
  );
  const date = new Date(ms);
  if (
    year < 1970 ||
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    problem(path, 'is not a valid date and time');
    return undefined;
  }
  return ms;
}

function subjectList(value: unknown, problem: Problem): ApprovalSubject[] | undefined {
  if (!Array.isArray(value) || value.length === 0 || value.length > MAX_APPROVAL_SUBJECTS) {
    problem('/subjects', `must be an array of 1 to ${String(MAX_APPROVAL_SUBJECTS)} subjects`);
    return undefined;
  }
  const subjects: ApprovalSubject[] = [];
  const names = new Set<string>();
  let ok = true;
  value.forEach((item: unknown, index) => {
    const path = `/subjects/${String(index)}`;
    const subject = object(item, path, SUBJECT_KEYS, problem);
    if (subject === undefined) {
      ok = false;
      return;
    }
    const name = text(subject['name'], `${path}/name`, problem);
    const digest = digestOf(subject['digest'], `${path}/digest`, problem);
    if (name !== undefined && names.has(name))
      problem(`${path}/name`, 'repeats an earlier subject');
    if (name === undefined || digest === undefined || names.has(name)) {
      ok = false;
      return;
    }
    names.add(name);
    subjects.push({ name, digest });
  });
  return ok ? subjects : undefined;
}

function digestOf(value: unknown, path: string, problem: Problem): ApprovalDigest | undefined {
  const digest = object(value, path, DIGEST_KEYS, problem);
  if (digest === undefined) return undefined;
  const algorithm = oneOf(
    digest['algorithm'],
    `${path}/algorithm`,
    Object.keys(APPROVAL_DIGEST_HEX_LENGTHS) as ApprovalDigestAlgorithm[],
    problem,
  );
  const hexValue = digest['value'];
  if (algorithm === undefined) return undefined;
  const length = APPROVAL_DIGEST_HEX_LENGTHS[algorithm];
  if (
    typeof hexValue !== 'string' ||
    hexValue.length !== length ||
    !/^[0-9a-f]+$/u.test(hexValue)
  ) {
    problem(`${path}/value`, `must be ${String(length)} lowercase hex characters`);
    return undefined;
  }
  return { algorithm, value: hexValue };
}

function requesterOf(value: unknown, problem: Problem): ApprovalRequester | undefined {
  const requester = object(value, '/requester', REQUESTER_KEYS, problem);
  if (requester === undefined) return undefined;
  const issuer = text(requester['issuer'], '/requester/issuer', problem);
  const subject = text(requester['subject'], '/requester/subject', problem);
  const identityUri = text(requester['identityUri'], '/requester/identityUri', problem);
  const hasRepositoryId = Object.hasOwn(requester, 'repositoryId');
  const repositoryId = hasRepositoryId
    ? text(requester['repositoryId'], '/requester/repositoryId', problem)
    : undefined;
  if (
    issuer === undefined ||
    subject === undefined ||
    identityUri === undefined ||
    (hasRepositoryId && repositoryId === undefined)
  ) {
    return undefined;
  }
  return repositoryId === undefined
    ? { issuer, subject, identityUri }
    : { issuer, subject, identityUri, repositoryId };
}

function invalid(errors: readonly FieldError[]): AppError {
  const first = errors[0];
  const summary = first === undefined ? 'is malformed' : `${first.path}: ${first.message}`;
  return new AppError('INVALID_INPUT', `approval statement ${summary}`, { errors });
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i += 1) if (a[i] !== b[i]) return false;
  return true;
}

/** Milliseconds since the epoch of a statement timestamp already accepted by the parser. */
export function approvalInstant(timestamp: string): number {
  const ms = instant(timestamp, '', () => undefined);
  if (ms === undefined) throw new AppError('INVALID_INPUT', 'not an RFC 3339 UTC timestamp');
  return ms;
}
