/**
 * The governance model (DESIGN.md §5): products and their release channels, who may sign on them
 * (entitlements), the people and groups who approve, and the trusted OIDC issuers. A `Governance`
 * value is an immutable snapshot: `parseGovernanceFile` builds one from `governance.yaml`, the
 * signing path reads one, `planGovernance` compares two.
 */
import type { Role } from '../ports.ts';
import type { IssuerConfig } from './issuer.ts';

/** How a channel signs: a per-job key with a minutes-long certificate, or the channel's own key. */
export const SIGNING_MODES = ['ephemeral', 'managed'] as const;
export type SigningMode = (typeof SIGNING_MODES)[number];

/**
 * Evidence a channel can require. A closed set on purpose: an unknown (misspelt) kind would
 * otherwise require nothing and fail open (threat model G10).
 */
export const EVIDENCE_KINDS = ['provenance', 'checks'] as const;
export type EvidenceKind = (typeof EVIDENCE_KINDS)[number];

/** The checks an approved exception may waive. Entitlements and protected refs are never waivable. */
export const WAIVABLE_CHECKS = ['approvals', 'provenance', 'checks', 'changeWindow'] as const;
export type WaivableCheck = (typeof WAIVABLE_CHECKS)[number];

/** Human roles (DESIGN.md §5); the same union as API tokens carry. */
export const ROLES = [
  'admin',
  'approver',
  'security',
  'auditor',
] as const satisfies readonly Role[];

/** What a group is for. Approval rules may only name `approvers` groups, exceptions `emergency` ones. */
export const GROUP_PURPOSES = ['approvers', 'emergency', 'owners'] as const;
export type GroupPurpose = (typeof GROUP_PURPOSES)[number];

/** Days of the week as change windows name them. */
export const WEEKDAYS = ['mon', 'tue', 'wed', 'thu', 'fri', 'sat', 'sun'] as const;
export type Weekday = (typeof WEEKDAYS)[number];

/** Something Countersign signs for, e.g. `payments-api`. */
export interface Product {
  readonly name: string;
  /** A user id or group name accountable for the product. */
  readonly owner: string;
  readonly description: string;
  /**
   * Ref patterns the organisation protects (branch protection, protected tags) for this product's
   * repositories. Used only when the issuer does not say itself whether a ref is protected
   * (GitHub tokens do not; GitLab's `ref_protected` does).
   */
  readonly protectedRefs: readonly string[];
}

/** How many distinct people of which group must approve a signing request. */
export interface ApprovalRule {
  /** 0 means no approval needed. */
  readonly required: number;
  /** Group name; absent only when `required` is 0. */
  readonly group?: string;
  /** Optionally, K more people of a second group (e.g. security as well as the team). */
  readonly secondGroup?: { readonly group: string; readonly required: number };
  /**
   * How long an approval stays valid, and how long a signing request waits for its quorum
   * before it expires (seconds).
   */
  readonly lifetimeSeconds: number;
  /**
   * A credential (approver key or passkey) counts only once it was registered at least this long
   * before the approval (seconds; 0: at once). A cooling-off period against credentials planted
   * on someone's account (threat-model B6): registrations are logged and notified meanwhile.
   */
  readonly minCredentialAgeSeconds: number;
}

/** Approvals and signing requests last a day unless the channel says otherwise. */
export const DEFAULT_APPROVAL_LIFETIME_SECONDS = 24 * 3600;

/**
 * A period during which signing is allowed on a channel, weekly or cron-like; evaluated by
 * `evaluateChangeWindows` (`change-window.ts`, which documents midnight spans and DST).
 */
export type ChangeWindow = WeeklyChangeWindow | ScheduleChangeWindow;

/** Every week on `days`, from `start` to `end` local time. */
export interface WeeklyChangeWindow {
  readonly days: readonly Weekday[];
  /** `HH:MM`, 24-hour. */
  readonly start: string;
  /** `HH:MM`, 24-hour; before `start` means the window ends the next day (spans midnight). */
  readonly end: string;
  /** IANA time zone, e.g. `Europe/Berlin`. */
  readonly timeZone: string;
}

/** Every local minute a 5-field cron expression matches, e.g. `* 9-16 * * mon-fri`. */
export interface ScheduleChangeWindow {
  readonly schedule: string;
  /** IANA time zone, e.g. `Europe/Berlin`. */
  readonly timeZone: string;
}

/** A release channel of a product, e.g. `payments-api/prod`. */
export interface Channel {
  readonly product: string;
  readonly name: string;
  readonly signingMode: SigningMode;
  readonly approval: ApprovalRule;
  /** Group that approves exceptions (break-glass) on this channel. */
  readonly emergencyGroup?: string;
  /** Empty means signing is never restricted by time. */
  readonly changeWindows: readonly ChangeWindow[];
  readonly requiredEvidence: readonly EvidenceKind[];
}

