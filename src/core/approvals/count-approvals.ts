/**
 * Counts the approvals of one signing request against a channel's approval rule (DESIGN.md §6
 * step 4–5; threat-model INV-7, D1–D8). Pure: the caller loads approvals, people and groups from
 * the same snapshot it signs on (INV-8) and passes `now` from its clock.
 *
 * Trusted input: `request`, `rule`, `people`, and the binding of `approverUserId` ↔ `credentialId`
 * ↔ `approverKey` (storage resolves the key from the credential registered to that user, B5).
 * Attacker-controlled input: each approval's `statementBytes` and `signature`.
 */
import { AppError } from '../errors.ts';
import {
  approvalInstant,
  parseApprovalStatement,
  type ApprovalRequester,
  type ApprovalStatement,
  type ApprovalSubject,
  type ApprovalSubjectKind,
} from './approval-statement.ts';
import {
  verifyApprovalSignature,
  type ApproverKey,
  type WebAuthnAssertion,
} from './verify-approval.ts';

/** The request being approved, as the server recorded it. */
export interface ApprovalRequest {
  readonly requestId: string;
  readonly product: string;
  readonly channel: string;
  readonly subjects: readonly ApprovalSubject[];
  readonly kind: ApprovalSubjectKind;
  readonly requester: ApprovalRequester;
  /** The policy version the request is evaluated under now. */
  readonly policyHash: string;
  /** Logins or emails of the people who started the requesting job (`Workload.actors`). */
  readonly startedBy?: readonly string[];
  /** User ids or emails of the commit authors named in the request's evidence. */
  readonly commitAuthors?: readonly string[];
  /** User ids or emails of whoever merged the change, from the evidence. */
  readonly mergers?: readonly string[];
}

/** M distinct people of `group`, and optionally K more of `secondGroup`. */
export interface ApprovalCountRule {
  readonly required: number;
  readonly group: string;
  readonly secondGroup?: { readonly name: string; readonly required: number };
  /** The longest an approval statement may be valid for (expiresAt − issuedAt). */
  readonly lifetimeSeconds: number;
}

/** One stored approval. */
export interface SubmittedApproval {
  readonly approverUserId: string;
  readonly credentialId: string;
  readonly statementBytes: Uint8Array;
  readonly signature: Uint8Array;
  readonly approverKey: ApproverKey;
  /** The rest of a passkey assertion; required when `approverKey.kind` is `webauthn`. */
  readonly webauthn?: WebAuthnAssertion;
}

/** Humans and groups as of evaluation time (governance `User` / `Group` fit). */
export interface ApprovalPeople {
  readonly users: readonly {
    readonly id: string;
    readonly email: string;
    readonly roles: readonly string[];
  }[];
  readonly groups: readonly { readonly name: string; readonly members: readonly string[] }[];
}

export interface EvaluateApprovalsInput {
  readonly request: ApprovalRequest;
  readonly rule: ApprovalCountRule;
  readonly approvals: readonly SubmittedApproval[];
  readonly people: ApprovalPeople;
  readonly now: Date;
}

export interface ApprovalEvaluation {
  /** True when the rule is met and nobody eligible rejected. */
  readonly satisfied: boolean;
  /** Each person who counts, once, with the group their vote fills. */
  readonly counted: readonly { readonly userId: string; readonly group: string }[];
  /** Approvals that do not count, each with a reason in plain words. */
  readonly rejected: readonly { readonly userId?: string; readonly reason: string }[];
  /** The first eligible approver whose statement says `reject`: a veto. */
  readonly rejectedBy?: string;
  /** What is missing, in plain words; empty when satisfied. */
  readonly missing: string;
}

/**
 * Decides whether `approvals` satisfy `rule` for `request` at `now`. An approval counts only when
 * its signature verifies over its own statement bytes, the statement names exactly this request
 * (request id, product, channel, every subject digest, kind, requester, policy version), it is
 * unexpired and was not issued for longer than the rule allows, the approver is a known person
 * (never a workload), is not the requester, a commit author or a merger, and is a member of the
 * rule's group now. Each person counts once however many credentials they used. An explicit
 * `reject` by someone who would otherwise count vetoes the request.
 *
 * @throws {@link AppError} INVALID_INPUT when the rule itself is malformed (a configuration bug).
 */
