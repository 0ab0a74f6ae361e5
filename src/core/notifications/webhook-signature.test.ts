import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { signWebhookPayload, verifyWebhookSignature } from './webhook-signature.ts';

const SECRET = 'whsec_test-secret';
const BODY = '{"id":"dl_1","event":"request.created"}';
const TIMESTAMP = 1_767_225_600;
// `printf '%s' "1767225600.$BODY" | openssl dgst -sha256 -hmac whsec_test-secret`
const KNOWN_HMAC = 'da45333c09fe33835189ae3917c0eead9a6be33a2142ec776ab507ac60840351';

describe('signWebhookPayload', () => {
  it('matches HMAC-SHA256 over "<timestamp>.<body>" computed by openssl', () => {
    assert.equal(signWebhookPayload(SECRET, TIMESTAMP, BODY), `v1=${KNOWN_HMAC}`);
  });
});

describe('verifyWebhookSignature', () => {
  const valid = {
    secret: SECRET,
    body: BODY,
    timestampHeader: String(TIMESTAMP),
    signatureHeader: `v1=${KNOWN_HMAC}`,
    nowSeconds: TIMESTAMP + 10,
  };

  it('accepts the signature the sender made', () => {
    assert.equal(verifyWebhookSignature(valid), true);
  });

  describe('when the body, timestamp or secret differ', () => {
    it('rejects each', () => {
      assert.equal(verifyWebhookSignature({ ...valid, body: `${BODY} ` }), false);
      assert.equal(
        verifyWebhookSignature({ ...valid, timestampHeader: String(TIMESTAMP + 1) }),
        false,
      );
      assert.equal(verifyWebhookSignature({ ...valid, secret: 'whsec_other' }), false);
    });
  });

  describe('when the timestamp is outside the tolerance', () => {
    it('rejects a replay of an old delivery and a timestamp from the future', () => {
      assert.equal(verifyWebhookSignature({ ...valid, nowSeconds: TIMESTAMP + 301 }), false);
      assert.equal(verifyWebhookSignature({ ...valid, nowSeconds: TIMESTAMP - 301 }), false);
      assert.equal(
        verifyWebhookSignature({ ...valid, nowSeconds: TIMESTAMP + 3600, toleranceSeconds: 3600 }),
        true,
      );
    });
  });

  describe('when the headers are malformed', () => {
    it('rejects without throwing', () => {
      for (const signatureHeader of ['', 'v1=', 'v2=' + KNOWN_HMAC, KNOWN_HMAC, 'v1=zz']) {
        assert.equal(verifyWebhookSignature({ ...valid, signatureHeader }), false, signatureHeader);
      }
      for (const timestampHeader of ['', '-1', '1e9', ' 1767225600', '17672256000000000']) {
        assert.equal(verifyWebhookSignature({ ...valid, timestampHeader }), false, timestampHeader);
      }
    });
  });

  describe('when several signatures are given (secret rotation)', () => {
    it('accepts when one of them is valid', () => {
      const header = `v1=${'0'.repeat(64)}, v1=${KNOWN_HMAC}`;
      assert.equal(verifyWebhookSignature({ ...valid, signatureHeader: header }), true);
    });
  });
});
