import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCedarPolicyEngine } from '../adapters/policy/cedar-policy-engine.ts';
import { readPolicySet } from '../adapters/policy/read-policy-set.ts';
import { parseGovernanceFile } from '../core/governance/governance-file.ts';
import type { Workload } from '../core/governance/workload.ts';
import { evaluateSigningDecision } from './evaluate-signing-decision.ts';
import type { SigningDecisionInput } from './evaluate-signing-decision.ts';

const EXAMPLES = join(import.meta.dirname, '../../examples');
const { governance } = parseGovernanceFile(
  await readFile(join(EXAMPLES, 'governance.yaml'), 'utf8'),
);
const policyEngine = createCedarPolicyEngine(
  await readPolicySet(governance, { baseDir: EXAMPLES, fileName: 'governance.yaml' }),
);
const clock = { now: () => new Date('2026-03-01T12:00:00Z') };
const deps = { governance, policyEngine, clock };

const release: Workload = {
  issuer: 'https://token.actions.githubusercontent.com',
  issuerType: 'github-actions',
  subject: 'repo:acme/payments-api:environment:production',
  identityUri:
    'https://github.com/acme/payments-api/.github/workflows/release.yml@refs/tags/v1.4.0',
  repositoryId: '812345678',
  ownerId: '1234567',
  repository: 'acme/payments-api',
  ref: 'refs/tags/v1.4.0',
  workflow: 'acme/payments-api/.github/workflows/release.yml@refs/tags/v1.4.0',
  environment: 'production',
  event: 'push',
  commitSha: 'a'.repeat(40),
  runId: '42',
};

const ready: SigningDecisionInput = {
  workload: release,
  product: 'payments-api',
  channel: 'prod',
  subject: { name: 'payments-api.tar.gz', digest: { algorithm: 'sha256', value: 'b'.repeat(64) } },
  context: {
    evidence: { provenance: { present: true, builderTrusted: true }, checksPassed: true },
    approvals: { count: 2 },
  },
};

