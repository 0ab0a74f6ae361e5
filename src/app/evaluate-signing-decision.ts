/**
 * The signing decision (DESIGN.md §6 steps 2 and 4): resolve entitlements, assemble the policy
 * request, ask the policy engine, and describe the outcome as evidence. It neither logs nor
 * stores: the caller appends `evidence` to the transparency log in the same transaction as the
 * rest of the signing (INV-1, INV-8), whatever the decision.
 */
import type { Clock } from '../core/ports.ts';
import { findEntitlements, matchRefPattern } from '../core/governance/find-entitlements.ts';
import type { EntitlementMatch } from '../core/governance/find-entitlements.ts';
import { evaluateChangeWindows } from '../core/governance/change-window.ts';
import { findChannel } from '../core/governance/governance.ts';
import type { Governance, Group, WaivableCheck } from '../core/governance/governance.ts';
import type { Workload } from '../core/governance/workload.ts';
import type {
  ChannelResource,
  GroupRef,
  PolicyEngine,
  PolicyRequest,
  WorkloadPrincipal,
} from '../core/policy/policy-engine.ts';

/** What is being signed. */
export interface SigningSubject {
  readonly name: string;
  readonly digest: { readonly algorithm: string; readonly value: string };
}

/**
 * Facts other parts of the service establish before the decision (evidence verification,
 * approvals, change windows, exceptions). Anything not given counts as absent: no provenance, no
 * passed checks, no approvals, no exception. Without `changeWindow`, the channel's change windows
 * are evaluated at the clock's `now` (`evaluateChangeWindows`).
 */
export interface SigningContextInput {
  readonly evidence?: {
    readonly provenance?: { readonly present: boolean; readonly builderTrusted: boolean };
    readonly checksPassed?: boolean;
  };
  readonly approvals?: { readonly count: number };
  readonly changeWindow?: { readonly open: boolean };
  readonly exception?: { readonly active: boolean; readonly waives: readonly WaivableCheck[] };
}

/** A signing request as the decision sees it. */
export interface SigningDecisionInput {
  /** The verified, normalised identity (never the raw token). */
  readonly workload: Workload;
  readonly product: string;
  readonly channel: string;
  readonly subject?: SigningSubject;
  readonly context?: SigningContextInput;
}

/** Ports and state the decision reads. */
export interface SigningDecisionDeps {
  /** The governance snapshot in force (the same one the policy engine was built for). */
  readonly governance: Governance;
  readonly policyEngine: PolicyEngine;
  readonly clock: Clock;
}

/**
 * The identity recorded as evidence: the normalised claims (a `Workload` never holds the token
 * itself) plus the configured issuer name.
 */
export interface WorkloadIdentityEvidence extends Workload {
  readonly issuerName?: string;
}

/** The body of the log event that records a signing decision. */
export interface SigningDecisionEvidence {
  readonly type: 'signing.decision';
  /** ISO 8601, from the clock. */
  readonly decidedAt: string;
  readonly workload: WorkloadIdentityEvidence;
  readonly product: string;
  readonly channel: string;
  readonly subject?: SigningSubject;
  readonly decision: 'allow' | 'deny';
  readonly policyHash: string;
  readonly determiningPolicies: readonly string[];
  readonly entitlementIds: readonly string[];
  readonly reasons: readonly string[];
  /**
   * Whether the change window was open, and when closed the next opening (ISO 8601) if within
   * 8 days. Absent when the request could not be put to policy (unknown product or channel).
   */
  readonly changeWindow?: { readonly open: boolean; readonly nextOpensAt?: string };
}

/** The outcome of `evaluateSigningDecision`. */
export interface SigningDecision {
  readonly decision: 'allow' | 'deny';
  /** Why, in words an engineer can act on. Never empty for a denial. */
  readonly reasons: readonly string[];
  readonly policyHash: string;
  readonly determiningPolicies: readonly string[];
  /** Ids of the live entitlements that matched, and of matching ones that have expired. */
  readonly entitlements: {
    readonly matched: readonly string[];
    readonly expired: readonly string[];
  };
  readonly evidence: SigningDecisionEvidence;
}

/** A signing request resolved against governance, ready for the policy engine. */
export interface PreparedSigningRequest {
  /** Undefined when the request cannot even be put to policy (unknown product, channel or issuer). */
  readonly request: Extract<PolicyRequest, { action: 'sign' }> | undefined;
  readonly entitlements: EntitlementMatch;
  /** Why it could not be put to policy, when `request` is undefined. */
  readonly problems: readonly string[];
  readonly issuerName?: string;
  /** The change-window state the request was decided with, and the next opening when closed. */
  readonly changeWindow?: { readonly open: boolean; readonly nextOpensAt?: Date };
}

