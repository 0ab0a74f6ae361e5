import assert from 'node:assert/strict';
import { generateKeyPairSync, sign } from 'node:crypto';
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
