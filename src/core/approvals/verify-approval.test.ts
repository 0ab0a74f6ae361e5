import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { describe, it } from 'node:test';

import { isAppError } from '../errors.ts';
import { verifyApprovalSignature, type ApproverKey } from './verify-approval.ts';

function p256(): { approverKey: ApproverKey; signBytes: (bytes: Uint8Array) => Uint8Array } {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return {
    approverKey: { kind: 'ecdsa-p256', spki: publicKey.export({ format: 'der', type: 'spki' }) },
    signBytes: (bytes) => sign('sha256', bytes, { key: privateKey, dsaEncoding: 'der' }),
  };
}

const failed = (error: unknown): boolean => isAppError(error, 'VERIFICATION_FAILED');
const statementBytes = new TextEncoder().encode('{"apiVersion":"countersign.dev/approval/v1"}');

describe('verifyApprovalSignature', () => {
  it('accepts a DER ECDSA-SHA256 signature by the approver key', () => {
    const { approverKey, signBytes } = p256();
    verifyApprovalSignature({ statementBytes, signature: signBytes(statementBytes), approverKey });
  });

  describe('when the statement was tampered with', () => {
    it('throws VERIFICATION_FAILED', () => {
      const { approverKey, signBytes } = p256();
      const signature = signBytes(statementBytes);
      const tampered = Uint8Array.from(statementBytes);
      tampered[5] = (tampered[5] ?? 0) ^ 1;
      assert.throws(
        () => verifyApprovalSignature({ statementBytes: tampered, signature, approverKey }),
        failed,
      );
    });
  });

  describe('when the signature was tampered with or is garbage', () => {
    it('throws VERIFICATION_FAILED', () => {
      const { approverKey, signBytes } = p256();
      const signature = Uint8Array.from(signBytes(statementBytes));
      signature[signature.length - 1] = (signature.at(-1) ?? 0) ^ 1;
      assert.throws(
        () => verifyApprovalSignature({ statementBytes, signature, approverKey }),
        failed,
      );
      for (const garbage of [new Uint8Array(0), new Uint8Array(64).fill(1), new Uint8Array(200)]) {
        assert.throws(
          () => verifyApprovalSignature({ statementBytes, signature: garbage, approverKey }),
          failed,
        );
      }
    });
  });

  describe('when another key signed', () => {
    it('throws VERIFICATION_FAILED', () => {
      const { approverKey } = p256();
      const other = p256();
      const signature = other.signBytes(statementBytes);
      assert.throws(
        () => verifyApprovalSignature({ statementBytes, signature, approverKey }),
        failed,
      );
    });
  });

  describe('when the registered key is not P-256', () => {
    it('throws VERIFICATION_FAILED', () => {
      const { publicKey, privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-384' });
      const approverKey: ApproverKey = {
        kind: 'ecdsa-p256',
        spki: publicKey.export({ format: 'der', type: 'spki' }),
      };
      const signature = sign('sha256', statementBytes, { key: privateKey, dsaEncoding: 'der' });
      assert.throws(
        () => verifyApprovalSignature({ statementBytes, signature, approverKey }),
        failed,
      );
      assert.throws(
        () =>
          verifyApprovalSignature({
            statementBytes,
            signature,
            approverKey: { kind: 'ecdsa-p256', spki: new Uint8Array([1, 2]) },
          }),
        failed,
      );
    });
  });
});

/** A passkey made in the test: assertions are built exactly as an authenticator and browser would. */
function passkey(
  options: { readonly type?: 'P-256' | 'Ed25519' | 'RSA'; readonly rpId?: string } = {},
) {
  const type = options.type ?? 'P-256';
  const rpId = options.rpId ?? 'countersign.example';
  const pair =
    type === 'P-256'
      ? generateKeyPairSync('ec', { namedCurve: 'P-256' })
      : type === 'Ed25519'
        ? generateKeyPairSync('ed25519')
        : generateKeyPairSync('rsa', { modulusLength: 2048 });
  const algorithm = type === 'P-256' ? -7 : type === 'Ed25519' ? -8 : -257;
  const approverKey: ApproverKey = {
    kind: 'webauthn',
    spki: pair.publicKey.export({ format: 'der', type: 'spki' }),
    algorithm,
    rpId,
  };
  const makeAssertion = (
    statement: Uint8Array,
    tweak: {
      readonly challenge?: string;
      readonly type?: string;
      readonly flags?: number;
      readonly rpId?: string;
      readonly crossOrigin?: boolean;
    } = {},
  ) => {
    const clientDataJSON = new TextEncoder().encode(
      JSON.stringify({
        type: tweak.type ?? 'webauthn.get',
        challenge: tweak.challenge ?? createHash('sha256').update(statement).digest('base64url'),
        origin: `https://${rpId}`,
        crossOrigin: tweak.crossOrigin ?? false,
      }),
    );
    const authenticatorData = new Uint8Array(37);
    authenticatorData.set(
      createHash('sha256')
        .update(tweak.rpId ?? rpId)
        .digest(),
      0,
    );
    authenticatorData[32] = tweak.flags ?? 0x05; // UP | UV
    authenticatorData[36] = 7; // signCount
    const signed = Buffer.concat([
      authenticatorData,
      createHash('sha256').update(clientDataJSON).digest(),
    ]);
    const signature =
      type === 'Ed25519'
        ? sign(null, signed, pair.privateKey)
        : type === 'P-256'
          ? sign('sha256', signed, { key: pair.privateKey, dsaEncoding: 'der' })
          : sign('sha256', signed, pair.privateKey);
    return { signature, webauthn: { authenticatorData, clientDataJSON } };
  };
  return { approverKey, assertion: makeAssertion };
}

describe('verifyApprovalSignature with a passkey', () => {
  it('accepts an ES256 assertion whose challenge is SHA-256 of the statement bytes', () => {
    const { approverKey, assertion } = passkey();
    verifyApprovalSignature({ statementBytes, approverKey, ...assertion(statementBytes) });
  });

  it('accepts EdDSA and RS256 passkeys too', () => {
    for (const type of ['Ed25519', 'RSA'] as const) {
      const { approverKey, assertion } = passkey({ type });
      verifyApprovalSignature({ statementBytes, approverKey, ...assertion(statementBytes) });
    }
  });

  describe('when the challenge is not the statement hash', () => {
    it('throws VERIFICATION_FAILED', () => {
      const { approverKey, assertion } = passkey();
      const other = createHash('sha256').update('another statement').digest('base64url');
      assert.throws(
        () =>
          verifyApprovalSignature({
            statementBytes,
            approverKey,
            ...assertion(statementBytes, { challenge: other }),
          }),
        (error: unknown) => failed(error) && /another challenge/.test(String(error)),
      );
    });
  });

  describe('when the statement was tampered with after signing', () => {
    it('throws VERIFICATION_FAILED', () => {
      const { approverKey, assertion } = passkey();
      const signed = assertion(statementBytes);
      const tampered = Uint8Array.from(statementBytes);
      tampered[5] = (tampered[5] ?? 0) ^ 1;
      assert.throws(
        () => verifyApprovalSignature({ statementBytes: tampered, approverKey, ...signed }),
        failed,
      );
    });
  });

  describe('when user verification is missing (presence only)', () => {
    it('throws VERIFICATION_FAILED (threat model B3)', () => {
      const { approverKey, assertion } = passkey();
      assert.throws(
        () =>
          verifyApprovalSignature({
            statementBytes,
            approverKey,
            ...assertion(statementBytes, { flags: 0x01 }),
          }),
        (error: unknown) => failed(error) && /user verification/.test(String(error)),
      );
      assert.throws(
        () =>
          verifyApprovalSignature({
            statementBytes,
            approverKey,
            ...assertion(statementBytes, { flags: 0x04 }),
          }),
        (error: unknown) => failed(error) && /user presence/.test(String(error)),
      );
    });
  });

  describe('when the assertion is for another relying party', () => {
    it('throws VERIFICATION_FAILED (threat model B2)', () => {
      const { approverKey, assertion } = passkey();
      assert.throws(
        () =>
          verifyApprovalSignature({
            statementBytes,
            approverKey,
            ...assertion(statementBytes, { rpId: 'evil.example' }),
          }),
        (error: unknown) => failed(error) && /relying party/.test(String(error)),
      );
    });
  });

  describe('when the client data is not an assertion, is cross-origin or is garbage', () => {
    it('throws VERIFICATION_FAILED', () => {
      const { approverKey, assertion } = passkey();
      for (const tweak of [{ type: 'webauthn.create' }, { crossOrigin: true }]) {
        assert.throws(
          () =>
            verifyApprovalSignature({
              statementBytes,
              approverKey,
              ...assertion(statementBytes, tweak),
            }),
          failed,
        );
      }
      const good = assertion(statementBytes);
      for (const clientDataJSON of [
        new Uint8Array([0xff, 0xfe]),
        new TextEncoder().encode('[]'),
        new TextEncoder().encode('{"type":"webauthn.get"}'),
        new Uint8Array(5000).fill(0x20),
      ]) {
        assert.throws(
          () =>
            verifyApprovalSignature({
              statementBytes,
              approverKey,
              signature: good.signature,
              webauthn: { ...good.webauthn, clientDataJSON },
            }),
          failed,
        );
      }
      for (const authenticatorData of [new Uint8Array(36), new Uint8Array(2000)]) {
        assert.throws(
          () =>
            verifyApprovalSignature({
              statementBytes,
              approverKey,
              signature: good.signature,
              webauthn: { ...good.webauthn, authenticatorData },
            }),
          failed,
        );
      }
    });
  });

  describe('when the assertion parts are missing or the signature is wrong', () => {
    it('throws VERIFICATION_FAILED', () => {
      const { approverKey, assertion } = passkey();
      const good = assertion(statementBytes);
      assert.throws(
        () => verifyApprovalSignature({ statementBytes, approverKey, signature: good.signature }),
        failed,
      );
      const flipped = Uint8Array.from(good.signature);
      flipped[flipped.length - 1] = (flipped.at(-1) ?? 0) ^ 1;
      assert.throws(
        () =>
          verifyApprovalSignature({
            statementBytes,
            approverKey,
            signature: flipped,
            webauthn: good.webauthn,
          }),
        failed,
      );
      // Signed by another passkey.
      const other = passkey().assertion(statementBytes);
      assert.throws(
        () => verifyApprovalSignature({ statementBytes, approverKey, ...other }),
        failed,
      );
    });
  });

  describe('when the registered key does not fit its algorithm', () => {
    it('throws VERIFICATION_FAILED', () => {
      const { approverKey, assertion } = passkey();
      const signed = assertion(statementBytes);
      for (const algorithm of [-8, -257, -35]) {
        assert.throws(
          () =>
            verifyApprovalSignature({
              statementBytes,
              approverKey: { ...approverKey, algorithm },
              ...signed,
            }),
          failed,
        );
      }
    });
  });
});
