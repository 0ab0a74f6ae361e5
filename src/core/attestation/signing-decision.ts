/**
 * The decision attestation (DESIGN.md §6 step 8): an in-toto Statement v1 whose predicate says why
 * the service signed an artifact: who asked, under which policy version and governance, with which
 * evidence, approvals (each with the approver's own signature over their approval statement),
 * exception and change window, and where the signature sits in the transparency log.
 *
 * ```json
 * {"_type":"https://in-toto.io/Statement/v1",
 *  "subject":[{"name":"app.tgz","digest":{"sha256":"<hex>"}}],
 *  "predicateType":"https://countersign.dev/attestation/signing-decision/v1",
 *  "predicate":{"service":"https://countersign.example.com","signing":{…},"requester":{…},
 *               "decision":{…},"evidence":[…],"approvals":{…},"exception":null,"changeWindow":{…}}}
 * ```
 *
 * Byte strings are standard padded base64, as in Sigstore bundles; 64-bit integers (log indexes)
 * are decimal strings. The statement is RFC 8785 canonical JSON. `parseSigningDecisionStatement`
 * reads attacker-controlled bytes (a bundle a consumer downloaded): it is bounded, accepts only the
 * canonical form, refuses unknown fields and checks every type, so what it returns is exactly what
 * the service signed.
 */
import { canonicalJsonBytes } from '../canonical-json.ts';
import { AppError } from '../errors.ts';
import type { Workload } from '../governance/workload.ts';
import { getDigestSize, isHashAlgorithm, type HashAlgorithm } from '../sigstore/hash-algorithm.ts';
import { IN_TOTO_STATEMENT_V1 } from '../sigstore/in-toto-statement.ts';
import { decodeBase64Strict, encodeBase64, equalBytes } from '../tlog/bytes.ts';
import { approvalInstant, MAX_APPROVAL_STATEMENT_BYTES } from '../approvals/approval-statement.ts';

/** The predicate type of the decision attestation. */
export const SIGNING_DECISION_PREDICATE_TYPE =
  'https://countersign.dev/attestation/signing-decision/v1';

/**
 * The path, under the service's public URL, that names the service as the signer of decision
 * attestations: the leaf certificate's SAN is `<publicUrl>/attestation/signing-decision` and its
 * OIDC issuer extension is `<publicUrl>`.
 */
export const SIGNING_DECISION_IDENTITY_PATH = '/attestation/signing-decision';

/** The service URL without trailing slashes, as the trusted root's log `baseUrl` carries it. */
export function normalizeServiceUrl(serviceUrl: string): string {
  return serviceUrl.replace(/\/+$/u, '');
}

/** The certificate identity (SAN) of the decision attestations of the service at `serviceUrl`. */
export function signingDecisionIdentity(serviceUrl: string): string {
  return `${normalizeServiceUrl(serviceUrl)}${SIGNING_DECISION_IDENTITY_PATH}`;
}

/** Statements larger than this are refused before they are decoded (hostile input). */
export const MAX_SIGNING_DECISION_STATEMENT_BYTES = 2 * 1024 * 1024;
/** At most this many approvers in one attestation. */
export const MAX_SIGNING_DECISION_APPROVERS = 32;
/** At most this many entries in each other list (evidence, reasons, policies, waivers). */
export const MAX_SIGNING_DECISION_LIST = 256;
/** At most this many UTF-16 code units in an id, name, URI or hash. */
export const MAX_SIGNING_DECISION_FIELD_LENGTH = 1024;
/**
 * At most this many UTF-16 code units in free text (reasons, the exception's reason), which may be
 * empty and span lines: it is data to display escaped, never an identifier.
 */
export const MAX_SIGNING_DECISION_TEXT_LENGTH = 4096;

/** Bounds on the decoded byte strings of an approver entry. */
const MAX_PUBLIC_KEY_BYTES = 2048;
const MAX_SIGNATURE_BYTES = 1024;
const MAX_AUTHENTICATOR_DATA_BYTES = 1024;
const MAX_CLIENT_DATA_JSON_BYTES = 4096;
/** A log index is a non-negative int64 (Sigstore bundles encode it as a decimal string). */
const MAX_LOG_INDEX = (1n << 63n) - 1n;

