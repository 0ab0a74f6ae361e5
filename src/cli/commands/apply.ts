/**
 * `countersign apply -f governance.yaml`: applies a governance file through the API as a new
 * version. The server checks everything first and records the change in the transparency log
 * (a `governance.applied` event) in the same transaction.
 */
import type { CliCommand } from '../command.ts';
import { readGovernanceSubmission } from '../read-governance-submission.ts';
import {
  GOVERNANCE_DETAILS,
  GOVERNANCE_FILE_OPTION,
  governanceFileOf,
  printPlan,
  type PlanView,
} from './plan.ts';

interface ApplyView extends PlanView {
  readonly applied: boolean;
  readonly version: number;
  readonly logIndex: string | null;
}

export const applyCommand: CliCommand = {
  name: 'apply',
  summary: 'apply a governance file as a new version (recorded in the log)',
  usage: 'apply [-f FILE]',
  details: [
    GOVERNANCE_DETAILS,
    'A file that changes nothing writes nothing. Exit code 4 when governance changed since the',
    'plan was made (another apply won): plan again.',
  ].join('\n'),
  usesServer: true,
  options: GOVERNANCE_FILE_OPTION,
  async run(context) {
    const submission = await readGovernanceSubmission(governanceFileOf(context), context.io.cwd);
    const result = (await context.client().request('POST', '/v1/governance/apply', {
      body: submission,
      auth: true,
    })) as ApplyView;
    if (context.json) {
      context.printJson(result);
      return 0;
    }
    printPlan(context, submission.file.name, result);
    if (result.applied) {
      context.print(
        `Applied governance version ${String(result.version)} (log index ${result.logIndex ?? '?'}).`,
      );
    }
    return 0;
  },
};
