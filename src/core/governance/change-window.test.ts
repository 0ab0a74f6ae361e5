import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAppError } from '../errors.ts';
import {
  describeScheduleProblem,
  evaluateChangeWindows,
  NEXT_OPENING_HORIZON_MINUTES,
  parseSchedule,
} from './change-window.ts';
import { parseGovernanceFile } from './governance-file.ts';
import { WEEKDAYS } from './governance.ts';
import type { ChangeWindow, Weekday } from './governance.ts';

const at = (iso: string) => new Date(iso);
const WEEKDAYS_MON_FRI: Weekday[] = ['mon', 'tue', 'wed', 'thu', 'fri'];

function weekly(days: Weekday[], start: string, end: string, timeZone = 'UTC'): ChangeWindow {
  return { days, start, end, timeZone };
}

function schedule(expression: string, timeZone = 'UTC'): ChangeWindow {
  return { schedule: expression, timeZone };
}

/** `open` and `nextOpensAt` (ISO) of one evaluation, for compact assertions. */
function state(windows: ChangeWindow[], now: string): { open: boolean; next?: string } {
  const result = evaluateChangeWindows(windows, at(now));
  return result.nextOpensAt === undefined
    ? { open: result.open }
    : { open: result.open, next: result.nextOpensAt.toISOString() };
}