/** What was signed. */
export type SigningDecisionKind = 'artifact' | 'attestation';
/** How an approver signed their approval statement (see `ApproverKey`). */
export type SigningDecisionCredentialKind = 'ecdsa-p256' | 'webauthn';

/** The signature this decision allowed. */
export interface SigningDecisionSigning {
  /** The signing record's id. */
  readonly id: string;
  readonly product: string;
  readonly channel: string;
  readonly kind: SigningDecisionKind;
  /** The index of the signature's own log entry, decimal. */
  readonly logIndex: string;
}

/** The workload that asked for the signature (`Workload` fields a consumer can check). */
export interface SigningDecisionRequester {
  readonly issuer: string;
  readonly subject: string;
  readonly identityUri: string;
  readonly repository?: string;
  readonly repositoryId?: string;
  readonly ownerId?: string;
  readonly ref?: string;
  readonly workflow?: string;
  readonly commitSha?: string;
  readonly runId?: string;
  readonly environment?: string;
  readonly event?: string;
}

/** The policy decision, as the `signing.decided` log event records it. */
export interface SigningDecisionOutcome {
  readonly policyHash: string;
  readonly governanceVersion: number;
  /** The index of the `signing.decided` event, decimal. */
  readonly decisionLogIndex: string;
  /** RFC 3339 UTC. */
  readonly decidedAt: string;
  readonly determiningPolicies: readonly string[];
  readonly reasons: readonly string[];
}

/** One piece of evidence the decision relied on, by digest. */
export interface SigningDecisionEvidence {
  readonly kind: string;
  readonly digest: { readonly sha256: string };
}

/** The credential an approver signed with, as registered. */
export interface SigningDecisionCredential {
  readonly id: string;
  readonly kind: SigningDecisionCredentialKind;
  /** COSE algorithm: -7 ES256, -8 EdDSA, -257 RS256. */
  readonly algorithm: number;
  /** Base64 DER SubjectPublicKeyInfo. */
  readonly publicKey: string;
  /** WebAuthn relying party id (webauthn only). */
  readonly rpId?: string;
}

/** One approval that counted, with everything needed to re-verify it offline. */
export interface SigningDecisionApprover {
  readonly userId: string;
  readonly group: string;
  readonly credential: SigningDecisionCredential;
  /** Base64 canonical approval statement bytes (`encodeApprovalStatement`). */
  readonly statement: string;
  /** Base64 signature: DER ECDSA over the statement, or the WebAuthn assertion signature. */
  readonly signature: string;
  /** Base64 WebAuthn assertion parts (webauthn credentials only). */
  readonly webauthn?: {
    readonly authenticatorData: string;
    readonly clientDataJSON: string;
  };
}

/** The approvals the signing used (none: `requestId` null, `approvers` empty). */
export interface SigningDecisionApprovals {
  readonly requestId: string | null;
  readonly required: number;
  readonly group: string | null;
  readonly approvers: readonly SigningDecisionApprover[];
}

/** The exception (break-glass) the signing used. */
export interface SigningDecisionException {
  readonly id: string;
  readonly waives: readonly string[];
  readonly reason: string;
  readonly requestedBy: string;
  readonly approvedBy: readonly string[];
  /** RFC 3339 UTC. */
  readonly notAfter: string;
  readonly maxUses: number;
  /** Which use of the exception this signing was (1-based). */
  readonly use: number;
}

/** The change window at signing time. */
export interface SigningDecisionChangeWindow {
  readonly open: boolean;
  /** RFC 3339 UTC. */
  readonly evaluatedAt: string;
}

/** The predicate of `SIGNING_DECISION_PREDICATE_TYPE`. */
export interface SigningDecisionPredicate {
  /** The service's public URL. */
  readonly service: string;
  readonly signing: SigningDecisionSigning;
  readonly requester: SigningDecisionRequester;
  readonly decision: SigningDecisionOutcome;
  readonly evidence: readonly SigningDecisionEvidence[];
  readonly approvals: SigningDecisionApprovals;
  readonly exception: SigningDecisionException | null;
  readonly changeWindow: SigningDecisionChangeWindow;
}

