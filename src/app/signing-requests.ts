/**
 * Signing requests and their approvals (DESIGN.md §5–6; threat-model INV-7, INV-8, D1–D10).
 *
 * When policy denies a signature only because approvals are missing, the sign flow opens a
 * signing request (`POST /v1/sign` answers 202). People approve or reject it by signing an
 * approval statement, the canonical JSON that names exactly this request, its subject digests,
 * channel, requester and policy version, with a registered approver key or a passkey. When the
 * same workload asks again, the approvals are counted again inside the signing transaction and
 * the request is consumed there, once (`consumeForSigning`).
 *
 * Stored states are `pending`, `signed`, `rejected`, `expired` and `cancelled`; `approved` is a
 * pending request whose approvals satisfy the channel's rule now (so a policy or membership
 * change after an approval is seen at once).
 */
import { isDisplaySafe } from '../core/display-text.ts';
import { createHash, createPublicKey, timingSafeEqual, type KeyObject } from 'node:crypto';
import { EventEmitter } from 'node:events';
import {
  approvalChallenge,
  encodeApprovalStatement,
  parseApprovalStatement,
  type ApprovalDecision,
  type ApprovalRequester,
  type ApprovalStatement,
  type ApprovalSubject,
  APPROVAL_STATEMENT_API_VERSION,
  MAX_APPROVAL_COMMENT_LENGTH,
} from '../core/approvals/approval-statement.ts';
import {
  evaluateApprovals,
  type ApprovalCountRule,
  type ApprovalEvaluation,
  type ApprovalRequest,
  type SubmittedApproval,
} from '../core/approvals/count-approvals.ts';
import type { ApproverKey } from '../core/approvals/verify-approval.ts';
import { canonicalizeJson } from '../core/canonical-json.ts';
import { AppError } from '../core/errors.ts';
import { findChannel, type Channel } from '../core/governance/governance.ts';
import type { Workload } from '../core/governance/workload.ts';
import type {
  ApprovalRecord,
  ApproverCredentialRecord,
  Clock,
  Random,
  SigningRequestRecord,
  SigningRequestState,
  Storage,
  StorageSession,
} from '../core/ports.ts';
import type { ActiveGovernance, GovernanceState } from './active-governance.ts';
import type { EventLog } from './append-event.ts';

/** Log event kinds of the request lifecycle. */
export const REQUEST_CREATED_EVENT = 'request.created';
export const REQUEST_APPROVED_EVENT = 'request.approved';
export const REQUEST_REJECTED_EVENT = 'request.rejected';
export const REQUEST_EXPIRED_EVENT = 'request.expired';
export const REQUEST_CANCELLED_EVENT = 'request.cancelled';
export const APPROVAL_SUBMITTED_EVENT = 'approval.submitted';

/** The Cedar policy whose denial means "approvals missing": the only denial that opens a request. */
export const APPROVALS_POLICY_ID = 'sign-requires-approvals';

/** The subject name under which an attestation request binds its in-toto statement bytes. */
export const STATEMENT_SUBJECT_NAME = 'in-toto statement';

/** The longest a long-poll (`GET /v1/requests/{id}?wait=`) waits. */
export const MAX_WAIT_SECONDS = 60;

/** How often a long-poll re-reads storage (other replicas may have changed the request). */
const WAIT_POLL_MS = 1000;

/** A person acting through an API token bound to them or a passkey session. */
export interface HumanActor {
  readonly userId: string;
}

/** Who is looking at or acting on a request. */
export type RequestViewer =
  | { readonly kind: 'human'; readonly userId: string }
  | { readonly kind: 'admin'; readonly tokenId: string }
  | { readonly kind: 'auditor' }
  | { readonly kind: 'workload'; readonly workload: Workload };

/** What a request shows as state: `approved` is derived (pending and the rule is met now). */
export type SigningRequestViewState = SigningRequestState | 'approved';

/** A signing request as the API, the CLI and the approval page show it. */
export interface SigningRequestView {
  readonly id: string;
  readonly state: SigningRequestViewState;
  readonly product: string;
  readonly channel: string;
  readonly kind: 'artifact' | 'attestation';
  readonly subjects: readonly ApprovalSubject[];
  readonly requester: Workload;
  /** Repository, ref, commit, workflow… as the requester's token said, and the policy's reasons. */
  readonly context: RequestContext;
  readonly policyHash: string;
  readonly approvals: {
    readonly required: number;
    readonly group: string | null;
    readonly secondGroup: { readonly group: string; readonly required: number } | null;
    readonly count: number;
    readonly counted: readonly { readonly userId: string; readonly group: string }[];
    readonly notCounted: readonly { readonly userId?: string; readonly reason: string }[];
    readonly submitted: readonly {
      readonly userId: string;
      readonly decision: ApprovalDecision;
      readonly comment: string;
      readonly createdAt: string;
    }[];
    readonly missing: string;
  };
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly closedAt: string | null;
  readonly signingId: string | null;
  readonly logIndex: string;
}

/** What approvers see besides the subject. */
export interface RequestContext {
  readonly reasons: readonly string[];
  readonly governanceVersion: number;
  readonly decisionLogIndex: string;
}

/** One approval that counted when a request was consumed: what the decision attestation holds. */
export interface CountedApproval {
  readonly userId: string;
  readonly group: string;
  readonly credential: ApproverCredentialRecord;
  readonly record: ApprovalRecord;
}

/** A request consumed by a signature. */
export interface ConsumedRequest {
  readonly record: SigningRequestRecord;
  readonly rule: ApprovalCountRule;
  readonly approvals: readonly CountedApproval[];
}

