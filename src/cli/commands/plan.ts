/**
 * `countersign plan -f governance.yaml`: checks a governance file (and the Cedar files it lists)
 * on the server and prints what applying it would change. Writes nothing.
 */
import { AppError } from '../../core/errors.ts';
import type { CliCommand, CliOption, CommandContext } from '../command.ts';
import {
  DEFAULT_GOVERNANCE_FILE,
  readGovernanceSubmission,
} from '../read-governance-submission.ts';

/** The plan as the API returns it. */
export interface PlanView {
  readonly currentVersion: number;
  readonly changes: readonly { readonly description: string }[];
  readonly warnings: readonly {
    readonly path: string;
    readonly message: string;
    readonly source?: string;
  }[];
  readonly policyHash: string;
  readonly fileSha256: string;
}

export const GOVERNANCE_FILE_OPTION: Readonly<Record<string, CliOption>> = {
  file: {
    type: 'string',
    short: 'f',
    valueName: 'FILE',
    help: `the governance file (default ${DEFAULT_GOVERNANCE_FILE}); the Cedar files it lists are sent too`,
  },
};

export const GOVERNANCE_DETAILS = [
  'Talks to the server named by --server or COUNTERSIGN_SERVER (default http://localhost:8080),',
  'authenticating with an admin token from COUNTERSIGN_TOKEN or --token. The file is checked',
  'locally first; every problem is reported with its file and line.',
].join('\n');

export const planCommand: CliCommand = {
  name: 'plan',
  summary: 'check a governance file and show what applying it would change',
  usage: 'plan [-f FILE]',
  details: GOVERNANCE_DETAILS,
  usesServer: true,
  options: GOVERNANCE_FILE_OPTION,
  async run(context) {
    const submission = await readGovernanceSubmission(governanceFileOf(context), context.io.cwd);
    const plan = (await context.client().request('POST', '/v1/governance/plan', {
      body: submission,
      auth: true,
    })) as PlanView;
    if (context.json) {
      context.printJson(plan);
      return 0;
    }
    printPlan(context, submission.file.name, plan);
    if (plan.changes.length > 0) {
      context.note(`Apply with: countersign apply -f ${submission.file.name}`);
    }
    return 0;
  },
};

/** The `-f` value, or the default file. */
export function governanceFileOf(context: CommandContext): string {
  const value = context.flags['file'];
  if (value === '') throw new AppError('INVALID_INPUT', '--file needs a file name');
  return typeof value === 'string' ? value : DEFAULT_GOVERNANCE_FILE;
}

/** The changes, one per line, then warnings. */
export function printPlan(context: CommandContext, fileName: string, plan: PlanView): void {
  if (plan.changes.length === 0) {
    context.print(
      `No changes: ${fileName} matches governance version ${String(plan.currentVersion)}.`,
    );
  } else {
    const count = plan.changes.length === 1 ? '1 change' : `${String(plan.changes.length)} changes`;
    context.print(`${fileName}: ${count} to governance version ${String(plan.currentVersion)}:`);
    for (const change of plan.changes) context.print(change.description);
    context.print(`policy hash: ${plan.policyHash}`);
  }
  for (const warning of plan.warnings) {
    context.note(`warning: ${warning.source ?? fileName}: ${warning.path}: ${warning.message}`);
  }
}
