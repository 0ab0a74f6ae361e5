/**
 * Every top-level command, in the order `--help` lists them. Add a verb with one file in
 * `commands/` and one line here.
 */
import type { CliCommand } from './command.ts';
import { applyCommand } from './commands/apply.ts';
import { createCaCommand } from './commands/ca.ts';
import { configCommand } from './commands/config.ts';
import { devCommand } from './commands/dev.ts';
import { initCommand } from './commands/init.ts';
import { logCommand } from './commands/log.ts';
import { migrateCommand } from './commands/migrate.ts';
import { planCommand } from './commands/plan.ts';
import { policyCommand } from './commands/policy.ts';
import { serveCommand } from './commands/serve.ts';
import { signCommand } from './commands/sign.ts';
import { statusCommand } from './commands/status.ts';
import { tokenCommand } from './commands/token.ts';
import { trustCommand } from './commands/trust.ts';
import { verifyCommand } from './commands/verify.ts';

export const COMMANDS: readonly CliCommand[] = [
  serveCommand,
  initCommand,
  statusCommand,
  migrateCommand,
  configCommand,
  tokenCommand,
  planCommand,
  applyCommand,
  policyCommand,
  logCommand,
  devCommand,
  signCommand,
  verifyCommand,
  trustCommand,
  createCaCommand(async (context) => {
    const { composeCaEnvironment } = await import('../compose.ts');
    return composeCaEnvironment(context.loadConfig());
  }),
];