/** What the sign flow asks to open a request for. */
export interface OpenRequestInput {
  readonly workload: Workload;
  readonly product: string;
  readonly channel: string;
  readonly kind: 'artifact' | 'attestation';
  readonly subject: {
    readonly name: string;
    readonly digest: { readonly algorithm: 'sha256' | 'sha384' | 'sha512'; readonly value: string };
  };
  readonly statement?: Uint8Array;
  readonly reasons: readonly string[];
  readonly policyHash: string;
  readonly governanceVersion: number;
  readonly decisionLogIndex: bigint;
}

/** An approval as submitted over the API (attacker-controlled bytes). */
export interface SubmitApprovalInput {
  readonly statement: Uint8Array;
  readonly credentialId: string;
  readonly signature: Uint8Array;
  readonly webauthn?: {
    readonly authenticatorData: Uint8Array;
    readonly clientDataJSON: Uint8Array;
  };
}

/** The use cases of signing requests. */
export interface SigningRequests {
  /**
   * The pending request of this workload for exactly this subject, or a new one (logged as
   * `request.created`, notified). Called by the sign flow when only approvals are missing.
   */
  open(input: OpenRequestInput): Promise<SigningRequestView>;
  /**
   * The approvals context of a sign call: the workload's pending request for this subject (or
   * `requestId`, which must be its own) and the approvals that count now.
   * @throws AppError NOT_FOUND / FORBIDDEN for a `requestId` that is not this workload's request
   *   for this subject; CONFLICT when that request is closed.
   */
  findForSigning(
    input: Omit<
      OpenRequestInput,
      'reasons' | 'policyHash' | 'governanceVersion' | 'decisionLogIndex'
    >,
    active: ActiveGovernance,
    requestId?: string,
  ): Promise<{ record: SigningRequestRecord; evaluation: ApprovalEvaluation } | undefined>;
  /**
   * Inside the signing transaction: re-reads the request and its approvals, counts them against
   * the governance in force, and marks the request signed. Exactly one of racing signers gets
   * through (INV-8, E1).
   * @throws AppError CONFLICT when the request is no longer pending, expired, or its approvals no
   *   longer satisfy the rule.
   */
  consumeForSigning(
    session: StorageSession,
    requestId: string,
    signingId: string,
    active: ActiveGovernance,
  ): Promise<ConsumedRequest>;
  /** @throws AppError NOT_FOUND (also for a workload asking about someone else's request). */
  get(id: string, viewer: RequestViewer): Promise<SigningRequestView>;
  /**
   * Like `get`, but when the request is pending waits up to `seconds` for its state or approval
   * count to change.
   */
  wait(id: string, viewer: RequestViewer, seconds: number): Promise<SigningRequestView>;
  list(filter: {
    readonly state?: SigningRequestViewState;
    readonly product?: string;
    readonly limit?: number;
  }): Promise<SigningRequestView[]>;
  /**
   * The exact statement bytes `human` would sign to approve or reject, and their WebAuthn
   * challenge (SHA-256 of the bytes).
   * @throws AppError NOT_FOUND, CONFLICT (not pending), FORBIDDEN (not eligible, with why).
   */
  draftStatement(
    id: string,
    human: HumanActor,
    answer: { readonly decision: ApprovalDecision; readonly comment: string },
  ): Promise<{ readonly statement: Uint8Array; readonly challenge: Uint8Array }>;
  /**
   * Records a signed approval or rejection after checking the credential belongs to `human`, the
   * signature, the binding to this request and policy version, and eligibility.
   * @throws AppError NOT_FOUND, CONFLICT, FORBIDDEN, VERIFICATION_FAILED, INVALID_INPUT.
   */
  submitApproval(
    id: string,
    human: HumanActor,
    input: SubmitApprovalInput,
  ): Promise<SigningRequestView>;
  /** Cancels a pending request: its requester or an admin. */
  cancel(id: string, viewer: RequestViewer): Promise<SigningRequestView>;
  /** Registers an ECDSA P-256 approver key for `human` (from the CLI). */
  registerApproverKey(
    human: HumanActor,
    input: { readonly publicKeySpki: Uint8Array; readonly label: string },
  ): Promise<ApproverCredentialRecord>;
  /** The credentials of `human`, oldest first. */
  listCredentials(human: HumanActor): Promise<ApproverCredentialRecord[]>;
  /**
   * Revokes a credential from now on: its approvals stop counting wherever they were not consumed
   * yet. A person revokes their own; an admin token (`by.kind === 'admin'`) anyone's. Revoking a
   * revoked credential changes nothing. Throws NOT_FOUND (also for someone else's credential).
   */
  revokeCredential(
    id: string,
    by:
      | { readonly kind: 'human'; readonly userId: string }
      | { readonly kind: 'admin'; readonly tokenId: string },
  ): Promise<ApproverCredentialRecord>;
  /**
   * The viewer a workload token (attacker-controlled) stands for: it may read and cancel its
   * own requests. The token is verified but not consumed.
   * @throws AppError UNAUTHENTICATED.
   */
  workloadViewer(identityToken: string): Promise<RequestViewer>;
}

export interface SigningRequestsDeps {
  readonly storage: Storage;
  readonly state: GovernanceState;
  readonly events: EventLog;
  readonly clock: Clock;
  readonly random: Random;
  /** `server.publicUrl`: the only origin a passkey approval may come from (threat-model B2). */
  readonly publicUrl: string;
}

/** The approval rule of `channel` in the form the counter takes, or undefined when none. */
export function approvalRuleOf(channel: Channel): ApprovalCountRule | undefined {
  const { approval } = channel;
  if (approval.required === 0 || approval.group === undefined) return undefined;
  return {
    required: approval.required,
    group: approval.group,
    ...(approval.secondGroup === undefined
      ? {}
      : {
          secondGroup: {
            name: approval.secondGroup.group,
            required: approval.secondGroup.required,
          },
        }),
    lifetimeSeconds: approval.lifetimeSeconds,
  };
}

