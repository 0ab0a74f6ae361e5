import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DER_TAG,
  decodeBoolean,
  decodeCertificateTime,
  decodeGeneralizedTime,
  decodeInteger,
  decodeOid,
  decodeUnsignedInteger,
  encodeGeneralizedTime,
  encodeOid,
  encodeSetOf,
  encodeTlv,
  encodeUnsignedInteger,
  encodeUtcTime,
  parseDer,
  readChildren,
} from './der.ts';

const bytes = (...values: number[]) => Uint8Array.from(values);
const time = (tag: number, text: string) =>
  parseDer(encodeTlv(tag, new TextEncoder().encode(text)));

describe('encodeTlv', () => {
  it('writes the shortest length form at every boundary, then the parts in order', () => {
    for (const [length, header] of [
      [0, [0x04, 0x00]],
      [127, [0x04, 0x7f]],
      [128, [0x04, 0x81, 0x80]],
      [255, [0x04, 0x81, 0xff]],
      [256, [0x04, 0x82, 0x01, 0x00]],
      [65_535, [0x04, 0x82, 0xff, 0xff]],
      [65_536, [0x04, 0x83, 0x01, 0x00, 0x00]],
    ] as const) {
      const contents = Uint8Array.from({ length }, (_, i) => i % 251);
      // Split in three parts: the result is their concatenation after the header.
      const third = Math.floor(length / 3);
      const encoded = encodeTlv(
        DER_TAG.OCTET_STRING,
        contents.subarray(0, third),
        contents.subarray(third, 2 * third),
        contents.subarray(2 * third),
      );
      assert.deepEqual([...encoded.subarray(0, header.length)], header, `length ${length}`);
      assert.deepEqual(encoded.subarray(header.length), contents, `length ${length}`);
      assert.deepEqual(parseDer(encoded).contents, contents);
    }
  });
});

describe('parseDer', () => {
  it('reads short and long form lengths', () => {
    assert.equal(parseDer(bytes(0x04, 0x01, 0xaa)).contents.byteLength, 1);
    const long = encodeTlv(DER_TAG.OCTET_STRING, new Uint8Array(300));
    assert.deepEqual([...long.subarray(0, 4)], [0x04, 0x82, 0x01, 0x2c]);
    assert.equal(parseDer(long).contents.byteLength, 300);
  });

  for (const [name, input] of [
    ['an indefinite length', bytes(0x30, 0x80, 0x00, 0x00)],
    ['a long form length below 128', bytes(0x04, 0x81, 0x01, 0xaa)],
    ['a length with a leading zero byte', bytes(0x04, 0x82, 0x00, 0x80, ...new Uint8Array(128))],
    ['a truncated element', bytes(0x04, 0x05, 0x01)],
    ['trailing bytes', bytes(0x05, 0x00, 0x00)],
    ['a high tag number', bytes(0x1f, 0x81, 0x00, 0x00)],
    ['a long-form length for a short length', bytes(4, 0x81, 1, 0)],
    ['a length running past the input', bytes(4, 5, 0)],
  ] as const) {
    it(`rejects ${name}`, () => {
      assert.throws(() => parseDer(input), { code: 'INVALID_INPUT' });
    });
  }

  it('rejects nesting deeper than 32 levels', () => {
    let der: Uint8Array = Uint8Array.of(5, 0);
    for (let i = 0; i < 40; i++) der = encodeTlv(DER_TAG.SEQUENCE, der);
    assert.throws(() => parseDer(der), { code: 'INVALID_INPUT' });
  });

  it('reads the children of a constructed element and rejects a primitive one', () => {
    const sequence = parseDer(
      encodeTlv(DER_TAG.SEQUENCE, bytes(0x05, 0x00), bytes(0x02, 0x01, 0x07)),
    );
    assert.deepEqual(
      readChildren(sequence).map((child) => child.tag),
      [DER_TAG.NULL, DER_TAG.INTEGER],
    );
    assert.throws(() => readChildren(parseDer(bytes(0x04, 0x00))), { code: 'INVALID_INPUT' });
  });
});

describe('INTEGERs', () => {
  it('reads positive and negative values', () => {
    assert.equal(decodeInteger(parseDer(bytes(0x02, 0x02, 0x00, 0x80)), 'n'), 128n);
    assert.equal(decodeInteger(parseDer(bytes(0x02, 0x01, 0xff)), 'n'), -1n);
  });

  it('rejects non-minimal encodings', () => {
    assert.throws(() => decodeInteger(parseDer(bytes(0x02, 0x02, 0x00, 0x01)), 'n'), {
      code: 'INVALID_INPUT',
    });
    assert.throws(() => decodeInteger(parseDer(bytes(0x02, 0x02, 0xff, 0x80)), 'n'), {
      code: 'INVALID_INPUT',
    });
    assert.throws(() => decodeInteger(parseDer(bytes(0x02, 0x00)), 'n'), {
      code: 'INVALID_INPUT',
    });
  });

  it('keeps a magnitude with the high bit set positive', () => {
    const der = encodeUnsignedInteger(Uint8Array.of(0x80, 0x01));
    assert.deepEqual(der, Uint8Array.of(2, 3, 0, 0x80, 1));
    assert.deepEqual(decodeUnsignedInteger(parseDer(der), 'n'), Uint8Array.of(0x80, 1));
  });

  it('strips leading zero octets of the magnitude', () => {
    assert.deepEqual(encodeUnsignedInteger(Uint8Array.of(0, 0, 5)), Uint8Array.of(2, 1, 5));
  });
});