describe('evaluateChangeWindows', () => {
  describe('when the channel has no windows', () => {
    it('is open', () => {
      assert.deepEqual(evaluateChangeWindows([], at('2026-01-01T00:00:00Z')), { open: true });
    });
  });

  describe('with a weekly window in Europe/Berlin', () => {
    const office = [weekly(WEEKDAYS_MON_FRI, '09:00', '17:00', 'Europe/Berlin')];

    it('is open from start, inclusive, to end, exclusive, on local time', () => {
      // 2026-01-15 is a Thursday; Berlin is UTC+1 in winter.
      assert.deepEqual(state(office, '2026-01-15T07:59:59Z'), {
        open: false,
        next: '2026-01-15T08:00:00.000Z',
      });
      assert.deepEqual(state(office, '2026-01-15T08:00:00Z'), { open: true });
      assert.deepEqual(state(office, '2026-01-15T15:59:59Z'), { open: true });
      assert.equal(state(office, '2026-01-15T16:00:00Z').open, false);
    });

    it('returns the window that is open', () => {
      const result = evaluateChangeWindows(office, at('2026-01-15T10:00:00Z'));
      assert.equal(result.window, office[0]);
    });

    it('finds Monday morning across a weekend on which summer time starts', () => {
      // Friday 2026-03-27 17:00 CET; clocks go forward on Sunday 29th; Monday 09:00 is CEST (UTC+2).
      assert.deepEqual(state(office, '2026-03-27T16:00:00Z'), {
        open: false,
        next: '2026-03-30T07:00:00.000Z',
      });
    });

    it('finds Monday morning across a weekend on which summer time ends', () => {
      // Friday 2026-10-23 17:00 CEST; clocks go back on Sunday 25th; Monday 09:00 is CET.
      assert.deepEqual(state(office, '2026-10-23T15:00:00Z'), {
        open: false,
        next: '2026-10-26T08:00:00.000Z',
      });
    });
  });

  describe('on the night Berlin clocks go forward (2026-03-29, 02:00 CET → 03:00 CEST)', () => {
    it('never opens a window lying wholly in the skipped hour that night', () => {
      const gap = [weekly(['sun'], '02:00', '02:30', 'Europe/Berlin')];
      // 00:59Z is 01:59 CET; the next minute is 03:00 CEST. Next opening: a week later, CEST.
      assert.deepEqual(state(gap, '2026-03-29T00:59:00Z'), {
        open: false,
        next: '2026-04-05T00:00:00.000Z',
      });
    });

    it('opens a window starting in the gap when the clock reaches its remaining part', () => {
      const partly = [weekly(['sun'], '02:15', '04:00', 'Europe/Berlin')];
      assert.deepEqual(state(partly, '2026-03-29T00:30:00Z'), {
        open: false,
        next: '2026-03-29T01:00:00.000Z',
      });
      assert.equal(state(partly, '2026-03-29T01:59:00Z').open, true); // 03:59 CEST
      assert.equal(state(partly, '2026-03-29T02:00:00Z').open, false); // 04:00 CEST
    });
  });

  describe('on the night Berlin clocks go back (2026-10-25, 03:00 CEST → 02:00 CET)', () => {
    it('is open during both occurrences of the repeated hour', () => {
      const repeated = [weekly(['sun'], '02:00', '03:00', 'Europe/Berlin')];
      assert.equal(state(repeated, '2026-10-24T23:59:00Z').open, false); // 01:59 CEST
      assert.equal(state(repeated, '2026-10-25T00:00:00Z').open, true); // 02:00 CEST
      assert.equal(state(repeated, '2026-10-25T00:59:00Z').open, true); // 02:59 CEST
      assert.equal(state(repeated, '2026-10-25T01:00:00Z').open, true); // 02:00 CET
      assert.equal(state(repeated, '2026-10-25T01:59:00Z').open, true); // 02:59 CET
      assert.equal(state(repeated, '2026-10-25T02:00:00Z').open, false); // 03:00 CET
    });
  });

  describe('in America/New_York', () => {
    it('finds the next opening across the spring-forward weekend (2026-03-08)', () => {
      const office = [weekly(WEEKDAYS_MON_FRI, '09:00', '17:00', 'America/New_York')];
      // Friday 2026-03-06 17:00 EST (UTC-5) → Monday 09:00 EDT (UTC-4).
      assert.deepEqual(state(office, '2026-03-06T22:00:00Z'), {
        open: false,
        next: '2026-03-09T13:00:00.000Z',
      });
    });

    it('matches a schedule in both occurrences of 01:30 when clocks go back (2026-11-01)', () => {
      const halfPastOne = [schedule('30 1 * * *', 'America/New_York')];
      assert.equal(state(halfPastOne, '2026-11-01T05:30:00Z').open, true); // 01:30 EDT
      assert.equal(state(halfPastOne, '2026-11-01T06:30:00Z').open, true); // 01:30 EST
      assert.deepEqual(state(halfPastOne, '2026-11-01T05:31:00Z'), {
        open: false,
        next: '2026-11-01T06:30:00.000Z',
      });
    });

    it('skips a schedule minute that does not exist when clocks go forward', () => {
      const halfPastTwo = [schedule('30 2 * * *', 'America/New_York')];
      // 2026-03-08 02:30 does not exist; the next 02:30 is on the 9th, EDT.
      assert.deepEqual(state(halfPastTwo, '2026-03-08T06:00:00Z'), {
        open: false,
        next: '2026-03-09T06:30:00.000Z',
      });
    });
  });

  describe('with a weekly window whose end is before its start (spans midnight)', () => {
    const night = [weekly(['fri'], '22:00', '02:00')];

    it('runs from start on a listed day to end on the next day', () => {
      // 2026-01-16 is a Friday.
      assert.deepEqual(state(night, '2026-01-16T21:59:00Z'), {
        open: false,
        next: '2026-01-16T22:00:00.000Z',
      });
      assert.equal(state(night, '2026-01-16T23:30:00Z').open, true);
      assert.equal(state(night, '2026-01-17T01:59:00Z').open, true);
      assert.deepEqual(state(night, '2026-01-17T02:00:00Z'), {
        open: false,
        next: '2026-01-23T22:00:00.000Z',
      });
      // Thursday night is not Friday's window.
      assert.equal(state(night, '2026-01-16T01:00:00Z').open, false);
    });

    it('wraps from Sunday into Monday', () => {
      const sunday = [weekly(['sun'], '23:00', '01:00')];
      assert.equal(state(sunday, '2026-01-19T00:30:00Z').open, true); // Monday 00:30
      assert.equal(state(sunday, '2026-01-20T00:30:00Z').open, false); // Tuesday 00:30
    });

    it('treats end 00:00 as midnight', () => {
      const evening = [weekly(['mon'], '18:00', '00:00')];
      assert.equal(state(evening, '2026-01-19T23:59:00Z').open, true);
      assert.equal(state(evening, '2026-01-20T00:00:00Z').open, false);
    });
  });

  describe('with several windows', () => {
    it('is open when any is, and otherwise opens at the earliest next opening', () => {
      const windows = [weekly(['tue'], '09:00', '10:00'), schedule('0 12 * * mon')];
      // Monday 2026-01-19 11:00: the schedule opens first (12:00), the weekly window on Tuesday.
      assert.deepEqual(state(windows, '2026-01-19T11:00:00Z'), {
        open: false,
        next: '2026-01-19T12:00:00.000Z',
      });
      const result = evaluateChangeWindows(windows, at('2026-01-19T12:00:30Z'));
      assert.equal(result.open, true);
      assert.equal(result.window, windows[1]);
    });
  });

  describe('when the next opening is beyond the search horizon', () => {
    it('is closed without nextOpensAt', () => {
      assert.equal(NEXT_OPENING_HORIZON_MINUTES, 8 * 24 * 60);
      assert.deepEqual(state([schedule('0 0 29 2 *')], '2026-03-01T00:00:00Z'), { open: false });
    });
  });

  describe('with a schedule', () => {
    it('is open every minute the expression matches', () => {
      const business = [schedule('* 9-16 * * mon-fri', 'Europe/Berlin')];
      assert.equal(state(business, '2026-01-15T08:00:00Z').open, true); // Thu 09:00
      assert.equal(state(business, '2026-01-15T15:59:00Z').open, true); // Thu 16:59
      assert.deepEqual(state(business, '2026-01-15T16:00:00Z'), {
        open: false,
        next: '2026-01-16T08:00:00.000Z',
      });
    });

    it('accepts steps, lists, names in any case and 7 for Sunday', () => {
      const quarter = [schedule('*/15 9 * * 7')];
      assert.equal(state(quarter, '2026-01-18T09:45:00Z').open, true); // Sunday
      assert.deepEqual(state(quarter, '2026-01-18T09:46:00Z'), {
        open: false,
        next: '2026-01-25T09:00:00.000Z',
      });
      const listed = [schedule('0,30 10-12/2 * JAN,Mar SUN')];
      assert.equal(state(listed, '2026-01-18T12:30:00Z').open, true);
      assert.equal(state(listed, '2026-01-18T11:30:00Z').open, false);
      assert.equal(state(listed, '2026-02-15T12:30:00Z').open, false);
    });

    it('matches either day field when both are restricted, as cron does', () => {
      const either = [schedule('0 0 1 * mon')];
      assert.equal(state(either, '2026-01-01T00:00:00Z').open, true); // Thursday the 1st
      assert.equal(state(either, '2026-01-05T00:00:00Z').open, true); // a Monday
      assert.equal(state(either, '2026-01-06T00:00:00Z').open, false);
      // With `*` (even `*/2`) in day-of-week, both must match.
      const both = [schedule('0 0 1 * */2')];
      assert.equal(state(both, '2026-01-05T00:00:00Z').open, false);
    });

    it('reads a/n as from a to the end of the field', () => {
      const parsed = parseSchedule('50/5 * * * *');
      assert.deepEqual([...parsed.minutes], [50, 55]);
    });
  });

  describe('with a window governance would refuse', () => {
    it('throws INVALID_INPUT for an unknown time zone', () => {
      assert.throws(
        () =>
          evaluateChangeWindows(
            [schedule('* * * * *', 'Mars/Olympus')],
            at('2026-01-01T00:00:00Z'),
          ),
        (error: unknown) => isAppError(error, 'INVALID_INPUT'),
      );
    });
  });
});