/**
 * What policy sees as `context.approvals.count`: at least `required` only when the whole rule
 * (including a second group and vetoes) is satisfied.
 */
export function approvalCountForPolicy(evaluation: ApprovalEvaluation, required: number): number {
  return evaluation.satisfied
    ? Math.max(evaluation.counted.length, required)
    : Math.min(evaluation.counted.length, Math.max(required - 1, 0));
}

/** The subjects an approval binds: the artifact, plus the statement bytes of an attestation. */
export function requestSubjects(record: SigningRequestRecord): ApprovalSubject[] {
  const subjects: ApprovalSubject[] = [
    {
      name: record.subjectName,
      digest: { algorithm: record.digestAlgorithm, value: record.digestValue },
    },
  ];
  if (record.statement !== null) {
    subjects.push({
      name: STATEMENT_SUBJECT_NAME,
      digest: { algorithm: 'sha256', value: sha256Hex(record.statement) },
    });
  }
  return subjects;
}

/** The use cases over storage, the governance in force, the log and a clock. */
export function createSigningRequests(deps: SigningRequestsDeps): SigningRequests {
  const { storage, state, events, clock, random } = deps;
  const changes = new EventEmitter();
  changes.setMaxListeners(0);
  const changed = (id: string): void => {
    changes.emit(id);
  };
  const allowedOrigin = new URL(deps.publicUrl).origin;

  // `rq_` and hex, like `ex_` and `wh_`: an id the CLI prints must paste back as an operand (a
  // base64url id starting with `-` read as an option).
  const newId = (): string => `rq_${Buffer.from(random.bytes(16)).toString('hex')}`;

  const requesterOf = (record: SigningRequestRecord): Workload =>
    JSON.parse(record.requester) as Workload;

  const approvalRequestOf = (
    record: SigningRequestRecord,
    active: ActiveGovernance,
  ): ApprovalRequest => {
    const requester = requesterOf(record);
    return {
      requestId: record.id,
      product: record.product,
      channel: record.channel,
      subjects: requestSubjects(record),
      kind: record.kind,
      requester: statementRequester(requester),
      policyHash: active.policyEngine.policyHash,
      ...(requester.actors === undefined ? {} : { startedBy: requester.actors }),
    };
  };

  const ruleFor = (record: SigningRequestRecord, active: ActiveGovernance): ApprovalCountRule => {
    const channel = findChannel(active.governance, record.product, record.channel);
    if (channel === undefined) {
      throw new AppError(
        'CONFLICT',
        `channel ${record.product}/${record.channel} no longer exists in the governance in force`,
      );
    }
    const rule = approvalRuleOf(channel);
    // A channel that no longer requires approvals: its pending requests need none either (the
    // next sign call is allowed by policy anyway). `-` names no group, so nobody counts.
    return rule ?? { required: 0, group: '-', lifetimeSeconds: channel.approval.lifetimeSeconds };
  };

  /** Approvals with their credentials, as the counter takes them. */
  const loadSubmitted = async (
    session: StorageSession,
    requestId: string,
    minCredentialAgeSeconds: number,
  ): Promise<{
    submitted: SubmittedApproval[];
    byIndex: (ApprovalRecord & { credential?: ApproverCredentialRecord })[];
  }> => {
    const records = await session.approvals.listByRequest(requestId);
    const submitted: SubmittedApproval[] = [];
    const byIndex: (ApprovalRecord & { credential?: ApproverCredentialRecord })[] = [];
    for (const record of records) {
      const credential = await session.approverCredentials.findById(record.credentialId);
      // A revoked credential, or one that now belongs to nobody, no longer vouches for anything.
      if (
        credential === undefined ||
        credential.revokedAt !== null ||
        credential.userId !== record.userId ||
        !isOldEnough(credential, record.createdAt, minCredentialAgeSeconds)
      ) {
        continue;
      }
      submitted.push(toSubmitted(record, credential));
      byIndex.push({ ...record, credential });
    }
    return { submitted, byIndex };
  };

  const evaluate = async (
    session: StorageSession,
    record: SigningRequestRecord,
    active: ActiveGovernance,
  ): Promise<{
    evaluation: ApprovalEvaluation;
    approvals: ApprovalRecord[];
    loaded: Awaited<ReturnType<typeof loadSubmitted>>;
  }> => {
    const channel = findChannel(active.governance, record.product, record.channel);
    const loaded = await loadSubmitted(
      session,
      record.id,
      channel?.approval.minCredentialAgeSeconds ?? 0,
    );
    const evaluation = evaluateApprovals({
      request: approvalRequestOf(record, active),
      rule: ruleFor(record, active),
      approvals: loaded.submitted,
      people: active.governance,
      now: clock.now(),
    });
    return { evaluation, approvals: await session.approvals.listByRequest(record.id), loaded };
  };

  /** Closes an overdue pending request as expired (logged once, whoever notices first). */
  const expireIfDue = async (record: SigningRequestRecord): Promise<SigningRequestRecord> => {
    if (record.state !== 'pending' || record.expiresAt.getTime() > clock.now().getTime()) {
      return record;
    }
    const at = clock.now();
    let closed = false;
    try {
      await events.appendEvent(
        REQUEST_EXPIRED_EVENT,
        { requestId: record.id, expiredAt: record.expiresAt.toISOString() },
        {
          idempotencyKey: `request.expired:${record.id}`,
          effect: async (session) => {
            closed = await session.signingRequests.close(record.id, 'expired', at);
            if (!closed) throw new AppError('CONFLICT', 'the request is no longer pending');
            await session.notifications.enqueue(
              'request.expired',
              { requestId: record.id, product: record.product, channel: record.channel },
              at,
            );
          },
        },
      );
    } catch (error) {
      if (!(error instanceof AppError && error.code === 'CONFLICT')) throw error;
    }
    if (closed) changed(record.id);
    return (await storage.signingRequests.findById(record.id)) ?? record;
  };

  const load = async (id: string): Promise<SigningRequestRecord> => {
    const record = await storage.signingRequests.findById(id);
    if (record === undefined) {
      throw new AppError('NOT_FOUND', `no signing request ${id}`, {
        hint: 'list pending requests with `countersign request list`',
      });
    }
    return expireIfDue(record);
  };

  const canView = (record: SigningRequestRecord, viewer: RequestViewer): boolean =>
    viewer.kind !== 'workload' || isRequester(record, viewer.workload);

  const view = async (record: SigningRequestRecord): Promise<SigningRequestView> => {
    const active = await state.current();
    const { evaluation, approvals } = await evaluate(storage, record, active);
    const rule = ruleFor(record, active);
    const approved = record.state === 'pending' && evaluation.satisfied;
    const context = JSON.parse(record.context) as RequestContext;
    return {
      id: record.id,
      state: approved ? 'approved' : record.state,
      product: record.product,
      channel: record.channel,
      kind: record.kind,
      subjects: requestSubjects(record),
      requester: requesterOf(record),
      context,
      policyHash: record.policyHash,
      approvals: {
        required: rule.required,
        group: rule.required === 0 ? null : rule.group,
        secondGroup:
          rule.secondGroup === undefined
            ? null
            : { group: rule.secondGroup.name, required: rule.secondGroup.required },
        count: evaluation.counted.length,
        counted: evaluation.counted,
        notCounted: evaluation.rejected,
        submitted: approvals.map((a) => ({
          userId: a.userId,
          decision: a.decision,
          comment: a.comment,
          createdAt: a.createdAt.toISOString(),
        })),
        missing: evaluation.missing,
      },
      createdAt: record.createdAt.toISOString(),
      expiresAt: record.expiresAt.toISOString(),
      closedAt: record.closedAt?.toISOString() ?? null,
      signingId: record.signingId,
      logIndex: record.logIndex.toString(),
    };
  };

  const requirePending = (record: SigningRequestRecord): void => {
    if (record.state !== 'pending') {
      throw new AppError('CONFLICT', `signing request ${record.id} is ${record.state}`, {
        hint:
          record.state === 'expired'
            ? 'run the signing job again to open a new request'
            : 'nothing more can be done with this request',
      });
    }
  };

  const buildStatement = (
    record: SigningRequestRecord,
    active: ActiveGovernance,
    answer: { readonly decision: ApprovalDecision; readonly comment: string },
  ): ApprovalStatement => {
    const rule = ruleFor(record, active);
    const now = clock.now();
    const expiresAt = Math.min(
      now.getTime() + rule.lifetimeSeconds * 1000,
      record.expiresAt.getTime(),
    );
    const request = approvalRequestOf(record, active);
    return {
      apiVersion: APPROVAL_STATEMENT_API_VERSION,
      requestId: record.id,
      product: record.product,
      channel: record.channel,
      subjects: request.subjects,
      kind: record.kind,
      requester: request.requester,
      policyHash: request.policyHash,
      issuedAt: now.toISOString(),
      expiresAt: new Date(expiresAt).toISOString(),
      decision: answer.decision,
      comment: answer.comment,
    };
  };

  /** Refuses someone the counter would not count, with its reason, before anything is stored. */
  const checkEligible = (
    record: SigningRequestRecord,
    active: ActiveGovernance,
    human: HumanActor,
  ): void => {
    const user = active.governance.users.find((u) => u.id === human.userId);
    if (user === undefined) {
      throw new AppError(
        'FORBIDDEN',
        `${human.userId} is not a person in the governance in force`,
        {
          hint: 'only users listed in governance.yaml approve; ask an admin to add you',
        },
      );
    }
    const rule = ruleFor(record, active);
    const requester = statementRequester(requesterOf(record));
    const identities = [user.id, user.email.toLowerCase()];
    const startedBy = (requesterOf(record).actors ?? []).map((actor) => actor.toLowerCase());
    if (startedBy.some((actor) => identities.includes(actor))) {
      throw new AppError(
        'FORBIDDEN',
        `${user.id} started the job that asks for this signature and cannot approve it`,
        { hint: 'separation of duties: another member of the group must approve' },
      );
    }
    if (identities.includes(requester.subject) || identities.includes(requester.identityUri)) {
      throw new AppError('FORBIDDEN', `${user.id} requested this signature and cannot approve it`);
    }
    const groups = [rule.group, rule.secondGroup?.name].filter((g): g is string => g !== undefined);
    const member = groups.some((name) =>
      active.governance.groups.find((g) => g.name === name)?.members.includes(user.id),
    );
    if (!member) {
      throw new AppError(
        'FORBIDDEN',
        `${user.id} is not a member of ${groups.join(' or ')}, who approve ${record.product}/${record.channel}`,
      );
    }
  };

  return {
    async open(input) {
      const existing = await storage.signingRequests.findLatest({
        state: 'pending',
        requesterIssuer: input.workload.issuer,
        requesterSubject: input.workload.subject,
        product: input.product,
        channel: input.channel,
        kind: input.kind,
        digestAlgorithm: input.subject.digest.algorithm,
        digestValue: input.subject.digest.value,
      });
      if (
        existing !== undefined &&
        isRequester(existing, input.workload) &&
        sameStatement(existing.statement, input.statement) &&
        existing.expiresAt.getTime() > clock.now().getTime()
      ) {
        return view(existing);
      }
      // A rejection is a veto: the same workload cannot simply ask again for the same subject
      // until the rejected request would have expired anyway.
      const vetoed = await storage.signingRequests.findLatest({
        state: 'rejected',
        requesterIssuer: input.workload.issuer,
        requesterSubject: input.workload.subject,
        product: input.product,
        channel: input.channel,
        kind: input.kind,
        digestAlgorithm: input.subject.digest.algorithm,
        digestValue: input.subject.digest.value,
      });
      if (vetoed !== undefined && vetoed.expiresAt.getTime() > clock.now().getTime()) {
        throw new AppError(
          'POLICY_DENIED',
          `signing request ${vetoed.id} for this artifact on ${input.product}/${input.channel} was rejected; a new request can be opened after ${vetoed.expiresAt.toISOString()}`,
          {
            errors: [{ path: '/decision', message: `rejected in signing request ${vetoed.id}` }],
            hint: `see why with \`countersign request show ${vetoed.id}\``,
          },
        );
      }
      const active = await state.current();
      const channel = findChannel(active.governance, input.product, input.channel);
      if (channel === undefined)
        throw new AppError('NOT_FOUND', `no channel ${input.product}/${input.channel}`);
      const now = clock.now();
      const id = newId();
      const context: RequestContext = {
        reasons: input.reasons,
        governanceVersion: input.governanceVersion,
        decisionLogIndex: input.decisionLogIndex.toString(),
      };
      const base = {
        id,
        product: input.product,
        channel: input.channel,
        kind: input.kind,
        subjectName: input.subject.name,
        digestAlgorithm: input.subject.digest.algorithm,
        digestValue: input.subject.digest.value,
        statement: input.statement ?? null,
        requester: canonicalizeJson(toPlain(identityOf(input.workload))),
        requesterIssuer: input.workload.issuer,
        requesterSubject: input.workload.subject,
        context: canonicalizeJson(toPlain(context)),
        policyHash: input.policyHash,
        governanceVersion: input.governanceVersion,
        state: 'pending' as const,
        createdAt: now,
        expiresAt: new Date(now.getTime() + channel.approval.lifetimeSeconds * 1000),
        closedAt: null,
        signingId: null,
      };
      const summary = {
        requestId: id,
        product: input.product,
        channel: input.channel,
        kind: input.kind,
        subject: { name: input.subject.name, digest: { ...input.subject.digest } },
        requester: {
          issuer: input.workload.issuer,
          subject: input.workload.subject,
          identityUri: input.workload.identityUri,
        },
        required: channel.approval.required,
        expiresAt: base.expiresAt.toISOString(),
      };
      await events.appendEvent(
        REQUEST_CREATED_EVENT,
        { ...summary, policyHash: input.policyHash },
        {
          effect: async (session, entry) => {
            await session.signingRequests.insert({ ...base, logIndex: entry.index });
            await session.notifications.enqueue('request.created', summary, now);
          },
        },
      );
      const created = await storage.signingRequests.findById(id);
      if (created === undefined) throw new AppError('INTERNAL', 'the new signing request vanished');
      return view(created);
    },

    async findForSigning(input, active, requestId) {
      let record: SigningRequestRecord | undefined;
      if (requestId !== undefined) {
        record = await storage.signingRequests.findById(requestId);
        if (record === undefined || !isRequester(record, input.workload)) {
          throw new AppError('NOT_FOUND', `no signing request ${requestId} of this workload`);
        }
        const matches =
          record.product === input.product &&
          record.channel === input.channel &&
          record.kind === input.kind &&
          record.digestAlgorithm === input.subject.digest.algorithm &&
          record.digestValue === input.subject.digest.value &&
          record.subjectName === input.subject.name &&
          sameStatement(record.statement, input.statement);
        if (!matches) {
          throw new AppError(
            'FORBIDDEN',
            `signing request ${requestId} was for something else: approvals cover exactly the subject, channel and kind that were requested`,
          );
        }
        record = await expireIfDue(record);
        requirePending(record);
      } else {
        const found = await storage.signingRequests.findLatest({
          state: 'pending',
          requesterIssuer: input.workload.issuer,
          requesterSubject: input.workload.subject,
          product: input.product,
          channel: input.channel,
          kind: input.kind,
          digestAlgorithm: input.subject.digest.algorithm,
          digestValue: input.subject.digest.value,
        });
        if (
          found === undefined ||
          !isRequester(found, input.workload) ||
          found.subjectName !== input.subject.name ||
          !sameStatement(found.statement, input.statement)
        ) {
          return undefined;
        }
        record = await expireIfDue(found);
        if (record.state !== 'pending') return undefined;
      }
      const { evaluation } = await evaluate(storage, record, active);
      return { record, evaluation };
    },

    async consumeForSigning(session, requestId, signingId, active) {
      const record = await session.signingRequests.findById(requestId);
      if (record === undefined)
        throw new AppError('CONFLICT', `signing request ${requestId} vanished`);
      requirePending(record);
      if (record.expiresAt.getTime() <= clock.now().getTime()) {
        throw new AppError(
          'CONFLICT',
          `signing request ${requestId} expired at ${record.expiresAt.toISOString()}`,
        );
      }
      const { evaluation, loaded } = await evaluate(session, record, active);
      if (!evaluation.satisfied) {
        throw new AppError(
          'CONFLICT',
          `signing request ${requestId} is no longer approved: ${evaluation.missing}`,
        );
      }
      if (!(await session.signingRequests.close(requestId, 'signed', clock.now(), signingId))) {
        throw new AppError(
          'CONFLICT',
          `signing request ${requestId} was used by another signature`,
        );
      }
      const counted: CountedApproval[] = [];
      for (const { userId, group } of evaluation.counted) {
        // The newest approving statement of that person is the one that counted.
        const match = [...loaded.byIndex]
          .reverse()
          .find(
            (a) => a.userId === userId && a.decision === 'approve' && a.credential !== undefined,
          );
        if (match?.credential === undefined) continue;
        counted.push({ userId, group, credential: match.credential, record: match });
      }
      return { record, rule: ruleFor(record, active), approvals: counted };
    },

    async get(id, viewer) {
      const record = await load(id);
      if (!canView(record, viewer)) throw new AppError('NOT_FOUND', `no signing request ${id}`);
      return view(record);
    },

    async wait(id, viewer, seconds) {
      const first = await this.get(id, viewer);
      if (first.state !== 'pending' && first.state !== 'approved') return first;
      const deadline = Date.now() + Math.min(Math.max(seconds, 0), MAX_WAIT_SECONDS) * 1000;
      const fingerprint = (v: SigningRequestView): string =>
        `${v.state}/${String(v.approvals.count)}/${String(v.approvals.submitted.length)}`;
      const initial = fingerprint(first);
      while (Date.now() < deadline) {
        await new Promise<void>((resolve) => {
          const timer = setTimeout(
            done,
            Math.min(WAIT_POLL_MS, Math.max(deadline - Date.now(), 0)),
          );
          function done(): void {
            clearTimeout(timer);
            changes.off(id, done);
            resolve();
          }
          changes.once(id, done);
        });
        const current = await this.get(id, viewer);
        if (fingerprint(current) !== initial) return current;
      }
      return this.get(id, viewer);
    },

    async list(filter) {
      const stored: SigningRequestState | undefined =
        filter.state === 'approved' ? 'pending' : filter.state;
      const records = await storage.signingRequests.list({
        ...(stored === undefined ? {} : { state: stored }),
        ...(filter.product === undefined ? {} : { product: filter.product }),
        limit: filter.limit ?? 100,
      });
      const views: SigningRequestView[] = [];
      for (const record of records) {
        const current = await expireIfDue(record);
        if (stored !== undefined && current.state !== stored) continue;
        const v = await view(current);
        if (filter.state === 'approved' && v.state !== 'approved') continue;
        if (filter.state === 'pending' && v.state !== 'pending' && v.state !== 'approved') continue;
        views.push(v);
      }
      return views;
    },

    async draftStatement(id, human, answer) {
      checkComment(answer.comment);
      const record = await load(id);
      requirePending(record);
      const active = await state.current();
      checkEligible(record, active, human);
      const statement = buildStatement(record, active, answer);
      return {
        statement: encodeApprovalStatement(statement),
        challenge: approvalChallenge(statement),
      };
    },

    async submitApproval(id, human, input) {
      const record = await load(id);
      requirePending(record);
      const active = await state.current();
      checkEligible(record, active, human);
      const credential = await storage.approverCredentials.findById(input.credentialId);
      if (
        credential === undefined ||
        credential.userId !== human.userId ||
        credential.revokedAt !== null
      ) {
        // One answer for "unknown", "someone else's" and "revoked" (threat-model B5).
        throw new AppError(
          'FORBIDDEN',
          `credential ${input.credentialId} is not an active credential of ${human.userId}`,
          {
            hint: 'register an approver key with `countersign approver-key add` or a passkey on the approval page',
          },
        );
      }
      const minAge =
        findChannel(active.governance, record.product, record.channel)?.approval
          .minCredentialAgeSeconds ?? 0;
      if (!isOldEnough(credential, clock.now(), minAge)) {
        throw new AppError(
          'FORBIDDEN',
          `credential ${credential.id} was registered at ${credential.createdAt.toISOString()}; on ${record.product}/${record.channel} it may approve from ${new Date(credential.createdAt.getTime() + minAge * 1000).toISOString()}`,
          { hint: 'a cooling-off period for new credentials (approval.minCredentialAge)' },
        );
      }
      const statement = parseApprovalStatement(input.statement);
      let signCount: number | undefined;
      if (credential.kind === 'webauthn') {
        if (input.webauthn === undefined) {
          throw new AppError(
            'INVALID_INPUT',
            'a passkey approval needs its authenticatorData and clientDataJSON',
            {
              errors: [{ path: '/webauthn', message: 'required for passkey credentials' }],
            },
          );
        }
        checkWebauthnOrigin(input.webauthn.clientDataJSON, allowedOrigin);
        signCount = readSignCount(input.webauthn.authenticatorData);
        if ((signCount !== 0 || credential.signCount !== 0) && signCount <= credential.signCount) {
          throw new AppError(
            'FORBIDDEN',
            `passkey ${credential.id} reported a signature counter that went backwards: it may be cloned`,
            {
              hint: 'register a new passkey and revoke this one',
            },
          );
        }
      } else if (input.webauthn !== undefined) {
        throw new AppError('INVALID_INPUT', 'webauthn data is only for passkey credentials', {
          errors: [{ path: '/webauthn', message: 'not allowed for approver keys' }],
        });
      }
      const approvalRecordBase = {
        id: newId(),
        requestId: record.id,
        userId: human.userId,
        credentialId: credential.id,
        decision: statement.decision,
        comment: statement.comment,
        statement: input.statement,
        signature: input.signature,
        authenticatorData: input.webauthn?.authenticatorData ?? null,
        clientDataJson: input.webauthn?.clientDataJSON ?? null,
        createdAt: clock.now(),
      };
      // Count this one approval alone: whatever would keep it from counting is refused now.
      const alone = evaluateApprovals({
        request: approvalRequestOf(record, active),
        rule: {
          ...ruleFor(record, active),
          required: Math.max(ruleFor(record, active).required, 1),
        },
        approvals: [toSubmitted({ ...approvalRecordBase, logIndex: 0n }, credential)],
        people: active.governance,
        now: clock.now(),
      });
      const refusal = alone.rejected[0];
      if (refusal !== undefined) {
        const code = refusal.reason.includes('does not verify')
          ? 'VERIFICATION_FAILED'
          : 'FORBIDDEN';
        throw new AppError(code, refusal.reason);
      }
      let outcome: 'approved' | 'rejected' | 'pending' = 'pending';
      await events.appendEvent(
        APPROVAL_SUBMITTED_EVENT,
        {
          requestId: record.id,
          userId: human.userId,
          credentialId: credential.id,
          decision: statement.decision,
          comment: statement.comment,
          statementSha256: sha256Hex(input.statement),
          policyHash: statement.policyHash,
        },
        {
          effect: async (session, entry) => {
            const current = await session.signingRequests.findById(record.id);
            if (current === undefined) throw new AppError('NOT_FOUND', `no signing request ${id}`);
            requirePending(current);
            await session.approvals.insert({ ...approvalRecordBase, logIndex: entry.index });
            if (signCount !== undefined)
              if (!(await session.approverCredentials.advanceSignCount(credential.id, signCount))) {
                throw new AppError(
                  'FORBIDDEN',
                  `passkey ${credential.id} reported a signature counter that did not move forward: it may be cloned`,
                  { hint: 'register a new passkey and revoke this one' },
                );
              }
            const { evaluation } = await evaluate(session, current, active);
            const summary = {
              requestId: record.id,
              product: record.product,
              channel: record.channel,
            };
            if (evaluation.rejectedBy !== undefined) {
              await session.signingRequests.close(record.id, 'rejected', clock.now());
              await session.notifications.enqueue(
                'request.rejected',
                { ...summary, rejectedBy: evaluation.rejectedBy },
                clock.now(),
              );
              outcome = 'rejected';
            } else if (evaluation.satisfied) {
              await session.notifications.enqueue(
                'request.approved',
                { ...summary, approvers: evaluation.counted.map((c) => c.userId) },
                clock.now(),
              );
              outcome = 'approved';
            }
          },
        },
      );
      if (outcome !== 'pending') {
        await events.appendEvent(
          outcome === 'approved' ? REQUEST_APPROVED_EVENT : REQUEST_REJECTED_EVENT,
          {
            requestId: record.id,
            by: human.userId,
          },
        );
      }
      changed(record.id);
      return view(await load(record.id));
    },

    async cancel(id, viewer) {
      const record = await load(id);
      if (!canView(record, viewer)) throw new AppError('NOT_FOUND', `no signing request ${id}`);
      if (viewer.kind === 'human' || viewer.kind === 'auditor') {
        throw new AppError(
          'FORBIDDEN',
          'only the requesting workload or an admin cancels a request',
          {
            hint: 'to stop it, reject it: `countersign reject <id> --reason …`',
          },
        );
      }
      requirePending(record);
      await events.appendEvent(
        REQUEST_CANCELLED_EVENT,
        {
          requestId: id,
          by:
            viewer.kind === 'workload'
              ? { workload: viewer.workload.identityUri }
              : { apiToken: viewer.tokenId },
        },
        {
          effect: async (session) => {
            if (!(await session.signingRequests.close(id, 'cancelled', clock.now()))) {
              throw new AppError('CONFLICT', `signing request ${id} is no longer pending`);
            }
          },
        },
      );
      changed(id);
      return view(await load(id));
    },

    async registerApproverKey(human, input) {
      const active = await state.current();
      if (!active.governance.users.some((u) => u.id === human.userId)) {
        throw new AppError(
          'FORBIDDEN',
          `${human.userId} is not a person in the governance in force`,
        );
      }
      const key: ApproverKey = { kind: 'ecdsa-p256', spki: input.publicKeySpki };
      checkP256Spki(key.spki);
      const label = input.label.trim();
      if (label.length === 0 || label.length > 100 || /\p{Cc}/u.test(label)) {
        throw new AppError('INVALID_INPUT', 'the key label must be 1 to 100 printable characters');
      }
      const record: ApproverCredentialRecord = {
        id: sha256Hex(input.publicKeySpki),
        userId: human.userId,
        kind: 'ecdsa-p256',
        publicKeySpki: input.publicKeySpki,
        algorithm: -7,
        rpId: null,
        signCount: 0,
        label,
        createdAt: clock.now(),
        revokedAt: null,
      };
      await events.appendEvent(
        'credential.registered',
        { credentialId: record.id, userId: human.userId, kind: record.kind, label },
        {
          effect: async (session) => {
            await session.approverCredentials.insert(record);
            await session.notifications.enqueue(
              'credential.registered',
              { credentialId: record.id, userId: human.userId, kind: record.kind, label },
              record.createdAt,
            );
          },
        },
      );
      return record;
    },

    listCredentials(human) {
      return storage.approverCredentials.listByUser(human.userId);
    },

    async revokeCredential(id, by) {
      const credential = await storage.approverCredentials.findById(id);
      if (credential === undefined || (by.kind === 'human' && credential.userId !== by.userId)) {
        throw new AppError('NOT_FOUND', `no credential ${id} of yours`, {
          hint: 'list yours with `countersign approver-key list`',
        });
      }
      if (credential.revokedAt !== null) return credential;
      const at = clock.now();
      await events.appendEvent(
        'credential.revoked',
        {
          credentialId: id,
          userId: credential.userId,
          by: by.kind === 'human' ? { userId: by.userId } : { apiToken: by.tokenId },
          revokedAt: at.toISOString(),
        },
        {
          effect: async (session) => {
            await session.approverCredentials.revoke(id, at);
          },
        },
      );
      return (await storage.approverCredentials.findById(id)) ?? credential;
    },

    async workloadViewer(identityToken) {
      const active = await state.current();
      const workload = await active.verifier.verify(identityToken, { purpose: 'read' });
      return { kind: 'workload', workload };
    },
  };
}