/** The artifact the attestation is about. */
export interface SigningDecisionSubject {
  readonly name: string;
  readonly digest: { readonly algorithm: HashAlgorithm; readonly value: string };
}

/** A parsed decision attestation statement. */
export interface SigningDecisionStatement {
  readonly subject: SigningDecisionSubject;
  readonly predicate: SigningDecisionPredicate;
}

/**
 * The canonical in-toto Statement v1 bytes of a decision attestation (the DSSE payload).
 *
 * @throws {@link AppError} INVALID_INPUT when the subject or predicate is malformed, exactly as
 *   `parseSigningDecisionStatement` would refuse it (the service never signs what it cannot read).
 */
export function createSigningDecisionStatement(input: SigningDecisionStatement): Uint8Array {
  const value = {
    _type: IN_TOTO_STATEMENT_V1,
    subject: [
      {
        name: input.subject.name,
        digest: { [input.subject.digest.algorithm]: input.subject.digest.value },
      },
    ],
    predicateType: SIGNING_DECISION_PREDICATE_TYPE,
    predicate: input.predicate,
  };
  readStatement(value);
  const bytes = canonicalJsonBytes(value);
  if (bytes.byteLength > MAX_SIGNING_DECISION_STATEMENT_BYTES) {
    throw new AppError(
      'INVALID_INPUT',
      `signing decision statement is larger than ${String(MAX_SIGNING_DECISION_STATEMENT_BYTES)} bytes`,
    );
  }
  return bytes;
}

/**
 * Parses decision attestation statement bytes (attacker-controlled: the DSSE payload of a bundle).
 * Strict: bounded size, UTF-8, canonical RFC 8785 form only, exactly one subject with one digest,
 * no unknown fields anywhere, exact types, bounded strings and lists, strict base64.
 *
 * @throws {@link AppError} INVALID_INPUT naming the first problem (a JSON pointer in `errors`).
 */
export function parseSigningDecisionStatement(bytes: Uint8Array): SigningDecisionStatement {
  if (bytes.byteLength > MAX_SIGNING_DECISION_STATEMENT_BYTES) {
    throw new AppError(
      'INVALID_INPUT',
      `signing decision statement is larger than ${String(MAX_SIGNING_DECISION_STATEMENT_BYTES)} bytes`,
    );
  }
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes));
  } catch (cause) {
    throw new AppError('INVALID_INPUT', 'signing decision statement is not UTF-8 JSON', { cause });
  }
  const statement = readStatement(value);
  // Canonical form only: duplicate keys, whitespace and other encodings of the same value refused.
  if (!equalBytes(canonicalJsonBytes(value), bytes)) {
    throw new AppError(
      'INVALID_INPUT',
      'signing decision statement is not in RFC 8785 canonical form',
    );
  }
  return statement;
}

/** The requester fields of a verified workload (the rest is not for consumers to check). */
export function toSigningDecisionRequester(workload: Workload): SigningDecisionRequester {
  const optional = [
    'repository',
    'repositoryId',
    'ownerId',
    'ref',
    'workflow',
    'commitSha',
    'runId',
    'environment',
    'event',
  ] as const;
  const requester: Record<string, string> = {
    issuer: workload.issuer,
    subject: workload.subject,
    identityUri: workload.identityUri,
  };
  for (const key of optional) {
    const value = workload[key];
    if (value !== undefined && value !== '') requester[key] = value;
  }
  return requester as unknown as SigningDecisionRequester;
}

/**
 * An approver entry from an approval as stored: bytes become base64.
 *
 * @example createSigningDecisionApprover({ userId: 'alice', group: 'release-managers',
 *   credential: { id, kind: 'ecdsa-p256', algorithm: -7, publicKeySpki, rpId: null },
 *   statementBytes, signature })
 */
