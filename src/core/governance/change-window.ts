/**
 * Change windows (DESIGN.md §1 control 4, issue #6): the periods during which a channel may sign.
 * Pure: the caller passes `now`; time zones come from the platform's IANA data through `Intl`.
 *
 * Two forms, both read in the window's own `timeZone` on the local wall clock:
 *
 * - weekly: `days` + `start`–`end` (`HH:MM`). The window opens at `start` on each listed day and
 *   closes at `end`. When `end` is before `start` the window spans midnight: it runs from `start`
 *   on a listed day to `end` on the next day (`days` name the day a window opens). `end: "00:00"`
 *   therefore means "until midnight". `start` equal to `end` is refused when the file is parsed.
 * - schedule: a 5-field cron expression (minute hour day-of-month month day-of-week), with `*`,
 *   ranges `a-b`, lists `a,b`, steps `*\/n` `a-b/n` `a/n`, and names (`jan`…`dec`, `sun`…`sat`,
 *   day-of-week 0 or 7 = Sunday). The window is open during every local minute the expression
 *   matches. As in Vixie cron, when both day-of-month and day-of-week are restricted (neither
 *   starts with `*`), a day matches if either does.
 *
 * Daylight saving time follows from reading the wall clock: on the night clocks go forward the
 * skipped local times never occur (a window lying entirely in the gap does not open that night;
 * one that starts in it opens when the clock reaches its remaining part), and on the night they go
 * back the repeated hour occurs twice (a window covering it is open both times).
 */
import { AppError } from '../errors.ts';
import { WEEKDAYS } from './governance.ts';
import type { ChangeWindow, ScheduleChangeWindow, WeeklyChangeWindow } from './governance.ts';

/** What `evaluateChangeWindows` found. */
export interface ChangeWindowState {
  /** True when a window is open at `now`, or the channel has none. */
  readonly open: boolean;
  /** The (first) window that is open, when one is. */
  readonly window?: ChangeWindow;
  /**
   * When closed: the next instant (a whole minute) at which a window opens, if that is within
   * `NEXT_OPENING_HORIZON_MINUTES`; absent beyond it.
   */
  readonly nextOpensAt?: Date;
}

/** How far ahead `nextOpensAt` is searched: 8 days, so every weekly window is found. */
export const NEXT_OPENING_HORIZON_MINUTES = 8 * 24 * 60;

const MINUTE_MS = 60_000;
const DAY_MS = 86_400_000;
/** Longest schedule expression accepted. */
const MAX_SCHEDULE_LENGTH = 200;

/**
 * Whether signing is within a change window at `now`. No windows: open (the channel is not
 * restricted by time). Throws INVALID_INPUT for a window that `governance-file.ts` would have
 * refused (unknown time zone, malformed schedule); governance in force never has one.
 *
 * @example
 * evaluateChangeWindows(
 *   [{ days: ['mon', 'tue', 'wed', 'thu', 'fri'], start: '09:00', end: '17:00', timeZone: 'Europe/Berlin' }],
 *   new Date('2026-03-27T17:30:00Z'),
 * ) // { open: false, nextOpensAt: 2026-03-30T07:00:00Z } (Monday 09:00 in Berlin, summer time)
 */
export function evaluateChangeWindows(
  windows: readonly ChangeWindow[],
  now: Date,
): ChangeWindowState {
  if (windows.length === 0) return { open: true };
  const matchers = windows.map((window) => ({ window, matches: compileWindow(window) }));
  for (const { window, matches } of matchers) {
    if (matches(localTimeAt(window.timeZone, now.getTime()))) return { open: true, window };
  }
  let next: number | undefined;
  const from = Math.floor(now.getTime() / MINUTE_MS) * MINUTE_MS + MINUTE_MS;
  for (const { window, matches } of matchers) {
    const limit = next ?? from + NEXT_OPENING_HORIZON_MINUTES * MINUTE_MS;
    const found = findNextMatch(window.timeZone, matches, from, limit);
    if (found !== undefined) next = found;
  }
  return next === undefined ? { open: false } : { open: false, nextOpensAt: new Date(next) };
}

/** True when `window` is the cron-like form. */
export function isScheduleWindow(window: ChangeWindow): window is ScheduleChangeWindow {
  return 'schedule' in window;
}

/**
 * Why a schedule expression (operator-written) is unusable, or undefined when it is fine: not
 * five fields, a value out of range, a reversed range, a zero step, an unknown name, or a day
 * that never occurs (`30 2` is February 30th).
 */
