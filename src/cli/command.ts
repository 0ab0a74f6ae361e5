/**
 * The shape of a CLI command. Each verb is one file in `commands/`, listed once in
 * `command-registry.ts`; `main.ts` parses, dispatches, and renders failures.
 */
import type { Config } from '../config/load-config.ts';
import type { ApiClient } from './api-client.ts';

/** One option of a command, with its help line. */
export interface CliOption {
  readonly type: 'string' | 'boolean';
  readonly short?: string;
  /** What the value is, in help: `NAME`, `URL`. */
  readonly valueName?: string;
  readonly help: string;
}

/** Where a CLI run reads and writes. Tests pass their own. */
export interface CliIo {
  readonly stdout: (text: string) => void;
  readonly stderr: (text: string) => void;
  /** The environment; only `src/config` interprets it. */
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
  /** True when stderr is a terminal (progress is shown there); absent means no. */
  readonly stderrIsTty?: boolean;
}

/** What a command's `run` receives. */
export interface CommandContext {
  readonly io: CliIo;
  /** The full argument list, for `loadConfig`. */
  readonly argv: readonly string[];
  /** Parsed flags, global ones included. */
  readonly flags: Readonly<Record<string, string | boolean | undefined>>;
  /** Operands after the command (and subcommand) name. */
  readonly operands: readonly string[];
  /** `--json`: print one JSON document on stdout, errors included. */
  readonly json: boolean;
  /** The service configuration. Throws CONFIG_INVALID listing every problem. */
  loadConfig(): Config;
  /** A client of the server named by `--server` / `COUNTERSIGN_SERVER`. */
  client(): ApiClient;
  /** Writes a line of the command's result to stdout. */
  print(text: string): void;
  /** Writes a JSON document to stdout, on one line (so `serve --json` output is JSON Lines). */
  printJson(value: unknown): void;
  /** Writes a line for the human at the terminal to stderr (progress, banners). */
  note(text: string): void;
}

/** A command or subcommand. A command with `subcommands` has no `run` of its own. */
export interface CliCommand {
  readonly name: string;
  /** One line for the command list. */
  readonly summary: string;
  /** Synopsis after `countersign`, e.g. `token revoke ID`. */
  readonly usage: string;
  /** Further help paragraphs. */
  readonly details?: string;
  readonly options?: Readonly<Record<string, CliOption>>;
  /** Takes operands (ids, files) after its name; without this, any operand is a usage error. */
  readonly takesOperands?: boolean;
  /** Accepts the service configuration flags (`--port`, `--database-url`, …) and reads config. */
  readonly readsConfig?: boolean;
  /** Talks to a running server (`--server`, `--token`). */
  readonly usesServer?: boolean;
  readonly subcommands?: readonly CliCommand[];
  /** Runs the command; resolves to an exit code (0 when void). Throws AppError on failure. */
  run?(context: CommandContext): Promise<number | void>;
}
