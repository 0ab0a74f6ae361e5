/**
 * Exceptions (break-glass, issue #6; DESIGN.md §5): a person asks to waive some signing checks on
 * one product/channel for a bounded time and number of signatures; distinct members of the
 * channel's emergency group approve it (M of N, never the requester); the signing path spends its
 * uses; afterwards someone independent reviews it.
 *
 * Who may do what is decided by the governance in force and its Cedar policies (actions
 * `requestException`, `approveException`), never by an API token's role. Every state change is a
 * log event whose `effect` makes the change, so the change and its evidence commit together, and
 * a notification queued in that same transaction.
 *
 * Uses are the exception: the signing path spends one inside its own transaction
 * (`consumeExceptionUse`), which cannot append a second log entry, so the use is recorded in
 * `exception_uses` there and its `exception.used` event is appended from that outbox right after
 * (`Exceptions.sweep`, run periodically and before every read).
 */
import { isDisplaySafe } from '../core/display-text.ts';
import { AppError } from '../core/errors.ts';
import { findChannel, WAIVABLE_CHECKS } from '../core/governance/governance.ts';
import type { Governance, Group, WaivableCheck } from '../core/governance/governance.ts';
import type {
  ChannelResource,
  GroupRef,
  PolicyEngine,
  UserPrincipal,
} from '../core/policy/policy-engine.ts';
import type {
  Clock,
  ExceptionApprovalRecord,
  ExceptionRecord,
  ExceptionState,
  Random,
  Storage,
  StorageSession,
} from '../core/ports.ts';
import type { ActiveGovernance, GovernanceState } from './active-governance.ts';
import type { EventLog } from './append-event.ts';

/** Log event kinds of the exception life cycle (issue #6 "Log events"). */
export const EXCEPTION_EVENTS = {
  requested: 'exception.requested',
  /** A vote for it that did not complete the quorum. */
  approvalSubmitted: 'exception.approval-submitted',
  /** The quorum was reached: the exception is active. */
  approved: 'exception.approved',
  rejected: 'exception.rejected',
  cancelled: 'exception.cancelled',
  used: 'exception.used',
  /** It ran out of time or uses, or was never approved in time. */
  expired: 'exception.expired',
  reviewed: 'exception.reviewed',
} as const;

/** Exception ids: `ex_` and 16 hex digits. */
export const EXCEPTION_ID_PATTERN = /^ex_[0-9a-f]{16}$/;

const REASON_MAX_LENGTH = 2000;
const FINDINGS_MAX_LENGTH = 10_000;
/** How many exceptions one list returns, newest first. */
const LIST_LIMIT = 200;
/** How many rows one sweep looks at per kind; the next sweep continues. */
const SWEEP_LIMIT = 500;

/** A person acting through the API: a governance `users[].id`. */
export interface Human {
  readonly userId: string;
}

/** What `Exceptions.request` takes (untrusted input). */
export interface RequestExceptionInput {
  readonly product: string;
  readonly channel: string;
  /** Checks to waive: a non-empty subset of `WAIVABLE_CHECKS`. */
  readonly waives: readonly string[];
  readonly reason: string;
  /** How long it stays usable once approved; at most governance `exceptions.maxDuration`. */
  readonly durationSeconds: number;
  /** At most governance `exceptions.maxUses`. */
  readonly maxUses: number;
}

/** One vote as shown. */
export interface ExceptionVoteView {
  readonly userId: string;
  readonly decision: 'approve' | 'reject';
  readonly comment: string;
  readonly createdAt: Date;
}

/** An exception as the API and CLI show it. */
export interface ExceptionView {
  readonly id: string;
  readonly product: string;
  readonly channel: string;
  readonly waives: readonly WaivableCheck[];
  readonly reason: string;
  readonly requestedBy: string;
  /** The state at the time of the read: an active exception past its time shows `expired`. */
  readonly state: ExceptionState;
  readonly durationSeconds: number;
  readonly maxUses: number;
  readonly uses: number;
  readonly notAfter: Date | null;
  readonly createdAt: Date;
  readonly activatedAt: Date | null;
  readonly endedAt: Date | null;
  readonly endedBy: string | null;
  readonly approvals: {
    /** Approvals needed under the governance in force. */
    readonly required: number;
    /** Approvals given (the requester's never exist). */
    readonly count: number;
    readonly submitted: readonly ExceptionVoteView[];
  };
  readonly review: {
    readonly dueAt: Date | null;
    readonly overdue: boolean;
    readonly reviewedAt: Date | null;
    readonly reviewedBy: string | null;
    readonly findings: string | null;
  };
}

