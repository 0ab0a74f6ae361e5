/**
 * "Would this identity be allowed to sign X on this channel, and if not, why?" (DESIGN.md §6
 * steps 1, 2 and 4): verify the workload's OIDC token against the issuers of the governance in
 * force, resolve its entitlements, ask the policy engine, and record the decision, allow or deny,
 * as a `signing.decided` event in the transparency log. Every decision is evidence.
 *
 * `POST /v1/decisions` calls it with purpose `read` (the token stays usable, nothing is signed);
 * the sign endpoint calls it with purpose `sign`, which consumes the token's `jti`, and may commit
 * its own records atomically with the event through `effect`.
 */
import { isDisplaySafe } from '../core/display-text.ts';
import { AppError, type FieldError } from '../core/errors.ts';
import type { Workload } from '../core/governance/workload.ts';
import type { Clock, StorageSession, TokenPurpose } from '../core/ports.ts';
import type { ActiveGovernance, GovernanceState } from './active-governance.ts';
import type { EventLog } from './append-event.ts';
import {
  evaluateSigningDecision,
  type SigningContextInput,
  type SigningDecision,
  type SigningSubject,
} from './evaluate-signing-decision.ts';
import type { LogAppendResult } from './log-sequencer.ts';

/** The log event kind of a signing decision. */
export const SIGNING_DECIDED_EVENT = 'signing.decided';

/** Digest algorithms a subject may name, with the length of their lower-case hex value. */
export const SUBJECT_DIGEST_ALGORITHMS = { sha256: 64, sha384: 96, sha512: 128 } as const;
/** `sha256`, `sha384` or `sha512`. */
export type SubjectDigestAlgorithm = keyof typeof SUBJECT_DIGEST_ALGORITHMS;

/** Bounds on what a decision request may carry (it all ends up in the log). */
export const MAX_NAME_CHARS = 128;
export const MAX_SUBJECT_NAME_CHARS = 1024;

/** A signing request as a workload presents it. */
export interface DecideSigningInput {
  /** The workload's OIDC token. Attacker-controlled; never stored or logged. */
  readonly identityToken: string;
  readonly product: string;
  readonly channel: string;
  /** What would be signed: a name and a digest (`sha256`, `sha384` or `sha512`, lower-case hex). */
  readonly subject?: SigningSubject;
  /**
   * Facts established elsewhere (evidence, approvals, change window, exception). For purpose
   * `read` they are what the caller states, recorded as such; absent facts count as absent.
   */
  readonly context?: SigningContextInput;
}

/** How a decision is taken and recorded. */
export interface DecideSigningOptions {
  /** `read`: a decision check, the token stays usable. `sign`: the token's `jti` is consumed. */
  readonly purpose: TokenPurpose;
  /**
   * Work committed in the same transaction as the decision event (the sign flow's records), told
   * the decision and the event's log index and integrated time. If it throws, neither commits.
   */
  readonly effect?: (
    session: StorageSession,
    decision: SigningDecision,
    entry: { readonly index: bigint; readonly integratedTime: number },
  ) => Promise<void>;
  /** A retry with the same key returns the first event (see `LogAppend.idempotencyKey`). */
  readonly idempotencyKey?: string;
  /**
   * Establishes the facts policy decides on (approvals, exception, change window) once the
   * workload is known, from the governance in force; replaces `input.context`. The sign flow
   * uses it to count the approvals of the workload's signing request.
   */
  readonly resolveContext?: (
    workload: Workload,
    active: ActiveGovernance,
  ) => Promise<SigningContextInput | undefined>;
}

/** A decision, recorded. */
export interface DecidedSigning extends SigningDecision {
  /** The governance version that decided (0: none applied). */
  readonly governanceVersion: number;
  /** The verified, normalised identity. */
  readonly workload: Workload;
  /** The `signing.decided` event in the log. */
  readonly logEntry: LogAppendResult;
  /** The facts the decision was taken on. */
  readonly context: SigningContextInput | undefined;
  /** True when the decision is `allow` only because an exception waived a check. */
  readonly exceptionUsed: boolean;
}

/** What a decision reads and writes. */
export interface DecideSigningDeps {
  readonly state: GovernanceState;
  readonly events: EventLog;
  readonly clock: Clock;
}

/**
 * Verifies, decides and records. A denial is an answer, not an error: it resolves with
 * `decision: 'deny'` and the reasons.
 *
 * @throws AppError INVALID_INPUT for a malformed request (before the token is even looked at);
 *   UNAUTHENTICATED when the token is not acceptable (no event is logged: an unauthenticated
 *   caller must not be able to write to the log); UPSTREAM_UNAVAILABLE when an issuer's keys
 *   cannot be fetched; STORAGE_UNAVAILABLE, RATE_LIMITED; or what `effect` throws.
 */
