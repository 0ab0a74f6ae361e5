/**
 * Offline policy testing (`countersign policy test`, `countersign policy explain`): evaluate
 * signing requests against a governance snapshot and a policy engine without a server, a token or
 * a database, so a policy change is tested in CI before it is applied.
 */
import type { Clock } from '../core/ports.ts';
import type { Governance } from '../core/governance/governance.ts';
import type { PolicyEngine, PolicyInfo, SignContext } from '../core/policy/policy-engine.ts';
import { parsePolicyTestCases } from '../core/policy/policy-test-cases.ts';
import type { PolicyTestCase } from '../core/policy/policy-test-cases.ts';
import { evaluateSigningDecision, prepareSigningRequest } from './evaluate-signing-decision.ts';
import type { SigningDecisionInput } from './evaluate-signing-decision.ts';

/** The outcome of one case. */
export interface PolicyTestResult {
  readonly name: string;
  /** `file:line` of the case. */
  readonly source: string;
  readonly passed: boolean;
  readonly expected: 'allow' | 'deny';
  readonly actual: 'allow' | 'deny';
  readonly reasons: readonly string[];
  readonly determiningPolicies: readonly string[];
  /** Why it failed, in one sentence; absent when it passed. */
  readonly failure?: string;
}

/** The outcome of a cases file. */
export interface PolicyTestReport {
  readonly policyHash: string;
  readonly results: readonly PolicyTestResult[];
  readonly passed: number;
  readonly failed: number;
}

/** Options for `runPolicyTests`. */
export interface PolicyTestOptions {
  /** The instant cases without `at` are evaluated at. */
  readonly clock: Clock;
  /** Name used in messages, e.g. `policies/examples/cases.yaml`. */
  readonly fileName?: string;
}

/**
 * Runs every case of a cases file and reports each one. A case passes when the decision equals
 * `expect` and, if `reasonContains` is set, one of the reasons contains it.
 *
 * @throws AppError CONFIG_INVALID when the cases file is malformed (every problem with its line).
 */
export function runPolicyTests(
  casesYaml: string,
  governance: Governance,
  engine: PolicyEngine,
  options: PolicyTestOptions,
): PolicyTestReport {
  const cases = parsePolicyTestCases(casesYaml, governance, {
    fileName: options.fileName ?? 'cases.yaml',
  });
  const results = cases.map((testCase) => runCase(testCase, governance, engine, options.clock));
  const passed = results.filter((r) => r.passed).length;
  return { policyHash: engine.policyHash, results, passed, failed: results.length - passed };
}

function runCase(
  testCase: PolicyTestCase,
  governance: Governance,
  engine: PolicyEngine,
  clock: Clock,
): PolicyTestResult {
  const decision = evaluateSigningDecision(toDecisionInput(testCase), {
    governance,
    policyEngine: engine,
    clock: clockFor(testCase, clock),
  });
  let failure: string | undefined;
  if (decision.decision !== testCase.expect) {
    failure = `expected ${testCase.expect}, got ${decision.decision}`;
  } else if (
    testCase.reasonContains !== undefined &&
    !decision.reasons.some((reason) => reason.includes(testCase.reasonContains ?? ''))
  ) {
    failure = `no reason contains ${JSON.stringify(testCase.reasonContains)}`;
  }
  return {
    name: testCase.name,
    source: testCase.source,
    passed: failure === undefined,
    expected: testCase.expect,
    actual: decision.decision,
    reasons: decision.reasons,
    determiningPolicies: decision.determiningPolicies,
    ...(failure === undefined ? {} : { failure }),
  };
}

/** The signing request a test case describes. */
export function toDecisionInput(testCase: PolicyTestCase): SigningDecisionInput {
  return {
    workload: testCase.workload,
    product: testCase.product,
    channel: testCase.channel,
    context: testCase.context,
  };
}

function clockFor(testCase: PolicyTestCase, clock: Clock): Clock {
  const at = testCase.at;
  return at === undefined ? clock : { now: () => new Date(at.getTime()) };
}

/** One policy that took part in a decision, with what it says about itself. */
export interface ExplainedPolicy {
  readonly id: string;
  readonly effect: 'permit' | 'forbid';
  /** `file:line`. */
  readonly source: string;
  readonly reason?: string;
  readonly description?: string;
}

/** Everything that went into a signing decision, for `countersign policy explain`. */
export interface DecisionExplanation {
  readonly decision: 'allow' | 'deny';
  readonly policyHash: string;
  readonly reasons: readonly string[];
  /** The policies that decided (satisfied forbids on deny, permits on allow). */
  readonly determiningPolicies: readonly ExplainedPolicy[];
  readonly entitlements: {
    readonly matched: readonly { readonly id: string; readonly expiresAt: string }[];
    readonly expired: readonly { readonly id: string; readonly expiresAt: string }[];
  };
  /** The facts the policies saw; absent when the request never reached them. */
  readonly facts?: {
    readonly issuerName: string;
    readonly refProtected: boolean;
    readonly context: SignContext;
  };
}

/**
 * Explains a signing decision: the decision and reasons, which policies decided (with their
 * file and line), the entitlements that matched or had expired, and the facts given to policy.
 */
export function explainDecision(
  input: SigningDecisionInput,
  deps: {
    readonly governance: Governance;
    readonly policyEngine: PolicyEngine;
    readonly clock: Clock;
  },
): DecisionExplanation {
  const now = deps.clock.now();
  const fixedClock: Clock = { now: () => new Date(now.getTime()) };
  const prepared = prepareSigningRequest(input, deps.governance, now);
  const decision = evaluateSigningDecision(input, { ...deps, clock: fixedClock });
  const byId = new Map<string, PolicyInfo>(deps.policyEngine.policies.map((p) => [p.id, p]));
  const request = prepared.request;
  return {
    decision: decision.decision,
    policyHash: decision.policyHash,
    reasons: decision.reasons,
    determiningPolicies: decision.determiningPolicies.map((id): ExplainedPolicy => {
      const info = byId.get(id);
      const reason = info?.annotations['reason'];
      const description = info?.annotations['description'];
      return {
        id,
        effect: info?.effect ?? 'forbid',
        source: info?.source ?? '(unknown)',
        ...(reason === undefined ? {} : { reason }),
        ...(description === undefined ? {} : { description }),
      };
    }),
    entitlements: {
      matched: prepared.entitlements.matched.map((e) => ({
        id: e.id,
        expiresAt: e.expiresAt.toISOString(),
      })),
      expired: prepared.entitlements.expired.map((e) => ({
        id: e.id,
        expiresAt: e.expiresAt.toISOString(),
      })),
    },
    ...(request === undefined
      ? {}
      : {
          facts: {
            issuerName: request.principal.issuerName,
            refProtected: request.principal.refProtected,
            context: request.context,
          },
        }),
  };
}
