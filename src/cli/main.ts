/**
 * The `countersign` command line: parses arguments with `node:util` `parseArgs`, dispatches to
 * the command registry, and turns failures into one clear message and an exit code.
 */
import { parseArgs, type ParseArgsOptionsConfig } from 'node:util';
import packageJson from '../../package.json' with { type: 'json' };
import { loadClientConfig } from '../config/load-client-config.ts';
import { CONFIG_FLAG_OPTIONS, loadConfig } from '../config/load-config.ts';
import { readEnvironment } from '../config/read-environment.ts';
import { AppError, toAppError } from '../core/errors.ts';
import { createApiClient, type ApiClient } from './api-client.ts';
import type { CliCommand, CliIo, CliOption, CommandContext } from './command.ts';
import { COMMANDS } from './command-registry.ts';
import { EXIT_CODES, EXIT_CODES_HELP, EXIT_OK } from './exit-codes.ts';
import { renderErrorJson, renderErrorText } from './render-error.ts';

/** The package version `--version` prints. */
export const CLI_VERSION: string = packageJson.version;

/** Flags every command accepts. */
export const GLOBAL_OPTIONS: Readonly<Record<string, CliOption>> = {
  json: { type: 'boolean', help: 'print one JSON document on stdout, errors included' },
  server: {
    type: 'string',
    valueName: 'URL',
    help: 'server of client commands (env COUNTERSIGN_SERVER; default http://localhost:8080)',
  },
  'data-dir': {
    type: 'string',
    valueName: 'DIR',
    help: 'data directory (env COUNTERSIGN_DATA_DIR; default ./.countersign)',
  },
  config: {
    type: 'string',
    valueName: 'FILE',
    help: 'configuration file (env COUNTERSIGN_CONFIG; default ./countersign.yaml when present)',
  },
  help: { type: 'boolean', short: 'h', help: 'show help' },
  version: { type: 'boolean', help: 'print the version' },
};

/** Help for the configuration flags `loadConfig` reads. */
const CONFIG_OPTION_HELP: Readonly<Record<string, Omit<CliOption, 'type'>>> = {
  host: {
    valueName: 'HOST',
    help: 'interface to listen on (env COUNTERSIGN_HOST; default 127.0.0.1)',
  },
  port: {
    valueName: 'PORT',
    help: 'port to listen on, 0 for any free one (env COUNTERSIGN_PORT; default 8080)',
  },
  'public-url': {
    valueName: 'URL',
    help: 'URL clients reach the server at (env COUNTERSIGN_PUBLIC_URL)',
  },
  'storage-engine': {
    valueName: 'ENGINE',
    help: 'sqlite or postgres (env COUNTERSIGN_STORAGE_ENGINE)',
  },
  'database-url': {
    valueName: 'URL',
    help: 'PostgreSQL URL; prefer env COUNTERSIGN_DATABASE_URL, flags are visible in the process list',
  },
  'log-level': { valueName: 'LEVEL', help: 'fatal, error, warn, info, debug, trace or silent' },
  demo: { help: 'serve a ready-made demo workspace (env COUNTERSIGN_DEMO)' },
};

/** The configuration flags, typed as `loadConfig` reads them, with help. */
const CONFIG_OPTIONS: Readonly<Record<string, CliOption>> = Object.fromEntries(
  Object.entries(CONFIG_FLAG_OPTIONS)
    .filter(([name]) => !(name in GLOBAL_OPTIONS))
    .map(([name, option]) => [
      name,
      {
        type: option.type,
        ...(CONFIG_OPTION_HELP[name] ?? { help: 'see the configuration reference' }),
      },
    ]),
);

const TOKEN_OPTIONS: Readonly<Record<string, CliOption>> = {
  token: {
    type: 'string',
    valueName: 'TOKEN',
    help: 'API token; prefer env COUNTERSIGN_TOKEN, flags are visible in the process list',
  },
};

/**
 * Runs one CLI invocation and resolves to its exit code. Never throws: every failure is rendered
 * on `io` and mapped through `EXIT_CODES`.
 */
export async function runCli(argv: readonly string[], io: CliIo): Promise<number> {
  const json = argv.includes('--json');
  const debug = io.env['COUNTERSIGN_DEBUG'] === '1' || io.env['COUNTERSIGN_DEBUG'] === 'true';
  try {
    return await dispatch(argv, io);
  } catch (thrown) {
    const error = toAppError(thrown);
    if (json) io.stdout(`${JSON.stringify(renderErrorJson(error))}\n`);
    else io.stderr(renderErrorText(error, debug));
    return EXIT_CODES[error.code];
  }
}