/** Filters of `Exceptions.list`. */
export interface ListExceptionsOptions {
  readonly state?: ExceptionState;
  /** Only exceptions whose review is overdue. */
  readonly overdue?: boolean;
  readonly product?: string;
}

/** The exception use cases behind `/v1/exceptions` and `countersign exception`. */
export interface Exceptions {
  /**
   * Asks for an exception; it starts `pending`. Throws FORBIDDEN when policy does not let
   * `human` ask (default: roles approver or security); INVALID_INPUT for a bad scope, waiver,
   * duration or use count; POLICY_DENIED when the channel has no emergency group, or a review on
   * the product is overdue and governance blocks new exceptions then (the message names it);
   * CONFLICT when the channel already has a pending or usable exception.
   */
  request(human: Human, input: RequestExceptionInput): Promise<ExceptionView>;
  /**
   * One vote by a member of the channel's emergency group (never the requester). An approval
   * that completes `exceptions.required` activates it: usable from now until now + its
   * duration. One rejection ends it. Throws FORBIDDEN (not eligible), NOT_FOUND, CONFLICT (not
   * pending any more, or this person voted already).
   */
  vote(
    human: Human,
    id: string,
    vote: { readonly decision: 'approve' | 'reject'; readonly comment: string },
  ): Promise<ExceptionView>;
  /** Ends a pending or active exception: its requester or an admin. FORBIDDEN, NOT_FOUND, CONFLICT. */
  cancel(human: Human, id: string): Promise<ExceptionView>;
  /**
   * Records the post-incident review of an exception that is no longer usable: by an approver or
   * security user who neither requested nor approved it. FORBIDDEN, NOT_FOUND, CONFLICT (still
   * usable, never activated, or reviewed already), INVALID_INPUT (empty findings).
   */
  review(human: Human, id: string, findings: string): Promise<ExceptionView>;
  /** Newest first (at most 200). Any person of the governance in force. */
  list(human: Human, options?: ListExceptionsOptions): Promise<ExceptionView[]>;
  /** One exception. NOT_FOUND. */
  show(human: Human, id: string): Promise<ExceptionView>;
  /**
   * Records what time did: expiry and exhaustion (`exception.expired`), overdue reviews
   * (`exception.review-overdue` notification, once), and logs the uses the signing path spent
   * (`exception.used`). Safe to run concurrently on every replica: each change is a conditional
   * UPDATE, each use event carries an idempotency key.
   */
  sweep(): Promise<void>;
}

export interface ExceptionsDeps {
  readonly storage: Storage;
  readonly events: EventLog;
  /** The governance in force: eligibility always comes from it. */
  readonly state: GovernanceState;
  readonly clock: Clock;
  readonly random: Random;
}

/** Thrown inside an effect when a concurrent change won; never leaves this module. */
class Superseded extends Error {}