describe('OIDs', () => {
  for (const oid of [
    '1.2.840.113549.1.9.16.1.4',
    '2.5.29.37',
    '1.3.6.1.4.1.57264.1.8',
    '2.999.1',
  ]) {
    it(`round-trip ${oid}`, () => {
      assert.equal(decodeOid(parseDer(encodeOid(oid)), 'oid'), oid);
    });
  }

  it('round-trips arcs beyond 2^53 (UUID OIDs under 2.25)', () => {
    const oid = '2.25.186554646352067085110317425510746231887';
    assert.equal(decodeOid(parseDer(encodeOid(oid)), 'oid'), oid);
    assert.equal(
      decodeOid(parseDer(encodeOid('1.2.840.10045.4.3.2')), 'oid'),
      '1.2.840.10045.4.3.2',
    );
  });

  it('rejects an arc with a leading 0x80 byte', () => {
    assert.throws(() => decodeOid(parseDer(bytes(0x06, 0x02, 0x80, 0x01)), 'oid'), {
      code: 'INVALID_INPUT',
    });
  });

  it('rejects a non-minimal arc', () => {
    assert.throws(() => decodeOid(parseDer(Uint8Array.of(6, 3, 0x2a, 0x80, 0x01)), 'oid'), {
      code: 'INVALID_INPUT',
    });
  });
});

describe('decodeBoolean', () => {
  it('accepts only 0x00 and 0xff', () => {
    assert.equal(decodeBoolean(parseDer(bytes(0x01, 0x01, 0xff)), 'b'), true);
    assert.throws(() => decodeBoolean(parseDer(bytes(0x01, 0x01, 0x01)), 'b'), {
      code: 'INVALID_INPUT',
    });
  });
});

describe('SET OF', () => {
  it('sorts its elements by their encodings', () => {
    const set = encodeSetOf([
      Uint8Array.of(4, 1, 9),
      Uint8Array.of(4, 1, 2),
      Uint8Array.of(2, 1, 7),
    ]);
    assert.deepEqual(set, Uint8Array.of(0x31, 9, 2, 1, 7, 4, 1, 2, 4, 1, 9));
  });
});

describe('decodeGeneralizedTime', () => {
  it('reads whole seconds and milliseconds', () => {
    const whole = decodeGeneralizedTime(time(DER_TAG.GENERALIZED_TIME, '20260301120000Z'), 't', {
      fraction: true,
    });
    assert.equal(whole.toISOString(), '2026-03-01T12:00:00.000Z');
    const millis = decodeGeneralizedTime(
      time(DER_TAG.GENERALIZED_TIME, '20260301120000.125Z'),
      't',
      { fraction: true },
    );
    assert.equal(millis.toISOString(), '2026-03-01T12:00:00.125Z');
    const half = decodeGeneralizedTime(time(DER_TAG.GENERALIZED_TIME, '20300615123456.5Z'), 't', {
      fraction: true,
    });
    assert.equal(half.toISOString(), '2030-06-15T12:34:56.500Z');
  });

  for (const text of [
    '20260301120000.10Z',
    '20260301120000.1234Z',
    '20260301120000',
    '20260230120000Z',
    '202603011200Z',
    '20300615123456.50Z',
  ]) {
    it(`rejects ${text}`, () => {
      assert.throws(
        () => decodeGeneralizedTime(time(DER_TAG.GENERALIZED_TIME, text), 't', { fraction: true }),
        { code: 'INVALID_INPUT' },
      );
    });
  }

  it('rejects a fraction where none is allowed', () => {
    assert.throws(
      () =>
        decodeGeneralizedTime(time(DER_TAG.GENERALIZED_TIME, '20260301120000.5Z'), 't', {
          fraction: false,
        }),
      { code: 'INVALID_INPUT' },
    );
  });
});

describe('decodeCertificateTime', () => {
  it('maps two-digit UTCTime years per RFC 5280 (50-99 → 19xx, 00-49 → 20xx)', () => {
    assert.equal(
      decodeCertificateTime(time(DER_TAG.UTC_TIME, '491231235959Z'), 't').getUTCFullYear(),
      2049,
    );
    assert.equal(
      decodeCertificateTime(time(DER_TAG.UTC_TIME, '500101000000Z'), 't').getUTCFullYear(),
      1950,
    );
  });

  it('rejects fractions, trailing fractional zeros and impossible dates', () => {
    for (const bad of [
      '20300615123456.5Z',
      '20300615123456.50Z',
      '20300231000000Z',
      '203006151234Z',
    ]) {
      assert.throws(() => decodeCertificateTime(time(DER_TAG.GENERALIZED_TIME, bad), 't'), {
        code: 'INVALID_INPUT',
      });
    }
  });
});

describe('writing times', () => {
  it('writes whole-second GeneralizedTime and UTCTime', () => {
    const at = new Date('2030-06-15T12:34:56Z');
    assert.equal(Buffer.from(encodeGeneralizedTime(at).subarray(2)).toString(), '20300615123456Z');
    assert.equal(Buffer.from(encodeUtcTime(at).subarray(2)).toString(), '300615123456Z');
    assert.throws(() => encodeGeneralizedTime(new Date('2030-06-15T12:34:56.5Z')), {
      code: 'INTERNAL',
    });
  });
});