export function describeScheduleProblem(expression: string): string | undefined {
  try {
    parseSchedule(expression);
    return undefined;
  } catch (error) {
    if (error instanceof AppError) return error.message;
    throw error;
  }
}

/** Whether `timeZone` is an IANA time zone name the platform knows. */
export function isKnownTimeZone(timeZone: string): boolean {
  try {
    formatterFor(timeZone);
    return true;
  } catch {
    return false;
  }
}

/** The wall-clock fields of an instant in a time zone. */
interface LocalTime {
  readonly year: number;
  /** 1–12. */
  readonly month: number;
  /** 1–31. */
  readonly day: number;
  /** 0 = Sunday … 6 = Saturday, as in cron. */
  readonly weekday: number;
  /** 0–1439. */
  readonly minuteOfDay: number;
}

type LocalMatcher = (local: LocalTime) => boolean;

function compileWindow(window: ChangeWindow): LocalMatcher {
  return isScheduleWindow(window)
    ? compileSchedule(parseSchedule(window.schedule))
    : compileWeekly(window);
}

function compileWeekly(window: WeeklyChangeWindow): LocalMatcher {
  const start = parseHhMm(window.start);
  const end = parseHhMm(window.end);
  // Cron weekday numbers (0 = Sunday) of the listed days; WEEKDAYS starts on Monday.
  const days = new Set(window.days.map((day) => (WEEKDAYS.indexOf(day) + 1) % 7));
  if (start < end) {
    return (local) =>
      days.has(local.weekday) && local.minuteOfDay >= start && local.minuteOfDay < end;
  }
  // Spans midnight: the evening part belongs to today's window, the morning part to yesterday's.
  return (local) =>
    (days.has(local.weekday) && local.minuteOfDay >= start) ||
    (days.has((local.weekday + 6) % 7) && local.minuteOfDay < end);
}

function parseHhMm(text: string): number {
  const match = /^([01]\d|2[0-3]):([0-5]\d)$/.exec(text);
  if (match?.[1] === undefined || match[2] === undefined) {
    throw new AppError('INVALID_INPUT', `${JSON.stringify(text)} is not a 24-hour time HH:MM`);
  }
  return Number(match[1]) * 60 + Number(match[2]);
}

// ---------------------------------------------------------------------------------------------
// Schedules (cron)

/** A parsed schedule: which values of each field match. */
export interface ParsedSchedule {
  readonly minutes: ReadonlySet<number>;
  readonly hours: ReadonlySet<number>;
  readonly daysOfMonth: ReadonlySet<number>;
  readonly months: ReadonlySet<number>;
  /** 0 = Sunday … 6 = Saturday (7 is folded into 0). */
  readonly daysOfWeek: ReadonlySet<number>;
  /** Whether the day-of-month field starts with `*` (Vixie cron's "unrestricted"). */
  readonly isDayOfMonthStar: boolean;
  readonly isDayOfWeekStar: boolean;
}

interface FieldSpec {
  readonly name: string;
  readonly min: number;
  readonly max: number;
  readonly names?: readonly string[];
  /** The value `names[0]` stands for. */
  readonly namesFrom?: number;
}

const FIELDS: readonly FieldSpec[] = [
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day-of-month', min: 1, max: 31 },
  {
    name: 'month',
    min: 1,
    max: 12,
    names: ['jan', 'feb', 'mar', 'apr', 'may', 'jun', 'jul', 'aug', 'sep', 'oct', 'nov', 'dec'],
    namesFrom: 1,
  },
  {
    name: 'day-of-week',
    min: 0,
    max: 7,
    names: ['sun', 'mon', 'tue', 'wed', 'thu', 'fri', 'sat'],
    namesFrom: 0,
  },
];

