/**
 * Every top-level command, in the order `--help` lists them. Add a verb with one file in
 * `commands/` and one line here.
 */
import type { CliCommand } from './command.ts';
import { configCommand } from './commands/config.ts';
import { initCommand } from './commands/init.ts';
import { logCommand } from './commands/log.ts';
import { migrateCommand } from './commands/migrate.ts';
import { serveCommand } from './commands/serve.ts';
import { statusCommand } from './commands/status.ts';
import { tokenCommand } from './commands/token.ts';

export const COMMANDS: readonly CliCommand[] = [
  serveCommand,
  initCommand,
  statusCommand,
  migrateCommand,
  configCommand,
  tokenCommand,
  logCommand,
];
