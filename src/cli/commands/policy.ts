/**
 * `countersign policy test|explain`: offline policy testing. Evaluates the cases of a cases file
 * against a governance file and its Cedar policies, on this machine, with no server, token or
 * database, so a policy change is tested in CI before it is applied.
 */
import { relative, resolve } from 'node:path';
import type { PolicyTestResult } from '../../app/test-policy.ts';
import { AppError } from '../../core/errors.ts';
import type { Governance } from '../../core/governance/governance.ts';
import { MAX_CONFIG_FILE_BYTES } from '../../core/governance/read-yaml-document.ts';
import { withSuggestion } from '../../core/governance/suggest-name.ts';
import type { PolicyEngine } from '../../core/policy/policy-engine.ts';
import { parsePolicyTestCases } from '../../core/policy/policy-test-cases.ts';
import type { Clock } from '../../core/ports.ts';
import type { CliCommand, CliOption, CommandContext } from '../command.ts';
import { EXIT_CODES } from '../exit-codes.ts';
import {
  DEFAULT_GOVERNANCE_FILE,
  readBoundedText,
  readGovernanceSubmission,
} from '../read-governance-submission.ts';

const systemClock: Clock = { now: () => new Date() };

const OPTIONS: Readonly<Record<string, CliOption>> = {
  file: {
    type: 'string',
    short: 'f',
    valueName: 'FILE',
    help: 'the cases file (see policies/examples/cases.yaml)',
  },
  governance: {
    type: 'string',
    valueName: 'FILE',
    help: `the governance file whose policies are tested (default ${DEFAULT_GOVERNANCE_FILE}); the Cedar files it lists are read too`,
  },
};

const DETAILS = [
  'Runs offline: no server, token or database. The policy set is assembled exactly as the server',
  'assembles it on apply (shipped schema and defaults, the files the governance file lists, its',
  'inline policies), so the policy hash printed here is the one apply will put in force.',
].join('\n');

const testCommand: CliCommand = {
  name: 'test',
  summary: 'run every case of a cases file; exit 1 when one fails',
  usage: 'policy test -f CASES [--governance FILE]',
  details: DETAILS,
  options: OPTIONS,
  async run(context) {
    const workspace = await openWorkspace(context);
    const { runPolicyTests } = await import('../../app/test-policy.ts');
    const report = runPolicyTests(workspace.casesText, workspace.governance, workspace.engine, {
      clock: systemClock,
      fileName: workspace.casesName,
    });
    if (context.json) {
      context.printJson(report);
    } else {
      printResults(context, report.results);
      context.print('');
      context.print(
        `${String(report.passed)} passed, ${String(report.failed)} failed (policy hash ${report.policyHash})`,
      );
    }
    return report.failed > 0 ? EXIT_CODES.POLICY_DENIED : 0;
  },
};