export function createSigningDecisionApprover(approval: {
  readonly userId: string;
  readonly group: string;
  readonly credential: {
    readonly id: string;
    readonly kind: SigningDecisionCredentialKind;
    readonly algorithm: number;
    readonly publicKeySpki: Uint8Array;
    readonly rpId?: string | null;
  };
  readonly statementBytes: Uint8Array;
  readonly signature: Uint8Array;
  readonly webauthn?: {
    readonly authenticatorData: Uint8Array;
    readonly clientDataJSON: Uint8Array;
  };
}): SigningDecisionApprover {
  const { credential } = approval;
  const rpId = credential.rpId ?? undefined;
  return {
    userId: approval.userId,
    group: approval.group,
    credential: {
      id: credential.id,
      kind: credential.kind,
      algorithm: credential.algorithm,
      publicKey: encodeBase64(credential.publicKeySpki),
      ...(rpId === undefined ? {} : { rpId }),
    },
    statement: encodeBase64(approval.statementBytes),
    signature: encodeBase64(approval.signature),
    ...(approval.webauthn === undefined
      ? {}
      : {
          webauthn: {
            authenticatorData: encodeBase64(approval.webauthn.authenticatorData),
            clientDataJSON: encodeBase64(approval.webauthn.clientDataJSON),
          },
        }),
  };
}

// ---------------------------------------------------------------------------------------------
// Reading. Every value is rebuilt field by field, so nothing unvalidated is carried through.

function readStatement(value: unknown): SigningDecisionStatement {
  const root = object(value, '', ['_type', 'subject', 'predicateType', 'predicate']);
  if (root['_type'] !== IN_TOTO_STATEMENT_V1) fail('/_type', `must be "${IN_TOTO_STATEMENT_V1}"`);
  if (root['predicateType'] !== SIGNING_DECISION_PREDICATE_TYPE) {
    fail('/predicateType', `must be "${SIGNING_DECISION_PREDICATE_TYPE}"`);
  }
  const subjects = list(root['subject'], '/subject', 1, 1);
  return {
    subject: readSubject(subjects[0], '/subject/0'),
    predicate: readPredicate(root['predicate'], '/predicate'),
  };
}

function readSubject(value: unknown, path: string): SigningDecisionSubject {
  const subject = object(value, path, ['name', 'digest']);
  const name = text(subject['name'], `${path}/name`);
  const digest = subject['digest'];
  if (typeof digest !== 'object' || digest === null || Array.isArray(digest)) {
    fail(`${path}/digest`, 'must be an object');
  }
  const entries: [string, unknown][] = Object.entries(digest as Record<string, unknown>);
  const [entry] = entries;
  if (entry === undefined || entries.length !== 1) {
    fail(`${path}/digest`, 'must name exactly one digest');
  }
  const [algorithm, hex] = entry;
  if (!isHashAlgorithm(algorithm)) {
    fail(`${path}/digest/${algorithm}`, 'must be sha256, sha384 or sha512');
  }
  return {
    name,
    digest: {
      algorithm,
      value: lowerHex(hex, getDigestSize(algorithm), `${path}/digest/${algorithm}`),
    },
  };
}

function readPredicate(value: unknown, path: string): SigningDecisionPredicate {
  const predicate = object(value, path, [
    'service',
    'signing',
    'requester',
    'decision',
    'evidence',
    'approvals',
    'exception',
    'changeWindow',
  ]);
  return {
    service: text(predicate['service'], `${path}/service`),
    signing: readSigning(predicate['signing'], `${path}/signing`),
    requester: readRequester(predicate['requester'], `${path}/requester`),
    decision: readDecision(predicate['decision'], `${path}/decision`),
    evidence: list(predicate['evidence'], `${path}/evidence`, 0, MAX_SIGNING_DECISION_LIST).map(
      (item, i) => readEvidence(item, `${path}/evidence/${String(i)}`),
    ),
    approvals: readApprovals(predicate['approvals'], `${path}/approvals`),
    exception:
      predicate['exception'] === null
        ? null
        : readException(predicate['exception'], `${path}/exception`),
    changeWindow: readChangeWindow(predicate['changeWindow'], `${path}/changeWindow`),
  };
}

const SIGNING_KINDS: readonly SigningDecisionKind[] = ['artifact', 'attestation'];