/** The counter's view of a stored approval and its credential. */
function toSubmitted(
  record: ApprovalRecord,
  credential: ApproverCredentialRecord,
): SubmittedApproval {
  const approverKey: ApproverKey =
    credential.kind === 'webauthn'
      ? {
          kind: 'webauthn',
          spki: credential.publicKeySpki,
          algorithm: credential.algorithm,
          rpId: credential.rpId ?? '',
        }
      : { kind: 'ecdsa-p256', spki: credential.publicKeySpki };
  return {
    approverUserId: record.userId,
    credentialId: record.credentialId,
    statementBytes: record.statement,
    signature: record.signature,
    approverKey,
    ...(record.authenticatorData !== null && record.clientDataJson !== null
      ? {
          webauthn: {
            authenticatorData: record.authenticatorData,
            clientDataJSON: record.clientDataJson,
          },
        }
      : {}),
  };
}

/** Whether `credential` had been registered for `seconds` at `at`. */
function isOldEnough(credential: ApproverCredentialRecord, at: Date, seconds: number): boolean {
  return at.getTime() - credential.createdAt.getTime() >= seconds * 1000;
}

/** The requester fields an approval statement binds. */
export function statementRequester(workload: Workload): ApprovalRequester {
  return {
    issuer: workload.issuer,
    subject: workload.subject,
    identityUri: workload.identityUri,
    ...(workload.repositoryId === undefined ? {} : { repositoryId: workload.repositoryId }),
  };
}

