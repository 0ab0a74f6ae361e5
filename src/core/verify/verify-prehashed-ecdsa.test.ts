import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { encodeTlv } from '../asn1/der.ts';
import { verifyPrehashedEcdsa } from './verify-prehashed-ecdsa.ts';

describe('verifyPrehashedEcdsa', () => {
  for (const [curve, hash] of [
    ['P-256', 'sha256'],
    ['P-256', 'sha512'],
    ['P-384', 'sha384'],
    ['P-384', 'sha256'],
    ['P-521', 'sha512'],
  ] as const) {
    describe(`with a ${curve} key and ${hash}`, () => {
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
      it('accepts exactly the signatures node:crypto made over the full message', () => {
        for (let i = 0; i < 8; i++) {
          const message = Buffer.from(`message ${i}`);
          const signature = sign(hash, message, privateKey);
          const digest = createHash(hash).update(message).digest();
          assert.equal(verifyPrehashedEcdsa(publicKey, digest, signature), true);
          const other = Buffer.from(digest);
          other[i % other.length] = (other[i % other.length] ?? 0) ^ 0x01;
          assert.equal(verifyPrehashedEcdsa(publicKey, other, signature), false);
        }
      });
    });
  }

  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const digest = createHash('sha256').update('m').digest();
  const signature = sign('sha256', Buffer.from('m'), privateKey);
  const integer = (value: bigint) => {
    const hex = value.toString(16).padStart(2, '0');
    const padded = hex.length % 2 ? `0${hex}` : hex;
    const body = Buffer.from(padded, 'hex');
    return encodeTlv(
      0x02,
      body[0] !== undefined && body[0] & 0x80 ? Buffer.concat([Buffer.of(0), body]) : body,
    );
  };
  const n = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

  it('rejects a signature by another key', () => {
    const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey;
    assert.equal(verifyPrehashedEcdsa(other, digest, signature), false);
  });

  it('rejects r or s outside 1..n-1', () => {
    assert.equal(
      verifyPrehashedEcdsa(publicKey, digest, encodeTlv(0x30, integer(0n), integer(1n))),
      false,
    );
    assert.equal(
      verifyPrehashedEcdsa(publicKey, digest, encodeTlv(0x30, integer(1n), integer(n))),
      false,
    );
  });

  it('rejects malformed DER instead of throwing', () => {
    assert.equal(verifyPrehashedEcdsa(publicKey, digest, Uint8Array.of(0x30, 0x03, 0x02)), false);
    assert.equal(
      verifyPrehashedEcdsa(publicKey, digest, Buffer.concat([signature, Buffer.of(0)])),
      false,
    );
  });

  it('rejects a key that is not ECDSA', () => {
    const ed = generateKeyPairSync('ed25519').publicKey;
    assert.equal(verifyPrehashedEcdsa(ed, digest, signature), false);
  });
});
