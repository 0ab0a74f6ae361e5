import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';

import {
  encodeApprovalStatement,
  type ApprovalStatement,
} from '../approvals/approval-statement.ts';
import { isAppError } from '../errors.ts';
import {
  createSigningDecisionApprover,
  createSigningDecisionStatement,
  type SigningDecisionApprover,
  type SigningDecisionPredicate,
} from './signing-decision.ts';
import {
  verifySigningDecision,
  type VerifySigningDecisionInput,
} from './verify-signing-decision.ts';

const DIGEST_X = 'a'.repeat(64);
const DIGEST_Y = 'b'.repeat(64);
const POLICY = 'sha256:' + 'e'.repeat(64);
const RP_ID = 'countersign.example.com';

function approvalStatement(overrides: Partial<ApprovalStatement> = {}): ApprovalStatement {
  return {
    apiVersion: 'countersign.dev/approval/v1',
    requestId: 'req-1',
    product: 'payments-api',
    channel: 'prod',
    subjects: [{ name: 'app.tgz', digest: { algorithm: 'sha256', value: DIGEST_X } }],
    kind: 'artifact',
    requester: {
      issuer: 'https://token.actions.githubusercontent.com',
      subject: 'repo:acme/payments:ref:refs/heads/main',
      identityUri: 'https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main',
    },
    policyHash: POLICY,
    issuedAt: '2026-11-23T15:00:00Z',
    expiresAt: '2026-11-23T16:00:00Z',
    decision: 'approve',
    comment: '',
    ...overrides,
  };
}

/** A person with an ECDSA P-256 approver key, signing as the CLI does. */
function approverWithKey(userId: string, key?: { publicKey: KeyObject; privateKey: KeyObject }) {
  const pair = key ?? generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const approve = (overrides: Partial<ApprovalStatement> = {}): SigningDecisionApprover => {
    const statementBytes = encodeApprovalStatement(approvalStatement(overrides));
    return createSigningDecisionApprover({
      userId,
      group: 'release-managers',
      credential: {
        id: `${userId}-key`,
        kind: 'ecdsa-p256',
        algorithm: -7,
        publicKeySpki: pair.publicKey.export({ format: 'der', type: 'spki' }),
      },
      statementBytes,
      signature: sign('sha256', statementBytes, { key: pair.privateKey, dsaEncoding: 'der' }),
    });
  };
  return { approve, pair };
}

/** A person with a passkey: the assertion is built as an authenticator and browser would. */
function approverWithPasskey(userId: string) {
  const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  return (overrides: Partial<ApprovalStatement> = {}): SigningDecisionApprover => {
    const statementBytes = encodeApprovalStatement(approvalStatement(overrides));
    const clientDataJSON = new TextEncoder().encode(
      JSON.stringify({
        type: 'webauthn.get',
        challenge: createHash('sha256').update(statementBytes).digest('base64url'),
        origin: `https://${RP_ID}`,
        crossOrigin: false,
      }),
    );
    const authenticatorData = new Uint8Array(37);
    authenticatorData.set(createHash('sha256').update(RP_ID).digest(), 0);
    authenticatorData[32] = 0x05; // UP | UV
    const signed = Buffer.concat([
      authenticatorData,
      createHash('sha256').update(clientDataJSON).digest(),
    ]);
    return createSigningDecisionApprover({
      userId,
      group: 'release-managers',
      credential: {
        id: `${userId}-passkey`,
        kind: 'webauthn',
        algorithm: -7,
        publicKeySpki: pair.publicKey.export({ format: 'der', type: 'spki' }),
        rpId: RP_ID,
      },
      statementBytes,
      signature: sign('sha256', signed, { key: pair.privateKey, dsaEncoding: 'der' }),
      webauthn: { authenticatorData, clientDataJSON },
    });
  };
}

function predicate(
  approvers: readonly SigningDecisionApprover[],
  overrides: Partial<SigningDecisionPredicate> = {},
): SigningDecisionPredicate {
  return {
    service: 'https://countersign.example.com',
    signing: {
      id: 'sig-1',
      product: 'payments-api',
      channel: 'prod',
      kind: 'artifact',
      logIndex: '7',
    },
    requester: {
      issuer: 'https://token.actions.githubusercontent.com',
      subject: 'repo:acme/payments:ref:refs/heads/main',
      identityUri: 'https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main',
    },
    decision: {
      policyHash: POLICY,
      governanceVersion: 2,
      decisionLogIndex: '6',
      decidedAt: '2026-11-23T15:10:00Z',
      determiningPolicies: [],
      reasons: [],
    },
    evidence: [],
    approvals: { requestId: 'req-1', required: 2, group: 'release-managers', approvers },
    exception: null,
    changeWindow: { open: true, evaluatedAt: '2026-11-23T15:10:00Z' },
    ...overrides,
  };
}