describe('describeScheduleProblem', () => {
  it('accepts well-formed expressions, February 29th included', () => {
    for (const expression of [
      '* * * * *',
      '*/5 9-17 * * mon-fri',
      '0 0 29 2 *',
      '0 12 * * 0-7',
      ' 0  12 * * 1 ',
    ]) {
      assert.equal(describeScheduleProblem(expression), undefined, expression);
    }
  });

  it('names what is wrong', () => {
    const cases: [string, RegExp][] = [
      ['* * * *', /needs 5 fields .* found 4/],
      ['* * * * * *', /found 6/],
      ['', /found 0/],
      ['60 * * * *', /minute field "60": 60 is outside 0–59/],
      ['* 24 * * *', /hour field/],
      ['* * 0 * *', /day-of-month field "0": 0 is outside 1–31/],
      ['* * * 13 *', /month field/],
      ['* * * * 8', /day-of-week field "8": 8 is outside 0–7/],
      ['* * * * fri-mon', /range "fri-mon" runs backwards/],
      ['*/0 * * * *', /step must be 1 to 99/],
      ['* * * * mo', /"mo" is not a number or a name \(sun, mon/],
      ['1,,2 * * * *', /malformed item ""/],
      ['1-2-3 * * * *', /malformed range/],
      ['* * 30 2 *', /never matches/],
      ['* * 31 apr,jun,sep,nov *', /never matches/],
      ['x'.repeat(201), /longer than 200/],
    ];
    for (const [expression, pattern] of cases) {
      assert.match(describeScheduleProblem(expression) ?? '(accepted)', pattern, expression);
    }
  });

  it('accepts day 31 in a list of months when one of them has it', () => {
    assert.equal(describeScheduleProblem('* * 31 apr,may *'), undefined);
    // With day-of-week restricted too, either day field suffices: never "never".
    assert.equal(describeScheduleProblem('* * 30 2 mon'), undefined);
  });
});

// ---------------------------------------------------------------------------------------------
// Property test against a naive reference: wall-clock fields straight from Intl for every
// minute, and field sets the generator chose itself instead of the parser's.

/** A small deterministic PRNG (mulberry32), so failures reproduce. */
function prng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface NaiveLocal {
  readonly month: number;
  readonly day: number;
  readonly weekday: number;
  readonly hour: number;
  readonly minute: number;
}

const naiveFormatters = new Map<string, Intl.DateTimeFormat>();
function naiveLocal(timeZone: string, ms: number): NaiveLocal {
  let formatter = naiveFormatters.get(timeZone);
  if (formatter === undefined) {
    formatter = new Intl.DateTimeFormat('en-US', {
      timeZone,
      weekday: 'short',
      month: 'numeric',
      day: 'numeric',
      hour: 'numeric',
      minute: 'numeric',
      hourCycle: 'h23',
    });
    naiveFormatters.set(timeZone, formatter);
  }
  const parts = Object.fromEntries(formatter.formatToParts(ms).map((p) => [p.type, p.value]));
  return {
    month: Number(parts['month']),
    day: Number(parts['day']),
    weekday: ['Sun', 'Mon', 'Tue', 'Wed', 'Thu', 'Fri', 'Sat'].indexOf(String(parts['weekday'])),
    hour: Number(parts['hour']),
    minute: Number(parts['minute']),
  };
}

interface Generated {
  readonly window: ChangeWindow;
  readonly isOpen: (local: NaiveLocal) => boolean;
}

const ZONES = ['Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe', 'Asia/Kolkata', 'UTC'];

function pick<T>(random: () => number, items: readonly T[]): T {
  const item = items[Math.floor(random() * items.length)];
  if (item === undefined) throw new Error('empty');
  return item;
}

/** A random cron field: its text and the set it stands for. */
function randomField(random: () => number, min: number, max: number): [string, Set<number>] {
  const kind = Math.floor(random() * 4);
  const span = (low: number, high: number, step: number) => {
    const set = new Set<number>();
    for (let v = low; v <= high; v += step) set.add(v);
    return set;
  };
  const low = min + Math.floor(random() * (max - min + 1));
  const high = low + Math.floor(random() * (max - low + 1));
  const step = 1 + Math.floor(random() * 4);
  switch (kind) {
    case 0:
      return ['*', span(min, max, 1)];
    case 1:
      return [`${String(low)}-${String(high)}`, span(low, high, 1)];
    case 2:
      return [`*/${String(step)}`, span(min, max, step)];
    default: {
      const other = min + Math.floor(random() * (max - min + 1));
      return [`${String(low)},${String(other)}`, new Set([low, other])];
    }
  }
}

function randomWindow(random: () => number): Generated {
  const timeZone = pick(random, ZONES);
  if (random() < 0.5) {
    const days = WEEKDAYS.filter(() => random() < 0.4);
    if (days.length === 0) days.push(pick(random, WEEKDAYS));
    const start = Math.floor(random() * 48) * 30;
    let end = Math.floor(random() * 48) * 30;
    if (end === start) end = (start + 30) % 1440;
    const hhmm = (m: number) =>
      `${String(Math.floor(m / 60)).padStart(2, '0')}:${String(m % 60).padStart(2, '0')}`;
    const cronDays = new Set(days.map((d) => (WEEKDAYS.indexOf(d) + 1) % 7));
    return {
      window: { days, start: hhmm(start), end: hhmm(end), timeZone },
      isOpen: (local) => {
        const minute = local.hour * 60 + local.minute;
        const today = cronDays.has(local.weekday);
        const yesterday = cronDays.has((local.weekday + 6) % 7);
        return start < end
          ? today && minute >= start && minute < end
          : (today && minute >= start) || (yesterday && minute < end);
      },
    };
  }
  const [minuteText, minutes] = randomField(random, 0, 59);
  const [hourText, hours] = randomField(random, 0, 23);
  const [dayText, days] = random() < 0.7 ? ['*', null] : randomField(random, 1, 31);
  const [weekdayText, weekdays] = random() < 0.5 ? ['*', null] : randomField(random, 0, 6);
  const expression = `${minuteText} ${hourText} ${dayText} * ${weekdayText}`;
  return {
    window: { schedule: expression, timeZone },
    isOpen: (local) => {
      if (!minutes.has(local.minute) || !hours.has(local.hour)) return false;
      const dayOk = days === null || days.has(local.day);
      const weekdayOk = weekdays === null || weekdays.has(local.weekday);
      // Fields written as `*…` are unrestricted; both restricted → either suffices.
      const dayStar = dayText.startsWith('*');
      const weekdayStar = weekdayText.startsWith('*');
      return dayStar || weekdayStar ? dayOk && weekdayOk : dayOk || weekdayOk;
    },
  };
}

describe('evaluateChangeWindows against a naive minute-by-minute reference', () => {
  it('agrees on open/closed and on the next opening, across DST transitions', () => {
    const random = prng(20260329);
    // Instants near the 2026 transitions of the zones above, and some ordinary ones.
    const anchors = [
      '2026-03-07T12:00:00Z',
      '2026-03-28T12:00:00Z',
      '2026-04-04T12:00:00Z',
      '2026-10-03T12:00:00Z',
      '2026-10-24T12:00:00Z',
      '2026-10-31T12:00:00Z',
      '2026-06-15T12:00:00Z',
    ].map(Date.parse);
    for (let run = 0; run < 60; run += 1) {
      const generated = [randomWindow(random)];
      if (random() < 0.3) generated.push(randomWindow(random));
      const anchor = pick(random, anchors);
      const now = anchor + Math.floor(random() * 3 * 86_400_000);
      const label = `${JSON.stringify(generated.map((g) => g.window))} at ${new Date(now).toISOString()}`;

      const openAt = (ms: number) =>
        generated.some((g) => g.isOpen(naiveLocal(g.window.timeZone, ms)));
      const result = evaluateChangeWindows(
        generated.map((g) => g.window),
        new Date(now),
      );
      assert.equal(result.open, openAt(now), label);
      if (result.open) continue;

      let expected: number | undefined;
      const first = Math.floor(now / 60_000) * 60_000 + 60_000;
      for (let i = 0; i < NEXT_OPENING_HORIZON_MINUTES; i += 1) {
        const t = first + i * 60_000;
        if (openAt(t)) {
          expected = t;
          break;
        }
      }
      assert.equal(result.nextOpensAt?.getTime(), expected, label);
    }
  });
});

describe('parseGovernanceFile › changeWindows', () => {
  const file = (windows: string) => `apiVersion: countersign.dev/v1
kind: Governance
issuers:
  - name: github
    type: github-actions
    issuer: https://token.actions.githubusercontent.com
    jwksUrl: https://token.actions.githubusercontent.com/.well-known/jwks
    audiences: [countersign]
    algorithms: [RS256]
users:
  - { id: alice, email: alice@acme.example, roles: [admin] }
products:
  - name: api
    owner: alice
    channels:
      - name: prod
        changeWindows:
${windows}
`;
  const problemsOf = (windows: string): string[] => {
    try {
      parseGovernanceFile(file(windows));
    } catch (error) {
      assert.ok(isAppError(error, 'CONFIG_INVALID'), String(error));
      return error.errors.map((e) => `${e.source ?? ''} ${e.path}: ${e.message}`);
    }
    assert.fail('expected CONFIG_INVALID');
  };

  it('reads weekly windows, midnight spans and schedules, with UTC as default zone', () => {
    const { governance } = parseGovernanceFile(
      file(`          - { days: [mon, fri], start: "22:00", end: "02:00", timeZone: Europe/Berlin }
          - { schedule: "*/15 9-16 * * mon-fri" }`),
    );
    assert.deepEqual(governance.channels[0]?.changeWindows, [
      { days: ['mon', 'fri'], start: '22:00', end: '02:00', timeZone: 'Europe/Berlin' },
      { schedule: '*/15 9-16 * * mon-fri', timeZone: 'UTC' },
    ]);
  });

  it('reports each bad window on its line', () => {
    assert.deepEqual(
      problemsOf(`          - { days: [mon], start: "09:00", end: "09:00" }
          - { schedule: "* * 30 2 *" }
          - { schedule: "* * * *", days: [mon] }
          - { days: [mon], start: "09:00" }
          - { schedule: "* * * * *", timeZone: Mars/Olympus }`),
      [
        'governance.yaml:18 products[0].channels[0].changeWindows[0].end: equals start (09:00): give a later end, an earlier one to span midnight, or a schedule such as "* * * * mon"',
        'governance.yaml:19 products[0].channels[0].changeWindows[1].schedule: schedule never matches: no listed month has the listed day of the month (e.g. February 30th)',
        'governance.yaml:20 products[0].channels[0].changeWindows[2].schedule: give either schedule or days/start/end, not both (remove days)',
        'governance.yaml:21 products[0].channels[0].changeWindows[3]: a change window needs days, start and end, or a schedule (missing end)',
        'governance.yaml:22 products[0].channels[0].changeWindows[4].timeZone: unknown time zone Mars/Olympus (use an IANA name such as Europe/Berlin)',
      ],
    );
  });
});
