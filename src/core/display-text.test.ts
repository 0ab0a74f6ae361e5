import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isDisplaySafe, toDisplaySafe } from './display-text.ts';

describe('isDisplaySafe', () => {
  it('accepts ordinary text in any script, with spaces and punctuation', () => {
    for (const text of ['app.tar.gz', 'dist/payments-api 1.2.tgz', 'Überprüfung ✓', '日本語.zip']) {
      assert.equal(isDisplaySafe(text), true, text);
    }
  });

  it('refuses control characters: terminal escapes, NUL, DEL, C1', () => {
    for (const text of [
      'ok\u001b[2K',
      'a\u0000b',
      'a\u007fb',
      'a\u009bb',
      'line\nbreak',
      'tab\there',
    ]) {
      assert.equal(isDisplaySafe(text), false, JSON.stringify(text));
    }
  });

  it('refuses format characters: bidi overrides and isolates, zero-width characters', () => {
    for (const text of [
      'app-\u202Eexe.tar.gz',
      'a\u2066b\u2069',
      'a\u200Bb',
      'a\u200Fb',
      '\uFEFFbom',
    ]) {
      assert.equal(isDisplaySafe(text), false, JSON.stringify(text));
    }
  });

  it('refuses lone surrogates', () => {
    assert.equal(isDisplaySafe('a\uD800b'), false);
  });

  it('allows newline and tab, and nothing else, with multiline', () => {
    assert.equal(isDisplaySafe('first line\n\tsecond', { multiline: true }), true);
    assert.equal(isDisplaySafe('a\rb', { multiline: true }), false);
    assert.equal(isDisplaySafe('a\u202Eb', { multiline: true }), false);
    assert.equal(isDisplaySafe('a\u001bb', { multiline: true }), false);
  });
});

describe('toDisplaySafe', () => {
  it('escapes exactly what isDisplaySafe refuses', () => {
    assert.equal(toDisplaySafe('app.tgz Überprüfung'), 'app.tgz Überprüfung');
    assert.equal(toDisplaySafe('a\u001b[2Kb\u202Ec\nd'), 'a\\u001b[2Kb\\u202ec\\u000ad');
    assert.equal(toDisplaySafe('lone \uD800'), 'lone \uFFFD');
  });
});
