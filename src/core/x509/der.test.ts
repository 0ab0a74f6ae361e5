import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DER_TAG,
  decodeBoolean,
  decodeOid,
  decodeTime,
  decodeUnsignedInteger,
  encodeGeneralizedTime,
  encodeOid,
  encodeSetOf,
  encodeTlv,
  encodeUnsignedInteger,
  encodeUtcTime,
  parseDer,
} from './der.ts';

function text(tag: number, value: string): Uint8Array {
  return encodeTlv(tag, new TextEncoder().encode(value));
}

describe('der', () => {
  describe('OIDs', () => {
    it('round-trips arcs beyond 2^53 (UUID OIDs under 2.25)', () => {
      const oid = '2.25.186554646352067085110317425510746231887';
      assert.equal(decodeOid(parseDer(encodeOid(oid)), 'oid'), oid);
      assert.equal(
        decodeOid(parseDer(encodeOid('1.2.840.10045.4.3.2')), 'oid'),
        '1.2.840.10045.4.3.2',
      );
    });

    it('rejects a non-minimal arc', () => {
      assert.throws(() => decodeOid(parseDer(Uint8Array.of(6, 3, 0x2a, 0x80, 0x01)), 'oid'), {
        code: 'INVALID_INPUT',
      });
    });
  });

  describe('INTEGERs', () => {
    it('keeps a magnitude with the high bit set positive', () => {
      const der = encodeUnsignedInteger(Uint8Array.of(0x80, 0x01));
      assert.deepEqual(der, Uint8Array.of(2, 3, 0, 0x80, 1));
      assert.deepEqual(decodeUnsignedInteger(parseDer(der), 'n'), Uint8Array.of(0x80, 1));
    });

    it('strips leading zero octets of the magnitude', () => {
      assert.deepEqual(encodeUnsignedInteger(Uint8Array.of(0, 0, 5)), Uint8Array.of(2, 1, 5));
    });
  });

  describe('framing', () => {
    it('rejects a long-form length for a short length', () => {
      assert.throws(() => parseDer(Uint8Array.of(4, 0x81, 1, 0)), { code: 'INVALID_INPUT' });
    });

    it('rejects a length running past the input', () => {
      assert.throws(() => parseDer(Uint8Array.of(4, 5, 0)), { code: 'INVALID_INPUT' });
    });

    it('rejects nesting deeper than 32 levels', () => {
      let der: Uint8Array = Uint8Array.of(5, 0);
      for (let i = 0; i < 40; i++) der = encodeTlv(DER_TAG.SEQUENCE, der);
      assert.throws(() => parseDer(der), { code: 'INVALID_INPUT' });
    });

    it('rejects a BOOLEAN of 0x01', () => {
      assert.throws(() => decodeBoolean(parseDer(Uint8Array.of(1, 1, 1)), 'b'), {
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

  describe('times', () => {
    it('writes whole-second GeneralizedTime and UTCTime', () => {
      const at = new Date('2030-06-15T12:34:56Z');
      assert.equal(
        Buffer.from(encodeGeneralizedTime(at).subarray(2)).toString(),
        '20300615123456Z',
      );
      assert.equal(Buffer.from(encodeUtcTime(at).subarray(2)).toString(), '300615123456Z');
      assert.throws(() => encodeGeneralizedTime(new Date('2030-06-15T12:34:56.5Z')), {
        code: 'INTERNAL',
      });
    });

    it('reads DER times and rejects trailing fractional zeros and impossible dates', () => {
      const at = decodeTime(parseDer(text(DER_TAG.GENERALIZED_TIME, '20300615123456.5Z')), 't');
      assert.equal(at.toISOString(), '2030-06-15T12:34:56.500Z');
      for (const bad of ['20300615123456.50Z', '20300231000000Z', '203006151234Z']) {
        assert.throws(() => decodeTime(parseDer(text(DER_TAG.GENERALIZED_TIME, bad)), 't'), {
          code: 'INVALID_INPUT',
        });
      }
      assert.equal(
        decodeTime(parseDer(text(DER_TAG.UTC_TIME, '491231235959Z')), 't').getUTCFullYear(),
        2049,
      );
    });
  });
});