/** The longest day-of-month of each month (February 29th does occur, in leap years). */
const MONTH_LENGTHS = [31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

const parsedSchedules = new Map<string, ParsedSchedule>();
const MAX_CACHED_SCHEDULES = 1000;

/**
 * Parses a 5-field schedule expression (operator-written). Throws INVALID_INPUT naming the field
 * and what is wrong with it.
 */
export function parseSchedule(expression: string): ParsedSchedule {
  const cached = parsedSchedules.get(expression);
  if (cached !== undefined) return cached;
  if (expression.length > MAX_SCHEDULE_LENGTH) {
    throw scheduleError(`is longer than ${String(MAX_SCHEDULE_LENGTH)} characters`);
  }
  const parts = expression.trim().split(/\s+/);
  if (parts.length !== 5 || parts[0] === '') {
    throw scheduleError(
      `needs 5 fields (minute hour day-of-month month day-of-week), found ${String(parts[0] === '' ? 0 : parts.length)}`,
    );
  }
  const [minutes, hours, daysOfMonth, months, rawDaysOfWeek] = FIELDS.map((spec, index) =>
    parseField(parts[index] ?? '', spec),
  );
  if (
    minutes === undefined ||
    hours === undefined ||
    daysOfMonth === undefined ||
    months === undefined ||
    rawDaysOfWeek === undefined
  ) {
    throw new AppError('INTERNAL', 'schedule parser lost a field');
  }
  const daysOfWeek = new Set([...rawDaysOfWeek].map((day) => day % 7));
  const isDayOfMonthStar = (parts[2] ?? '').startsWith('*');
  const isDayOfWeekStar = (parts[4] ?? '').startsWith('*');
  // Only day-of-month alone can make an expression that never matches: with day-of-week also
  // restricted, either matching suffices, and some day of every week has each weekday.
  if (!isDayOfMonthStar && isDayOfWeekStar) {
    const occurs = [...months].some((month) =>
      [...daysOfMonth].some((day) => day <= (MONTH_LENGTHS[month - 1] ?? 0)),
    );
    if (!occurs) {
      throw scheduleError(
        'never matches: no listed month has the listed day of the month (e.g. February 30th)',
      );
    }
  }
  const parsed: ParsedSchedule = {
    minutes,
    hours,
    daysOfMonth,
    months,
    daysOfWeek,
    isDayOfMonthStar,
    isDayOfWeekStar,
  };
  if (parsedSchedules.size >= MAX_CACHED_SCHEDULES) parsedSchedules.clear();
  parsedSchedules.set(expression, parsed);
  return parsed;
}

function parseField(text: string, spec: FieldSpec): Set<number> {
  const values = new Set<number>();
  for (const item of text.split(',')) {
    const [range, stepText, ...extra] = item.split('/');
    if (range === undefined || range === '' || extra.length > 0) {
      throw scheduleError(
        `${spec.name} field ${JSON.stringify(text)}: malformed item ${JSON.stringify(item)}`,
      );
    }
    let step = 1;
    if (stepText !== undefined) {
      if (!/^\d{1,2}$/.test(stepText) || Number(stepText) === 0) {
        throw scheduleError(`${spec.name} field ${JSON.stringify(text)}: step must be 1 to 99`);
      }
      step = Number(stepText);
    }
    let low: number;
    let high: number;
    if (range === '*') {
      low = spec.min;
      high = spec.max === 7 ? 6 : spec.max;
    } else {
      const bounds = range.split('-');
      if (bounds.length > 2) {
        throw scheduleError(
          `${spec.name} field ${JSON.stringify(text)}: malformed range ${JSON.stringify(range)}`,
        );
      }
      low = parseValue(bounds[0] ?? '', spec, text);
      // `a/n` means from a to the end of the field, as in Vixie cron.
      high =
        bounds[1] !== undefined
          ? parseValue(bounds[1], spec, text)
          : stepText !== undefined
            ? spec.max
            : low;
      if (low > high) {
        throw scheduleError(
          `${spec.name} field ${JSON.stringify(text)}: range ${JSON.stringify(range)} runs backwards (write it as two ranges)`,
        );
      }
    }
    for (let value = low; value <= high; value += step) values.add(value);
  }
  return values;
}

function parseValue(text: string, spec: FieldSpec, field: string): number {
  const named = spec.names?.indexOf(text.toLowerCase()) ?? -1;
  if (named >= 0) return named + (spec.namesFrom ?? 0);
  if (!/^\d{1,2}$/.test(text)) {
    const names = spec.names === undefined ? '' : ` or a name (${spec.names.join(', ')})`;
    throw scheduleError(
      `${spec.name} field ${JSON.stringify(field)}: ${JSON.stringify(text)} is not a number${names}`,
    );
  }
  const value = Number(text);
  if (value < spec.min || value > spec.max) {
    throw scheduleError(
      `${spec.name} field ${JSON.stringify(field)}: ${text} is outside ${String(spec.min)}–${String(spec.max)}`,
    );
  }
  return value;
}

function scheduleError(message: string): AppError {
  return new AppError('INVALID_INPUT', `schedule ${message}`);
}

function compileSchedule(schedule: ParsedSchedule): LocalMatcher {
  return (local) => {
    if (!schedule.months.has(local.month)) return false;
    if (!schedule.hours.has(Math.floor(local.minuteOfDay / 60))) return false;
    if (!schedule.minutes.has(local.minuteOfDay % 60)) return false;
    const dayOfMonth = schedule.daysOfMonth.has(local.day);
    const dayOfWeek = schedule.daysOfWeek.has(local.weekday);
    return schedule.isDayOfMonthStar || schedule.isDayOfWeekStar
      ? dayOfMonth && dayOfWeek
      : dayOfMonth || dayOfWeek;
  };
}

// ---------------------------------------------------------------------------------------------
// Time zones

const formatters = new Map<string, Intl.DateTimeFormat>();

/** A formatter giving the numeric wall-clock fields in `timeZone`; throws RangeError if unknown. */
function formatterFor(timeZone: string): Intl.DateTimeFormat {
  let formatter = formatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      hourCycle: 'h23',
      year: 'numeric',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      second: 'numeric',
    });
    formatters.set(timeZone, formatter);
  }
  return formatter;
}

