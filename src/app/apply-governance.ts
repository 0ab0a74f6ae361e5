/**
 * `countersign plan` and `countersign apply` (issue "Who may sign what"): check a governance
 * submission completely, compare it with the governance in force, and apply it as a new version.
 *
 * Nothing is written unless the whole submission is valid, the Cedar policies included. An apply
 * stores the new version and appends its `governance.applied` event to the transparency log in
 * one transaction (the event's `effect`), so there is never a version without its evidence or
 * evidence without its version (DESIGN.md §6 invariants: log before release).
 */
import { AppError, isAppError, type FieldError } from '../core/errors.ts';
import { planGovernance, type GovernanceChange } from '../core/governance/plan-governance.ts';
import type { Clock, GovernanceActor, GovernanceVersionRecord, Storage } from '../core/ports.ts';
import type { GovernanceState } from './active-governance.ts';
import type { EventLog } from './append-event.ts';
import {
  compileGovernance,
  sha256Text,
  type CompiledGovernance,
  type GovernanceSubmission,
  type PolicyCompiler,
} from './compile-governance.ts';

/** The log event kind of an applied governance change. */
export const GOVERNANCE_APPLIED_EVENT = 'governance.applied';

/**
 * Changes listed one by one in a `governance.applied` event; beyond it only counts are kept, so
 * the event stays far below the log's 64 KiB entry limit. The stored version holds everything.
 */
export const MAX_EVENT_CHANGES = 200;

/** What applying a submission would change. */
export interface GovernancePlan {
  /** The version in force now (0: none applied yet). */
  readonly currentVersion: number;
  /** Empty when the submission matches what is in force. */
  readonly changes: readonly GovernanceChange[];
  readonly warnings: readonly FieldError[];
  /** The policy hash the submission would put in force. */
  readonly policyHash: string;
  /** `sha256:<hex>` of the submitted governance file. */
  readonly fileSha256: string;
}

/** The outcome of an apply. */
export interface GovernanceApplyResult extends GovernancePlan {
  /** False when there was nothing to change: nothing was written or logged. */
  readonly applied: boolean;
  /** The version in force after the call. */
  readonly version: number;
  /** Index of the `governance.applied` event, when `applied`. */
  readonly logIndex: bigint | undefined;
}

/** The governance in force, as administrators see it. */
export interface GovernanceView {
  readonly version: number;
  readonly fileName: string;
  readonly fileSha256: string;
  readonly policyHash: string;
  readonly appliedAt: Date;
  readonly appliedBy: GovernanceActor;
  /** Index of the event that recorded this version. */
  readonly logIndex: bigint | undefined;
  /** The validated snapshot (canonical JSON, parsed). */
  readonly document: unknown;
}

/** Governance administration. */
export interface GovernanceAdmin {
  /**
   * Checks `submission` and lists what applying it would change; writes nothing.
   * Throws INVALID_INPUT for a malformed submission or a governance file or policy with problems
   * (every problem, each with `file:line` in `errors[].source`); STORAGE_UNAVAILABLE.
   */
  plan(submission: GovernanceSubmission): Promise<GovernancePlan>;
  /**
   * Checks `submission` and applies it as the next version, recorded as a `governance.applied`
   * event naming `actor`. A submission that changes nothing writes nothing. Throws like `plan`,
   * and CONFLICT when another apply committed first (plan again).
   */
  apply(submission: GovernanceSubmission, actor: GovernanceActor): Promise<GovernanceApplyResult>;
  /** The version in force, or undefined when none was applied. Throws STORAGE_UNAVAILABLE. */
  describeCurrent(): Promise<GovernanceView | undefined>;
}

/** What governance administration is built from. */
export interface GovernanceAdminDeps {
  readonly storage: Storage;
  readonly events: EventLog;
  readonly clock: Clock;
  readonly compiler: PolicyCompiler;
  readonly state: GovernanceState;
}

/** The idempotency key of the event that records `version`: one event per version, ever. */
export function governanceEventKey(version: number): string {
  return `${GOVERNANCE_APPLIED_EVENT}/v${String(version)}`;
}

