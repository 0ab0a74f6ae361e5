import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { isAppError } from './errors.ts';
import { checkJsonText, parseStrictJson } from './strict-json.ts';

const utf8 = (text: string) => new TextEncoder().encode(text);

/** The INVALID_INPUT error `check` throws, with its message and pointer. */
function refusal(check: () => unknown): { message: string; path: string | undefined } {
  try {
    check();
  } catch (error) {
    assert.ok(isAppError(error));
    assert.equal(error.code, 'INVALID_INPUT');
    return { message: error.message, path: error.errors[0]?.path };
  }
  assert.fail('expected a refusal');
}

describe('strict JSON', () => {
  it('parses ordinary documents as JSON.parse does', () => {
    const text =
      '{"a":[1,-2.5,1e300,0.1,-0,true,false,null,"x\\"y\\\\"],"b":{"c":{}},"é":"\\u00e9","":[],"n":9007199254740991}';
    assert.deepEqual(parseStrictJson(utf8(text), 'the body'), JSON.parse(text));
  });

  it('refuses a member name twice in one object, after unescaping, with its pointer', () => {
    assert.deepEqual(
      refusal(() => checkJsonText('{"product":"nope","product":"demo"}', 'the body')),
      {
        message: 'the body: /product appears twice in its object; send each member once',
        path: '/product',
      },
    );
    const nested = refusal(() => checkJsonText('{"s":[{"a":1},{"a":1,"\\u0061":2}]}', 'the body'));
    assert.equal(nested.path, '/s/1/a');
    // The same name in different objects is fine, and so is a name inside a string value.
    checkJsonText('{"a":{"a":1},"b":[{"a":1},{"a":2}],"c":"\\"a\\":1,\\"a\\":2"}', 'the body');
  });

  it('refuses numbers a double cannot hold exactly enough', () => {
    const cases: [string, string, RegExp][] = [
      ['{"build":9007199254740993}', '/build', /integer beyond/],
      ['{"n":[-9007199254740992]}', '/n/0', /integer beyond/],
      ['{"x":1.000000000000000000001}', '/x', /more than 17 significant digits/],
      ['{"tiny":1e-400}', '/tiny', /would read as 0/],
      ['{"big":1e400}', '/big', /too large/],
      ['12345678901234567890', '/', /integer beyond/],
    ];
    for (const [text, path, message] of cases) {
      const refused = refusal(() => checkJsonText(text, 'the body'));
      assert.equal(refused.path, path, text);
      assert.match(refused.message, message, text);
    }
    // Trailing zeros are not significant; zero is zero in any spelling.
    checkJsonText('[1.50000000000000000000000, 0.000e-999, 100e2, 12345678901234567e-3]', 'x');
  });

  it('refuses invalid UTF-8 instead of repairing it', () => {
    assert.match(
      refusal(() =>
        parseStrictJson(Uint8Array.of(0x7b, 0x22, 0xff, 0xfe, 0x22, 0x3a, 0x31, 0x7d), 'the body'),
      ).message,
      /the body is not valid UTF-8/,
    );
  });

  it('leaves malformed JSON to the parser, which refuses it', () => {
    for (const text of ['{"a":', '{"a" 1}', '[1,,2]', '{"a":tru}', '"unterminated', '']) {
      checkJsonText(text, 'the body');
      assert.match(
        refusal(() => parseStrictJson(utf8(text), 'the body')).message,
        /not valid JSON/,
      );
    }
  });
});
