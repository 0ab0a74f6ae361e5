/**
 * Progress on stderr for long-running client work (hashing large files, signing many): one line
 * rewritten in place on a terminal, or a throttled line at a time with `--progress` in a CI log.
 * Never on stdout, never with `--json`.
 */
import type { CommandContext } from './command.ts';

/** Reports progress; `done()` ends the line. */
export interface Progress {
  update(text: string): void;
  done(): void;
}

/** Thresholds above which progress is worth showing on a terminal unasked. */
export const PROGRESS_MIN_BYTES = 64 * 1024 * 1024;
export const PROGRESS_MIN_FILES = 8;

const TTY_INTERVAL_MS = 100;
const LINE_INTERVAL_MS = 2_000;

/**
 * A progress reporter for `context`: silent with `--json`; on when `--progress` is given, or when
 * stderr is a terminal and the work is large (`large`).
 */
export function createProgress(
  context: CommandContext,
  large: boolean,
  now: () => number = Date.now,
): Progress {
  const tty = context.io.stderrIsTty === true;
  const enabled = !context.json && (context.flags['progress'] === true || (tty && large));
  if (!enabled) return { update: () => undefined, done: () => undefined };
  let last = Number.NEGATIVE_INFINITY;
  let pending: string | undefined;
  let width = 0;
  const write = (text: string) => {
    if (tty) {
      context.io.stderr(`\r${text.padEnd(width)}`);
      width = Math.max(width, text.length);
    } else {
      context.io.stderr(`${text}\n`);
    }
    last = now();
    pending = undefined;
  };
  return {
    update(text) {
      pending = text;
      if (now() - last >= (tty ? TTY_INTERVAL_MS : LINE_INTERVAL_MS)) write(text);
    },
    done() {
      if (pending !== undefined) write(pending);
      if (tty && width > 0) context.io.stderr('\n');
      width = 0;
    },
  };
}

/** `1.5 MiB`, `512 B`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (value >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit += 1;
  }
  return unit === 0 ? `${String(bytes)} B` : `${value.toFixed(1)} ${units[unit] ?? ''}`;
}
