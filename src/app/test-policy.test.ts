import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createCedarPolicyEngine } from '../adapters/policy/cedar-policy-engine.ts';
import { readPolicySet } from '../adapters/policy/read-policy-set.ts';
import { AppError } from '../core/errors.ts';
import { parseGovernanceFile } from '../core/governance/governance-file.ts';
import { explainDecision, runPolicyTests } from './test-policy.ts';

const ROOT = join(import.meta.dirname, '../..');
const { governance } = parseGovernanceFile(
  await readFile(join(ROOT, 'examples/governance.yaml'), 'utf8'),
);
const engine = createCedarPolicyEngine(
  await readPolicySet(governance, { baseDir: join(ROOT, 'examples'), fileName: 'governance.yaml' }),
);
const SHIPPED_CASES = await readFile(join(ROOT, 'policies/examples/cases.yaml'), 'utf8');
/** Far from the cases' pinned instant: the shipped cases must not depend on the runner's clock. */
const clock = { now: () => new Date('2031-01-01T00:00:00Z') };

const CASE = `
- name: dev signs
  at: 2026-03-01T00:00:00Z
  workload: { issuer: github, repositoryId: "812345678", ownerId: "1234567", ref: refs/heads/main, event: push }
  product: payments-api
  channel: dev
  expect: allow
`;

describe('runPolicyTests', () => {
  it('passes every shipped example case on the shipped defaults and example governance', () => {
    const report = runPolicyTests(SHIPPED_CASES, governance, engine, {
      clock,
      fileName: 'policies/examples/cases.yaml',
    });
    const failures = report.results
      .filter((r) => !r.passed)
      .map((r) => `${r.name}: ${r.failure ?? ''}`);
    assert.deepEqual(failures, []);
    assert.ok(report.passed >= 15);
    assert.ok(report.results.some((r) => r.expected === 'deny'));
    assert.ok(report.results.some((r) => r.expected === 'allow'));
    assert.equal(report.policyHash, engine.policyHash);
  });

  it('reports a case whose decision differs from its expectation, with the reasons', () => {
    const report = runPolicyTests(
      CASE.replace('channel: dev', 'channel: prod'),
      governance,
      engine,
      { clock },
    );
    assert.equal(report.failed, 1);
    const [result] = report.results;
    assert.equal(result?.failure, 'expected allow, got deny');
    assert.equal(result?.source, 'cases.yaml:2');
    assert.match(
      result?.reasons.join('\n') ?? '',
      /no entitlement for repository 812345678 on payments-api\/prod/,
    );
  });

  it('fails a case whose reasons do not contain the expected words', () => {
    const text = CASE.replace('channel: dev', 'channel: staging').replace(
      'expect: allow',
      'expect: deny\n  reasonContains: needs 3 approvals',
    );
    const [result] = runPolicyTests(text, governance, engine, { clock }).results;
    assert.equal(result?.passed, false);
    assert.equal(result?.failure, 'no reason contains "needs 3 approvals"');
  });

  it('evaluates cases without `at` at the clock, so expiry is tested too', () => {
    const text = CASE.replace('  at: 2026-03-01T00:00:00Z\n', '');
    assert.equal(
      runPolicyTests(text, governance, engine, {
        clock: { now: () => new Date('2026-03-01T00:00:00Z') },
      }).failed,
      0,
    );
    const expired = runPolicyTests(text, governance, engine, { clock });
    assert.equal(expired.results[0]?.actual, 'deny');
  });

  it('refuses a malformed cases file with every problem and its line', () => {
    const text = CASE.replace('issuer: github', 'issuer: githb').replace(
      'expect: allow',
      'expect: alow\n  extra: 1',
    );
    try {
      runPolicyTests(text, governance, engine, { clock });
      assert.fail('expected CONFIG_INVALID');
    } catch (error) {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, 'CONFIG_INVALID');
      assert.deepEqual(
        error.errors.map((e) => `${e.source ?? ''} ${e.path}: ${e.message}`),
        [
          'cases.yaml:7 [0].expect: "alow" is not one of "allow", "deny" (did you mean allow?)',
          'cases.yaml:8 [0].extra: unknown field',
        ],
      );
    }
    try {
      runPolicyTests(CASE.replace('issuer: github', 'issuer: githb'), governance, engine, {
        clock,
      });
      assert.fail('expected CONFIG_INVALID');
    } catch (error) {
      assert.ok(error instanceof AppError);
      assert.deepEqual(
        error.errors.map((e) => `${e.source ?? ''} ${e.path}: ${e.message}`),
        ['cases.yaml:4 [0].workload.issuer: unknown issuer githb (did you mean github?)'],
      );
    }
  });
});

describe('explainDecision', () => {
  it('shows the deciding policies with file and line, the entitlements and the facts', () => {
    const explanation = explainDecision(
      {
        workload: {
          issuer: 'https://token.actions.githubusercontent.com',
          issuerType: 'github-actions',
          subject: 's',
          identityUri: 'u',
          repositoryId: '812345678',
          ownerId: '1234567',
          ref: 'refs/heads/main',
          event: 'push',
        },
        product: 'payments-api',
        channel: 'staging',
      },
      { governance, policyEngine: engine, clock: { now: () => new Date('2026-03-01T00:00:00Z') } },
    );
    assert.equal(explanation.decision, 'deny');
    assert.deepEqual(
      explanation.determiningPolicies.map((p) => [p.id, p.effect, p.reason]),
      [
        [
          'sign-requires-approvals',
          'forbid',
          'needs {context.approvals.required} approvals, has {context.approvals.count}',
        ],
        [
          'sign-requires-trusted-provenance',
          'forbid',
          'provenance from a trusted builder required on {resource.name}',
        ],
      ],
    );
    assert.match(
      explanation.determiningPolicies[0]?.source ?? '',
      /^policies\/default\.cedar:\d+$/,
    );
    assert.deepEqual(explanation.entitlements.matched, [
      { id: 'payments-api-main', expiresAt: '2027-06-30T00:00:00.000Z' },
    ]);
    assert.equal(explanation.facts?.refProtected, true);
    assert.deepEqual(explanation.facts?.context.approvals, { count: 0, required: 1 });
    assert.equal(explanation.facts?.context.entitled, true);
  });
});