/** Governance administration over storage, the event log and the policy compiler. */
export function createGovernanceAdmin(deps: GovernanceAdminDeps): GovernanceAdmin {
  const { storage, events, clock, compiler, state } = deps;

  const planOf = async (submission: GovernanceSubmission) => {
    // Everything is checked before storage is even read: a bad file costs nothing.
    const compiled = compileSubmission(submission, compiler, clock.now());
    const current = await state.current();
    const changes = planGovernance(current.governance, compiled.governance, {
      currentPolicyHash: current.policyEngine.policyHash,
      desiredPolicyHash: compiled.policyEngine.policyHash,
    });
    const plan: GovernancePlan = {
      currentVersion: current.version,
      changes,
      warnings: compiled.warnings,
      policyHash: compiled.policyEngine.policyHash,
      fileSha256: compiled.fileSha256,
    };
    return { plan, compiled };
  };

  return {
    async plan(submission) {
      return (await planOf(submission)).plan;
    },

    async apply(submission, actor) {
      const { plan, compiled } = await planOf(submission);
      if (plan.changes.length === 0) {
        return { ...plan, applied: false, version: plan.currentVersion, logIndex: undefined };
      }
      const version = plan.currentVersion + 1;
      const record = toRecord(version, submission, compiled, actor, clock.now());
      const result = await events.appendEvent(
        GOVERNANCE_APPLIED_EVENT,
        describeApply(record, plan),
        {
          idempotencyKey: governanceEventKey(version),
          effect: async (session) => {
            // Compare-and-set: the plan was made against `currentVersion`; if another apply
            // committed meanwhile (another request, another replica), this one must not land on
            // top of a version it never compared with.
            const latest = await session.governance.latestVersion();
            if (latest !== plan.currentVersion) {
              throw new AppError(
                'CONFLICT',
                `governance changed while applying (now version ${String(latest)}, planned against ${String(plan.currentVersion)})`,
                { hint: 'run `countersign plan` again and review the changes' },
              );
            }
            await session.governance.insert(record);
          },
        },
      );
      // A duplicate means this exact change (same actor, same file, same base version) was
      // applied before, e.g. a retry after a lost response: it is in force, report it.
      return { ...plan, applied: true, version, logIndex: result.index };
    },

    async describeCurrent() {
      const record = await storage.governance.latest();
      if (record === undefined) return undefined;
      const entry = await storage.log.findEntryByIdempotencyKey(governanceEventKey(record.version));
      return {
        version: record.version,
        fileName: record.fileName,
        fileSha256: record.fileSha256,
        policyHash: record.policyHash,
        appliedAt: record.appliedAt,
        appliedBy: record.appliedBy,
        logIndex: entry?.index,
        document: JSON.parse(record.document) as unknown,
      };
    },
  };
}

/**
 * Compiles a submission. Its problems are the submitter's to fix, so CONFIG_INVALID (which means
 * the server's own configuration) becomes INVALID_INPUT, keeping every `file:line`.
 */
function compileSubmission(
  submission: GovernanceSubmission,
  compiler: PolicyCompiler,
  now: Date,
): CompiledGovernance {
  try {
    return compileGovernance(submission, compiler, { now });
  } catch (error) {
    if (!isAppError(error, 'CONFIG_INVALID')) throw error;
    throw new AppError('INVALID_INPUT', error.message, {
      errors: error.errors,
      hint: error.hint ?? 'fix every listed line, then run `countersign plan` again',
      cause: error,
    });
  }
}

function toRecord(
  version: number,
  submission: GovernanceSubmission,
  compiled: CompiledGovernance,
  actor: GovernanceActor,
  appliedAt: Date,
): GovernanceVersionRecord {
  return {
    version,
    fileName: submission.file.name,
    fileText: submission.file.text,
    fileSha256: compiled.fileSha256,
    document: compiled.document,
    policySchema: compiled.schema,
    policies: compiled.policies,
    policyHash: compiled.policyEngine.policyHash,
    appliedAt,
    appliedBy: { kind: actor.kind, id: actor.id, name: actor.name },
  };
}

/**
 * The `governance.applied` event body. Deterministic for one change (no clock: the log entry has
 * its own integrated time), so a retried apply is recognised as the same event. Binds the stored
 * version to the log: the file's hash, the snapshot's hash and the policy hash.
 */
function describeApply(
  record: GovernanceVersionRecord,
  plan: GovernancePlan,
): Record<string, unknown> {
  const count = (action: GovernanceChange['action']) =>
    plan.changes.filter((change) => change.action === action).length;
  // Already ordered by kind and key (planGovernance), so what is cut is the tail of that order.
  const listed = plan.changes.slice(0, MAX_EVENT_CHANGES);
  return {
    version: record.version,
    previousVersion: plan.currentVersion,
    fileName: record.fileName,
    fileSha256: record.fileSha256,
    documentSha256: sha256Text(record.document),
    policyHash: record.policyHash,
    appliedBy: {
      kind: record.appliedBy.kind,
      id: record.appliedBy.id,
      name: record.appliedBy.name,
    },
    summary: { added: count('add'), updated: count('update'), removed: count('remove') },
    changes: listed.map((change) => ({
      action: change.action,
      kind: change.kind,
      key: change.key,
      ...(change.fields.length === 0 ? {} : { fields: change.fields.map((field) => field.path) }),
    })),
    changesOmitted: plan.changes.length - listed.length,
  };
}