/** Builds the exception use cases. */
export function createExceptions(deps: ExceptionsDeps): Exceptions {
  const { storage, events, clock } = deps;
  let sweeping: Promise<void> | undefined;

  const load = async (id: string): Promise<ExceptionRecord> => {
    const record = EXCEPTION_ID_PATTERN.test(id)
      ? await storage.exceptions.findById(id)
      : undefined;
    if (record === undefined) throw new AppError('NOT_FOUND', 'no exception has this id');
    return record;
  };

  const view = async (
    record: ExceptionRecord,
    active: ActiveGovernance,
    now: Date,
  ): Promise<ExceptionView> =>
    toView(record, await storage.exceptions.listApprovals(record.id), active.governance, now);

  const endOnItsOwn = async (
    record: ExceptionRecord,
    to: 'expired' | 'exhausted',
    now: Date,
  ): Promise<void> => {
    const cause =
      record.state === 'pending' ? 'not-approved' : to === 'exhausted' ? 'uses' : 'time';
    try {
      await events.appendEvent(
        EXCEPTION_EVENTS.expired,
        { ...eventScope(record), state: to, cause, uses: record.uses, at: now.toISOString() },
        {
          effect: async (session) => {
            const ended = await session.exceptions.end(record.id, {
              from: [record.state],
              to,
              at: now,
              by: null,
            });
            if (!ended) throw new Superseded();
            await session.notifications.enqueue(
              'exception.expired',
              { ...notificationData(record), state: to, cause },
              now,
            );
          },
        },
      );
    } catch (error) {
      if (!(error instanceof Superseded)) throw error;
    }
  };

  const sweepOnce = async (): Promise<void> => {
    const now = clock.now();
    const open = [
      ...(await storage.exceptions.list({ state: 'active', limit: SWEEP_LIMIT })),
      ...(await storage.exceptions.list({ state: 'pending', limit: SWEEP_LIMIT })),
    ];
    for (const record of open) {
      const state = effectiveState(record, now);
      if (state === 'expired' || state === 'exhausted') await endOnItsOwn(record, state, now);
    }
    for (const record of await storage.exceptions.list({
      reviewOverdueAt: now,
      limit: SWEEP_LIMIT,
    })) {
      if (record.reviewOverdueNotifiedAt !== null) continue;
      await storage.transaction(async (session) => {
        if (await session.exceptions.markReviewOverdueNotified(record.id, now)) {
          await session.notifications.enqueue(
            'exception.review-overdue',
            { ...notificationData(record), reviewDueAt: record.reviewDueAt?.toISOString() ?? null },
            now,
          );
        }
      });
    }
    for (const use of await storage.exceptions.listUnloggedUses(SWEEP_LIMIT)) {
      const record = await storage.exceptions.findById(use.exceptionId);
      if (record === undefined) continue;
      try {
        await events.appendEvent(
          EXCEPTION_EVENTS.used,
          {
            ...eventScope(record),
            use: use.use,
            maxUses: record.maxUses,
            usedAt: use.usedAt.toISOString(),
          },
          {
            // Two replicas logging the same use append one entry.
            idempotencyKey: `${EXCEPTION_EVENTS.used}:${record.id}:${String(use.use)}`,
            effect: async (session, entry) => {
              if (!(await session.exceptions.markUseLogged(record.id, use.use, entry.index)))
                throw new Superseded();
            },
          },
        );
      } catch (error) {
        if (!(error instanceof Superseded)) throw error;
      }
    }
  };

  const sweep = (): Promise<void> => {
    // One sweep at a time per process; callers arriving meanwhile share it.
    sweeping ??= sweepOnce().finally(() => {
      sweeping = undefined;
    });
    return sweeping;
  };

  /** The governance in force and the caller as a person of it. */
  const whoIs = async (
    human: Human,
  ): Promise<{ active: ActiveGovernance; principal: UserPrincipal }> => {
    const active = await deps.state.current();
    const principal = userPrincipalOf(active.governance, human.userId);
    if (principal === undefined) {
      throw new AppError(
        'FORBIDDEN',
        `${quote(human.userId)} is not a user of the governance in force`,
        { hint: 'an admin adds people under users: in governance.yaml' },
      );
    }
    return { active, principal };
  };

  return {
    async request(human, input) {
      const { active, principal } = await whoIs(human);
      const rules = active.governance.exceptions;
      const checked = checkRequest(input, active.governance);
      const decision = active.policyEngine.evaluate({
        action: 'requestException',
        principal,
        resource: checked.resource,
      });
      if (decision.decision === 'deny') throw denied(decision.reasons, 'ask for an exception');
      if (checked.resource.emergencyGroup === undefined) {
        throw new AppError(
          'POLICY_DENIED',
          `channel ${input.product}/${input.channel} has no emergencyGroup: nobody could approve an exception there`,
          { hint: 'an admin sets emergencyGroup on the channel in governance.yaml' },
        );
      }
      await sweep();
      const now = clock.now();
      const record: ExceptionRecord = {
        id: `ex_${Buffer.from(deps.random.bytes(8)).toString('hex')}`,
        product: input.product,
        channel: input.channel,
        waives: checked.waives,
        reason: checked.reason,
        requestedBy: principal.id,
        durationSeconds: input.durationSeconds,
        maxUses: input.maxUses,
        state: 'pending',
        notAfter: null,
        uses: 0,
        governanceVersion: active.version,
        createdAt: now,
        activatedAt: null,
        endedAt: null,
        endedBy: null,
        reviewDueAt: null,
        reviewedAt: null,
        reviewedBy: null,
        reviewFindings: null,
        reviewOverdueNotifiedAt: null,
      };
      await events.appendEvent(
        EXCEPTION_EVENTS.requested,
        {
          ...eventScope(record),
          waives: record.waives,
          reason: record.reason,
          requestedBy: record.requestedBy,
          durationSeconds: record.durationSeconds,
          maxUses: record.maxUses,
          governanceVersion: record.governanceVersion,
          policyHash: active.policyEngine.policyHash,
          requestedAt: now.toISOString(),
        },
        {
          effect: async (session) => {
            // Checked in the transaction that inserts, on the same snapshot.
            if (rules.blockWhenReviewOverdue) {
              const [overdue] = await session.exceptions.list({
                product: record.product,
                reviewOverdueAt: now,
                limit: 1,
              });
              if (overdue !== undefined) throw reviewOverdue(overdue);
            }
            const [pending] = await session.exceptions.list({
              product: record.product,
              channel: record.channel,
              state: 'pending',
              limit: 1,
            });
            const [usable] = await session.exceptions.findUsable(
              record.product,
              record.channel,
              now,
            );
            const open = pending ?? usable;
            if (open !== undefined) {
              throw new AppError(
                'CONFLICT',
                `${record.product}/${record.channel} already has exception ${open.id} (${open.state})`,
                {
                  hint: `see it with \`countersign exception show ${open.id}\`; its requester or an admin can cancel it`,
                },
              );
            }
            await session.exceptions.insert(record);
            await session.notifications.enqueue(
              'exception.requested',
              notificationData(record),
              now,
            );
          },
        },
      );
      return view(record, active, now);
    },

    async vote(human, id, vote) {
      const { active, principal } = await whoIs(human);
      const comment = checkText(vote.comment, '/comment', REASON_MAX_LENGTH, { allowEmpty: true });
      await sweep();
      for (let attempt = 0; ; attempt += 1) {
        const record = await load(id);
        const now = clock.now();
        const state = effectiveState(record, now);
        if (state !== 'pending') {
          throw new AppError('CONFLICT', `exception ${record.id} is ${state}: it takes no votes`);
        }
        const resource = channelResourceOf(active.governance, record.product, record.channel);
        if (resource === undefined) {
          throw new AppError(
            'CONFLICT',
            `channel ${record.product}/${record.channel} is no longer in the governance in force`,
          );
        }
        const eligible = (user: UserPrincipal): ReturnType<PolicyEngine['evaluate']> =>
          active.policyEngine.evaluate({
            action: 'approveException',
            principal: user,
            resource,
            context: { isRequester: user.id === record.requestedBy },
          });
        const decision = eligible(principal);
        if (decision.decision === 'deny') throw denied(decision.reasons, 'vote on this exception');
        const before = await storage.exceptions.listApprovals(record.id);
        if (before.some((v) => v.userId === principal.id)) {
          throw new AppError('CONFLICT', `you have already voted on exception ${record.id}`);
        }
        // Only votes of people still eligible under the governance in force count (INV-7).
        const counted = before
          .filter((v) => v.decision === 'approve')
          .map((v) => v.userId)
          .filter((userId) => {
            const user = userPrincipalOf(active.governance, userId);
            return user !== undefined && eligible(user).decision === 'allow';
          });
        const approvedBy = vote.decision === 'approve' ? [...counted, principal.id] : counted;
        const required = active.governance.exceptions.required;
        const reached = vote.decision === 'approve' && approvedBy.length >= required;
        const notAfter = new Date(now.getTime() + record.durationSeconds * 1000);
        const reviewDueAt = new Date(
          notAfter.getTime() + active.governance.exceptions.reviewWithinSeconds * 1000,
        );
        const kind =
          vote.decision === 'reject'
            ? EXCEPTION_EVENTS.rejected
            : reached
              ? EXCEPTION_EVENTS.approved
              : EXCEPTION_EVENTS.approvalSubmitted;
        const ballot: ExceptionApprovalRecord = {
          exceptionId: record.id,
          userId: principal.id,
          decision: vote.decision,
          comment,
          createdAt: now,
        };
        try {
          await events.appendEvent(
            kind,
            {
              ...eventScope(record),
              userId: principal.id,
              decision: vote.decision,
              comment,
              approvals: { required, count: approvedBy.length, approvedBy },
              ...(reached
                ? { notAfter: notAfter.toISOString(), reviewDueAt: reviewDueAt.toISOString() }
                : {}),
              governanceVersion: active.version,
              policyHash: active.policyEngine.policyHash,
              at: now.toISOString(),
            },
            {
              effect: async (session) => {
                // Votes on one exception are counted one at a time: what was read above must
                // still be what is stored, or the vote is recounted.
                const locked = await session.exceptions.lock(record.id);
                const current = await session.exceptions.listApprovals(record.id);
                if (
                  locked?.state !== 'pending' ||
                  current.length !== before.length ||
                  current.some((v) => v.userId === principal.id)
                ) {
                  throw new Superseded();
                }
                await session.exceptions.insertApproval(ballot);
                if (vote.decision === 'reject') {
                  await session.exceptions.end(record.id, {
                    from: ['pending'],
                    to: 'rejected',
                    at: now,
                    by: principal.id,
                  });
                  await session.notifications.enqueue(
                    'exception.rejected',
                    { ...notificationData(record), rejectedBy: principal.id, comment },
                    now,
                  );
                } else if (reached) {
                  await session.exceptions.activate(record.id, { at: now, notAfter, reviewDueAt });
                  await session.notifications.enqueue(
                    'exception.approved',
                    {
                      ...notificationData({ ...record, state: 'active', notAfter }),
                      approvedBy,
                    },
                    now,
                  );
                }
              },
            },
          );
        } catch (error) {
          if (error instanceof Superseded && attempt < 4) continue;
          if (error instanceof Superseded) {
            throw new AppError('CONFLICT', `exception ${record.id} changed while voting`, {
              hint: 'look at it again and retry',
            });
          }
          throw error;
        }
        return view(await load(record.id), active, clock.now());
      }
    },

    async cancel(human, id) {
      const { active, principal } = await whoIs(human);
      await sweep();
      const record = await load(id);
      if (record.requestedBy !== principal.id && !principal.roles.includes('admin')) {
        throw new AppError(
          'FORBIDDEN',
          `only its requester ${record.requestedBy} or an admin can cancel exception ${record.id}`,
        );
      }
      const now = clock.now();
      const state = effectiveState(record, now);
      if (state !== 'pending' && state !== 'active') {
        throw new AppError('CONFLICT', `exception ${record.id} is ${state} already`);
      }
      try {
        await events.appendEvent(
          EXCEPTION_EVENTS.cancelled,
          {
            ...eventScope(record),
            previousState: state,
            uses: record.uses,
            cancelledBy: principal.id,
            at: now.toISOString(),
          },
          {
            effect: async (session) => {
              const ended = await session.exceptions.end(record.id, {
                from: [state],
                to: 'cancelled',
                at: now,
                by: principal.id,
              });
              if (!ended) throw new Superseded();
            },
          },
        );
      } catch (error) {
        if (!(error instanceof Superseded)) throw error;
        throw new AppError('CONFLICT', `exception ${record.id} changed meanwhile; look again`);
      }
      return view(await load(record.id), active, clock.now());
    },

    async review(human, id, findings) {
      const { active, principal } = await whoIs(human);
      const text = checkText(findings, '/findings', FINDINGS_MAX_LENGTH, { multiline: true });
      await sweep();
      const record = await load(id);
      if (!principal.roles.includes('approver') && !principal.roles.includes('security')) {
        throw new AppError('FORBIDDEN', 'reviews need the role approver or security');
      }
      const votes = await storage.exceptions.listApprovals(record.id);
      const approvers = votes.filter((v) => v.decision === 'approve').map((v) => v.userId);
      if (record.requestedBy === principal.id || approvers.includes(principal.id)) {
        throw new AppError(
          'FORBIDDEN',
          'you asked for or approved this exception: someone independent must review it',
        );
      }
      if (record.activatedAt === null) {
        throw new AppError(
          'CONFLICT',
          `exception ${record.id} was never active: nothing to review`,
        );
      }
      if (record.reviewedAt !== null) {
        throw new AppError(
          'CONFLICT',
          `exception ${record.id} was reviewed by ${record.reviewedBy ?? '?'} already`,
        );
      }
      const now = clock.now();
      if (effectiveState(record, now) === 'active') {
        throw new AppError(
          'CONFLICT',
          `exception ${record.id} is still usable until ${record.notAfter?.toISOString() ?? '?'}: review it once it has ended`,
          { hint: `end it now with \`countersign exception cancel ${record.id}\`` },
        );
      }
      try {
        await events.appendEvent(
          EXCEPTION_EVENTS.reviewed,
          {
            ...eventScope(record),
            reviewedBy: principal.id,
            findings: text,
            uses: record.uses,
            reviewDueAt: record.reviewDueAt?.toISOString() ?? null,
            at: now.toISOString(),
          },
          {
            effect: async (session) => {
              const done = await session.exceptions.recordReview(record.id, {
                at: now,
                by: principal.id,
                findings: text,
              });
              if (!done) throw new Superseded();
            },
          },
        );
      } catch (error) {
        if (!(error instanceof Superseded)) throw error;
        throw new AppError('CONFLICT', `exception ${record.id} was reviewed meanwhile`);
      }
      return view(await load(record.id), active, clock.now());
    },

    async list(human, options = {}) {
      const { active } = await whoIs(human);
      await sweep();
      const now = clock.now();
      const records = await storage.exceptions.list({
        ...(options.state === undefined ? {} : { state: options.state }),
        ...(options.product === undefined ? {} : { product: options.product }),
        ...(options.overdue === true ? { reviewOverdueAt: now } : {}),
        limit: LIST_LIMIT,
      });
      const views: ExceptionView[] = [];
      for (const record of records) {
        const shown = await view(record, active, now);
        if (options.state === undefined || shown.state === options.state) views.push(shown);
      }
      return views;
    },

    async show(human, id) {
      const { active } = await whoIs(human);
      await sweep();
      return view(await load(id), active, clock.now());
    },

    sweep,
  };
}