/**
 * Decides whether `input.workload` may sign on `input.product`/`input.channel` now. Never
 * throws for a bad request: an unknown product, channel or issuer, a malformed context or a
 * policy error is a denial with a reason (fail closed, INV-2).
 */
export function evaluateSigningDecision(
  input: SigningDecisionInput,
  deps: SigningDecisionDeps,
): SigningDecision {
  const now = deps.clock.now();
  const prepared = prepareSigningRequest(input, deps.governance, now);
  const outcome =
    prepared.request === undefined
      ? {
          decision: 'deny' as const,
          reasons: prepared.problems,
          determiningPolicies: [] as readonly string[],
          policyHash: deps.policyEngine.policyHash,
        }
      : deps.policyEngine.evaluate(prepared.request);

  const reasons = [...outcome.reasons];
  if (outcome.decision === 'deny' && prepared.entitlements.matched.length === 0) {
    // Say which entitlement would have applied: "renew X" is actionable, "no entitlement" less so.
    for (const expired of prepared.entitlements.expired) {
      reasons.push(
        `entitlement ${expired.id} expired at ${expired.expiresAt.toISOString()}: ask its owner ${expired.owner} to renew it`,
      );
    }
  }
  // Facts that could not be established for a request put to policy (a change window that cannot
  // be evaluated) were taken as the failing case; say why.
  if (prepared.request !== undefined && outcome.decision === 'deny')
    reasons.push(...prepared.problems);
  const window = prepared.changeWindow;
  const isWindowWaived =
    prepared.request?.context.exception.active === true &&
    prepared.request.context.exception.waives.includes('changeWindow');
  if (outcome.decision === 'deny' && window !== undefined && !window.open && !isWindowWaived) {
    // The policy's reason says "closed"; say when it opens so the engineer knows when to retry.
    reasons.push(
      window.nextOpensAt === undefined
        ? `no change window of ${input.product}/${input.channel} opens within the next 8 days`
        : `the next change window of ${input.product}/${input.channel} opens at ${formatInstant(window.nextOpensAt)}`,
    );
  }
  const entitlementIds = prepared.entitlements.matched.map((e) => e.id);
  return {
    decision: outcome.decision,
    reasons,
    policyHash: outcome.policyHash,
    determiningPolicies: outcome.determiningPolicies,
    entitlements: {
      matched: entitlementIds,
      expired: prepared.entitlements.expired.map((e) => e.id),
    },
    evidence: {
      type: 'signing.decision',
      decidedAt: now.toISOString(),
      workload: toIdentityEvidence(input.workload, prepared.issuerName),
      product: input.product,
      channel: input.channel,
      ...(input.subject === undefined ? {} : { subject: input.subject }),
      decision: outcome.decision,
      policyHash: outcome.policyHash,
      determiningPolicies: outcome.determiningPolicies,
      entitlementIds,
      reasons,
      ...(window === undefined
        ? {}
        : {
            changeWindow: {
              open: window.open,
              ...(window.nextOpensAt === undefined
                ? {}
                : { nextOpensAt: formatInstant(window.nextOpensAt) }),
            },
          }),
    },
  };
}

/** RFC 3339 in UTC to the second: change windows are minute-granular. */
function formatInstant(date: Date): string {
  return date.toISOString().replace(/\.\d{3}Z$/, 'Z');
}

/**
 * Resolves a signing request against governance at `now`: the issuer, product and channel, the
 * matching entitlements, whether the ref is protected, and the Cedar `SignContext`. Exported for
 * `explainDecision`, which shows these intermediate facts.
 */
