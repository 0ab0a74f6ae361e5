import assert from 'node:assert/strict';
import { createHash, createPublicKey, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { createEphemeralKeyFactory, signP256Digest } from './ephemeral-key.ts';

const P256_HALF_ORDER = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n >> 1n;

/** r and s of a DER ECDSA signature (strict: two positive INTEGERs in a SEQUENCE). */
function decodeSignature(der: Uint8Array): { r: bigint; s: bigint } {
  assert.equal(der[0], 0x30);
  assert.equal(der[1], der.length - 2);
  let offset = 2;
  const read = () => {
    assert.equal(der[offset], 0x02);
    const length = der[offset + 1] ?? 0;
    const bytes = der.subarray(offset + 2, offset + 2 + length);
    offset += 2 + length;
    assert.ok((bytes[0] ?? 0) < 0x80, 'positive');
    if (bytes.length > 1) assert.ok(bytes[0] !== 0 || (bytes[1] ?? 0) >= 0x80, 'minimal');
    return BigInt(`0x${Buffer.from(bytes).toString('hex')}`);
  };
  const r = read();
  const s = read();
  assert.equal(offset, der.length, 'no trailing bytes');
  return { r, s };
}

describe('EphemeralKey', () => {
  describe('signDigest', () => {
    for (const algorithm of ['sha256', 'sha384', 'sha512'] as const) {
      it(`signs a ${algorithm} digest so that it verifies as a signature over the artifact`, () => {
        const key = createEphemeralKeyFactory().create();
        const publicKey = createPublicKey({
          key: Buffer.from(key.publicKeySpki),
          format: 'der',
          type: 'spki',
        });
        for (let i = 0; i < 20; i += 1) {
          const artifact = Buffer.from(`artifact ${i} ${algorithm}`);
          const signature = key.signDigest(createHash(algorithm).update(artifact).digest());
          assert.ok(verify(algorithm, artifact, publicKey, signature), `signature ${i}`);
          assert.equal(
            verify(algorithm, Buffer.from('another artifact'), publicKey, signature),
            false,
          );
          const { s } = decodeSignature(signature);
          assert.ok(s <= P256_HALF_ORDER, 'low s');
        }
      });
    }

    it('never repeats a nonce (r differs between two signatures of one digest)', () => {
      const key = createEphemeralKeyFactory().create();
      const digest = createHash('sha256').update('same').digest();
      assert.notEqual(
        decodeSignature(key.signDigest(digest)).r,
        decodeSignature(key.signDigest(digest)).r,
      );
    });

    it('refuses a digest of the wrong length with INVALID_INPUT', () => {
      assert.throws(() => signP256Digest(5n, new Uint8Array(20)), { code: 'INVALID_INPUT' });
    });
  });

  describe('sign', () => {
    it('signs a message with ECDSA-SHA256', () => {
      const key = createEphemeralKeyFactory().create();
      const publicKey = createPublicKey({
        key: Buffer.from(key.publicKeySpki),
        format: 'der',
        type: 'spki',
      });
      const message = Buffer.from('DSSEv1 28 application/vnd.in-toto+json 2 {}');
      assert.ok(verify('sha256', message, publicKey, key.sign(message)));
    });
  });

  it('gives every request its own key', () => {
    const factory = createEphemeralKeyFactory();
    assert.notDeepEqual(factory.create().publicKeySpki, factory.create().publicKeySpki);
  });
});
