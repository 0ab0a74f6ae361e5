import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import {
  DER_TAG,
  concatBytes,
  encodeBoolean,
  encodeExplicit,
  encodeNull,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSmallInteger,
  encodeTlv,
  encodeUnsignedInteger,
} from '../asn1/der.ts';
import { COUNTERSIGN_TSA_POLICY_OID, OID_SHA256 } from '../x509/oids.ts';
import {
  checkTimestampRequest,
  computeMessageImprint,
  encodeTimestampRequest,
  parseTimestampRequest,
  type TimestampFailure,
} from './timestamp-request.ts';

const OPTIONS = { policyOid: COUNTERSIGN_TSA_POLICY_OID };
const DIGEST = new Uint8Array(32).fill(0xab);

function request(...fields: Uint8Array[]): Uint8Array {
  return encodeSequence(...fields);
}

function imprint(oid: string, digest: Uint8Array, parameters: Uint8Array[] = []): Uint8Array {
  return encodeSequence(encodeSequence(encodeOid(oid), ...parameters), encodeOctetString(digest));
}

const VERSION = encodeSmallInteger(1);
const IMPRINT = imprint(OID_SHA256, DIGEST);

function rejectionOf(der: Uint8Array): TimestampFailure | 'accepted' {
  const check = checkTimestampRequest(der, OPTIONS);
  return check.ok ? 'accepted' : check.failure;
}

