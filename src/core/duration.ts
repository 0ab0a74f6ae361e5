/**
 * Durations as people write them in governance.yaml and on the command line: `90s`, `15m`,
 * `2h`, `7d`, `2w`, or a combination such as `1h30m`. One parser, so every place that accepts a
 * duration accepts the same spellings.
 */
import { AppError } from './errors.ts';

const UNIT_SECONDS = { w: 604_800, d: 86_400, h: 3_600, m: 60, s: 1 } as const;
const DURATION_PATTERN =
  /^(?:(\d{1,4})w)?(?:(\d{1,5})d)?(?:(\d{1,6})h)?(?:(\d{1,7})m)?(?:(\d{1,9})s)?$/;

/** The longest duration anything accepts: ten years. */
export const MAX_DURATION_SECONDS = 10 * 366 * UNIT_SECONDS.d;

/**
 * Whole seconds in `text` (e.g. `2h`, `1h30m`, `45s`), or undefined when it is not a duration
 * of at least one second and at most {@link MAX_DURATION_SECONDS}.
 */
export function tryParseDuration(text: string): number | undefined {
  if (text.length === 0 || text.length > 32) return undefined;
  const match = DURATION_PATTERN.exec(text);
  if (match === null) return undefined;
  const [, w, d, h, m, s] = match;
  const seconds =
    Number(w ?? 0) * UNIT_SECONDS.w +
    Number(d ?? 0) * UNIT_SECONDS.d +
    Number(h ?? 0) * UNIT_SECONDS.h +
    Number(m ?? 0) * UNIT_SECONDS.m +
    Number(s ?? 0);
  return seconds >= 1 && seconds <= MAX_DURATION_SECONDS ? seconds : undefined;
}

/**
 * Whole seconds in `text`.
 *
 * @throws {@link AppError} INVALID_INPUT naming `field` when `text` is not a duration.
 */
export function parseDuration(text: string, field: string): number {
  const seconds = tryParseDuration(text);
  if (seconds === undefined) {
    throw new AppError('INVALID_INPUT', `${field} must be a duration such as 30m, 2h or 7d`, {
      errors: [{ path: field, message: 'expected a duration such as 30m, 2h or 7d' }],
    });
  }
  return seconds;
}

/** `seconds` the way people write it: `2h`, `1h30m`, `45s`. */
export function formatDuration(seconds: number): string {
  if (!Number.isSafeInteger(seconds) || seconds <= 0) return `${String(seconds)}s`;
  let rest = seconds;
  let out = '';
  for (const [unit, size] of Object.entries(UNIT_SECONDS)) {
    const count = Math.floor(rest / size);
    if (count > 0) out += `${String(count)}${unit}`;
    rest -= count * size;
  }
  return out;
}