async function dispatch(argv: readonly string[], io: CliIo): Promise<number> {
  // First pass: find the command path, knowing only the flags every command shares.
  const { values: early, positionals } = parseArgs({
    args: [...argv],
    options: { ...toParseArgs(GLOBAL_OPTIONS), ...CONFIG_FLAG_OPTIONS },
    strict: false,
    allowPositionals: true,
  });
  // `--version` anywhere prints the version and runs nothing (`sign --version` must not sign).
  if (early['version'] === true) {
    io.stdout(
      argv.includes('--json')
        ? `${JSON.stringify({ version: CLI_VERSION })}\n`
        : `${CLI_VERSION}\n`,
    );
    return EXIT_OK;
  }
  const verb = positionals[0];
  if (verb === undefined) {
    if (early['help'] === true) {
      io.stdout(renderGlobalHelp());
      return EXIT_OK;
    }
    io.stderr(renderGlobalHelp());
    return EXIT_CODES.INVALID_INPUT;
  }
  const before = argv[argv.indexOf(verb) - 1];
  if (
    before?.startsWith('-') === true &&
    !before.includes('=') &&
    !COMMANDS.some((candidate) => candidate.name === verb)
  ) {
    // `countersign --token SECRET token list`: the first positional is an option's value, which
    // may be a secret; never echo it.
    throw new AppError('INVALID_INPUT', `the command comes first; ${before} goes after it`, {
      hint: `e.g. \`countersign token list ${before} …\` (run \`countersign --help\` for the commands)`,
    });
  }
  const command = findCommand(COMMANDS, verb, 'countersign');
  let target = command;
  const path = [command.name];
  if (command.subcommands !== undefined) {
    const sub = positionals[1];
    if (sub === undefined) {
      if (early['help'] === true) {
        io.stdout(renderCommandHelp(command));
        return EXIT_OK;
      }
      throw new AppError(
        'INVALID_INPUT',
        `${command.name} needs a subcommand: ${command.subcommands.map((c) => c.name).join(', ')}`,
        { hint: `run \`countersign ${command.name} --help\`` },
      );
    }
    target = findCommand(command.subcommands, sub, `countersign ${command.name}`);
    path.push(target.name);
  }

  // Second pass: strict, with exactly the flags this command accepts.
  const options = optionsOf(target);
  let parsed: ReturnType<
    typeof parseArgs<{ options: ParseArgsOptionsConfig; allowPositionals: true }>
  >;
  try {
    parsed = parseArgs({
      args: [...argv],
      options: toParseArgs(options),
      strict: true,
      allowPositionals: true,
    });
  } catch (error) {
    const message =
      error instanceof Error ? (error.message.split(/\.\s/)[0] ?? error.message) : String(error);
    throw new AppError('INVALID_INPUT', message.replace(/\.$/, ''), {
      hint: `run \`countersign ${path.join(' ')} --help\``,
      cause: error,
    });
  }
  if (parsed.values['help'] === true) {
    io.stdout(renderCommandHelp(target, path.slice(0, -1)));
    return EXIT_OK;
  }
  if (target.run === undefined) {
    throw new AppError('INTERNAL', `command ${path.join(' ')} has nothing to run`);
  }

  const operands = parsed.positionals.slice(path.length);
  if (target.takesOperands !== true && operands.length > 0) {
    throw new AppError(
      'INVALID_INPUT',
      `countersign ${path.join(' ')} takes no operands, and ${operands.length === 1 ? 'one was' : `${String(operands.length)} were`} given`,
      { hint: `usage: countersign ${target.usage} (run \`countersign ${path.join(' ')} --help\`)` },
    );
  }
  const flags = parsed.values as Readonly<Record<string, string | boolean | undefined>>;
  const json = flags['json'] === true;
  let client: ApiClient | undefined;
  const context: CommandContext = {
    io,
    argv,
    flags,
    operands,
    json,
    loadConfig: () => loadConfig({ env: io.env, argv, cwd: io.cwd }),
    client() {
      if (client === undefined) {
        const settings = loadClientConfig({
          env: io.env,
          flags: { server: stringFlag(flags, 'server'), token: stringFlag(flags, 'token') },
        });
        client = createApiClient({
          server: settings.server,
          token: settings.token,
          notify: (text) => io.stderr(`${text}\n`),
        });
      }
      return client;
    },
    print: (text) => io.stdout(`${text}\n`),
    printJson: (value) => io.stdout(`${JSON.stringify(value)}\n`),
    note: (text) => io.stderr(`${text}\n`),
  };
  return (await target.run(context)) ?? EXIT_OK;
}

