/**
 * Every top-level command, in the order `--help` lists them. Add a verb with one file in
 * `commands/` and one line here.
 */
import type { CliCommand } from './command.ts';
import { applyCommand } from './commands/apply.ts';
import { approveCommand, rejectCommand } from './commands/approve.ts';
import { approverKeyCommand } from './commands/approver-key.ts';
import { requestCommand } from './commands/request.ts';
import { createCaCommand } from './commands/ca.ts';
import { configCommand } from './commands/config.ts';
import { devCommand } from './commands/dev.ts';
import { exceptionCommand } from './commands/exception.ts';
import { initCommand } from './commands/init.ts';
import { logCommand } from './commands/log.ts';
import { migrateCommand } from './commands/migrate.ts';
import { passkeyCommand } from './commands/passkey.ts';
import { planCommand } from './commands/plan.ts';
import { policyCommand } from './commands/policy.ts';
import { serveCommand } from './commands/serve.ts';
import { signCommand } from './commands/sign.ts';
import { statusCommand } from './commands/status.ts';
import { tokenCommand } from './commands/token.ts';
import { trustCommand } from './commands/trust.ts';
import { verifyCommand } from './commands/verify.ts';
import { webhookCommand } from './commands/webhook.ts';

export const COMMANDS: readonly CliCommand[] = [
  serveCommand,
  initCommand,
  statusCommand,
  migrateCommand,
  configCommand,
  tokenCommand,
  passkeyCommand,
  webhookCommand,
  exceptionCommand,
  planCommand,
  applyCommand,
  policyCommand,
  logCommand,
  devCommand,
  signCommand,
  requestCommand,
  approveCommand,
  rejectCommand,
  approverKeyCommand,
  verifyCommand,
  trustCommand,
  createCaCommand(async (context) => {
    const { composeCaEnvironment } = await import('../compose.ts');
    return composeCaEnvironment(context.loadConfig());
  }),
];