/** The workload without its token's bookkeeping (`jti`, expiry): what a request shows people. */
function identityOf(workload: Workload): Workload {
  const identity: { -readonly [K in keyof Workload]?: Workload[K] } = { ...workload };
  delete identity.tokenId;
  delete identity.tokenExpiresAt;
  return identity as Workload;
}

/** The same workload: issuer, subject, identity and repository id all equal. */
function isRequester(record: SigningRequestRecord, workload: Workload): boolean {
  const requester = JSON.parse(record.requester) as Workload;
  return (
    requester.issuer === workload.issuer &&
    requester.subject === workload.subject &&
    requester.identityUri === workload.identityUri &&
    requester.repositoryId === workload.repositoryId
  );
}

function sameStatement(a: Uint8Array | null, b: Uint8Array | undefined): boolean {
  if (a === null || b === undefined) return a === null && b === undefined;
  return a.byteLength === b.byteLength && timingSafeEqual(a, b);
}

function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

function toPlain(value: object): Record<string, unknown> {
  return JSON.parse(JSON.stringify(value)) as Record<string, unknown>;
}

function checkComment(comment: string): void {
  if (comment.length > MAX_APPROVAL_COMMENT_LENGTH) {
    throw new AppError(
      'INVALID_INPUT',
      `the comment is longer than ${String(MAX_APPROVAL_COMMENT_LENGTH)} characters`,
    );
  }
  if (!isDisplaySafe(comment, { multiline: true })) {
    throw new AppError(
      'INVALID_INPUT',
      'the comment has control or format characters (escapes, bidi overrides); only newlines and tabs are allowed',
    );
  }
}