/**
 * Which workloads an entitlement covers. Every present field must equal the workload's field
 * exactly (no case folding, no trimming); a field the workload lacks never matches (threat model
 * C6). `ref` may be a glob (`refs/tags/v*`).
 */
export interface EntitlementSelector {
  /** The issuer's name as written in governance.yaml. */
  readonly issuer: string;
  /** The issuer's `iss`, resolved from `issuer`: what the workload is compared with. */
  readonly issuerUrl: string;
  /** Exact token `sub`, for workloads without repository ids (Kubernetes, SPIFFE). */
  readonly subject?: string;
  readonly repositoryId?: string;
  readonly ownerId?: string;
  readonly ref?: string;
  readonly workflow?: string;
  readonly environment?: string;
  readonly event?: string;
  /** Immutable uid of a Kubernetes service account. */
  readonly serviceAccountUid?: string;
}

/** What an entitlement allows a workload to request signing on. */
export interface EntitlementGrant {
  readonly product: string;
  readonly channels: readonly string[];
}

/** "Workloads matching `selector` may request signing on `grants`" (DESIGN.md §5). */
export interface Entitlement {
  readonly id: string;
  readonly selector: EntitlementSelector;
  readonly grants: EntitlementGrant;
  /** A user id or group name accountable for the entitlement. */
  readonly owner: string;
  readonly justification: string;
  /** After this instant the entitlement never matches. */
  readonly expiresAt: Date;
  /** When the owner must next confirm it is still needed. */
  readonly reviewAt: Date;
}

/** A person. Passkeys and API tokens are attached elsewhere. */
export interface User {
  /** Stable id, e.g. `alice`. */
  readonly id: string;
  readonly email: string;
  readonly roles: readonly Role[];
}

/** A named set of users with a purpose. */
export interface Group {
  readonly name: string;
  readonly purpose: GroupPurpose;
  /** User ids. */
  readonly members: readonly string[];
  readonly description: string;
}

/** Where extra Cedar policies come from. Reading files is the caller's job (core does no I/O). */
export interface GovernancePolicies {
  /** Whether the shipped `policies/default.cedar` is part of the policy set. */
  readonly defaults: boolean;
  /** Paths of `.cedar` files, relative to the governance file. */
  readonly files: readonly string[];
  readonly inline: readonly InlinePolicy[];
}

/** Cedar text written directly in governance.yaml. */
export interface InlinePolicy {
  readonly name: string;
  readonly cedar: string;
  /** 1-based line in the governance file where the Cedar text starts, for error messages. */
  readonly line: number;
}

/** A complete, validated governance snapshot. Lists keep the order of the file. */
export interface Governance {
  readonly issuers: readonly IssuerConfig[];
  readonly products: readonly Product[];
  readonly channels: readonly Channel[];
  readonly entitlements: readonly Entitlement[];
  readonly users: readonly User[];
  readonly groups: readonly Group[];
  readonly policies: GovernancePolicies;
  /** How exceptions (break-glass) are approved, bounded and reviewed. */
  readonly exceptions: ExceptionRules;
}

/**
 * The `exceptions:` section of governance.yaml: one set of rules for every channel. Exceptions
 * themselves are approved by the channel's `emergencyGroup`.
 */
export interface ExceptionRules {
  /** Distinct members of the channel's emergency group who must approve; the requester never counts. */
  readonly required: number;
  /** The longest an exception may stay usable after its approval. */
  readonly maxDurationSeconds: number;
  /** The most signatures one exception may allow. */
  readonly maxUses: number;
  /** How long after its approval an exception's post-incident review is due. */
  readonly reviewWithinSeconds: number;
  /** Whether an overdue review blocks new exceptions for the same product. */
  readonly blockWhenReviewOverdue: boolean;
}

/** The rules when governance.yaml has no `exceptions:` section (or leaves fields out). */
export const DEFAULT_EXCEPTION_RULES: ExceptionRules = Object.freeze({
  required: 1,
  maxDurationSeconds: 24 * 3600,
  maxUses: 10,
  reviewWithinSeconds: 72 * 3600,
  blockWhenReviewOverdue: true,
});

/** Governance before anything has been applied: what the first `countersign plan` compares with. */
export const EMPTY_GOVERNANCE: Governance = Object.freeze({
  issuers: [],
  products: [],
  channels: [],
  entitlements: [],
  users: [],
  groups: [],
  policies: { defaults: true, files: [], inline: [] },
  exceptions: DEFAULT_EXCEPTION_RULES,
});

/** The channel `product/name`, or undefined. Names compare exactly. */
export function findChannel(
  governance: Governance,
  product: string,
  name: string,
): Channel | undefined {
  return governance.channels.find((c) => c.product === product && c.name === name);
}