function findCommand(commands: readonly CliCommand[], name: string, parent: string): CliCommand {
  const command = commands.find((candidate) => candidate.name === name);
  if (command === undefined) {
    throw new AppError('INVALID_INPUT', `unknown command "${name.slice(0, 40)}"`, {
      hint: `run \`${parent} --help\` for the list of commands`,
    });
  }
  return command;
}

function optionsOf(command: CliCommand): Record<string, CliOption> {
  return {
    ...GLOBAL_OPTIONS,
    ...(command.readsConfig === true ? CONFIG_OPTIONS : {}),
    ...(command.usesServer === true ? TOKEN_OPTIONS : {}),
    ...command.options,
  };
}

function toParseArgs(options: Readonly<Record<string, CliOption>>): ParseArgsOptionsConfig {
  return Object.fromEntries(
    Object.entries(options).map(([name, option]) => [
      name,
      { type: option.type, ...(option.short === undefined ? {} : { short: option.short }) },
    ]),
  );
}

function stringFlag(
  flags: Readonly<Record<string, string | boolean | undefined>>,
  name: string,
): string | undefined {
  const value = flags[name];
  return typeof value === 'string' ? value : undefined;
}

// ---------------------------------------------------------------------------------------------
// Help

function renderGlobalHelp(): string {
  const width = Math.max(...COMMANDS.map((command) => command.name.length)) + 2;
  return [
    `countersign ${CLI_VERSION}: software signing governance`,
    '',
    'Usage: countersign <command> [options]',
    '',
    'Commands:',
    ...COMMANDS.map((command) => `  ${command.name.padEnd(width)}${command.summary}`),
    '',
    'Global options:',
    ...renderOptions(GLOBAL_OPTIONS),
    '',
    'Client commands (status, token …) talk to a running server: --server or COUNTERSIGN_SERVER',
    'names it, COUNTERSIGN_TOKEN (or --token) authenticates. COUNTERSIGN_DEBUG=1 prints stack traces.',
    '',
    EXIT_CODES_HELP,
    '',
    'Run `countersign <command> --help` for the options of a command.',
    '',
  ].join('\n');
}

function renderCommandHelp(command: CliCommand, parents: readonly string[] = []): string {
  const name = ['countersign', ...parents, command.name].join(' ');
  const lines = [`${name}: ${command.summary}`, '', `Usage: countersign ${command.usage}`];
  if (command.details !== undefined) lines.push('', command.details);
  if (command.subcommands !== undefined) {
    const width = Math.max(...command.subcommands.map((sub) => sub.name.length)) + 2;
    lines.push(
      '',
      'Subcommands:',
      ...command.subcommands.map((sub) => `  ${sub.name.padEnd(width)}${sub.summary}`),
    );
  } else {
    const own = {
      ...(command.readsConfig === true ? CONFIG_OPTIONS : {}),
      ...(command.usesServer === true ? TOKEN_OPTIONS : {}),
      ...command.options,
    };
    if (Object.keys(own).length > 0) lines.push('', 'Options:', ...renderOptions(own));
    lines.push('', 'Global options:', ...renderOptions(GLOBAL_OPTIONS));
  }
  lines.push('', EXIT_CODES_HELP, '');
  return lines.join('\n');
}

function renderOptions(options: Readonly<Record<string, CliOption>>): string[] {
  const labels = Object.entries(options).map(([name, option]) => {
    const short = option.short === undefined ? '    ' : `-${option.short}, `;
    const value = option.type === 'string' ? ` ${option.valueName ?? 'VALUE'}` : '';
    return [`${short}--${name}${value}`, option.help] as const;
  });
  const width = Math.max(...labels.map(([label]) => label.length)) + 2;
  return labels.map(([label, help]) => `  ${label.padEnd(width)}${help}`);
}

// ---------------------------------------------------------------------------------------------
// Entry point

/** Runs the CLI on this process's arguments and environment, and sets the exit code. */
export async function main(argv: readonly string[] = process.argv.slice(2)): Promise<void> {
  // A reader that hangs up early (`countersign token list --json | head -1`) ends the command
  // quietly, as with other tools; anything else on the streams is a real failure.
  for (const stream of [process.stdout, process.stderr]) {
    stream.on('error', (error: NodeJS.ErrnoException) => {
      if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
      throw error;
    });
  }
  process.exitCode = await runCli(argv, {
    stdout: (text) => void process.stdout.write(text),
    stderr: (text) => void process.stderr.write(text),
    env: readEnvironment(),
    cwd: process.cwd(),
    stderrIsTty: process.stderr.isTTY === true,
  });
}

if (import.meta.main) await main();