function attestation(
  approvers: readonly SigningDecisionApprover[],
  options: { digest?: string; overrides?: Partial<SigningDecisionPredicate> } = {},
): Uint8Array {
  return createSigningDecisionStatement({
    subject: {
      name: 'app.tgz',
      digest: { algorithm: 'sha256', value: options.digest ?? DIGEST_X },
    },
    predicate: predicate(approvers, options.overrides),
  });
}

function input(
  statement: Uint8Array,
  overrides: Partial<VerifySigningDecisionInput> = {},
): VerifySigningDecisionInput {
  return {
    statement,
    artifactDigest: { algorithm: 'sha256', value: new Uint8Array(Buffer.from(DIGEST_X, 'hex')) },
    artifactLogIndex: 7n,
    requireApprovals: 2,
    ...overrides,
  };
}

const failed = (pattern: RegExp) => (error: unknown) =>
  isAppError(error, 'VERIFICATION_FAILED') && pattern.test(error.message);

const alice = approverWithKey('alice');
const bob = approverWithPasskey('bob');
const carol = approverWithKey('carol');

describe('verifySigningDecision', () => {
  describe('when two people approved this request with a key and a passkey', () => {
    it('returns the summary with both approvers', () => {
      const summary = verifySigningDecision(input(attestation([alice.approve(), bob()])));
      assert.equal(summary.product, 'payments-api');
      assert.equal(summary.channel, 'prod');
      assert.equal(summary.policyHash, POLICY);
      assert.equal(summary.requestId, 'req-1');
      assert.deepEqual(summary.approvers, [
        { userId: 'alice', group: 'release-managers' },
        { userId: 'bob', group: 'release-managers' },
      ]);
      assert.equal(summary.exception, null);
      assert.deepEqual(summary.changeWindow, { open: true, evaluatedAt: '2026-11-23T15:10:00Z' });
    });

    it('checks the expected product and channel', () => {
      const statement = attestation([alice.approve(), bob()]);
      assert.ok(
        verifySigningDecision(
          input(statement, { expected: { product: 'payments-api', channel: 'prod' } }),
        ),
      );
      assert.throws(
        () => verifySigningDecision(input(statement, { expected: { channel: 'staging' } })),
        failed(/^decision: the signing was on channel prod, not staging$/),
      );
    });
  });

  describe('when the attestation for digest X is replayed for artifact Y', () => {
    it('throws VERIFICATION_FAILED naming both digests', () => {
      const statement = attestation([alice.approve(), bob()]);
      const artifactDigest = {
        algorithm: 'sha256' as const,
        value: new Uint8Array(Buffer.from(DIGEST_Y, 'hex')),
      };
      assert.throws(
        () => verifySigningDecision(input(statement, { artifactDigest })),
        failed(new RegExp(`is about sha256:${DIGEST_X}, not the artifact sha256:${DIGEST_Y}`)),
      );
    });
  });

  describe('when the attestation is for another signing of the same digest', () => {
    it('throws VERIFICATION_FAILED naming both log indexes', () => {
      const statement = attestation([alice.approve(), bob()]);
      assert.throws(
        () => verifySigningDecision(input(statement, { artifactLogIndex: 8n })),
        failed(/log index 7, not the artifact bundle's 8/),
      );
    });
  });

  describe('when an approval given for staging is listed for a prod signing', () => {
    it('throws VERIFICATION_FAILED', () => {
      const statement = attestation([alice.approve(), bob({ channel: 'staging' })]);
      assert.throws(
        () => verifySigningDecision(input(statement)),
        failed(
          /approver 1 \(bob\): the approval is for payments-api\/staging, not payments-api\/prod/,
        ),
      );
    });
  });

  describe('when an approval was given under another policy version', () => {
    it('throws VERIFICATION_FAILED', () => {
      const statement = attestation([alice.approve({ policyHash: 'sha256:' + '0'.repeat(64) })]);
      assert.throws(
        () => verifySigningDecision(input(statement, { requireApprovals: 1 })),
        failed(
          /approver 0 \(alice\): the approval was given under policy sha256:0+, not sha256:e+/,
        ),
      );
    });
  });

  describe('when an approval names another request, another artifact, or rejects', () => {
    it('throws VERIFICATION_FAILED for each', () => {
      const cases: [SigningDecisionApprover, RegExp][] = [
        [alice.approve({ requestId: 'req-2' }), /request req-2, not req-1/],
        [
          alice.approve({
            subjects: [{ name: 'other.tgz', digest: { algorithm: 'sha256', value: DIGEST_Y } }],
          }),
          /does not name the artifact sha256:a+/,
        ],
        [alice.approve({ decision: 'reject' }), /the statement says reject/],
        [alice.approve({ kind: 'attestation' }), /for an attestation, not an artifact/],
      ];
      for (const [approver, pattern] of cases) {
        assert.throws(
          () => verifySigningDecision(input(attestation([approver]), { requireApprovals: 1 })),
          failed(pattern),
        );
      }
    });
  });

  describe('when one person is listed twice', () => {
    it('counts them once, so two entries do not meet a requirement of two', () => {
      const statement = attestation([alice.approve(), alice.approve({ comment: 'again' })]);
      assert.deepEqual(verifySigningDecision(input(statement, { requireApprovals: 1 })).approvers, [
        { userId: 'alice', group: 'release-managers' },
      ]);
      assert.throws(
        () => verifySigningDecision(input(statement)),
        failed(/^decision: needs 2 approvals, the attestation holds 1$/),
      );
    });

    it('refuses one credential listed under two names', () => {
      const mallory = approverWithKey('mallory', alice.pair);
      const statement = attestation([alice.approve(), mallory.approve()]);
      assert.throws(
        () => verifySigningDecision(input(statement)),
        failed(/approver 1 \(mallory\): the same credential is listed for alice/),
      );
    });
  });

  describe('when a signature is forged', () => {
    it('throws VERIFICATION_FAILED for a key signature over other bytes', () => {
      const real = alice.approve();
      const other = alice.approve({ comment: 'something else' });
      const forged = { ...real, signature: other.signature };
      assert.throws(
        () => verifySigningDecision(input(attestation([forged, bob()]))),
        failed(/approver 0 \(alice\): approval signature does not verify/),
      );
    });

    it('throws VERIFICATION_FAILED for a passkey assertion over another statement', () => {
      const real = bob();
      const other = bob({ comment: 'something else' });
      const forged = { ...real, signature: other.signature, webauthn: other.webauthn };
      assert.throws(
        () => verifySigningDecision(input(attestation([alice.approve(), forged as never]))),
        failed(/^decision: approver 1 \(bob\): /),
      );
    });

    it('throws VERIFICATION_FAILED when the listed key is not the signer', () => {
      const real = alice.approve();
      const impostor = {
        ...real,
        credential: { ...real.credential, publicKey: carol.approve().credential.publicKey },
      };
      assert.throws(
        () => verifySigningDecision(input(attestation([impostor]), { requireApprovals: 1 })),
        failed(/approval signature does not verify/),
      );
    });
  });

  describe('when there are too few approvals', () => {
    it('throws VERIFICATION_FAILED saying how many are needed and held', () => {
      assert.throws(
        () => verifySigningDecision(input(attestation([carol.approve()]), { requireApprovals: 3 })),
        failed(/^decision: needs 3 approvals, the attestation holds 1$/),
      );
      const none = attestation([], {
        overrides: { approvals: { requestId: null, required: 0, group: null, approvers: [] } },
      });
      assert.throws(
        () => verifySigningDecision(input(none, { requireApprovals: 1 })),
        failed(/^decision: needs 1 approval, the attestation holds 0$/),
      );
      assert.deepEqual(verifySigningDecision(input(none, { requireApprovals: 0 })).approvers, []);
    });
  });

  describe('when the statement is not a decision attestation', () => {
    it('throws VERIFICATION_FAILED, not INVALID_INPUT', () => {
      assert.throws(
        () => verifySigningDecision(input(new TextEncoder().encode('{"_type":"x"}'))),
        failed(/^decision: the attestation is malformed: /),
      );
    });
  });

  describe('when requireApprovals is negative', () => {
    it('throws INVALID_INPUT', () => {
      assert.throws(
        () => verifySigningDecision(input(attestation([]), { requireApprovals: -1 })),
        (error: unknown) => isAppError(error, 'INVALID_INPUT'),
      );
    });
  });
});
