import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { describe, it } from 'node:test';
import type { Clock } from './ports.ts';
import { createRateLimiter } from './rate-limiter.ts';

function manualClock(): Clock & { advanceMs(ms: number): void; set(ms: number): void } {
  let now = Date.parse('2026-11-24T00:00:00Z');
  return {
    now: () => new Date(now),
    advanceMs(ms) {
      now += ms;
    },
    set(ms) {
      now = ms;
    },
  };
}

describe('createRateLimiter', () => {
  it('admits a minute’s budget at once, then refuses with the seconds until the next request', () => {
    const clock = manualClock();
    const limiter = createRateLimiter({ perMinute: 3, clock });
    for (let i = 0; i < 3; i++) assert.deepEqual(limiter.take('a'), { allowed: true });
    // One request refills every 20 s.
    assert.deepEqual(limiter.take('a'), { allowed: false, retryAfterSeconds: 20 });
    clock.advanceMs(19_001);
    assert.deepEqual(limiter.take('a'), { allowed: false, retryAfterSeconds: 1 });
    clock.advanceMs(999);
    assert.deepEqual(limiter.take('a'), { allowed: true });
    assert.equal(limiter.take('a').allowed, false);
  });

  it('keeps one budget per key', () => {
    const limiter = createRateLimiter({ perMinute: 1, clock: manualClock() });
    assert.equal(limiter.take('a').allowed, true);
    assert.equal(limiter.take('a').allowed, false);
    assert.equal(limiter.take('b').allowed, true);
  });

  it('refills no more than the budget however long a key was idle', () => {
    const clock = manualClock();
    const limiter = createRateLimiter({ perMinute: 2, clock });
    limiter.take('a');
    clock.advanceMs(365 * 24 * 3_600_000);
    assert.equal(limiter.take('a').allowed, true);
    assert.equal(limiter.take('a').allowed, true);
    assert.equal(limiter.take('a').allowed, false);
  });

  it('refills nothing, and drains nothing, when the clock steps back', () => {
    const clock = manualClock();
    const limiter = createRateLimiter({ perMinute: 2, clock });
    const start = clock.now().getTime();
    limiter.take('a');
    clock.set(start - 3_600_000);
    assert.equal(limiter.take('a').allowed, true);
    assert.equal(limiter.take('a').allowed, false);
    // Back to the bucket's own time: still empty, refilling from there.
    clock.set(start + 30_000);
    assert.equal(limiter.take('a').allowed, true);
  });

  it('remembers at most maxKeys keys, dropping the least recently used', () => {
    const limiter = createRateLimiter({ perMinute: 1, maxKeys: 2, clock: manualClock() });
    limiter.take('a');
    limiter.take('b');
    limiter.take('a'); // refused, but a is now the most recently used
    limiter.take('c'); // evicts b
    assert.equal(limiter.size(), 2);
    assert.equal(limiter.take('a').allowed, false, 'a kept its empty bucket');
    assert.equal(limiter.take('b').allowed, true, 'b came back with a full bucket');
  });

  it('refuses a budget that is not a positive integer', () => {
    const clock = manualClock();
    for (const perMinute of [0, -1, 1.5, Number.NaN, 2 ** 53]) {
      assert.throws(() => createRateLimiter({ perMinute, clock }), RangeError, String(perMinute));
    }
    assert.throws(() => createRateLimiter({ perMinute: 1, maxKeys: 0, clock }), RangeError);
  });

  it('agrees with a millisecond-by-millisecond simulation on random traffic', () => {
    for (let round = 0; round < 20; round++) {
      const perMinute = randomInt(1, 400);
      const clock = manualClock();
      const limiter = createRateLimiter({ perMinute, clock });
      // Naive reference: the credit in 1/60,000ths of a request, refilled one ms at a time.
      const capacity = perMinute * 60_000;
      let credit = capacity;
      for (let step = 0; step < 400; step++) {
        const gap = randomInt(0, 3) === 0 ? randomInt(0, 2_000) : 0;
        for (let ms = 0; ms < gap; ms++) credit = Math.min(capacity, credit + perMinute);
        clock.advanceMs(gap);
        const expected = credit >= 60_000;
        let waitMs = 0;
        if (expected) credit -= 60_000;
        else {
          let simulated = credit;
          while (simulated < 60_000) {
            simulated += perMinute;
            waitMs++;
          }
        }
        const outcome = limiter.take('k');
        assert.equal(outcome.allowed, expected, `round ${String(round)} step ${String(step)}`);
        if (!outcome.allowed) {
          assert.equal(outcome.retryAfterSeconds, Math.max(1, Math.ceil(waitMs / 1000)));
        }
      }
    }
  });
});
