import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  MAX_CANONICAL_JSON_DEPTH,
  canonicalJsonBytes,
  canonicalizeJson,
} from './canonical-json.ts';

/** The IEEE 754 double with the given bit pattern (RFC 8785 Appendix B lists numbers this way). */
function double(bits: string): number {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt(`0x${bits}`));
  return view.getFloat64(0);
}

describe('canonicalizeJson', () => {
  describe('on the RFC 8785 §3.2.2 example', () => {
    it('sorts members, serializes numbers the ECMAScript way and escapes strings minimally', () => {
      const input =
        '{"numbers": [333333333.33333329, 1E30, 4.50, 2e-3, 0.000000000000000000000000001],' +
        ' "string": "\\u20ac$\\u000F\\u000aA\'\\u0042\\u0022\\u005c\\\\\\"\\/",' +
        ' "literals": [null, true, false]}';
      assert.equal(
        canonicalizeJson(JSON.parse(input)),
        '{"literals":[null,true,false],"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27],' +
          '"string":"\u20ac$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}',
      );
    });
  });

  describe('on the RFC 8785 §3.2.3 sorting example', () => {
    it('orders names by UTF-16 code units, so an emoji sorts before U+FB33', () => {
      const input = {
        '\u20ac': 'Euro Sign',
        '\r': 'Carriage Return',
        '\ufb33': 'Hebrew Letter Dalet With Dagesh',
        '1': 'One',
        '\ud83d\ude00': 'Emoji: Grinning Face',
        '\u0080': 'Control',
        '\u00f6': 'Latin Small Letter O With Diaeresis',
      };
      assert.equal(
        canonicalizeJson(input),
        '{"\\r":"Carriage Return","1":"One","\u0080":"Control",' +
          '"\u00f6":"Latin Small Letter O With Diaeresis","\u20ac":"Euro Sign",' +
          '"\ud83d\ude00":"Emoji: Grinning Face","\ufb33":"Hebrew Letter Dalet With Dagesh"}',
      );
    });
  });

  describe('on numbers (RFC 8785 Appendix B)', () => {
    const cases: [string, string][] = [
      ['0000000000000000', '0'],
      ['8000000000000000', '0'],
      ['0000000000000001', '5e-324'],
      ['8000000000000001', '-5e-324'],
      ['7fefffffffffffff', '1.7976931348623157e+308'],
      ['ffefffffffffffff', '-1.7976931348623157e+308'],
      ['4340000000000000', '9007199254740992'],
      ['c340000000000000', '-9007199254740992'],
      ['4430000000000000', '295147905179352830000'],
      ['44b52d02c7e14af5', '9.999999999999997e+22'],
      ['44b52d02c7e14af6', '1e+23'],
      ['444b1ae4d6e2ef50', '1e+21'],
      ['444b1ae4d6e2ef4f', '999999999999999900000'],
      ['3eb0c6f7a0b5ed8d', '0.000001'],
      ['3eb0c6f7a0b5ed8c', '9.999999999999997e-7'],
      ['41b3de4355555556', '333333333.3333334'],
    ];
    for (const [bits, expected] of cases) {
      it(`writes 0x${bits} as ${expected}`, () => {
        assert.equal(canonicalizeJson(double(bits)), expected);
      });
    }
  });

  it('writes nested arrays and objects without whitespace', () => {
    assert.equal(
      canonicalizeJson({ b: [{ d: 1, c: 'x' }, []], a: {} }),
      '{"a":{},"b":[{"c":"x","d":1},[]]}',
    );
  });

  it('accepts objects without a prototype and repeated (non-cyclic) references', () => {
    const shared = { x: 1 };
    const bare = Object.assign(Object.create(null) as Record<string, unknown>, {
      b: shared,
      a: shared,
    });
    assert.equal(canonicalizeJson(bare), '{"a":{"x":1},"b":{"x":1}}');
  });

  it('keeps a member named __proto__ as data', () => {
    assert.equal(
      canonicalizeJson(JSON.parse('{"__proto__":{"a":1},"b":2}')),
      '{"__proto__":{"a":1},"b":2}',
    );
  });

  const rejected: [string, () => unknown][] = [
    ['a number is NaN', () => ({ a: Number.NaN })],
    ['a number is infinite', () => [Number.POSITIVE_INFINITY]],
    ['a member is undefined', () => ({ a: undefined })],
    ['the value is undefined', () => undefined],
    ['a value is a function', () => ({ f: () => 1 })],
    ['a value is a bigint', () => ({ n: 1n })],
    ['a value is a symbol', () => [Symbol('s')]],
    ['an object has a symbol key', () => ({ [Symbol('k')]: 1 })],
    ['a value is a Date', () => ({ at: new Date(0) })],
    ['a value is a Map', () => new Map()],
    ['an array is sparse', () => [1, , 3]],
    ['a string has a lone surrogate', () => ({ s: 'a\ud800' })],
    ['a name has a lone surrogate', () => ({ '\udc00': 1 })],
    [
      'the value contains a cycle',
      () => {
        const a: Record<string, unknown> = {};
        a['self'] = { a };
        return a;
      },
    ],
    [
      `nesting is deeper than ${MAX_CANONICAL_JSON_DEPTH}`,
      () => {
        let deep: unknown = 1;
        for (let i = 0; i <= MAX_CANONICAL_JSON_DEPTH; i++) deep = [deep];
        return deep;
      },
    ],
  ];
  for (const [when, make] of rejected) {
    describe(`when ${when}`, () => {
      it('throws INVALID_INPUT', () => {
        assert.throws(() => canonicalizeJson(make()), { code: 'INVALID_INPUT' });
      });
    });
  }

  it('says where the offending value is', () => {
    assert.throws(() => canonicalizeJson({ a: [1, { 'b/c': Number.NaN }] }), {
      code: 'INVALID_INPUT',
      message: /\/a\/1\/b~1c is not a finite number/,
    });
  });
});

describe('canonicalJsonBytes', () => {
  it('is the UTF-8 encoding of the canonical text', () => {
    assert.deepEqual(
      canonicalJsonBytes({ b: '\u20ac', a: 1 }),
      new TextEncoder().encode('{"a":1,"b":"\u20ac"}'),
    );
    assert.deepEqual([...canonicalJsonBytes('\u20ac')], [0x22, 0xe2, 0x82, 0xac, 0x22]);
  });
});