/**
 * The state of `record` at `now`: an active exception past its time or out of uses, and a
 * pending one not approved within its requested duration, are over whether or not the stored
 * state says so yet.
 */
export function effectiveState(record: ExceptionRecord, now: Date): ExceptionState {
  if (record.state === 'active') {
    if (record.uses >= record.maxUses) return 'exhausted';
    if (record.notAfter === null || record.notAfter.getTime() <= now.getTime()) return 'expired';
  }
  if (
    record.state === 'pending' &&
    record.createdAt.getTime() + record.durationSeconds * 1000 <= now.getTime()
  ) {
    return 'expired';
  }
  return record.state;
}

// ---- Used by the signing path ------------------------------------------------------------------

/** An approved exception the signing path may use (issue #6 contract). */
export interface UsableException {
  readonly id: string;
  readonly waives: readonly WaivableCheck[];
  readonly reason: string;
  readonly requestedBy: string;
  readonly approvedBy: readonly string[];
  readonly notAfter: Date;
  readonly maxUses: number;
  /** Uses spent before this signing. */
  readonly uses: number;
}

/**
 * The active exception for product/channel at `now`, read in the signing transaction: approved,
 * `notAfter` after `now`, uses left. When several are, the one ending first. Undefined when none.
 * Feed `{ active: true, waives }` to the policy context, then call `consumeExceptionUse` in the
 * same transaction before signing (INV-8).
 */
