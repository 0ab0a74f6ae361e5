import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, it } from 'node:test';

import { isAppError } from '../errors.ts';
import {
  approvalChallenge,
  encodeApprovalStatement,
  parseApprovalStatement,
  MAX_APPROVAL_STATEMENT_BYTES,
  type ApprovalStatement,
} from './approval-statement.ts';

const DIGEST = 'a'.repeat(64);

function statement(overrides: Partial<ApprovalStatement> = {}): ApprovalStatement {
  return {
    apiVersion: 'countersign.dev/approval/v1',
    requestId: 'req-1',
    product: 'payments-api',
    channel: 'prod',
    subjects: [{ name: 'ghcr.io/acme/payments', digest: { algorithm: 'sha256', value: DIGEST } }],
    kind: 'artifact',
    requester: {
      issuer: 'https://token.actions.githubusercontent.com',
      subject: 'repo:acme/payments:ref:refs/heads/main',
      identityUri: 'https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main',
      repositoryId: '42',
    },
    policyHash: 'sha256:' + 'b'.repeat(64),
    issuedAt: '2026-11-23T15:00:00Z',
    expiresAt: '2026-11-23T16:00:00Z',
    decision: 'approve',
    comment: 'ship it',
    ...overrides,
  };
}

const text = (value: unknown): Uint8Array => new TextEncoder().encode(JSON.stringify(value));
const invalidInput = (error: unknown): boolean => isAppError(error, 'INVALID_INPUT');

describe('encodeApprovalStatement', () => {
  it('writes RFC 8785 canonical JSON with sorted keys', () => {
    const decoded = new TextDecoder().decode(encodeApprovalStatement(statement()));
    assert.ok(decoded.startsWith('{"apiVersion":"countersign.dev/approval/v1","channel":"prod",'));
    assert.ok(!decoded.includes(' '.repeat(2)));
  });

  it('omits an absent repositoryId', () => {
    const { issuer, subject, identityUri } = statement().requester;
    const requester = { issuer, subject, identityUri };
    const decoded = new TextDecoder().decode(encodeApprovalStatement(statement({ requester })));
    assert.ok(!decoded.includes('repositoryId'));
  });

  it('rejects a malformed statement with INVALID_INPUT', () => {
    assert.throws(() => encodeApprovalStatement(statement({ channel: '' })), invalidInput);
  });
});

describe('approvalChallenge', () => {
  it('is the SHA-256 of the canonical bytes', () => {
    const expected = createHash('sha256').update(encodeApprovalStatement(statement())).digest();
    assert.deepEqual(Buffer.from(approvalChallenge(statement())), expected);
  });

  it('changes when any bound field changes', () => {
    const base = Buffer.from(approvalChallenge(statement())).toString('hex');
    for (const changed of [
      statement({ channel: 'staging' }),
      statement({ policyHash: 'sha256:' + 'c'.repeat(64) }),
      statement({
        subjects: [
          { name: 'ghcr.io/acme/payments', digest: { algorithm: 'sha256', value: 'c'.repeat(64) } },
        ],
      }),
      statement({ decision: 'reject' }),
    ]) {
      assert.notEqual(Buffer.from(approvalChallenge(changed)).toString('hex'), base);
    }
  });
});

describe('parseApprovalStatement', () => {
  it('round-trips an encoded statement', () => {
    assert.deepEqual(parseApprovalStatement(encodeApprovalStatement(statement())), statement());
  });

  describe('when the bytes are not canonical', () => {
    it('throws INVALID_INPUT for unsorted keys or whitespace', () => {
      const { apiVersion, ...rest } = statement();
      assert.throws(() => parseApprovalStatement(text({ ...rest, apiVersion })), invalidInput);
      const canonical = new TextDecoder().decode(encodeApprovalStatement(statement()));
      assert.throws(
        () => parseApprovalStatement(new TextEncoder().encode(canonical + '\n')),
        invalidInput,
      );
    });

    it('throws INVALID_INPUT for a duplicated key', () => {
      const canonical = new TextDecoder().decode(encodeApprovalStatement(statement()));
      const duplicated = canonical.replace(
        '"channel":"prod"',
        '"channel":"staging","channel":"prod"',
      );
      assert.throws(
        () => parseApprovalStatement(new TextEncoder().encode(duplicated)),
        invalidInput,
      );
    });
  });

  it('rejects unknown fields at every level', () => {
    const base = statement();
    for (const value of [
      { ...base, extra: 1 },
      { ...base, requester: { ...base.requester, extra: 'x' } },
      { ...base, subjects: [{ ...base.subjects[0], extra: 'x' }] },
    ]) {
      assert.throws(
        () => parseApprovalStatement(encodeLoose(value)),
        (error: unknown) =>
          invalidInput(error) &&
          /not a known field/u.test(JSON.stringify((error as { errors: unknown }).errors)),
      );
    }
  });

  it('rejects wrong types, formats and values', () => {
    const base = statement();
    const bad: unknown[] = [
      { ...base, apiVersion: 'countersign.dev/approval/v2' },
      { ...base, decision: 'maybe' },
      { ...base, kind: 'binary' },
      { ...base, requestId: 7 },
      { ...base, comment: null },
      { ...base, comment: 'x'.repeat(2001) },
      { ...base, subjects: [] },
      {
        ...base,
        subjects: [{ name: 'a', digest: { algorithm: 'sha256', value: 'A'.repeat(64) } }],
      },
      {
        ...base,
        subjects: [{ name: 'a', digest: { algorithm: 'sha256', value: 'a'.repeat(63) } }],
      },
      { ...base, subjects: [{ name: 'a', digest: { algorithm: 'md5', value: 'a'.repeat(32) } }] },
      { ...base, subjects: [base.subjects[0], base.subjects[0]] },
      { ...base, expiresAt: '2026-11-23T16:00:00+01:00' },
      { ...base, expiresAt: '2026-02-30T16:00:00Z' },
      { ...base, expiresAt: base.issuedAt },
      { ...base, requestId: 'a\nb' },
    ];
    // Field errors (not the canonical-form check) must be what rejects each one.
    const fieldInvalid = (error: unknown): boolean =>
      invalidInput(error) && (error as { errors: readonly unknown[] }).errors.length > 0;
    for (const value of bad)
      assert.throws(() => parseApprovalStatement(encodeLoose(value)), fieldInvalid);
    const missing: Record<string, unknown> = { ...base };
    delete missing['requestId'];
    assert.throws(() => parseApprovalStatement(encodeLoose(missing)), fieldInvalid);
  });

  it('rejects oversized input before decoding it', () => {
    const bytes = new Uint8Array(MAX_APPROVAL_STATEMENT_BYTES + 1).fill(0x20);
    assert.throws(() => parseApprovalStatement(bytes), /larger than/u);
  });

  it('rejects invalid UTF-8', () => {
    assert.throws(() => parseApprovalStatement(new Uint8Array([0x7b, 0xff, 0x7d])), invalidInput);
  });
});

/** Canonical bytes of an arbitrary value, bypassing the statement validator. */
function encodeLoose(value: unknown): Uint8Array {
  const sort = (v: unknown): unknown =>
    Array.isArray(v)
      ? v.map(sort)
      : typeof v === 'object' && v !== null
        ? Object.fromEntries(
            Object.keys(v)
              .sort()
              .map((k) => [k, sort((v as Record<string, unknown>)[k])]),
          )
        : v;
  return text(sort(value));
}
