import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatDuration, parseDuration, tryParseDuration } from './duration.ts';

describe('tryParseDuration', () => {
  it('reads single units and combinations', () => {
    assert.equal(tryParseDuration('45s'), 45);
    assert.equal(tryParseDuration('15m'), 900);
    assert.equal(tryParseDuration('2h'), 7200);
    assert.equal(tryParseDuration('7d'), 604_800);
    assert.equal(tryParseDuration('1h30m'), 5400);
    assert.equal(tryParseDuration('1d2h3m4s'), 93_784);
  });
  it('refuses zero, signs, spaces, other units and out-of-order units', () => {
    assert.equal(tryParseDuration('2w'), 1_209_600);
    for (const text of ['', '0s', '-1h', '1 h', '2y', '1m1h', 'h', '1.5h', '99999999999s']) {
      assert.equal(tryParseDuration(text), undefined, text);
    }
  });
});

describe('parseDuration', () => {
  it('throws INVALID_INPUT naming the field', () => {
    assert.throws(
      () => parseDuration('soon', '--for'),
      (e: unknown) =>
        (e as { code?: string }).code === 'INVALID_INPUT' && String(e).includes('--for'),
    );
  });
});

describe('formatDuration', () => {
  it('round-trips through tryParseDuration', () => {
    for (const seconds of [1, 59, 60, 3600, 5400, 86_400, 93_784]) {
      assert.equal(tryParseDuration(formatDuration(seconds)), seconds);
    }
  });
});
