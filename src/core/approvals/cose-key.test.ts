import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { describe, it } from 'node:test';

import { isAppError } from '../errors.ts';
import { coseKeyToSpki } from './cose-key.ts';

const b = (text: string | undefined): Uint8Array => Buffer.from(text ?? '', 'base64url');

describe('coseKeyToSpki', () => {
  it('converts an ES256 P-256 key to the same SPKI node:crypto exports', () => {
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const jwk = publicKey.export({ format: 'jwk' });
    const cose = new Map<number, unknown>([
      [1, 2],
      [3, -7],
      [-1, 1],
      [-2, b(jwk.x)],
      [-3, b(jwk.y)],
    ]);
    const { spki, algorithm } = coseKeyToSpki(cose);
    assert.equal(algorithm, -7);
    assert.deepEqual(Buffer.from(spki), publicKey.export({ format: 'der', type: 'spki' }));
  });

  it('converts EdDSA and RS256 keys', () => {
    const ed = generateKeyPairSync('ed25519').publicKey;
    const edCose = new Map<number, unknown>([
      [1, 1],
      [3, -8],
      [-1, 6],
      [-2, b(ed.export({ format: 'jwk' }).x)],
    ]);
    assert.deepEqual(
      Buffer.from(coseKeyToSpki(edCose).spki),
      ed.export({ format: 'der', type: 'spki' }),
    );
    const rsa = generateKeyPairSync('rsa', { modulusLength: 2048 }).publicKey;
    const rsaJwk = rsa.export({ format: 'jwk' });
    const rsaCose = new Map<number, unknown>([
      [1, 3],
      [3, -257],
      [-1, b(rsaJwk.n)],
      [-2, b(rsaJwk.e)],
    ]);
    assert.deepEqual(
      Buffer.from(coseKeyToSpki(rsaCose).spki),
      rsa.export({ format: 'der', type: 'spki' }),
    );
  });

  describe('when the key is of an unsupported kind or malformed', () => {
    it('throws INVALID_INPUT', () => {
      const invalid = (error: unknown) => isAppError(error, 'INVALID_INPUT');
      const p384 = new Map<number, unknown>([
        [1, 2],
        [3, -35],
        [-1, 2],
        [-2, new Uint8Array(48)],
        [-3, new Uint8Array(48)],
      ]);
      assert.throws(() => coseKeyToSpki(p384), invalid);
      // Not a point on the curve.
      const offCurve = new Map<number, unknown>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, new Uint8Array(32).fill(1)],
        [-3, new Uint8Array(32).fill(2)],
      ]);
      assert.throws(() => coseKeyToSpki(offCurve), invalid);
      const shortX = new Map<number, unknown>([
        [1, 2],
        [3, -7],
        [-1, 1],
        [-2, new Uint8Array(31)],
        [-3, new Uint8Array(32)],
      ]);
      assert.throws(() => coseKeyToSpki(shortX), invalid);
      const weakRsa = generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({
        format: 'jwk',
      });
      assert.throws(
        () =>
          coseKeyToSpki(
            new Map<number, unknown>([
              [1, 3],
              [3, -257],
              [-1, b(weakRsa.n)],
              [-2, b(weakRsa.e)],
            ]),
          ),
        invalid,
      );
    });
  });
});
