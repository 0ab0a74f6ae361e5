import assert from 'node:assert/strict';
import { generateKeyPairSync, sign, type KeyObject } from 'node:crypto';
import { describe, it } from 'node:test';

import { isAppError } from '../errors.ts';
import { encodeApprovalStatement, type ApprovalStatement } from './approval-statement.ts';
import {
  evaluateApprovals,
  type ApprovalCountRule,
  type ApprovalPeople,
  type ApprovalRequest,
  type SubmittedApproval,
} from './count-approvals.ts';

const DIGEST_X = 'a'.repeat(64);
const DIGEST_Y = 'b'.repeat(64);
const NOW = new Date('2026-11-23T15:30:00Z');

const REQUEST: ApprovalRequest = {
  requestId: 'req-1',
  product: 'payments-api',
  channel: 'prod',
  subjects: [{ name: 'ghcr.io/acme/payments', digest: { algorithm: 'sha256', value: DIGEST_X } }],
  kind: 'artifact',
  requester: {
    issuer: 'https://token.actions.githubusercontent.com',
    subject: 'repo:acme/payments:ref:refs/heads/main',
    identityUri: 'https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main',
    repositoryId: '42',
  },
  policyHash: 'policy-v7',
};

const RULE: ApprovalCountRule = { required: 2, group: 'release-approvers', lifetimeSeconds: 3600 };

const PEOPLE: ApprovalPeople = {
  users: ['alice', 'bob', 'carol', 'dave', 'erin'].map((id) => ({
    id,
    email: `${id}@acme.example`,
    roles: ['approver'],
  })),
  groups: [
    { name: 'release-approvers', members: ['alice', 'bob', 'carol', 'dave'] },
    { name: 'security', members: ['dave', 'erin'] },
  ],
};

/** The statement an approver would sign for REQUEST, with overrides. */
function statementFor(overrides: Partial<ApprovalStatement> = {}): ApprovalStatement {
  return {
    apiVersion: 'countersign.dev/approval/v1',
    requestId: REQUEST.requestId,
    product: REQUEST.product,
    channel: REQUEST.channel,
    subjects: REQUEST.subjects,
    kind: REQUEST.kind,
    requester: REQUEST.requester,
    policyHash: REQUEST.policyHash,
    issuedAt: '2026-11-23T15:00:00Z',
    expiresAt: '2026-11-23T16:00:00Z',
    decision: 'approve',
    comment: '',
    ...overrides,
  };
}

const keys = new Map<string, { privateKey: KeyObject; spki: Uint8Array }>();
/** One P-256 key per (user, credential), generated once. */
function keyOf(credentialId: string): { privateKey: KeyObject; spki: Uint8Array } {
  let key = keys.get(credentialId);
  if (key === undefined) {
    const pair = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    key = {
      privateKey: pair.privateKey,
      spki: pair.publicKey.export({ format: 'der', type: 'spki' }),
    };
    keys.set(credentialId, key);
  }
  return key;
}

function approval(
  userId: string,
  overrides: Partial<ApprovalStatement> = {},
  credentialId = `${userId}-key-1`,
): SubmittedApproval {
  const statementBytes = encodeApprovalStatement(statementFor(overrides));
  const key = keyOf(credentialId);
  return {
    approverUserId: userId,
    credentialId,
    statementBytes,
    signature: sign('sha256', statementBytes, { key: key.privateKey, dsaEncoding: 'der' }),
    approverKey: { kind: 'ecdsa-p256', spki: key.spki },
  };
}

function evaluate(
  approvals: SubmittedApproval[],
  options: {
    request?: ApprovalRequest;
    rule?: ApprovalCountRule;
    people?: ApprovalPeople;
    now?: Date;
  } = {},
) {
  return evaluateApprovals({
    request: options.request ?? REQUEST,
    rule: options.rule ?? RULE,
    approvals,
    people: options.people ?? PEOPLE,
    now: options.now ?? NOW,
  });
}

