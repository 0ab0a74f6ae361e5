import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkReasonTemplate, MAX_REASON_VALUE_LENGTH, renderReason } from './render-reason.ts';

const values = {
  principal: { ref: 'refs/heads/main', roles: ['admin', 'auditor'] },
  resource: { name: 'prod', approvalGroup: { name: 'approvers' } },
  context: { approvals: { count: 0, required: 2 }, changeWindow: { open: false } },
};

describe('renderReason', () => {
  it('fills placeholders from principal, resource and context', () => {
    assert.equal(
      renderReason(
        'needs {context.approvals.required} approvals, has {context.approvals.count} on {resource.name}',
        values,
      ),
      'needs 2 approvals, has 0 on prod',
    );
    assert.equal(
      renderReason('{principal.roles} / {context.changeWindow.open}', values),
      'admin, auditor / false',
    );
  });

  it('renders missing values as (none) and never reads inherited properties', () => {
    assert.equal(renderReason('{principal.environment}', values), '(none)');
    assert.equal(renderReason('{principal.constructor}', values), '(none)');
    assert.equal(renderReason('{context.approvals.count.toString}', values), '(none)');
    assert.equal(renderReason('{toString.name}', values), '(none)');
  });

  it('neutralises control characters and caps long attacker-chosen values', () => {
    const evil = {
      ...values,
      principal: { ref: `refs/heads/\u001b[2J\nx\u202e${'a'.repeat(500)}` },
    };
    const text = renderReason('ref {principal.ref} is not protected', evil);
    assert.doesNotMatch(text, /[\u0000-\u001f\u202e]/);
    assert.ok(text.length <= 'ref  is not protected'.length + MAX_REASON_VALUE_LENGTH + 1);
    assert.ok(text.endsWith('… is not protected'));
  });
});

describe('checkReasonTemplate', () => {
  it('accepts dotted paths under principal, resource and context', () => {
    assert.deepEqual(
      checkReasonTemplate('needs {context.approvals.required}, {resource.name}'),
      [],
    );
  });

  it('reports malformed placeholders and unknown roots', () => {
    assert.deepEqual(checkReasonTemplate('{context} {action.id} {context.a b}'), [
      'placeholder {context} is not a dotted attribute path like {context.approvals.count}',
      'placeholder {action.id} must start with principal, resource or context',
      'placeholder {context.a b} is not a dotted attribute path like {context.approvals.count}',
    ]);
  });
});