/** The client data must come from the service's own origin (threat-model B2). */
function checkWebauthnOrigin(clientDataJSON: Uint8Array, allowedOrigin: string): void {
  let origin: unknown;
  try {
    origin = (
      JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(clientDataJSON)) as {
        origin?: unknown;
      }
    ).origin;
  } catch (cause) {
    throw new AppError('VERIFICATION_FAILED', 'clientDataJSON is not UTF-8 JSON', { cause });
  }
  if (origin !== allowedOrigin) {
    throw new AppError(
      'VERIFICATION_FAILED',
      `the passkey assertion came from ${String(origin)}, not ${allowedOrigin}`,
    );
  }
}

/** The big-endian signature counter at bytes 33..36 of authenticator data. */
function readSignCount(authenticatorData: Uint8Array): number {
  if (authenticatorData.byteLength < 37) {
    throw new AppError('VERIFICATION_FAILED', 'authenticatorData is shorter than 37 bytes');
  }
  return Buffer.from(authenticatorData).readUInt32BE(33);
}

function checkP256Spki(spki: Uint8Array): void {
  let key: KeyObject;
  try {
    key = createPublicKeyFromSpki(spki);
  } catch (cause) {
    throw new AppError('INVALID_INPUT', 'the approver key is not a DER SubjectPublicKeyInfo', {
      cause,
    });
  }
  if (key.asymmetricKeyType !== 'ec' || key.asymmetricKeyDetails?.namedCurve !== 'prime256v1') {
    throw new AppError('INVALID_INPUT', 'approver keys must be ECDSA P-256 keys', {
      hint: 'create one with `openssl ecparam -name prime256v1 -genkey -noout -out approver.pem`',
    });
  }
  // One encoding per key: the credential id is the SHA-256 of these bytes, so explicit curve
  // parameters or a compressed point would register the same key again under another id
  // (revoking one would leave the other), or under another person (threat model H5).
  const jwk = key.export({ format: 'jwk' });
  const canonical = Buffer.concat([
    P256_SPKI_PREFIX,
    Buffer.from(jwk.x ?? '', 'base64url'),
    Buffer.from(jwk.y ?? '', 'base64url'),
  ]);
  if (!canonical.equals(spki)) {
    throw new AppError(
      'INVALID_INPUT',
      'the approver key must use the named curve P-256 with an uncompressed point, not explicit parameters or a compressed point',
      { hint: 'export the public key with `openssl ec -in approver.pem -pubout`' },
    );
  }
}

/** DER of a P-256 SubjectPublicKeyInfo (id-ecPublicKey, prime256v1) up to the point's `04`. */
const P256_SPKI_PREFIX = Buffer.from(
  '3059301306072a8648ce3d020106082a8648ce3d03010703420004',
  'hex',
);

function createPublicKeyFromSpki(spki: Uint8Array): KeyObject {
  return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
}