export async function findUsableException(
  session: StorageSession,
  product: string,
  channel: string,
  now: Date,
): Promise<UsableException | undefined> {
  const [record] = await session.exceptions.findUsable(product, channel, now);
  if (record === undefined || record.notAfter === null) return undefined;
  const votes = await session.exceptions.listApprovals(record.id);
  return {
    id: record.id,
    waives: record.waives,
    reason: record.reason,
    requestedBy: record.requestedBy,
    approvedBy: votes.filter((v) => v.decision === 'approve').map((v) => v.userId),
    notAfter: record.notAfter,
    maxUses: record.maxUses,
    uses: record.uses,
  };
}

/**
 * Spends one use of exception `id` in the caller's transaction: one conditional UPDATE (`… SET
 * uses = uses + 1 WHERE id = ? AND state = 'active' AND uses < max_uses AND not_after > now`),
 * row count checked (threat model E1): of N concurrent signings on the last use exactly one gets
 * it. Records the use for its `exception.used` log event (appended by `Exceptions.sweep` once the
 * caller has committed: the signing transaction cannot append a second log entry) and queues the
 * `exception.used` notification, both in the caller's transaction.
 *
 * @returns the use number, 1 for the first use.
 * @throws AppError CONFLICT when the exception is unknown, not active, past `notAfter` or out of
 *   uses at `now`; the caller's transaction must then roll back (fail closed).
 */