describe('evaluateApprovals', () => {
  describe('M of N', () => {
    it('is satisfied exactly at M distinct approvers', () => {
      const result = evaluate([approval('alice'), approval('bob')]);
      assert.equal(result.satisfied, true);
      assert.equal(result.missing, '');
      assert.deepEqual(result.counted, [
        { userId: 'alice', group: 'release-approvers' },
        { userId: 'bob', group: 'release-approvers' },
      ]);
      assert.deepEqual(result.rejected, []);
    });

    it('is not satisfied at M − 1 and says what is missing', () => {
      const result = evaluate([approval('alice')]);
      assert.equal(result.satisfied, false);
      assert.equal(result.missing, 'needs 2 approvals from release-approvers, has 1');
    });
  });

  describe('when an approval of digest X is replayed on digest Y', () => {
    it('rejects it naming both digests', () => {
      const request = {
        ...REQUEST,
        subjects: [
          {
            name: 'ghcr.io/acme/payments',
            digest: { algorithm: 'sha256' as const, value: DIGEST_Y },
          },
        ],
      };
      const result = evaluate([approval('alice'), approval('bob')], { request });
      assert.equal(result.satisfied, false);
      assert.deepEqual(result.counted, []);
      assert.equal(
        result.rejected[0]?.reason,
        `approval was for digest sha256:${DIGEST_X} not sha256:${DIGEST_Y}`,
      );
    });
  });

  describe('when an approval for staging is used on prod', () => {
    it('rejects it', () => {
      const result = evaluate([approval('alice', { channel: 'staging' }), approval('bob')]);
      assert.equal(result.satisfied, false);
      assert.deepEqual(result.rejected, [
        { userId: 'alice', reason: 'approval for staging cannot count on prod' },
      ]);
    });
  });

  describe('when the request changed after approval', () => {
    it('rejects approvals for another request id, product, kind, subject set or requester', () => {
      const cases: [Partial<ApprovalStatement>, RegExp][] = [
        [{ requestId: 'req-0' }, /request req-0 not req-1/u],
        [{ product: 'billing' }, /product billing cannot count on payments-api/u],
        [{ kind: 'attestation' }, /kind attestation not artifact/u],
        [
          {
            subjects: [
              ...REQUEST.subjects,
              { name: 'extra', digest: { algorithm: 'sha256', value: DIGEST_Y } },
            ],
          },
          /covers 2 subjects/u,
        ],
        [
          { subjects: [{ name: 'other', digest: { algorithm: 'sha256', value: DIGEST_X } }] },
          /subject other not/u,
        ],
        [{ requester: { ...REQUEST.requester, repositoryId: '43' } }, /requester/u],
      ];
      for (const [overrides, reason] of cases) {
        const result = evaluate([approval('alice', overrides), approval('bob')]);
        assert.equal(result.satisfied, false);
        assert.match(result.rejected[0]?.reason ?? '', reason);
      }
    });
  });

  describe('when the policy changed after approval', () => {
    it('rejects the approval', () => {
      const result = evaluate([approval('alice'), approval('bob')], {
        request: { ...REQUEST, policyHash: 'policy-v8' },
      });
      assert.equal(result.satisfied, false);
      assert.match(result.rejected[0]?.reason ?? '', /^policy changed since the approval/u);
    });
  });

  describe('separation of duties', () => {
    it('never counts the requester', () => {
      const request = {
        ...REQUEST,
        requester: { ...REQUEST.requester, subject: 'alice@acme.example' },
      };
      const result = evaluate(
        [
          approval('alice', { requester: request.requester }),
          approval('bob', { requester: request.requester }),
        ],
        { request },
      );
      assert.equal(result.satisfied, false);
      assert.deepEqual(result.rejected, [
        { userId: 'alice', reason: 'alice requested this signature and cannot approve it' },
      ]);
    });

    it('never counts the person who started the requesting job', () => {
      const request = { ...REQUEST, startedBy: ['alice'] };
      const result = evaluate([approval('alice'), approval('bob')], { request });
      assert.deepEqual(result.rejected, [
        {
          userId: 'alice',
          reason: 'alice started the job that asks for this signature and cannot approve it',
        },
      ]);
    });

    it('never counts a commit author or a merger, by id or email', () => {
      const request = { ...REQUEST, commitAuthors: ['Alice@Acme.example'], mergers: ['bob'] };
      const result = evaluate([approval('alice'), approval('bob'), approval('carol')], { request });
      assert.equal(result.satisfied, false);
      assert.deepEqual(
        result.rejected.map((r) => r.userId),
        ['alice', 'bob'],
      );
      assert.match(result.rejected[0]?.reason ?? '', /authored a commit/u);
      assert.match(result.rejected[1]?.reason ?? '', /merged this change/u);
    });
  });

  describe('when a workload tries to approve', () => {
    it('never counts it', () => {
      const robot = REQUEST.requester.identityUri;
      const result = evaluate([approval(robot), approval('alice')]);
      assert.equal(result.satisfied, false);
      assert.match(
        result.rejected[0]?.reason ?? '',
        /not a known person; only people can approve/u,
      );
    });
  });

  describe('when the same person approves twice with two keys', () => {
    it('counts them once', () => {
      const result = evaluate([
        approval('alice', {}, 'alice-key-1'),
        approval('alice', {}, 'alice-key-2'),
      ]);
      assert.equal(result.satisfied, false);
      assert.deepEqual(result.counted, [{ userId: 'alice', group: 'release-approvers' }]);
      assert.match(result.rejected[0]?.reason ?? '', /already approved; each person counts once/u);
      assert.equal(result.missing, 'needs 2 approvals from release-approvers, has 1');
    });
  });

  describe('expiry', () => {
    it('rejects an approval at and after expiresAt', () => {
      for (const now of [new Date('2026-11-23T16:00:00Z'), new Date('2026-11-24T00:00:00Z')]) {
        const result = evaluate([approval('alice'), approval('bob')], { now });
        assert.equal(result.satisfied, false);
        assert.match(result.rejected[0]?.reason ?? '', /expired at 2026-11-23T16:00:00Z/u);
      }
    });

    it('counts it one millisecond before expiresAt', () => {
      assert.equal(
        evaluate([approval('alice'), approval('bob')], {
          now: new Date('2026-11-23T15:59:59.999Z'),
        }).satisfied,
        true,
      );
    });

    it('rejects an approval issued for longer than the rule lifetime, or issued in the future', () => {
      const long = evaluate([
        approval('alice', { expiresAt: '2026-11-23T16:00:01Z' }),
        approval('bob'),
      ]);
      assert.match(long.rejected[0]?.reason ?? '', /longer than the 3600 s the rule allows/u);
      const future = evaluate([
        approval('alice', { issuedAt: '2026-11-23T15:30:01Z' }),
        approval('bob'),
      ]);
      assert.match(future.rejected[0]?.reason ?? '', /issued in the future/u);
    });
  });

  describe('when a statement or signature is tampered with', () => {
    it('rejects the approval', () => {
      const good = approval('alice');
      const text = new TextDecoder().decode(good.statementBytes).replace('req-1', 'req-2');
      const tamperedStatement = { ...good, statementBytes: new TextEncoder().encode(text) };
      const signature = Uint8Array.from(good.signature);
      signature[signature.length - 1] = (signature.at(-1) ?? 0) ^ 1;
      const tamperedSignature = { ...good, signature };
      const swappedKey = { ...good, approverKey: approval('bob').approverKey };
      for (const bad of [tamperedStatement, tamperedSignature, swappedKey]) {
        const result = evaluate([bad, approval('carol')]);
        assert.equal(result.satisfied, false);
        assert.match(
          result.rejected[0]?.reason ?? '',
          /signature of alice \(credential alice-key-1\) does not verify/u,
        );
      }
    });

    it('rejects signed bytes that are not a valid statement', () => {
      const key = keyOf('alice-key-1');
      const statementBytes = new TextEncoder().encode('{"hello":"world"}');
      const result = evaluate([
        {
          approverUserId: 'alice',
          credentialId: 'alice-key-1',
          statementBytes,
          signature: sign('sha256', statementBytes, { key: key.privateKey, dsaEncoding: 'der' }),
          approverKey: { kind: 'ecdsa-p256', spki: key.spki },
        },
      ]);
      assert.match(result.rejected[0]?.reason ?? '', /statement of alice is malformed/u);
    });
  });

  describe('group membership', () => {
    it('is re-checked at evaluation time', () => {
      const people = { ...PEOPLE, groups: [{ name: 'release-approvers', members: ['bob'] }] };
      const result = evaluate([approval('alice'), approval('bob')], { people });
      assert.equal(result.satisfied, false);
      assert.deepEqual(result.rejected, [
        { userId: 'alice', reason: 'alice is not a member of release-approvers' },
      ]);
    });
  });

  describe('with a second group', () => {
    const rule: ApprovalCountRule = { ...RULE, secondGroup: { name: 'security', required: 1 } };

    it('needs K of the second group as well', () => {
      const result = evaluate([approval('alice'), approval('bob')], { rule });
      assert.equal(result.satisfied, false);
      assert.equal(result.missing, 'needs 1 approval from security, has 0');
    });

    it('is satisfied with M of the first and K of the second', () => {
      const result = evaluate([approval('alice'), approval('bob'), approval('erin')], { rule });
      assert.equal(result.satisfied, true);
      assert.deepEqual(
        result.counted.map((c) => c.group),
        ['release-approvers', 'release-approvers', 'security'],
      );
    });

    it('does not let one person in both groups fill both', () => {
      const short = evaluate([approval('alice'), approval('dave')], { rule });
      assert.equal(short.satisfied, false);
      assert.equal(short.counted.length, 2);
      const enough = evaluate([approval('dave'), approval('alice'), approval('bob')], { rule });
      assert.equal(enough.satisfied, true);
      assert.deepEqual(enough.counted, [
        { userId: 'dave', group: 'security' },
        { userId: 'alice', group: 'release-approvers' },
        { userId: 'bob', group: 'release-approvers' },
      ]);
    });
  });

  describe('when an eligible approver rejects', () => {
    it('vetoes even with enough approvals', () => {
      const result = evaluate([
        approval('alice'),
        approval('bob'),
        approval('carol', { decision: 'reject' }),
      ]);
      assert.equal(result.satisfied, false);
      assert.equal(result.rejectedBy, 'carol');
      assert.equal(result.missing, 'rejected by carol');
    });

    it('does not veto when the rejecter is not eligible', () => {
      const result = evaluate([
        approval('alice'),
        approval('bob'),
        approval('erin', { decision: 'reject' }),
      ]);
      assert.equal(result.satisfied, true);
      assert.equal(result.rejectedBy, undefined);
    });
  });

  it('throws INVALID_INPUT for a malformed rule', () => {
    for (const rule of [
      { ...RULE, required: -1 },
      { ...RULE, lifetimeSeconds: 0 },
      { ...RULE, secondGroup: { name: 'release-approvers', required: 1 } },
    ]) {
      assert.throws(
        () => evaluate([], { rule }),
        (error: unknown) => isAppError(error, 'INVALID_INPUT'),
      );
    }
  });
});