export function evaluateApprovals(input: EvaluateApprovalsInput): ApprovalEvaluation {
  const { rule, now } = input;
  assertRule(rule);
  const nowMs = now.getTime();
  if (!Number.isFinite(nowMs)) throw new AppError('INVALID_INPUT', 'now is not a valid date');

  const rejected: { userId?: string; reason: string }[] = [];
  /** Eligible approvers in input order, with the groups (of the rule's) they belong to. */
  const approvers = new Map<string, { inFirst: boolean; inSecond: boolean }>();
  let rejectedBy: string | undefined;

  for (const approval of input.approvals) {
    const userId = approval.approverUserId;
    const verdict = judge(approval, input, nowMs);
    if (typeof verdict === 'string') {
      rejected.push({ userId, reason: verdict });
      continue;
    }
    if (verdict.decision === 'reject') {
      rejectedBy ??= userId;
      continue;
    }
    if (approvers.has(userId)) {
      rejected.push({ userId, reason: `${userId} already approved; each person counts once` });
      continue;
    }
    approvers.set(userId, verdict.membership);
  }

  const { counted, shortfalls } = assign(approvers, rule);
  if (rejectedBy !== undefined) {
    return {
      satisfied: false,
      counted,
      rejected,
      rejectedBy,
      missing: `rejected by ${rejectedBy}`,
    };
  }
  return { satisfied: shortfalls.length === 0, counted, rejected, missing: shortfalls.join('; ') };
}

interface Eligible {
  readonly decision: ApprovalStatement['decision'];
  readonly membership: { readonly inFirst: boolean; readonly inSecond: boolean };
}

/** Why an approval does not count, or its decision and group membership when it is eligible. */
function judge(
  approval: SubmittedApproval,
  { request, rule, people }: EvaluateApprovalsInput,
  nowMs: number,
): string | Eligible {
  const userId = approval.approverUserId;
  const user = people.users.find((u) => u.id === userId);
  // Workloads, robots and deleted accounts are not people: they never approve (D6).
  if (user === undefined) return `${userId} is not a known person; only people can approve`;

  try {
    verifyApprovalSignature(approval);
  } catch {
    return `signature of ${userId} (credential ${approval.credentialId}) does not verify`;
  }
  let statement: ApprovalStatement;
  try {
    statement = parseApprovalStatement(approval.statementBytes);
  } catch (error) {
    return `statement of ${userId} is malformed: ${error instanceof Error ? error.message : 'unreadable'}`;
  }

  const mismatch = bindingMismatch(statement, request);
  if (mismatch !== undefined) return mismatch;

  const issuedAt = approvalInstant(statement.issuedAt);
  const expiresAt = approvalInstant(statement.expiresAt);
  if (issuedAt > nowMs)
    return `approval of ${userId} is issued in the future (${statement.issuedAt})`;
  if (expiresAt <= nowMs) return `approval of ${userId} expired at ${statement.expiresAt}`;
  if (expiresAt - issuedAt > rule.lifetimeSeconds * 1000) {
    return `approval of ${userId} was issued for longer than the ${String(rule.lifetimeSeconds)} s the rule allows`;
  }

  // Separation of duties (INV-7, D6): match by user id or email.
  const identities = [user.id, user.email.toLowerCase()];
  const named = (list: readonly string[] | undefined): boolean =>
    (list ?? []).some(
      (entry) => identities.includes(entry) || identities.includes(entry.toLowerCase()),
    );
  if (named([request.requester.subject, request.requester.identityUri])) {
    return `${userId} requested this signature and cannot approve it`;
  }
  if (named(request.startedBy)) {
    return `${userId} started the job that asks for this signature and cannot approve it`;
  }
  if (named(request.commitAuthors))
    return `${userId} authored a commit in this change and cannot approve it`;
  if (named(request.mergers)) return `${userId} merged this change and cannot approve it`;

  // Membership is read now, not when the approval was given: removal from the group revokes.
  const membersOf = (name: string | undefined): readonly string[] =>
    name === undefined ? [] : (people.groups.find((g) => g.name === name)?.members ?? []);
  const inFirst = membersOf(rule.group).includes(userId);
  const inSecond = membersOf(rule.secondGroup?.name).includes(userId);
  if (!inFirst && !inSecond) {
    const groups =
      rule.secondGroup === undefined ? rule.group : `${rule.group} or ${rule.secondGroup.name}`;
    return `${userId} is not a member of ${groups}`;
  }
  return { decision: statement.decision, membership: { inFirst, inSecond } };
}

