import assert from 'node:assert/strict';
import { createPublicKey, generateKeyPairSync, randomBytes, sign, verify } from 'node:crypto';
import { describe, it } from 'node:test';
import { createP256Spki, encodeEcdsaSignatureDer } from './ecdsa-p256.ts';

const N = 0xffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551n;

/** Naive reference: DER INTEGER of a positive bigint, straight from X.690 §8.3. */
function referenceInteger(value: bigint): string {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  if (Number.parseInt(hex.slice(0, 2), 16) >= 0x80) hex = `00${hex}`;
  return `02${(hex.length / 2).toString(16).padStart(2, '0')}${hex}`;
}

function referenceDer(r: bigint, s: bigint): string {
  const body = referenceInteger(r) + referenceInteger(s);
  return `30${(body.length / 2).toString(16).padStart(2, '0')}${body}`;
}

function raw(r: bigint, s: bigint): Uint8Array {
  return Buffer.from(r.toString(16).padStart(64, '0') + s.toString(16).padStart(64, '0'), 'hex');
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

describe('encodeEcdsaSignatureDer', () => {
  it('matches the reference encoding and node:crypto verifies it, over 300 real signatures', () => {
    const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (let i = 0; i < 300; i += 1) {
      const message = randomBytes(20);
      const p1363 = sign('sha256', message, { key: privateKey, dsaEncoding: 'ieee-p1363' });
      const der = encodeEcdsaSignatureDer(p1363);
      const r = BigInt(`0x${p1363.subarray(0, 32).toString('hex')}`);
      const s = BigInt(`0x${p1363.subarray(32).toString('hex')}`);
      assert.equal(hex(der), referenceDer(r, s));
      assert.equal(verify('sha256', message, { key: publicKey, dsaEncoding: 'der' }, der), true);
    }
  });

  it('prefixes 0x00 to an integer whose high bit is set and strips superfluous leading zeros', () => {
    assert.equal(hex(encodeEcdsaSignatureDer(raw(0x80n, 1n))), '300702020080020101');
    assert.equal(hex(encodeEcdsaSignatureDer(raw(0x7fn, 0x0100n))), '300702017f02020100');
    assert.equal(hex(encodeEcdsaSignatureDer(raw(N - 1n, N - 1n))), referenceDer(N - 1n, N - 1n));
    assert.equal(encodeEcdsaSignatureDer(raw(N - 1n, N - 1n)).length, 72);
  });

  describe('when the token returns something that is not a P-256 signature', () => {
    it('throws KEY_UNAVAILABLE for a wrong length, a zero, or a value not below the order', () => {
      assert.throws(() => encodeEcdsaSignatureDer(new Uint8Array(63)), { code: 'KEY_UNAVAILABLE' });
      assert.throws(() => encodeEcdsaSignatureDer(new Uint8Array(72)), { code: 'KEY_UNAVAILABLE' });
      assert.throws(() => encodeEcdsaSignatureDer(raw(0n, 1n)), { code: 'KEY_UNAVAILABLE' });
      assert.throws(() => encodeEcdsaSignatureDer(raw(1n, 0n)), { code: 'KEY_UNAVAILABLE' });
      assert.throws(() => encodeEcdsaSignatureDer(raw(N, 1n)), { code: 'KEY_UNAVAILABLE' });
      assert.throws(() => encodeEcdsaSignatureDer(raw(1n, N)), { code: 'KEY_UNAVAILABLE' });
    });
  });
});

describe('createP256Spki', () => {
  const spki = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({
    format: 'der',
    type: 'spki',
  });
  const point = spki.subarray(spki.length - 65);

  it('rebuilds the SubjectPublicKeyInfo from a DER OCTET STRING point, as PKCS#11 specifies', () => {
    const wrapped = Buffer.concat([Buffer.from([0x04, 0x41]), point]);
    assert.deepEqual(Buffer.from(createP256Spki(wrapped)), spki);
    createPublicKey({ key: Buffer.from(createP256Spki(wrapped)), format: 'der', type: 'spki' });
  });

  it('accepts the bare point some tokens return', () => {
    assert.deepEqual(Buffer.from(createP256Spki(point)), spki);
  });

  it('throws KEY_UNAVAILABLE for a compressed or truncated point', () => {
    const compressed = Buffer.concat([Buffer.from([0x02]), point.subarray(1, 33)]);
    assert.throws(() => createP256Spki(compressed), { code: 'KEY_UNAVAILABLE' });
    assert.throws(() => createP256Spki(point.subarray(0, 64)), { code: 'KEY_UNAVAILABLE' });
  });
});