function readSigning(value: unknown, path: string): SigningDecisionSigning {
  const signing = object(value, path, ['id', 'product', 'channel', 'kind', 'logIndex']);
  return {
    id: text(signing['id'], `${path}/id`),
    product: text(signing['product'], `${path}/product`),
    channel: text(signing['channel'], `${path}/channel`),
    kind: oneOf(signing['kind'], `${path}/kind`, SIGNING_KINDS),
    logIndex: logIndex(signing['logIndex'], `${path}/logIndex`),
  };
}

const REQUESTER_OPTIONAL = [
  'repository',
  'repositoryId',
  'ownerId',
  'ref',
  'workflow',
  'commitSha',
  'runId',
  'environment',
  'event',
] as const;

function readRequester(value: unknown, path: string): SigningDecisionRequester {
  const requester = object(
    value,
    path,
    ['issuer', 'subject', 'identityUri', ...REQUESTER_OPTIONAL],
    REQUESTER_OPTIONAL,
  );
  const result: Record<string, string> = {
    issuer: text(requester['issuer'], `${path}/issuer`),
    subject: text(requester['subject'], `${path}/subject`),
    identityUri: text(requester['identityUri'], `${path}/identityUri`),
  };
  for (const key of REQUESTER_OPTIONAL) {
    if (Object.hasOwn(requester, key)) result[key] = text(requester[key], `${path}/${key}`);
  }
  return result as unknown as SigningDecisionRequester;
}

function readDecision(value: unknown, path: string): SigningDecisionOutcome {
  const decision = object(value, path, [
    'policyHash',
    'governanceVersion',
    'decisionLogIndex',
    'decidedAt',
    'determiningPolicies',
    'reasons',
  ]);
  return {
    policyHash: text(decision['policyHash'], `${path}/policyHash`),
    governanceVersion: integer(decision['governanceVersion'], `${path}/governanceVersion`, 0),
    decisionLogIndex: logIndex(decision['decisionLogIndex'], `${path}/decisionLogIndex`),
    decidedAt: instant(decision['decidedAt'], `${path}/decidedAt`),
    determiningPolicies: list(
      decision['determiningPolicies'],
      `${path}/determiningPolicies`,
      0,
      MAX_SIGNING_DECISION_LIST,
    ).map((item, i) => text(item, `${path}/determiningPolicies/${String(i)}`)),
    reasons: list(decision['reasons'], `${path}/reasons`, 0, MAX_SIGNING_DECISION_LIST).map(
      (item, i) => freeText(item, `${path}/reasons/${String(i)}`),
    ),
  };
}

function readEvidence(value: unknown, path: string): SigningDecisionEvidence {
  const evidence = object(value, path, ['kind', 'digest']);
  const digest = object(evidence['digest'], `${path}/digest`, ['sha256']);
  return {
    kind: text(evidence['kind'], `${path}/kind`),
    digest: { sha256: lowerHex(digest['sha256'], 32, `${path}/digest/sha256`) },
  };
}

function readApprovals(value: unknown, path: string): SigningDecisionApprovals {
  const approvals = object(value, path, ['requestId', 'required', 'group', 'approvers']);
  return {
    requestId: nullable(approvals['requestId'], `${path}/requestId`),
    required: integer(approvals['required'], `${path}/required`, 0),
    group: nullable(approvals['group'], `${path}/group`),
    approvers: list(
      approvals['approvers'],
      `${path}/approvers`,
      0,
      MAX_SIGNING_DECISION_APPROVERS,
    ).map((item, i) => readApprover(item, `${path}/approvers/${String(i)}`)),
  };
}

const CREDENTIAL_KINDS: readonly SigningDecisionCredentialKind[] = ['ecdsa-p256', 'webauthn'];

