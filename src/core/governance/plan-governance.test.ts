import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parseGovernanceFile } from './governance-file.ts';
import { EMPTY_GOVERNANCE } from './governance.ts';
import { describeGovernanceChange, planGovernance } from './plan-governance.ts';

const EXAMPLE = readFileSync(
  join(import.meta.dirname, '../../../examples/governance.yaml'),
  'utf8',
);
const current = parseGovernanceFile(EXAMPLE).governance;

/** `text` with `from` replaced; fails when `from` is absent, so an edit can never silently no-op. */
function replaceOnce(text: string, from: string | RegExp, to: string): string {
  const result = text.replace(from, to);
  assert.notEqual(result, text, `no match for ${String(from)}`);
  return result;
}

function plan(edit: (text: string) => string): string[] {
  const desired = parseGovernanceFile(edit(EXAMPLE)).governance;
  return planGovernance(current, desired).map(describeGovernanceChange);
}

describe('planGovernance', () => {
  it('is empty when nothing changes', () => {
    assert.deepEqual(planGovernance(current, parseGovernanceFile(EXAMPLE).governance), []);
  });

  it('adds every object on the first apply, ordered by kind then key', () => {
    const changes = planGovernance(EMPTY_GOVERNANCE, current);
    assert.ok(changes.every((c) => c.action === 'add'));
    assert.deepEqual(
      changes.filter((c) => c.kind === 'channel').map((c) => c.key),
      [
        'payments-api/dev',
        'payments-api/prod',
        'payments-api/staging',
        'web-frontend/dev',
        'web-frontend/prod',
        'web-frontend/staging',
      ],
    );
    assert.deepEqual(
      [...new Set(changes.map((c) => c.kind))],
      ['issuer', 'user', 'group', 'product', 'channel', 'entitlement', 'policy'],
    );
  });

  it('shows the fields of an update with their old and new values', () => {
    assert.deepEqual(
      plan((t) =>
        t.replace(
          'approval: { required: 2, group: payments-approvers }',
          'approval: { required: 3, group: payments-approvers }',
        ),
      ),
      ['~ channel payments-api/prod: approval.required: 2 → 3'],
    );
    assert.deepEqual(
      plan((t) => replaceOnce(t, 'ref: refs/tags/v*', 'ref: refs/tags/release-*')),
      ['~ entitlement payments-api-release: selector.ref: "refs/tags/v*" → "refs/tags/release-*"'],
    );
  });

  it('shows additions and removals', () => {
    assert.deepEqual(
      plan((t) =>
        replaceOnce(
          replaceOnce(
            t,
            '  - { id: grace, email: grace@acme.example, roles: [security, approver] }',
            '  - { id: grace, email: grace@acme.example, roles: [security, approver] }\n  - { id: heidi, email: heidi@acme.example, roles: [auditor] }',
          ),
          / {2}# A one-off that has run out[\s\S]*?reviewAt: 2025-12-01T00:00:00Z\n\n/,
          '',
        ),
      ),
      ['+ user heidi', '- entitlement payments-api-hotfix-2025'],
    );
  });

  it('shows policy changes, including content changes through the policy-set hash', () => {
    const desired = parseGovernanceFile(
      replaceOnce(
        replaceOnce(EXAMPLE, 'defaults: true', 'defaults: false'),
        'only pushes, tags and releases do',
        'only pushes and tags do',
      ),
    ).governance;
    const changes = planGovernance(current, desired, {
      currentPolicyHash: 'sha256:aa',
      desiredPolicyHash: 'sha256:bb',
    }).map(describeGovernanceChange);
    assert.equal(changes.length, 3);
    assert.equal(changes[0], '~ policy defaults: defaults: true → false');
    assert.match(changes[1] ?? '', /^~ policy inline:no-pull-request-builds: cedar: /);
    assert.equal(changes[2], '~ policy policy-set: hash: sha256:aa → sha256:bb');
  });
});