describe('parseTimestampRequest', () => {
  describe('a well-formed request', () => {
    it('reads the imprint, nonce and certReq', () => {
      const der = request(
        VERSION,
        IMPRINT,
        encodeUnsignedInteger(Uint8Array.of(0x8f, 1)),
        encodeBoolean(true),
      );
      const parsed = parseTimestampRequest(der, OPTIONS);
      assert.equal(parsed.messageImprint.hashAlgorithm, 'sha256');
      assert.deepEqual(parsed.messageImprint.hashedMessage, DIGEST);
      assert.deepEqual(parsed.nonce, Uint8Array.of(0x8f, 1));
      assert.equal(parsed.certReq, true);
      assert.equal(parsed.reqPolicy, undefined);
    });

    it('accepts NULL hash parameters, as OpenSSL writes them, and re-encodes them identically', () => {
      const der = request(VERSION, imprint(OID_SHA256, DIGEST, [encodeNull()]));
      const parsed = parseTimestampRequest(der, OPTIONS);
      assert.equal(parsed.messageImprint.hasNullParameters, true);
      assert.deepEqual(encodeTimestampRequest(parsed), der);
    });

    it('accepts the TSA own policy and a 160-bit nonce', () => {
      const der = request(
        VERSION,
        IMPRINT,
        encodeOid(COUNTERSIGN_TSA_POLICY_OID),
        encodeUnsignedInteger(new Uint8Array(20).fill(0xff)),
      );
      assert.equal(parseTimestampRequest(der, OPTIONS).reqPolicy, COUNTERSIGN_TSA_POLICY_OID);
    });

    it('round-trips what encodeTimestampRequest writes', () => {
      const original = {
        messageImprint: computeMessageImprint(new Uint8Array([1, 2, 3]), 'sha384'),
        nonce: Uint8Array.of(1, 2, 3),
        certReq: true,
      };
      assert.deepEqual(parseTimestampRequest(encodeTimestampRequest(original), OPTIONS), original);
    });
  });

  describe('when the request is not strict DER', () => {
    it('rejects trailing bytes with badDataFormat', () => {
      const der = concatBytes(request(VERSION, IMPRINT), Uint8Array.of(0));
      assert.equal(rejectionOf(der), 'badDataFormat');
    });

    it('rejects a non-minimal length with badDataFormat', () => {
      const body = concatBytes(VERSION, IMPRINT);
      const der = concatBytes(Uint8Array.of(DER_TAG.SEQUENCE, 0x81, body.length), body);
      assert.equal(body.length < 0x80, true);
      assert.equal(rejectionOf(der), 'badDataFormat');
    });

    it('rejects an indefinite length (BER) with badDataFormat', () => {
      const der = concatBytes(Uint8Array.of(0x30, 0x80), VERSION, IMPRINT, Uint8Array.of(0, 0));
      assert.equal(rejectionOf(der), 'badDataFormat');
    });

    it('rejects a non-minimal INTEGER nonce with badDataFormat', () => {
      const nonce = encodeTlv(DER_TAG.INTEGER, Uint8Array.of(0, 1));
      assert.equal(rejectionOf(request(VERSION, IMPRINT, nonce)), 'badDataFormat');
    });

    it('rejects certReq FALSE written out (a DEFAULT value) with badDataFormat', () => {
      assert.equal(rejectionOf(request(VERSION, IMPRINT, encodeBoolean(false))), 'badDataFormat');
    });

    it('rejects a BOOLEAN that is neither 0x00 nor 0xFF', () => {
      const certReq = Uint8Array.of(DER_TAG.BOOLEAN, 1, 1);
      assert.equal(rejectionOf(request(VERSION, IMPRINT, certReq)), 'badDataFormat');
    });

    it('rejects empty input and oversized input with badDataFormat', () => {
      assert.equal(rejectionOf(new Uint8Array()), 'badDataFormat');
      const big = request(VERSION, IMPRINT, encodeOctetString(new Uint8Array(5000)));
      assert.equal(rejectionOf(big), 'badDataFormat');
    });
  });

  describe('when the imprint is wrong', () => {
    it('rejects an imprint of the wrong length with badDataFormat', () => {
      const der = request(VERSION, imprint(OID_SHA256, new Uint8Array(31)));
      assert.equal(rejectionOf(der), 'badDataFormat');
    });

    it('rejects SHA-1 and unknown hash OIDs with badAlg', () => {
      assert.equal(
        rejectionOf(request(VERSION, imprint('1.3.14.3.2.26', new Uint8Array(20)))),
        'badAlg',
      );
      assert.equal(rejectionOf(request(VERSION, imprint('1.2.3.4', new Uint8Array(32)))), 'badAlg');
    });

    it('rejects hash parameters other than NULL with badAlg', () => {
      const der = request(VERSION, imprint(OID_SHA256, DIGEST, [encodeOid('1.2.3')]));
      assert.equal(rejectionOf(der), 'badAlg');
    });
  });

  describe('when a field is refused', () => {
    it('rejects a nonce over 160 bits with badDataFormat', () => {
      const nonce = encodeUnsignedInteger(concatBytes(Uint8Array.of(1), new Uint8Array(20)));
      assert.equal(rejectionOf(request(VERSION, IMPRINT, nonce)), 'badDataFormat');
    });

    it('rejects a negative nonce with badDataFormat', () => {
      const nonce = encodeTlv(DER_TAG.INTEGER, Uint8Array.of(0xff, 0x01));
      assert.equal(rejectionOf(request(VERSION, IMPRINT, nonce)), 'badDataFormat');
    });

    it('rejects version 2 with badRequest', () => {
      assert.equal(rejectionOf(request(encodeSmallInteger(2), IMPRINT)), 'badRequest');
    });

    it('rejects another policy with unacceptedPolicy', () => {
      assert.equal(
        rejectionOf(request(VERSION, IMPRINT, encodeOid('1.2.3.4'))),
        'unacceptedPolicy',
      );
    });

    it('rejects any extension, critical or not, with unacceptedExtension', () => {
      const extension = encodeSequence(
        encodeOid('1.2.3.4'),
        encodeOctetString(Uint8Array.of(5, 0)),
      );
      const extensions = encodeTlv(0xa0, extension);
      assert.equal(rejectionOf(request(VERSION, IMPRINT, extensions)), 'unacceptedExtension');
    });

    it('rejects fields after the extensions', () => {
      assert.equal(
        rejectionOf(request(VERSION, IMPRINT, encodeExplicit(1, encodeNull()))),
        'badDataFormat',
      );
    });

    it('throws INVALID_INPUT naming the failure bit', () => {
      assert.throws(
        () => parseTimestampRequest(request(VERSION, imprint('1.2.3.4', DIGEST)), OPTIONS),
        (error: unknown) =>
          error instanceof Error &&
          'code' in error &&
          error.code === 'INVALID_INPUT' &&
          'errors' in error &&
          Array.isArray(error.errors) &&
          (error.errors[0] as { path: string }).path === 'badAlg',
      );
    });
  });
});