export function prepareSigningRequest(
  input: SigningDecisionInput,
  governance: Governance,
  now: Date,
): PreparedSigningRequest {
  const { workload } = input;
  const entitlements = findEntitlements(
    workload,
    input.product,
    input.channel,
    governance.entitlements,
    now,
  );
  const issuer = governance.issuers.find((i) => i.issuer === workload.issuer);
  const product = governance.products.find((p) => p.name === input.product);
  const channel = findChannel(governance, input.product, input.channel);
  const problems: string[] = [];
  if (issuer === undefined) problems.push(`issuer ${quote(workload.issuer)} is not configured`);
  if (product === undefined) problems.push(`unknown product ${quote(input.product)}`);
  else if (channel === undefined) {
    problems.push(`product ${product.name} has no channel ${quote(input.channel)}`);
  }
  if (issuer === undefined || product === undefined || channel === undefined) {
    return {
      request: undefined,
      entitlements,
      problems,
      ...(issuer === undefined ? {} : { issuerName: issuer.name }),
    };
  }

  // The issuer's own word on protection wins; only when it has no such claim (GitHub) do the
  // product's declared protected refs decide.
  const refProtected =
    workload.refProtected ??
    (workload.ref !== undefined &&
      product.protectedRefs.some((pattern) => matchRefPattern(pattern, workload.ref ?? '')));
  const principal: WorkloadPrincipal = { ...workload, issuerName: issuer.name, refProtected };
  const approvalGroup = groupRef(governance.groups, channel.approval.group);
  const emergencyGroup = groupRef(governance.groups, channel.emergencyGroup);
  const resource: ChannelResource = {
    kind: 'channel',
    product: { kind: 'product', name: product.name, owner: product.owner },
    name: channel.name,
    signingMode: channel.signingMode,
    requiredEvidence: channel.requiredEvidence,
    ...(approvalGroup === undefined ? {} : { approvalGroup }),
    ...(emergencyGroup === undefined ? {} : { emergencyGroup }),
  };
  const context = input.context ?? {};
  // The caller's word wins (a test of policy, or an explicit override in `explainDecision`);
  // otherwise the windows are evaluated now. A window that cannot be evaluated is closed.
  let changeWindow: { open: boolean; nextOpensAt?: Date };
  if (context.changeWindow !== undefined) {
    changeWindow = { open: context.changeWindow.open };
  } else {
    try {
      const state = evaluateChangeWindows(channel.changeWindows, now);
      changeWindow = {
        open: state.open,
        ...(state.nextOpensAt === undefined ? {} : { nextOpensAt: state.nextOpensAt }),
      };
    } catch (error) {
      changeWindow = { open: false };
      problems.push(
        `the change windows of ${product.name}/${channel.name} cannot be evaluated (${error instanceof Error ? error.message : 'unknown error'}): treated as closed`,
      );
    }
  }
  return {
    request: {
      action: 'sign',
      principal,
      resource,
      context: {
        entitled: entitlements.matched.length > 0,
        entitlementIds: entitlements.matched.map((e) => e.id),
        evidence: {
          provenance: {
            present: context.evidence?.provenance?.present ?? false,
            builderTrusted: context.evidence?.provenance?.builderTrusted ?? false,
          },
          checksPassed: context.evidence?.checksPassed ?? false,
        },
        approvals: { count: context.approvals?.count ?? 0, required: channel.approval.required },
        changeWindow: { open: changeWindow.open },
        exception: {
          active: context.exception?.active ?? false,
          waives: context.exception?.waives ?? [],
        },
      },
    },
    entitlements,
    problems,
    issuerName: issuer.name,
    changeWindow,
  };
}

function groupRef(groups: readonly Group[], name: string | undefined): GroupRef | undefined {
  const group = name === undefined ? undefined : groups.find((g) => g.name === name);
  return group === undefined ? undefined : { name: group.name, purpose: group.purpose };
}

/** Claims quoted in messages are attacker-influenced: JSON quoting escapes control characters. */
function quote(value: string): string {
  return JSON.stringify(value.length > 200 ? `${value.slice(0, 200)}…` : value);
}

/**
 * Every `Workload` field, copied one by one: a caller's object might carry more at run time (a
 * raw token, by mistake), and evidence is forever. The type check below fails when `Workload`
 * gains a field this list lacks.
 */
const WORKLOAD_FIELDS = [
  'issuer',
  'issuerType',
  'subject',
  'identityUri',
  'repositoryId',
  'ownerId',
  'repository',
  'ref',
  'refProtected',
  'workflow',
  'callerWorkflow',
  'environment',
  'event',
  'commitSha',
  'runnerEnvironment',
  'runId',
  'actors',
  'tokenId',
  'namespace',
  'serviceAccount',
  'serviceAccountUid',
  'isInteractive',
] as const satisfies readonly (keyof Workload)[];
// `tokenExpiresAt` is bookkeeping for the jti store, not identity: it stays out of the evidence.
type UncopiedWorkloadField = Exclude<
  keyof Workload,
  (typeof WORKLOAD_FIELDS)[number] | 'tokenExpiresAt'
>;
const EVERY_WORKLOAD_FIELD_COPIED: [UncopiedWorkloadField] extends [never] ? true : never = true;

function toIdentityEvidence(
  workload: Workload,
  issuerName: string | undefined,
): WorkloadIdentityEvidence {
  const out: Record<string, unknown> = {};
  if (EVERY_WORKLOAD_FIELD_COPIED) {
    for (const field of WORKLOAD_FIELDS) {
      if (workload[field] !== undefined) out[field] = workload[field];
    }
  }
  if (issuerName !== undefined) out['issuerName'] = issuerName;
  return out as unknown as WorkloadIdentityEvidence;
}