function readApprover(value: unknown, path: string): SigningDecisionApprover {
  const approver = object(
    value,
    path,
    ['userId', 'group', 'credential', 'statement', 'signature', 'webauthn'],
    ['webauthn'],
  );
  const credentialPath = `${path}/credential`;
  const credential = object(
    approver['credential'],
    credentialPath,
    ['id', 'kind', 'algorithm', 'publicKey', 'rpId'],
    ['rpId'],
  );
  const kind = oneOf(credential['kind'], `${credentialPath}/kind`, CREDENTIAL_KINDS);
  const hasRpId = Object.hasOwn(credential, 'rpId');
  const hasWebauthn = Object.hasOwn(approver, 'webauthn');
  // A WebAuthn assertion is bound to its relying party; a plain key has neither.
  if (kind === 'webauthn' && !hasRpId) fail(`${credentialPath}/rpId`, 'is required for webauthn');
  if (kind === 'webauthn' && !hasWebauthn) fail(`${path}/webauthn`, 'is required for webauthn');
  if (kind !== 'webauthn' && hasRpId) fail(`${credentialPath}/rpId`, 'is only for webauthn');
  if (kind !== 'webauthn' && hasWebauthn) fail(`${path}/webauthn`, 'is only for webauthn');
  const algorithm = credential['algorithm'];
  if (typeof algorithm !== 'number' || !Number.isSafeInteger(algorithm)) {
    fail(`${credentialPath}/algorithm`, 'must be an integer (a COSE algorithm)');
  }
  const result = {
    userId: text(approver['userId'], `${path}/userId`),
    group: text(approver['group'], `${path}/group`),
    credential: {
      id: text(credential['id'], `${credentialPath}/id`),
      kind,
      algorithm,
      publicKey: base64(
        credential['publicKey'],
        `${credentialPath}/publicKey`,
        MAX_PUBLIC_KEY_BYTES,
      ),
      ...(hasRpId ? { rpId: text(credential['rpId'], `${credentialPath}/rpId`) } : {}),
    },
    statement: base64(approver['statement'], `${path}/statement`, MAX_APPROVAL_STATEMENT_BYTES),
    signature: base64(approver['signature'], `${path}/signature`, MAX_SIGNATURE_BYTES),
  };
  if (!hasWebauthn) return result;
  const webauthnPath = `${path}/webauthn`;
  const webauthn = object(approver['webauthn'], webauthnPath, [
    'authenticatorData',
    'clientDataJSON',
  ]);
  return {
    ...result,
    webauthn: {
      authenticatorData: base64(
        webauthn['authenticatorData'],
        `${webauthnPath}/authenticatorData`,
        MAX_AUTHENTICATOR_DATA_BYTES,
      ),
      clientDataJSON: base64(
        webauthn['clientDataJSON'],
        `${webauthnPath}/clientDataJSON`,
        MAX_CLIENT_DATA_JSON_BYTES,
      ),
    },
  };
}

function readException(value: unknown, path: string): SigningDecisionException {
  const exception = object(value, path, [
    'id',
    'waives',
    'reason',
    'requestedBy',
    'approvedBy',
    'notAfter',
    'maxUses',
    'use',
  ]);
  const maxUses = integer(exception['maxUses'], `${path}/maxUses`, 1);
  const use = integer(exception['use'], `${path}/use`, 1);
  if (use > maxUses) fail(`${path}/use`, 'must not exceed maxUses');
  return {
    id: text(exception['id'], `${path}/id`),
    waives: list(exception['waives'], `${path}/waives`, 0, MAX_SIGNING_DECISION_LIST).map(
      (item, i) => text(item, `${path}/waives/${String(i)}`),
    ),
    reason: freeText(exception['reason'], `${path}/reason`),
    requestedBy: text(exception['requestedBy'], `${path}/requestedBy`),
    approvedBy: list(
      exception['approvedBy'],
      `${path}/approvedBy`,
      0,
      MAX_SIGNING_DECISION_APPROVERS,
    ).map((item, i) => text(item, `${path}/approvedBy/${String(i)}`)),
    notAfter: instant(exception['notAfter'], `${path}/notAfter`),
    maxUses,
    use,
  };
}

function readChangeWindow(value: unknown, path: string): SigningDecisionChangeWindow {
  const window = object(value, path, ['open', 'evaluatedAt']);
  const open = window['open'];
  if (typeof open !== 'boolean') fail(`${path}/open`, 'must be true or false');
  return { open, evaluatedAt: instant(window['evaluatedAt'], `${path}/evaluatedAt`) };
}

