/**
 * How a failed command reports: one `error:` line (plus one line per field problem) and a
 * `hint:` line on stderr, or one JSON object with `--json`. Never a stack trace, unless asked for
 * with `COUNTERSIGN_DEBUG=1`.
 */
import { inspect } from 'node:util';
import type { AppError } from '../core/errors.ts';
import { EXIT_CODES } from './exit-codes.ts';

/** The JSON shape of a failure under `--json`. */
export interface ErrorDocument {
  readonly error: {
    readonly code: string;
    readonly message: string;
    readonly exitCode: number;
    readonly errors?: readonly { path: string; message: string; source?: string }[];
    readonly hint?: string;
  };
}

/** The human rendering: lines for stderr, each ending with a newline. */
export function renderErrorText(error: AppError, debug: boolean): string {
  const lines = [`error: ${error.message}`];
  for (const field of error.errors) {
    const where = field.path === '' ? '' : `${field.path}: `;
    const line = `${where}${field.message}${field.source === undefined ? '' : ` (${field.source})`}`;
    // `--product is required` says it all: no `  - --product: is required` under it.
    if (error.message.includes(field.message) && error.message.includes(field.path)) continue;
    lines.push(`  - ${line}`);
  }
  if (error.hint !== undefined) lines.push(`hint: ${error.hint}`);
  else if (error.code === 'INTERNAL' && !debug)
    lines.push('hint: run again with COUNTERSIGN_DEBUG=1 for details');
  if (debug) lines.push(...stackLines(error));
  return `${lines.join('\n')}\n`;
}

/** The `--json` rendering. */
export function renderErrorJson(error: AppError): ErrorDocument {
  return {
    error: {
      code: error.code,
      message: error.message,
      exitCode: EXIT_CODES[error.code],
      ...(error.errors.length > 0 ? { errors: error.errors } : {}),
      ...(error.hint === undefined ? {} : { hint: error.hint }),
    },
  };
}

function stackLines(error: Error): string[] {
  const lines: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 5; depth += 1) {
    lines.push(
      depth === 0
        ? (current.stack ?? String(current))
        : `caused by: ${current.stack ?? String(current)}`,
    );
    current = current.cause;
  }
  if (current !== undefined && !(current instanceof Error))
    lines.push(`caused by: ${inspect(current)}`);
  return lines;
}
