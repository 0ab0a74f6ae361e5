import assert from 'node:assert/strict';
import { describe, it } from 'node:test';

import { canonicalJsonBytes } from '../canonical-json.ts';
import { isAppError } from '../errors.ts';
import {
  createSigningDecisionApprover,
  createSigningDecisionStatement,
  parseSigningDecisionStatement,
  MAX_SIGNING_DECISION_STATEMENT_BYTES,
  SIGNING_DECISION_PREDICATE_TYPE,
  toSigningDecisionRequester,
  type SigningDecisionPredicate,
  type SigningDecisionStatement,
} from './signing-decision.ts';

const DIGEST = 'c'.repeat(64);

function decisionPredicate(
  overrides: Partial<SigningDecisionPredicate> = {},
): SigningDecisionPredicate {
  return {
    service: 'https://countersign.example.com',
    signing: {
      id: 'sig-1',
      product: 'payments-api',
      channel: 'prod',
      kind: 'artifact',
      logIndex: '42',
    },
    requester: {
      issuer: 'https://token.actions.githubusercontent.com',
      subject: 'repo:acme/payments:ref:refs/heads/main',
      identityUri: 'https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main',
      repositoryId: '42',
      ref: 'refs/heads/main',
    },
    decision: {
      policyHash: 'sha256:' + 'b'.repeat(64),
      governanceVersion: 3,
      decisionLogIndex: '41',
      decidedAt: '2026-11-23T15:00:00.123Z',
      determiningPolicies: ['policy0'],
      reasons: [],
    },
    evidence: [{ kind: 'provenance', digest: { sha256: 'd'.repeat(64) } }],
    approvals: { requestId: null, required: 0, group: null, approvers: [] },
    exception: null,
    changeWindow: { open: true, evaluatedAt: '2026-11-23T15:00:00Z' },
    ...overrides,
  };
}

function statement(overrides: Partial<SigningDecisionPredicate> = {}): SigningDecisionStatement {
  return {
    subject: { name: 'app.tgz', digest: { algorithm: 'sha256', value: DIGEST } },
    predicate: decisionPredicate(overrides),
  };
}

/** The JSON value of a statement, to tamper with. */
function json(overrides: Partial<SigningDecisionPredicate> = {}): Record<string, unknown> {
  return JSON.parse(
    new TextDecoder().decode(createSigningDecisionStatement(statement(overrides))),
  ) as Record<string, unknown>;
}

const invalid = (path: string) => (error: unknown) =>
  isAppError(error, 'INVALID_INPUT') && error.errors.some((e) => e.path === path);

describe('createSigningDecisionStatement', () => {
  it('writes a canonical in-toto Statement v1 naming the artifact and the predicate type', () => {
    const bytes = createSigningDecisionStatement(statement());
    const value = JSON.parse(new TextDecoder().decode(bytes)) as Record<string, unknown>;
    assert.equal(value['_type'], 'https://in-toto.io/Statement/v1');
    assert.equal(value['predicateType'], SIGNING_DECISION_PREDICATE_TYPE);
    assert.deepEqual(value['subject'], [{ name: 'app.tgz', digest: { sha256: DIGEST } }]);
    assert.deepEqual(canonicalJsonBytes(value), bytes);
  });

  it('round-trips through the parser', () => {
    const input = statement({
      exception: {
        id: 'exc-1',
        waives: ['provenance'],
        reason: 'incident 123',
        requestedBy: 'alice',
        approvedBy: ['bob'],
        notAfter: '2026-11-24T00:00:00Z',
        maxUses: 2,
        use: 1,
      },
    });
    assert.deepEqual(parseSigningDecisionStatement(createSigningDecisionStatement(input)), input);
  });

  it('refuses to write what the parser would refuse', () => {
    assert.throws(
      () =>
        createSigningDecisionStatement(
          statement({ changeWindow: { open: true, evaluatedAt: 'yesterday' } }),
        ),
      invalid('/predicate/changeWindow/evaluatedAt'),
    );
  });
});

