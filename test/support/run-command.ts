/**
 * Runs one CLI command object in this process, as `countersign <path…> <args…>` would: through
 * the real `runCli` once the command is registered, else through a faithful stand-in for its
 * dispatch (strict `parseArgs` over the global and the command's options, the same context, the
 * same error rendering and exit codes). Lets a command be tested before it is wired in.
 */
import { parseArgs } from 'node:util';
import { loadClientConfig } from '../../src/config/load-client-config.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { toAppError } from '../../src/core/errors.ts';
import { createApiClient, type ApiClient } from '../../src/cli/api-client.ts';
import type { CliCommand, CommandContext } from '../../src/cli/command.ts';
import { COMMANDS } from '../../src/cli/command-registry.ts';
import { EXIT_CODES } from '../../src/cli/exit-codes.ts';
import { GLOBAL_OPTIONS, runCli } from '../../src/cli/main.ts';
import { renderErrorJson, renderErrorText } from '../../src/cli/render-error.ts';

export interface CommandResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export interface RunCommandOptions {
  readonly env?: Record<string, string>;
  readonly cwd: string;
  readonly stderrIsTty?: boolean;
}

/**
 * Runs `top` (with `sub` when it has subcommands) on `args`, e.g.
 * `runCommand(trustCommand, ['export', '--out', 'x.json'], { cwd })`.
 */
export async function runCommand(
  top: CliCommand,
  args: readonly string[],
  options: RunCommandOptions,
): Promise<CommandResult> {
  let stdout = '';
  let stderr = '';
  const io = {
    stdout: (text: string) => {
      stdout += text;
    },
    stderr: (text: string) => {
      stderr += text;
    },
    env: options.env ?? {},
    cwd: options.cwd,
    ...(options.stderrIsTty === undefined ? {} : { stderrIsTty: options.stderrIsTty }),
  };
  const argv = [top.name, ...args];
  if (COMMANDS.includes(top)) {
    const code = await runCli(argv, io);
    return { code, stdout, stderr };
  }
  const json = argv.includes('--json');
  let code: number;
  try {
    code = await dispatch(top, argv, io);
  } catch (thrown) {
    const error = toAppError(thrown);
    if (json) io.stdout(`${JSON.stringify(renderErrorJson(error))}\n`);
    else io.stderr(renderErrorText(error, false));
    code = EXIT_CODES[error.code];
  }
  return { code, stdout, stderr };
}

async function dispatch(
  top: CliCommand,
  argv: readonly string[],
  io: CommandContext['io'],
): Promise<number> {
  let target = top;
  let depth = 1;
  if (top.subcommands !== undefined) {
    const sub = top.subcommands.find((candidate) => candidate.name === argv[1]);
    if (sub === undefined) throw new Error(`no subcommand ${String(argv[1])}`);
    target = sub;
    depth = 2;
  }
  const options = { ...GLOBAL_OPTIONS, ...target.options };
  const { values, positionals } = parseArgs({
    args: [...argv],
    options: Object.fromEntries(
      Object.entries(options).map(([name, option]) => [
        name,
        { type: option.type, ...(option.short === undefined ? {} : { short: option.short }) },
      ]),
    ),
    strict: true,
    allowPositionals: true,
  });
  const flags = values as Readonly<Record<string, string | boolean | undefined>>;
  let client: ApiClient | undefined;
  const context: CommandContext = {
    io,
    argv,
    flags,
    operands: positionals.slice(depth),
    json: flags['json'] === true,
    loadConfig: () => loadConfig({ env: io.env, argv, cwd: io.cwd }),
    client() {
      const server = flags['server'];
      client ??= createApiClient(
        loadClientConfig({
          env: io.env,
          flags: { server: typeof server === 'string' ? server : undefined, token: undefined },
        }),
      );
      return client;
    },
    print: (text) => io.stdout(`${text}\n`),
    printJson: (value) => io.stdout(`${JSON.stringify(value)}\n`),
    note: (text) => io.stderr(`${text}\n`),
  };
  if (target.run === undefined) throw new Error('nothing to run');
  return (await target.run(context)) ?? 0;
}