export async function consumeExceptionUse(
  session: StorageSession,
  id: string,
  now: Date,
): Promise<number> {
  const use = await session.exceptions.consumeUse(id, now);
  if (use === undefined) {
    const record = await session.exceptions.findById(id);
    throw new AppError(
      'CONFLICT',
      record === undefined
        ? `exception ${id} does not exist`
        : `exception ${id} is no longer usable (${effectiveState(record, now)}, ${String(record.uses)} of ${String(record.maxUses)} uses)`,
      { hint: 'ask for a new exception with `countersign exception request`' },
    );
  }
  const record = await session.exceptions.findById(id);
  if (record !== undefined) {
    await session.notifications.enqueue(
      'exception.used',
      { ...notificationData(record), use, usedAt: now.toISOString() },
      now,
    );
  }
  return use;
}

/**
 * The exception as a signing's evidence records it (the decision attestation's `exception`
 * field), for the use `use` spent on it.
 */
export function describeExceptionUse(
  exception: UsableException,
  use: number,
): Readonly<Record<string, unknown>> {
  return {
    id: exception.id,
    waives: exception.waives,
    reason: exception.reason,
    requestedBy: exception.requestedBy,
    approvedBy: exception.approvedBy,
    notAfter: exception.notAfter.toISOString(),
    maxUses: exception.maxUses,
    use,
  };
}

