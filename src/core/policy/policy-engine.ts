/**
 * The policy decision point (DESIGN.md §6 step 4): the request shapes Countersign asks about, the
 * decision it gets back, and the `PolicyEngine` seam the Cedar adapter implements. The Cedar
 * schema these map onto is `policies/schema.cedarschema`.
 */
import type { Role } from '../ports.ts';
import type { EvidenceKind, GroupPurpose, SigningMode } from '../governance/governance.ts';
import type { Workload } from '../governance/workload.ts';

/** Every action policies decide on; the Cedar schema declares the same names. */
export const POLICY_ACTIONS = [
  'sign',
  'approve',
  'requestException',
  'approveException',
  'manageGovernance',
  'manageKeys',
  'readAudit',
] as const;
export type PolicyAction = (typeof POLICY_ACTIONS)[number];

/** The Cedar namespace of the schema and every entity type. */
export const CEDAR_NAMESPACE = 'Countersign';

/** A workload as policy sees it: its normalised claims plus facts Countersign derived. */
export interface WorkloadPrincipal extends Workload {
  /** The issuer's name in governance.yaml. */
  readonly issuerName: string;
  /** Whether the ref is protected (the issuer's own claim, else the product's `protectedRefs`). */
  readonly refProtected: boolean;
}

/** A group as policy sees it. */
export interface GroupRef {
  readonly name: string;
  readonly purpose: GroupPurpose;
}

/** A person as policy sees it, with the groups they belong to. */
export interface UserPrincipal {
  readonly id: string;
  readonly email: string;
  readonly roles: readonly Role[];
  readonly groups: readonly GroupRef[];
}

/** A product as a policy resource. */
export interface ProductResource {
  readonly kind: 'product';
  readonly name: string;
  /** User id or group name. */
  readonly owner: string;
}

/** A channel as a policy resource; it sits inside its product in the entity hierarchy. */
export interface ChannelResource {
  readonly kind: 'channel';
  readonly product: ProductResource;
  readonly name: string;
  readonly signingMode: SigningMode;
  readonly requiredEvidence: readonly EvidenceKind[];
  readonly approvalGroup?: GroupRef;
  readonly emergencyGroup?: GroupRef;
}

/** The facts a signing decision depends on (the Cedar `SignContext`). */
export interface SignContext {
  /** At least one live entitlement matched. */
  readonly entitled: boolean;
  readonly entitlementIds: readonly string[];
  readonly evidence: {
    readonly provenance: { readonly present: boolean; readonly builderTrusted: boolean };
    readonly checksPassed: boolean;
  };
  readonly approvals: { readonly count: number; readonly required: number };
  readonly changeWindow: { readonly open: boolean };
  readonly exception: { readonly active: boolean; readonly waives: readonly string[] };
}

/** One authorization question. The union keeps principal, resource and context consistent. */
export type PolicyRequest =
  | {
      readonly action: 'sign';
      readonly principal: WorkloadPrincipal;
      readonly resource: ChannelResource;
      readonly context: SignContext;
    }
  | {
      readonly action: 'approve';
      readonly principal: UserPrincipal;
      readonly resource: ChannelResource;
      readonly context: { readonly isRequester: boolean; readonly isChangeAuthor: boolean };
    }
  | {
      readonly action: 'requestException';
      readonly principal: UserPrincipal;
      readonly resource: ChannelResource;
    }
  | {
      readonly action: 'approveException';
      readonly principal: UserPrincipal;
      readonly resource: ChannelResource;
      readonly context: { readonly isRequester: boolean };
    }
  | {
      readonly action: 'manageGovernance' | 'manageKeys' | 'readAudit';
      readonly principal: UserPrincipal;
      readonly resource: ProductResource | ChannelResource;
    };

/** A policy evaluation that failed; the request was denied because of it (fail closed). */
export interface PolicyEvaluationError {
  /** The policy that failed, when one did (absent when the whole request was malformed). */
  readonly policyId?: string;
  readonly message: string;
}

/** The answer to a `PolicyRequest`. */
export interface PolicyDecision {
  readonly decision: 'allow' | 'deny';
  /** `sha256:<hex>` of the policy set and schema that decided: the policy version (INV-7). */
  readonly policyHash: string;
  /** `@id`s of the policies that decided: the satisfied forbids on deny, permits on allow. */
  readonly determiningPolicies: readonly string[];
  /** Why, in sentences an engineer can act on. Never empty for a denial. */
  readonly reasons: readonly string[];
  readonly errors: readonly PolicyEvaluationError[];
}

/** What is known about one loaded policy, for `explain` and the dashboard. */
export interface PolicyInfo {
  /** The policy's `@id`. */
  readonly id: string;
  readonly effect: 'permit' | 'forbid';
  /** All annotations, e.g. `reason`, `description`. */
  readonly annotations: Readonly<Record<string, string>>;
  /** `file:line` where the policy starts. */
  readonly source: string;
}

/** Cedar text (policies or the schema) and where it came from. */
export interface PolicySource {
  /** Identity in the policy set, e.g. `default.cedar`, `policies/payments.cedar`, `inline:freeze`. */
  readonly name: string;
  readonly text: string;
  /**
   * Where `text` starts when it is embedded in another file (inline policies in governance.yaml),
   * so errors point at that file's lines. Absent: line 1 of `name`.
   */
  readonly location?: { readonly file: string; readonly line: number };
}

/**
 * The policy decision point. An engine is immutable: it holds one validated policy set and its
 * hash. Applying new governance builds a new engine.
 */
export interface PolicyEngine {
  readonly policyHash: string;
  readonly policies: readonly PolicyInfo[];
  /**
   * Decides `request`. Never throws: any evaluation or validation error is a denial with the
   * error in `errors` and `reasons` (threat model C7, INV-2).
   */
  evaluate(request: PolicyRequest): PolicyDecision;
}