const explainCommand: CliCommand = {
  name: 'explain',
  summary: 'show which policies decided one case, and why',
  usage: 'policy explain -f CASES --case NAME [--governance FILE]',
  details: DETAILS,
  options: {
    ...OPTIONS,
    case: { type: 'string', valueName: 'NAME', help: 'the name of the case to explain' },
  },
  async run(context) {
    const name = context.flags['case'];
    if (typeof name !== 'string' || name === '') {
      throw new AppError('INVALID_INPUT', 'policy explain needs --case NAME', {
        errors: [{ path: '--case', message: 'is required' }],
      });
    }
    const workspace = await openWorkspace(context);
    const cases = parsePolicyTestCases(workspace.casesText, workspace.governance, {
      fileName: workspace.casesName,
    });
    const testCase = cases.find((candidate) => candidate.name === name);
    if (testCase === undefined) {
      throw new AppError(
        'NOT_FOUND',
        withSuggestion(
          `${workspace.casesName} has no case named ${JSON.stringify(name.slice(0, 200))}`,
          name,
          cases.map((c) => c.name),
        ),
      );
    }
    const { explainDecision, toDecisionInput } = await import('../../app/test-policy.ts');
    const at = testCase.at;
    const explanation = explainDecision(toDecisionInput(testCase), {
      governance: workspace.governance,
      policyEngine: workspace.engine,
      clock: at === undefined ? systemClock : { now: () => new Date(at.getTime()) },
    });
    if (context.json) {
      context.printJson({ case: testCase.name, source: testCase.source, ...explanation });
      return 0;
    }
    context.print(`case:      ${testCase.name} (${testCase.source})`);
    context.print(
      `request:   ${testCase.product}/${testCase.channel}, expected ${testCase.expect}`,
    );
    context.print(`decision:  ${explanation.decision.toUpperCase()}`);
    context.print(`policy:    ${explanation.policyHash}`);
    context.print('reasons:');
    for (const reason of explanation.reasons) context.print(`  - ${reason}`);
    context.print('decided by:');
    if (explanation.determiningPolicies.length === 0) {
      context.print('  (no policy: nothing permits the request, so it is denied by default)');
    }
    for (const policy of explanation.determiningPolicies) {
      const why = policy.reason ?? policy.description;
      context.print(
        `  ${policy.effect} ${policy.id} at ${policy.source}${why === undefined ? '' : `: ${why}`}`,
      );
    }
    const { matched, expired } = explanation.entitlements;
    context.print(
      `entitlements: ${matched.length === 0 ? 'none match' : matched.map((e) => e.id).join(', ')}`,
    );
    for (const entitlement of expired) {
      context.print(`  expired: ${entitlement.id} at ${entitlement.expiresAt}`);
    }
    if (explanation.facts !== undefined) {
      context.print(
        `facts:     issuer ${explanation.facts.issuerName}, refProtected ${String(explanation.facts.refProtected)}`,
      );
      context.print(`context:   ${JSON.stringify(explanation.facts.context)}`);
    }
    return 0;
  },
};

export const policyCommand: CliCommand = {
  name: 'policy',
  summary: 'test policies offline against expected decisions, and explain decisions',
  usage: 'policy test|explain',
  details: DETAILS,
  subcommands: [testCommand, explainCommand],
};

interface PolicyWorkspace {
  readonly governance: Governance;
  readonly engine: PolicyEngine;
  readonly casesText: string;
  readonly casesName: string;
}

/** Reads the cases file and compiles the governance file with its policies. */
async function openWorkspace(context: CommandContext): Promise<PolicyWorkspace> {
  const casesFlag = context.flags['file'];
  if (typeof casesFlag !== 'string' || casesFlag === '') {
    throw new AppError('INVALID_INPUT', 'policy commands need -f CASES (a cases file)', {
      errors: [{ path: '--file', message: 'is required' }],
    });
  }
  const governanceFlag = context.flags['governance'];
  const governancePath =
    typeof governanceFlag === 'string' && governanceFlag !== ''
      ? governanceFlag
      : DEFAULT_GOVERNANCE_FILE;
  const { cwd } = context.io;
  const casesPath = resolve(cwd, casesFlag);
  const casesText = await readBoundedText(casesPath, casesFlag, MAX_CONFIG_FILE_BYTES);
  const submission = await readGovernanceSubmission(governancePath, cwd);
  const [{ compileGovernance }, { loadPolicyCompiler }] = await Promise.all([
    import('../../app/compile-governance.ts'),
    import('../../compose.ts'),
  ]);
  const compiled = compileGovernance(submission, await loadPolicyCompiler());
  return {
    governance: compiled.governance,
    engine: compiled.policyEngine,
    casesText,
    casesName: relative(cwd, casesPath) || casesFlag,
  };
}

function printResults(context: CommandContext, results: readonly PolicyTestResult[]): void {
  const width = Math.max(4, ...results.map((r) => r.name.length));
  context.print(`${'RESULT'.padEnd(6)}  ${'CASE'.padEnd(width)}  ${'DECISION'.padEnd(8)}  WHERE`);
  for (const result of results) {
    context.print(
      `${(result.passed ? 'pass' : 'FAIL').padEnd(6)}  ${result.name.padEnd(width)}  ${result.actual.padEnd(8)}  ${result.source}`,
    );
    if (!result.passed) {
      context.print(`        ${result.failure ?? 'failed'}`);
      for (const reason of result.reasons) context.print(`        reason: ${reason}`);
    }
  }
}