// ---------------------------------------------------------------------------------------------
// Primitive readers: each throws INVALID_INPUT naming the path.

function object(
  value: unknown,
  path: string,
  keys: readonly string[],
  optional: readonly string[] = [],
): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    fail(path, 'must be an object');
  }
  const record = value as Record<string, unknown>;
  for (const key of Object.keys(record)) {
    if (!keys.includes(key)) fail(`${path}/${key}`, 'is not a known field');
  }
  for (const key of keys) {
    if (!Object.hasOwn(record, key) && !optional.includes(key))
      fail(`${path}/${key}`, 'is required');
  }
  return record;
}

function list(value: unknown, path: string, min: number, max: number): readonly unknown[] {
  if (!Array.isArray(value) || value.length < min || value.length > max) {
    fail(path, `must be an array of ${String(min)} to ${String(max)} items`);
  }
  return value as readonly unknown[];
}

function text(value: unknown, path: string): string {
  const max = MAX_SIGNING_DECISION_FIELD_LENGTH;
  if (typeof value !== 'string' || value.length === 0) fail(path, 'must be a non-empty string');
  if (value.length > max) fail(path, `must be at most ${String(max)} characters`);
  // Control and bidirectional-override characters make terminal output and log lines ambiguous
  // (a forged "verified" line, a user id displayed as another).
  if (/[\u0000-\u001f\u007f-\u009f\u2028-\u202e\u2066-\u2069]/u.test(value))
    fail(path, 'must not contain control characters');
  if (!value.isWellFormed()) fail(path, 'must not contain a lone surrogate');
  return value;
}

function freeText(value: unknown, path: string): string {
  if (typeof value !== 'string') fail(path, 'must be a string');
  if (value.length > MAX_SIGNING_DECISION_TEXT_LENGTH) {
    fail(path, `must be at most ${String(MAX_SIGNING_DECISION_TEXT_LENGTH)} characters`);
  }
  if (!value.isWellFormed()) fail(path, 'must not contain a lone surrogate');
  return value;
}

function nullable(value: unknown, path: string): string | null {
  return value === null ? null : text(value, path);
}

function oneOf<T extends string>(value: unknown, path: string, allowed: readonly T[]): T {
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    fail(path, `must be one of ${allowed.map((a) => `"${a}"`).join(', ')}`);
  }
  return value as T;
}

function integer(value: unknown, path: string, min: number): number {
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < min) {
    fail(path, `must be an integer of at least ${String(min)}`);
  }
  return value;
}

function logIndex(value: unknown, path: string): string {
  if (typeof value !== 'string' || !/^(?:0|[1-9][0-9]{0,18})$/u.test(value)) {
    fail(path, 'must be a decimal log index');
  }
  if (BigInt(value) > MAX_LOG_INDEX) fail(path, 'is past the largest log index');
  return value;
}

function instant(value: unknown, path: string): string {
  if (typeof value !== 'string') fail(path, 'must be an RFC 3339 UTC timestamp');
  try {
    approvalInstant(value);
  } catch {
    fail(path, 'must be an RFC 3339 UTC timestamp like 2026-01-02T03:04:05Z');
  }
  return value;
}

function lowerHex(value: unknown, bytes: number, path: string): string {
  if (typeof value !== 'string' || value.length !== bytes * 2 || !/^[0-9a-f]+$/u.test(value)) {
    fail(path, `must be ${String(bytes * 2)} lowercase hex characters`);
  }
  return value;
}

function base64(value: unknown, path: string, maxBytes: number): string {
  const bytes = typeof value === 'string' ? decodeBase64Strict(value) : undefined;
  if (bytes === undefined || bytes.byteLength === 0)
    fail(path, 'must be non-empty standard base64');
  if (bytes.byteLength > maxBytes) fail(path, `must decode to at most ${String(maxBytes)} bytes`);
  return value as string;
}

function fail(path: string, message: string): never {
  throw new AppError('INVALID_INPUT', `signing decision statement ${path || '/'} ${message}`, {
    errors: [{ path: path || '/', message }],
  });
}