describe('parseSigningDecisionStatement', () => {
  const bytesOf = (value: unknown) => canonicalJsonBytes(value);

  it('refuses bytes that are not canonical JSON', () => {
    const pretty = new TextEncoder().encode(JSON.stringify(json(), null, 2));
    assert.throws(() => parseSigningDecisionStatement(pretty), /canonical form/);
  });

  it('refuses an oversized statement before decoding it', () => {
    assert.throws(
      () => parseSigningDecisionStatement(new Uint8Array(MAX_SIGNING_DECISION_STATEMENT_BYTES + 1)),
      /larger than/,
    );
  });

  it('refuses another predicate type', () => {
    const value = { ...json(), predicateType: 'https://slsa.dev/provenance/v1' };
    assert.throws(() => parseSigningDecisionStatement(bytesOf(value)), invalid('/predicateType'));
  });

  it('refuses unknown fields at every level', () => {
    const value = json();
    const predicate = value['predicate'] as Record<string, Record<string, unknown>>;
    const tampered = {
      ...value,
      predicate: { ...predicate, signing: { ...predicate['signing'], note: 'x' } },
    };
    assert.throws(
      () => parseSigningDecisionStatement(bytesOf(tampered)),
      invalid('/predicate/signing/note'),
    );
    assert.throws(
      () => parseSigningDecisionStatement(bytesOf({ ...value, extra: 1 })),
      invalid('/extra'),
    );
  });

  it('refuses two subjects, or a subject with two digests', () => {
    const value = json();
    const [subject] = value['subject'] as unknown[];
    assert.throws(
      () => parseSigningDecisionStatement(bytesOf({ ...value, subject: [subject, subject] })),
      invalid('/subject'),
    );
    const twoDigests = [{ name: 'a', digest: { sha256: DIGEST, sha512: 'e'.repeat(128) } }];
    assert.throws(
      () => parseSigningDecisionStatement(bytesOf({ ...value, subject: twoDigests })),
      invalid('/subject/0/digest'),
    );
  });

  it('refuses a log index that is a number, or past int64', () => {
    for (const logIndex of [42, '042', '9223372036854775808', '-1']) {
      const value = json();
      const predicate = value['predicate'] as Record<string, Record<string, unknown>>;
      const tampered = {
        ...value,
        predicate: { ...predicate, signing: { ...predicate['signing'], logIndex } },
      };
      assert.throws(
        () => parseSigningDecisionStatement(bytesOf(tampered)),
        invalid('/predicate/signing/logIndex'),
        String(logIndex),
      );
    }
  });

  it('refuses control characters, which could forge terminal output', () => {
    assert.throws(
      () =>
        parseSigningDecisionStatement(
          bytesOf(json({ service: 'https://x.example\n verified: yes' })),
        ),
      invalid('/predicate/service'),
    );
  });

  it('accepts free text on several lines in reasons, but no bidi override in an id', () => {
    const reasons = ['line one\nline two', ''];
    const base = decisionPredicate();
    const parsed = parseSigningDecisionStatement(
      createSigningDecisionStatement(statement({ decision: { ...base.decision, reasons } })),
    );
    assert.deepEqual(parsed.predicate.decision.reasons, reasons);
    assert.throws(
      () =>
        createSigningDecisionStatement(
          statement({ signing: { ...base.signing, id: 'sig\u202e1-gis' } }),
        ),
      invalid('/predicate/signing/id'),
    );
  });

  it('refuses base64 that is not canonical standard base64', () => {
    const approver = createSigningDecisionApprover({
      userId: 'alice',
      group: 'release',
      credential: {
        id: 'k1',
        kind: 'ecdsa-p256',
        algorithm: -7,
        publicKeySpki: new Uint8Array([1, 2, 3]),
      },
      statementBytes: new Uint8Array([4]),
      signature: new Uint8Array([5]),
    });
    const good = json({
      approvals: { requestId: 'req-1', required: 1, group: 'release', approvers: [approver] },
    });
    assert.ok(parseSigningDecisionStatement(bytesOf(good)));
    const predicate = good['predicate'] as Record<string, unknown>;
    const bad = {
      ...good,
      predicate: {
        ...predicate,
        approvals: {
          requestId: 'req-1',
          required: 1,
          group: 'release',
          approvers: [{ ...approver, signature: 'BQ' }],
        },
      },
    };
    assert.throws(
      () => parseSigningDecisionStatement(bytesOf(bad)),
      invalid('/predicate/approvals/approvers/0/signature'),
    );
  });

  it('requires the WebAuthn parts for a passkey and refuses them for a plain key', () => {
    const base = {
      userId: 'alice',
      group: 'release',
      statementBytes: new Uint8Array([4]),
      signature: new Uint8Array([5]),
    };
    const passkey = createSigningDecisionApprover({
      ...base,
      credential: {
        id: 'p1',
        kind: 'webauthn',
        algorithm: -7,
        publicKeySpki: new Uint8Array([1]),
        rpId: 'countersign.example.com',
      },
    });
    const approvals = (approver: unknown) =>
      bytesOf(
        json({
          approvals: {
            requestId: 'r',
            required: 1,
            group: 'g',
            approvers: [approver as never],
          },
        }),
      );
    assert.throws(
      () => parseSigningDecisionStatement(approvals(passkey)),
      invalid('/predicate/approvals/approvers/0/webauthn'),
    );
    const plain = createSigningDecisionApprover({
      ...base,
      credential: {
        id: 'k',
        kind: 'ecdsa-p256',
        algorithm: -7,
        publicKeySpki: new Uint8Array([1]),
      },
      webauthn: { authenticatorData: new Uint8Array([1]), clientDataJSON: new Uint8Array([2]) },
    });
    assert.throws(
      () => parseSigningDecisionStatement(approvals(plain)),
      invalid('/predicate/approvals/approvers/0/webauthn'),
    );
  });

  it('refuses an exception used more often than allowed', () => {
    const exception = {
      id: 'exc-1',
      waives: [],
      reason: 'incident',
      requestedBy: 'alice',
      approvedBy: [],
      notAfter: '2026-11-24T00:00:00Z',
      maxUses: 1,
      use: 2,
    };
    const value = json();
    const tampered = { ...value, predicate: { ...(value['predicate'] as object), exception } };
    assert.throws(
      () => parseSigningDecisionStatement(bytesOf(tampered)),
      invalid('/predicate/exception/use'),
    );
  });
});

describe('toSigningDecisionRequester', () => {
  it('keeps the identity fields a consumer can check and drops the rest', () => {
    const requester = toSigningDecisionRequester({
      issuer: 'https://issuer.example',
      issuerType: 'github-actions',
      subject: 'repo:acme/app:ref:refs/heads/main',
      identityUri: 'https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main',
      repository: 'acme/app',
      commitSha: 'f'.repeat(40),
      tokenId: 'jti-1',
      runnerEnvironment: 'github-hosted',
    });
    assert.deepEqual(requester, {
      issuer: 'https://issuer.example',
      subject: 'repo:acme/app:ref:refs/heads/main',
      identityUri: 'https://github.com/acme/app/.github/workflows/r.yml@refs/heads/main',
      repository: 'acme/app',
      commitSha: 'f'.repeat(40),
    });
  });
});