// ---- Helpers ------------------------------------------------------------------------------------

function toView(
  record: ExceptionRecord,
  votes: readonly ExceptionApprovalRecord[],
  governance: Governance,
  now: Date,
): ExceptionView {
  return {
    id: record.id,
    product: record.product,
    channel: record.channel,
    waives: record.waives,
    reason: record.reason,
    requestedBy: record.requestedBy,
    state: effectiveState(record, now),
    durationSeconds: record.durationSeconds,
    maxUses: record.maxUses,
    uses: record.uses,
    notAfter: record.notAfter,
    createdAt: record.createdAt,
    activatedAt: record.activatedAt,
    endedAt: record.endedAt,
    endedBy: record.endedBy,
    approvals: {
      required: governance.exceptions.required,
      count: votes.filter((v) => v.decision === 'approve').length,
      submitted: votes.map((v) => ({
        userId: v.userId,
        decision: v.decision,
        comment: v.comment,
        createdAt: v.createdAt,
      })),
    },
    review: {
      dueAt: record.reviewDueAt,
      overdue: isReviewOverdue(record, now),
      reviewedAt: record.reviewedAt,
      reviewedBy: record.reviewedBy,
      findings: record.reviewFindings,
    },
  };
}

function isReviewOverdue(record: ExceptionRecord, now: Date): boolean {
  return (
    record.activatedAt !== null &&
    record.reviewedAt === null &&
    record.reviewDueAt !== null &&
    record.reviewDueAt.getTime() <= now.getTime()
  );
}

function reviewOverdue(record: ExceptionRecord): AppError {
  return new AppError(
    'POLICY_DENIED',
    `the review of exception ${record.id} on ${record.product}/${record.channel} is overdue since ${record.reviewDueAt?.toISOString() ?? '?'}: no new exception for ${record.product} until it is done`,
    {
      hint: `an approver or security user who neither asked for nor approved it runs \`countersign exception review ${record.id} --findings "…"\``,
    },
  );
}

function eventScope(record: ExceptionRecord): Record<string, unknown> {
  return { exceptionId: record.id, product: record.product, channel: record.channel };
}

function notificationData(record: ExceptionRecord): Record<string, unknown> {
  return {
    exceptionId: record.id,
    product: record.product,
    channel: record.channel,
    waives: record.waives,
    reason: record.reason,
    requestedBy: record.requestedBy,
    state: record.state,
    notAfter: record.notAfter?.toISOString() ?? null,
    uses: record.uses,
    maxUses: record.maxUses,
  };
}