/** The zone's UTC offset at `epochMs`, in milliseconds (local = UTC + offset). */
function offsetAt(timeZone: string, epochMs: number): number {
  let formatter: Intl.DateTimeFormat;
  try {
    formatter = formatterFor(timeZone);
  } catch (error) {
    throw new AppError('INVALID_INPUT', `unknown time zone ${JSON.stringify(timeZone)}`, {
      cause: error,
    });
  }
  const fields: Record<string, number> = {};
  for (const part of formatter.formatToParts(epochMs)) {
    if (part.type !== 'literal') fields[part.type] = Number(part.value);
  }
  const wall = Date.UTC(
    fields['year'] ?? 0,
    (fields['month'] ?? 1) - 1,
    fields['day'] ?? 1,
    fields['hour'] ?? 0,
    fields['minute'] ?? 0,
    fields['second'] ?? 0,
  );
  return wall - Math.floor(epochMs / 1000) * 1000;
}

function localTimeAt(timeZone: string, epochMs: number): LocalTime {
  return localFields(epochMs + offsetAt(timeZone, epochMs));
}

/** Wall-clock fields of a "local epoch" (UTC arithmetic on local time). */
function localFields(localMs: number): LocalTime {
  const date = new Date(localMs);
  return {
    year: date.getUTCFullYear(),
    month: date.getUTCMonth() + 1,
    day: date.getUTCDate(),
    weekday: date.getUTCDay(),
    minuteOfDay: date.getUTCHours() * 60 + date.getUTCMinutes(),
  };
}

/**
 * The first whole minute in `[from, limit)` at which `matches` holds, scanning minute by minute.
 * The zone's offset is looked up once per day of the range, plus a binary search for the minute
 * of each change (zones change offset at most once a day), so the scan itself is arithmetic.
 */
function findNextMatch(
  timeZone: string,
  matches: LocalMatcher,
  from: number,
  limit: number,
): number | undefined {
  const segments = offsetSegments(timeZone, from, limit);
  let segment = 0;
  for (let t = from; t < limit; t += MINUTE_MS) {
    while (segment + 1 < segments.length && (segments[segment + 1]?.from ?? Infinity) <= t) {
      segment += 1;
    }
    const offset = segments[segment]?.offset ?? 0;
    if (matches(localFields(t + offset))) return t;
  }
  return undefined;
}

interface OffsetSegment {
  /** First instant (ms) with this offset. */
  readonly from: number;
  readonly offset: number;
}

function offsetSegments(timeZone: string, from: number, to: number): OffsetSegment[] {
  const segments: OffsetSegment[] = [{ from, offset: offsetAt(timeZone, from) }];
  let previousAt = from;
  let previous = segments[0]?.offset ?? 0;
  for (let at = from + DAY_MS; ; at += DAY_MS) {
    const probeAt = Math.min(at, to);
    const offset = offsetAt(timeZone, probeAt);
    if (offset !== previous) {
      // Binary search, in whole minutes, for the first minute with the new offset.
      let low = previousAt;
      let high = probeAt;
      while (high - low > MINUTE_MS) {
        const middle = low + Math.floor((high - low) / 2 / MINUTE_MS) * MINUTE_MS;
        if (offsetAt(timeZone, middle) === previous) low = middle;
        else high = middle;
      }
      segments.push({ from: high, offset });
    }
    previous = offset;
    previousAt = probeAt;
    if (probeAt >= to) return segments;
  }
}
