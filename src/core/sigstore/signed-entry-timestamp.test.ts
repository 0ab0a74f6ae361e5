import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
import {
  createSetPayload,
  verifySignedEntryTimestamp,
  type SetPayloadFields,
} from './signed-entry-timestamp.ts';

const FIELDS: SetPayloadFields = {
  body: new TextEncoder().encode('{"kind":"hashedrekord"}'),
  integratedTime: 1795434599n,
  logId: new Uint8Array(32).fill(0xab),
  logIndex: 2n,
};
const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });

describe('createSetPayload', () => {
  it('writes the canonical Rekor SET payload (keys sorted, numbers as JSON numbers, hex log ID)', () => {
    assert.equal(
      new TextDecoder().decode(createSetPayload(FIELDS)),
      `{"body":"eyJraW5kIjoiaGFzaGVkcmVrb3JkIn0=","integratedTime":1795434599,"logID":"${'ab'.repeat(32)}","logIndex":2}`,
    );
  });

  it('rejects a log index JSON numbers cannot hold exactly', () => {
    assert.throws(() => createSetPayload({ ...FIELDS, logIndex: 2n ** 53n }), {
      code: 'INVALID_INPUT',
    });
  });
});

describe('verifySignedEntryTimestamp', () => {
  const signature = new Uint8Array(sign('sha256', createSetPayload(FIELDS), privateKey));

  it('accepts the log signature over the payload', () => {
    verifySignedEntryTimestamp(FIELDS, signature, publicKey);
  });

  for (const [name, fields] of [
    ['another integrated time', { ...FIELDS, integratedTime: FIELDS.integratedTime + 1n }],
    ['another log index', { ...FIELDS, logIndex: 3n }],
    ['another body', { ...FIELDS, body: new TextEncoder().encode('{}') }],
    ['another log ID', { ...FIELDS, logId: new Uint8Array(32) }],
  ] as const) {
    it(`rejects the signature for ${name}`, () => {
      assert.throws(() => verifySignedEntryTimestamp(fields, signature, publicKey), {
        code: 'VERIFICATION_FAILED',
      });
    });
  }

  it('rejects a signature by another key', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    assert.throws(() => verifySignedEntryTimestamp(FIELDS, signature, other), {
      code: 'VERIFICATION_FAILED',
    });
  });

  it('rejects a log key that is not ECDSA, as sigstore-go does', () => {
    const ed = generateKeyPairSync('ed25519');
    const edSignature = new Uint8Array(sign(null, createSetPayload(FIELDS), ed.privateKey));
    assert.throws(() => verifySignedEntryTimestamp(FIELDS, edSignature, ed.publicKey), {
      code: 'VERIFICATION_FAILED',
    });
  });
});
