import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DER_TAG,
  encodeDer,
  encodeOid,
  readBoolean,
  readCertificateTime,
  readChildren,
  readDer,
  readGeneralizedTime,
  readInteger,
  readOid,
} from './der.ts';

const bytes = (...values: number[]) => Uint8Array.from(values);
const time = (tag: number, text: string) => readDer(encodeDer(tag, new TextEncoder().encode(text)));

describe('readDer', () => {
  it('reads short and long form lengths', () => {
    assert.equal(readDer(bytes(0x04, 0x01, 0xaa)).contents.byteLength, 1);
    const long = encodeDer(DER_TAG.OCTET_STRING, new Uint8Array(300));
    assert.deepEqual([...long.subarray(0, 4)], [0x04, 0x82, 0x01, 0x2c]);
    assert.equal(readDer(long).contents.byteLength, 300);
  });

  for (const [name, input] of [
    ['an indefinite length', bytes(0x30, 0x80, 0x00, 0x00)],
    ['a long form length below 128', bytes(0x04, 0x81, 0x01, 0xaa)],
    ['a length with a leading zero byte', bytes(0x04, 0x82, 0x00, 0x80, ...new Uint8Array(128))],
    ['a truncated element', bytes(0x04, 0x05, 0x01)],
    ['trailing bytes', bytes(0x05, 0x00, 0x00)],
    ['a high tag number', bytes(0x1f, 0x81, 0x00, 0x00)],
  ] as const) {
    it(`rejects ${name}`, () => {
      assert.throws(() => readDer(input), { code: 'INVALID_INPUT' });
    });
  }

  it('reads the children of a constructed element and rejects a primitive one', () => {
    const sequence = readDer(
      encodeDer(DER_TAG.SEQUENCE, bytes(0x05, 0x00), bytes(0x02, 0x01, 0x07)),
    );
    assert.deepEqual(
      readChildren(sequence).map((child) => child.tag),
      [DER_TAG.NULL, DER_TAG.INTEGER],
    );
    assert.throws(() => readChildren(readDer(bytes(0x04, 0x00))), { code: 'INVALID_INPUT' });
  });
});

describe('readInteger', () => {
  it('reads positive and negative values', () => {
    assert.equal(readInteger(readDer(bytes(0x02, 0x02, 0x00, 0x80)), 'n'), 128n);
    assert.equal(readInteger(readDer(bytes(0x02, 0x01, 0xff)), 'n'), -1n);
  });

  it('rejects non-minimal encodings', () => {
    assert.throws(() => readInteger(readDer(bytes(0x02, 0x02, 0x00, 0x01)), 'n'), {
      code: 'INVALID_INPUT',
    });
    assert.throws(() => readInteger(readDer(bytes(0x02, 0x02, 0xff, 0x80)), 'n'), {
      code: 'INVALID_INPUT',
    });
    assert.throws(() => readInteger(readDer(bytes(0x02, 0x00)), 'n'), { code: 'INVALID_INPUT' });
  });
});

describe('readOid and encodeOid', () => {
  for (const oid of [
    '1.2.840.113549.1.9.16.1.4',
    '2.5.29.37',
    '1.3.6.1.4.1.57264.1.8',
    '2.999.1',
  ]) {
    it(`round-trip ${oid}`, () => {
      assert.equal(readOid(readDer(encodeOid(oid)), 'oid'), oid);
    });
  }

  it('rejects an arc with a leading 0x80 byte', () => {
    assert.throws(() => readOid(readDer(bytes(0x06, 0x02, 0x80, 0x01)), 'oid'), {
      code: 'INVALID_INPUT',
    });
  });
});

describe('readBoolean', () => {
  it('accepts only 0x00 and 0xff', () => {
    assert.equal(readBoolean(readDer(bytes(0x01, 0x01, 0xff)), 'b'), true);
    assert.throws(() => readBoolean(readDer(bytes(0x01, 0x01, 0x01)), 'b'), {
      code: 'INVALID_INPUT',
    });
  });
});

describe('readGeneralizedTime', () => {
  it('reads whole seconds and milliseconds', () => {
    const whole = readGeneralizedTime(time(DER_TAG.GENERALIZED_TIME, '20260301120000Z'), 't', {
      fraction: true,
    });
    assert.equal(whole.toISOString(), '2026-03-01T12:00:00.000Z');
    const millis = readGeneralizedTime(time(DER_TAG.GENERALIZED_TIME, '20260301120000.125Z'), 't', {
      fraction: true,
    });
    assert.equal(millis.toISOString(), '2026-03-01T12:00:00.125Z');
  });

  for (const text of [
    '20260301120000.10Z',
    '20260301120000.1234Z',
    '20260301120000',
    '20260230120000Z',
    '202603011200Z',
  ]) {
    it(`rejects ${text}`, () => {
      assert.throws(
        () => readGeneralizedTime(time(DER_TAG.GENERALIZED_TIME, text), 't', { fraction: true }),
        {
          code: 'INVALID_INPUT',
        },
      );
    });
  }

  it('rejects a fraction where none is allowed', () => {
    assert.throws(
      () =>
        readGeneralizedTime(time(DER_TAG.GENERALIZED_TIME, '20260301120000.5Z'), 't', {
          fraction: false,
        }),
      {
        code: 'INVALID_INPUT',
      },
    );
  });
});

describe('readCertificateTime', () => {
  it('maps two-digit UTCTime years per RFC 5280 (50-99 → 19xx, 00-49 → 20xx)', () => {
    assert.equal(
      readCertificateTime(time(DER_TAG.UTC_TIME, '491231235959Z'), 't').getUTCFullYear(),
      2049,
    );
    assert.equal(
      readCertificateTime(time(DER_TAG.UTC_TIME, '500101000000Z'), 't').getUTCFullYear(),
      1950,
    );
  });
});