export async function decideSigning(
  input: DecideSigningInput,
  options: DecideSigningOptions,
  deps: DecideSigningDeps,
): Promise<DecidedSigning> {
  checkRequest(input);
  const active = await deps.state.current();
  requireIssuers(active);
  const workload = await active.verifier.verify(input.identityToken, { purpose: options.purpose });
  const context =
    options.resolveContext === undefined
      ? input.context
      : await options.resolveContext(workload, active);
  const evaluate = (facts: SigningContextInput | undefined): SigningDecision =>
    evaluateSigningDecision(
      {
        workload,
        product: input.product,
        channel: input.channel,
        ...(input.subject === undefined ? {} : { subject: input.subject }),
        ...(facts === undefined ? {} : { context: facts }),
      },
      { governance: active.governance, policyEngine: active.policyEngine, clock: deps.clock },
    );
  const decision = evaluate(context);
  // An exception is used (and one of its uses consumed) only when the signature depends on it.
  const exceptionUsed =
    decision.decision === 'allow' &&
    context?.exception?.active === true &&
    evaluate({ ...context, exception: { active: false, waives: [] } }).decision !== 'allow';
  const { evidence } = decision;
  const effect = options.effect;
  const logEntry = await deps.events.appendEvent(
    SIGNING_DECIDED_EVENT,
    {
      decidedAt: evidence.decidedAt,
      purpose: options.purpose === 'sign-later' ? 'sign' : options.purpose,
      governanceVersion: active.version,
      workload: { ...evidence.workload },
      product: evidence.product,
      channel: evidence.channel,
      ...(evidence.subject === undefined
        ? {}
        : {
            subject: {
              name: evidence.subject.name,
              digest: {
                algorithm: evidence.subject.digest.algorithm,
                value: evidence.subject.digest.value,
              },
            },
          }),
      ...(context === undefined ? {} : { context: toPlainContext(context) }),
      decision: evidence.decision,
      policyHash: evidence.policyHash,
      determiningPolicies: [...evidence.determiningPolicies],
      entitlementIds: [...evidence.entitlementIds],
      expiredEntitlementIds: [...decision.entitlements.expired],
      reasons: [...evidence.reasons],
      ...(evidence.changeWindow === undefined
        ? {}
        : { changeWindow: { ...evidence.changeWindow } }),
    },
    {
      ...(options.idempotencyKey === undefined ? {} : { idempotencyKey: options.idempotencyKey }),
      ...(effect === undefined
        ? {}
        : { effect: (session, entry) => effect(session, decision, entry) }),
    },
  );
  return {
    ...decision,
    governanceVersion: active.version,
    workload,
    logEntry,
    context,
    exceptionUsed,
  };
}

/** The decision use case with its dependencies bound, for the HTTP layer. */
export interface SigningDecisions {
  /** See `decideSigning`. */
  decide(input: DecideSigningInput, options: DecideSigningOptions): Promise<DecidedSigning>;
  /**
   * Checks a token as `decide` will for `purpose` (default `sign-later`: trusted issuer,
   * signature, times, audience, an unspent jti) without deciding or recording anything, and
   * returns the workload it proves. Routes call it before reading a large body or doing any work,
   * so an unauthenticated caller costs no parsing and the workload's request budget is spent
   * first (threat model I1, I8).
   *
   * @throws AppError UNAUTHENTICATED, UPSTREAM_UNAVAILABLE, STORAGE_UNAVAILABLE.
   */
  authenticate(identityToken: string, purpose?: TokenPurpose): Promise<Workload>;
}

/** `decideSigning` over the governance state, the event log and the clock of the service. */
export function createSigningDecisions(deps: DecideSigningDeps): SigningDecisions {
  return {
    decide: (input, options) => decideSigning(input, options, deps),
    async authenticate(identityToken, purpose = 'sign-later') {
      const active = await deps.state.current();
      requireIssuers(active);
      return active.verifier.verify(identityToken, { purpose });
    },
  };
}

function requireIssuers(active: ActiveGovernance): void {
  if (active.governance.issuers.length === 0) {
    throw new AppError('UNAUTHENTICATED', 'no workload token issuer is trusted yet', {
      hint: 'apply governance that lists issuers: `countersign apply -f governance.yaml`',
    });
  }
}

/** Bounds and formats, so nothing oversized or malformed reaches policy or the log. */
function checkRequest(input: DecideSigningInput): void {
  const errors: FieldError[] = [];
  const checkName = (value: string, path: string, max: number) => {
    if (value.length === 0 || value.length > max || !isDisplaySafe(value)) {
      errors.push({
        path,
        message: `must be 1 to ${String(max)} printable characters (no control or format characters such as bidi overrides)`,
      });
    }
  };
  checkName(input.product, '/product', MAX_NAME_CHARS);
  checkName(input.channel, '/channel', MAX_NAME_CHARS);
  if (input.subject !== undefined) {
    checkName(input.subject.name, '/subject/name', MAX_SUBJECT_NAME_CHARS);
    const { algorithm, value } = input.subject.digest;
    const length = Object.hasOwn(SUBJECT_DIGEST_ALGORITHMS, algorithm)
      ? SUBJECT_DIGEST_ALGORITHMS[algorithm as SubjectDigestAlgorithm]
      : undefined;
    if (length === undefined) {
      errors.push({
        path: '/subject/digest/algorithm',
        message: 'must be sha256, sha384 or sha512',
      });
    } else if (value.length !== length || !/^[0-9a-f]+$/.test(value)) {
      errors.push({
        path: '/subject/digest/value',
        message: `must be ${String(length)} lower-case hex digits`,
      });
    }
  }
  if (errors.length > 0) {
    throw new AppError('INVALID_INPUT', 'the signing request is malformed', { errors });
  }
}

/** The context as plain JSON data (only the known fields, in case a caller passed more). */
function toPlainContext(context: SigningContextInput): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  const { evidence, approvals, changeWindow, exception } = context;
  if (evidence !== undefined) {
    out['evidence'] = {
      ...(evidence.provenance === undefined
        ? {}
        : {
            provenance: {
              present: evidence.provenance.present,
              builderTrusted: evidence.provenance.builderTrusted,
            },
          }),
      ...(evidence.checksPassed === undefined ? {} : { checksPassed: evidence.checksPassed }),
    };
  }
  if (approvals !== undefined) out['approvals'] = { count: approvals.count };
  if (changeWindow !== undefined) out['changeWindow'] = { open: changeWindow.open };
  if (exception !== undefined) {
    out['exception'] = { active: exception.active, waives: [...exception.waives] };
  }
  return out;
}