/** Validates a request against the governance in force. */
function checkRequest(
  input: RequestExceptionInput,
  governance: Governance,
): { resource: ChannelResource; waives: WaivableCheck[]; reason: string } {
  const rules = governance.exceptions;
  const resource = channelResourceOf(governance, input.product, input.channel);
  if (resource === undefined) {
    throw new AppError(
      'INVALID_INPUT',
      `no channel ${quote(input.product)}/${quote(input.channel)} in the governance in force`,
      { errors: [{ path: '/channel', message: 'unknown product or channel' }] },
    );
  }
  const waives: WaivableCheck[] = [];
  for (const check of input.waives) {
    if (!(WAIVABLE_CHECKS as readonly string[]).includes(check)) {
      throw new AppError(
        'INVALID_INPUT',
        `${quote(check)} cannot be waived; waivable: ${WAIVABLE_CHECKS.join(', ')}`,
        { errors: [{ path: '/waives', message: `must be some of ${WAIVABLE_CHECKS.join(', ')}` }] },
      );
    }
    if (!waives.includes(check as WaivableCheck)) waives.push(check as WaivableCheck);
  }
  if (waives.length === 0) {
    throw new AppError('INVALID_INPUT', 'name at least one check to waive', {
      errors: [{ path: '/waives', message: 'must not be empty' }],
    });
  }
  // Canonical order, so equal waivers read and log the same.
  waives.sort((a, b) => WAIVABLE_CHECKS.indexOf(a) - WAIVABLE_CHECKS.indexOf(b));
  const reason = checkText(input.reason, '/reason', REASON_MAX_LENGTH, {});
  if (
    !Number.isSafeInteger(input.durationSeconds) ||
    input.durationSeconds < 60 ||
    input.durationSeconds > rules.maxDurationSeconds
  ) {
    throw new AppError(
      'INVALID_INPUT',
      `the duration must be from 1 minute to ${String(rules.maxDurationSeconds)} seconds (governance exceptions.maxDuration)`,
      { errors: [{ path: '/durationSeconds', message: 'out of range' }] },
    );
  }
  if (!Number.isSafeInteger(input.maxUses) || input.maxUses < 1 || input.maxUses > rules.maxUses) {
    throw new AppError(
      'INVALID_INPUT',
      `max uses must be from 1 to ${String(rules.maxUses)} (governance exceptions.maxUses)`,
      { errors: [{ path: '/maxUses', message: 'out of range' }] },
    );
  }
  return { resource, waives, reason };
}

/** Trimmed text without control characters (newlines and tabs allowed when `multiline`). */
function checkText(
  value: string,
  path: string,
  maxLength: number,
  options: { readonly allowEmpty?: boolean; readonly multiline?: boolean },
): string {
  const text = value.trim();
  if (
    (text.length === 0 && options.allowEmpty !== true) ||
    text.length > maxLength ||
    !isDisplaySafe(text, options)
  ) {
    throw new AppError(
      'INVALID_INPUT',
      `${path.slice(1)} must be ${options.allowEmpty === true ? '0' : '1'} to ${String(maxLength)} printable characters`,
      { errors: [{ path, message: `must be 1 to ${String(maxLength)} printable characters` }] },
    );
  }
  return text;
}

function denied(reasons: readonly string[], what: string): AppError {
  return new AppError(
    'FORBIDDEN',
    reasons.length > 0 ? reasons.join('; ') : `policy does not let you ${what}`,
  );
}

/** A governance user as Cedar sees it, with the groups they belong to. */
export function userPrincipalOf(governance: Governance, userId: string): UserPrincipal | undefined {
  const user = governance.users.find((u) => u.id === userId);
  if (user === undefined) return undefined;
  return {
    id: user.id,
    email: user.email,
    roles: user.roles,
    groups: governance.groups.filter((g) => g.members.includes(user.id)).map(groupRef),
  };
}

function channelResourceOf(
  governance: Governance,
  productName: string,
  channelName: string,
): ChannelResource | undefined {
  const product = governance.products.find((p) => p.name === productName);
  const channel = findChannel(governance, productName, channelName);
  if (product === undefined || channel === undefined) return undefined;
  const group = (name: string | undefined): GroupRef | undefined => {
    const found = name === undefined ? undefined : governance.groups.find((g) => g.name === name);
    return found === undefined ? undefined : groupRef(found);
  };
  const approvalGroup = group(channel.approval.group);
  const emergencyGroup = group(channel.emergencyGroup);
  return {
    kind: 'channel',
    product: { kind: 'product', name: product.name, owner: product.owner },
    name: channel.name,
    signingMode: channel.signingMode,
    requiredEvidence: channel.requiredEvidence,
    ...(approvalGroup === undefined ? {} : { approvalGroup }),
    ...(emergencyGroup === undefined ? {} : { emergencyGroup }),
  };
}

function groupRef(group: Group): GroupRef {
  return { name: group.name, purpose: group.purpose };
}

/** Attacker-influenced text in messages: JSON quoting escapes control characters. */
function quote(value: string): string {
  return JSON.stringify(value.length > 100 ? `${value.slice(0, 100)}…` : value);
}
