/**
 * The `exceptions:` section of governance.yaml: defaults, values, and the problems it reports.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { DEFAULT_EXCEPTION_RULES } from '../../src/core/governance/governance.ts';
import { parseGovernanceFile } from '../../src/core/governance/governance-file.ts';
import { planGovernance } from '../../src/core/governance/plan-governance.ts';
import { isAppError } from '../../src/core/errors.ts';

function file(exceptions: string, emergencyMembers = '[bob, erin]'): string {
  return `apiVersion: countersign.dev/v1
kind: Governance
products:
  - name: payments
    owner: bob
    channels:
      - name: prod
        emergencyGroup: emergency
users:
  - { id: bob, email: bob@acme.example, roles: [approver] }
  - { id: erin, email: erin@acme.example, roles: [security] }
groups:
  - { name: emergency, purpose: emergency, members: ${emergencyMembers} }
${exceptions}`;
}

function problems(text: string): string[] {
  try {
    parseGovernanceFile(text);
  } catch (error) {
    assert.ok(isAppError(error, 'CONFIG_INVALID'), String(error));
    return error.errors.map((e) => `${e.source ?? ''} ${e.path}: ${e.message}`);
  }
  assert.fail('expected CONFIG_INVALID');
}

describe('governance exceptions rules', () => {
  it('defaults to one approval, 24h, 10 uses, review within 72h, blocking when overdue', () => {
    const { governance } = parseGovernanceFile(file(''));
    assert.deepEqual(governance.exceptions, DEFAULT_EXCEPTION_RULES);
    assert.deepEqual(DEFAULT_EXCEPTION_RULES, {
      required: 1,
      maxDurationSeconds: 86_400,
      maxUses: 10,
      reviewWithinSeconds: 259_200,
      blockWhenReviewOverdue: true,
    });
  });

  it('reads every field', () => {
    const { governance } = parseGovernanceFile(
      file(
        'exceptions: { required: 2, maxDuration: 1h30m, maxUses: 3, reviewWithin: 2d, blockWhenReviewOverdue: false }\n',
      ),
    );
    assert.deepEqual(governance.exceptions, {
      required: 2,
      maxDurationSeconds: 5400,
      maxUses: 3,
      reviewWithinSeconds: 172_800,
      blockWhenReviewOverdue: false,
    });
  });

  it('reports bad durations, unknown fields and an emergency group too small, with lines', () => {
    const found = problems(
      file('exceptions:\n  required: 3\n  maxDuration: 31d\n  reviewWithin: soon\n  maxUse: 2\n'),
    );
    assert.equal(found.length, 4, found.join('\n'));
    assert.ok(
      found.some((p) =>
        /emergencyGroup: exceptions.required is 3 but group emergency has 2/.test(p),
      ),
    );
    assert.ok(found.some((p) => /:16 exceptions.maxDuration: 31d is longer than 30d/.test(p)));
    assert.ok(
      found.some((p) => /:17 exceptions.reviewWithin: must be a duration such as 72h/.test(p)),
    );
    assert.ok(
      found.some((p) => /:18 exceptions.maxUse: unknown field \(did you mean maxUses\?\)/.test(p)),
    );
  });

  it('shows a change of the rules in the plan, so apply does not skip it', () => {
    const before = parseGovernanceFile(file('')).governance;
    const after = parseGovernanceFile(file('exceptions: { maxUses: 2 }\n')).governance;
    assert.deepEqual(planGovernance(before, after), [
      {
        action: 'update',
        kind: 'exceptions',
        key: 'rules',
        fields: [{ path: 'maxUses', before: '10', after: '2' }],
      },
    ]);
  });
});