/** The first field where `statement` differs from `request`, as a reason; undefined if none. */
function bindingMismatch(
  statement: ApprovalStatement,
  request: ApprovalRequest,
): string | undefined {
  if (statement.requestId !== request.requestId) {
    return `approval was for request ${statement.requestId} not ${request.requestId}`;
  }
  if (statement.product !== request.product) {
    return `approval for product ${statement.product} cannot count on ${request.product}`;
  }
  if (statement.channel !== request.channel) {
    return `approval for ${statement.channel} cannot count on ${request.channel}`;
  }
  if (statement.kind !== request.kind) {
    return `approval was for kind ${statement.kind} not ${request.kind}`;
  }
  if (statement.subjects.length !== request.subjects.length) {
    return `approval covers ${String(statement.subjects.length)} subjects, the request has ${String(request.subjects.length)}`;
  }
  for (const [index, approved] of statement.subjects.entries()) {
    const wanted = request.subjects[index];
    if (wanted === undefined) return 'approval subjects differ from the request';
    if (approved.name !== wanted.name) {
      return `approval was for subject ${approved.name} not ${wanted.name}`;
    }
    const a = `${approved.digest.algorithm}:${approved.digest.value}`;
    const w = `${wanted.digest.algorithm}:${wanted.digest.value}`;
    if (a !== w) return `approval was for digest ${a} not ${w}`;
  }
  const s = statement.requester;
  const r = request.requester;
  if (
    s.issuer !== r.issuer ||
    s.subject !== r.subject ||
    s.identityUri !== r.identityUri ||
    s.repositoryId !== r.repositoryId
  ) {
    return `approval was for requester ${s.identityUri} not ${r.identityUri}`;
  }
  if (statement.policyHash !== request.policyHash) {
    return `policy changed since the approval (approved under ${statement.policyHash}, now ${request.policyHash})`;
  }
  return undefined;
}

/**
 * Gives each eligible person one group. People in only one group fill it; people in both fill
 * whichever group still falls short (first group first), which is optimal for two groups.
 */
function assign(
  approvers: ReadonlyMap<string, { inFirst: boolean; inSecond: boolean }>,
  rule: ApprovalCountRule,
): { counted: { userId: string; group: string }[]; shortfalls: string[] } {
  const second = rule.secondGroup;
  const onlyFirst = [...approvers].filter(([, m]) => m.inFirst && !(second && m.inSecond)).length;
  const onlySecond = [...approvers].filter(([, m]) => m.inSecond && !m.inFirst).length;
  let firstNeed = Math.max(0, rule.required - onlyFirst);
  let secondNeed = second === undefined ? 0 : Math.max(0, second.required - onlySecond);

  const counted: { userId: string; group: string }[] = [];
  let firstCount = 0;
  let secondCount = 0;
  for (const [userId, { inFirst, inSecond }] of approvers) {
    let toSecond: boolean;
    if (second === undefined || !inSecond) toSecond = false;
    else if (!inFirst) toSecond = true;
    else if (firstNeed > 0) {
      firstNeed -= 1;
      toSecond = false;
    } else if (secondNeed > 0) {
      secondNeed -= 1;
      toSecond = true;
    } else toSecond = false;
    if (toSecond && second !== undefined) {
      secondCount += 1;
      counted.push({ userId, group: second.name });
    } else {
      firstCount += 1;
      counted.push({ userId, group: rule.group });
    }
  }

  const shortfalls: string[] = [];
  if (firstCount < rule.required) shortfalls.push(shortfall(rule.required, rule.group, firstCount));
  if (second !== undefined && secondCount < second.required) {
    shortfalls.push(shortfall(second.required, second.name, secondCount));
  }
  return { counted, shortfalls };
}

function shortfall(required: number, group: string, has: number): string {
  return `needs ${String(required)} approval${required === 1 ? '' : 's'} from ${group}, has ${String(has)}`;
}

function assertRule(rule: ApprovalCountRule): void {
  const count = (n: number): boolean => Number.isSafeInteger(n) && n >= 0;
  const problems: string[] = [];
  if (!count(rule.required)) problems.push('required must be a non-negative integer');
  if (rule.group.length === 0) problems.push('group must be named');
  if (!Number.isSafeInteger(rule.lifetimeSeconds) || rule.lifetimeSeconds <= 0) {
    problems.push('lifetimeSeconds must be a positive integer');
  }
  if (rule.secondGroup !== undefined) {
    if (!count(rule.secondGroup.required))
      problems.push('secondGroup.required must be a non-negative integer');
    if (rule.secondGroup.name === rule.group) problems.push('secondGroup must differ from group');
  }
  if (problems.length > 0) {
    throw new AppError('INVALID_INPUT', `approval rule is malformed: ${problems.join('; ')}`);
  }
}