describe('evaluateSigningDecision', () => {
  it('allows an entitled release with approvals and evidence, naming the entitlement', () => {
    const result = evaluateSigningDecision(ready, deps);
    assert.equal(result.decision, 'allow');
    assert.deepEqual(result.entitlements, { matched: ['payments-api-release'], expired: [] });
    assert.equal(result.policyHash, policyEngine.policyHash);
  });

  it('describes the decision as evidence for the log, with the identity but never more', () => {
    const withToken = { ...release, token: 'eyJhbGciOiJSUzI1NiJ9.secret.sig' } as Workload;
    const { evidence } = evaluateSigningDecision({ ...ready, workload: withToken }, deps);
    assert.deepEqual(evidence, {
      type: 'signing.decision',
      decidedAt: '2026-03-01T12:00:00.000Z',
      workload: { ...release, issuerName: 'github' },
      product: 'payments-api',
      channel: 'prod',
      subject: ready.subject,
      decision: 'allow',
      policyHash: policyEngine.policyHash,
      determiningPolicies: ['sign-entitled-workload'],
      entitlementIds: ['payments-api-release'],
      reasons: ['allowed by policy sign-entitled-workload'],
      changeWindow: { open: true },
    });
    assert.doesNotMatch(JSON.stringify(evidence), /secret/);
  });

  it('takes the approval requirement from the channel, not from the caller', () => {
    const result = evaluateSigningDecision(
      { ...ready, context: { ...ready.context, approvals: { count: 1 } } },
      deps,
    );
    assert.equal(result.decision, 'deny');
    assert.deepEqual(result.reasons, ['needs 2 approvals, has 1']);
  });

  it('counts missing evidence as absent', () => {
    const result = evaluateSigningDecision(
      { ...ready, context: { approvals: { count: 2 } } },
      deps,
    );
    assert.deepEqual(result.reasons, [
      'provenance from a trusted builder required on prod',
      'passing test and scan results required on prod',
    ]);
  });

  it('denies a repository re-created under the same name', () => {
    const result = evaluateSigningDecision(
      { ...ready, workload: { ...release, repositoryId: '999999999' } },
      deps,
    );
    assert.equal(result.decision, 'deny');
    assert.deepEqual(result.reasons, [
      'no entitlement for repository 999999999 (acme/payments-api) on payments-api/prod',
    ]);
    assert.deepEqual(result.evidence.entitlementIds, []);
  });

  it('names an expired entitlement that would have matched', () => {
    const hotfix: Workload = {
      issuer: release.issuer,
      issuerType: release.issuerType,
      subject: 'repo:acme/payments-api:ref:refs/heads/hotfix/pci',
      identityUri: release.identityUri,
      repositoryId: '812345678',
      ref: 'refs/heads/hotfix/pci',
    };
    const result = evaluateSigningDecision({ ...ready, workload: hotfix }, deps);
    assert.equal(result.decision, 'deny');
    assert.deepEqual(result.entitlements, { matched: [], expired: ['payments-api-hotfix-2025'] });
    assert.ok(
      result.reasons.includes(
        'entitlement payments-api-hotfix-2025 expired at 2025-12-31T00:00:00.000Z: ask its owner payments-team to renew it',
      ),
      result.reasons.join('\n'),
    );
  });

  it('uses the product protected refs only when the issuer does not report protection', () => {
    const main = { ...release, ref: 'refs/heads/main' };
    const dev = { workload: main, product: 'payments-api', channel: 'dev' };
    const entitledMain = { ...main, environment: 'dev' };
    assert.equal(
      evaluateSigningDecision({ ...dev, workload: entitledMain }, deps).decision,
      'allow',
    );
    assert.equal(
      evaluateSigningDecision({ ...dev, workload: { ...entitledMain, refProtected: false } }, deps)
        .decision,
      'deny',
    );
    const unlisted = { ...entitledMain, ref: 'refs/heads/feature' };
    assert.equal(evaluateSigningDecision({ ...dev, workload: unlisted }, deps).decision, 'deny');
  });

  it('evaluates the channel change windows at the clock time unless told the state', () => {
    const windowed = {
      ...governance,
      channels: governance.channels.map((c) =>
        c.product === 'payments-api' && c.name === 'dev'
          ? {
              ...c,
              changeWindows: [
                { days: ['mon' as const], start: '09:00', end: '17:00', timeZone: 'UTC' },
              ],
            }
          : c,
      ),
    };
    const input = {
      workload: { ...release, ref: 'refs/heads/main' },
      product: 'payments-api',
      channel: 'dev',
    };
    // The clock says Sunday 2026-03-01 12:00 UTC; the window opens on Monday at 09:00.
    const closed = evaluateSigningDecision(input, { ...deps, governance: windowed });
    assert.deepEqual(closed.reasons, [
      'the change window for payments-api/dev is closed',
      'the next change window of payments-api/dev opens at 2026-03-02T09:00:00Z',
    ]);
    assert.deepEqual(closed.evidence.changeWindow, {
      open: false,
      nextOpensAt: '2026-03-02T09:00:00Z',
    });
    const monday = evaluateSigningDecision(input, {
      ...deps,
      governance: windowed,
      clock: { now: () => new Date('2026-03-02T09:00:00Z') },
    });
    assert.equal(monday.decision, 'allow');
    assert.deepEqual(monday.evidence.changeWindow, { open: true });
    const waived = evaluateSigningDecision(
      { ...input, context: { exception: { active: true, waives: ['changeWindow'] } } },
      { ...deps, governance: windowed },
    );
    assert.equal(waived.decision, 'allow');
    const open = evaluateSigningDecision(
      { ...input, context: { changeWindow: { open: true } } },
      { ...deps, governance: windowed },
    );
    assert.equal(open.decision, 'allow');
  });

  it('denies unknown products, channels and issuers with a reason instead of throwing', () => {
    assert.deepEqual(evaluateSigningDecision({ ...ready, product: 'payroll' }, deps).reasons, [
      'unknown product "payroll"',
    ]);
    assert.deepEqual(evaluateSigningDecision({ ...ready, channel: 'Prod' }, deps).reasons, [
      'product payments-api has no channel "Prod"',
    ]);
    const foreign = evaluateSigningDecision(
      {
        ...ready,
        workload: { ...release, issuer: 'https://token.actions.githubusercontent.com/' },
      },
      deps,
    );
    assert.equal(foreign.decision, 'deny');
    assert.deepEqual(foreign.reasons, [
      'issuer "https://token.actions.githubusercontent.com/" is not configured',
    ]);
    assert.equal(foreign.evidence.policyHash, policyEngine.policyHash);
  });
});
