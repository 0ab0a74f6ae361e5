import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AppError } from '../core/errors.ts';
import { renderErrorText } from './render-error.ts';

describe('renderErrorText', () => {
  it('lists field problems the message does not already say, then the hint', () => {
    const error = new AppError('INVALID_INPUT', 'the request body does not match the schema', {
      errors: [{ path: '/role', message: 'must be admin, approver, security or auditor' }],
      hint: 'run `countersign token create --help`',
    });
    assert.equal(
      renderErrorText(error, false),
      'error: the request body does not match the schema\n  - /role: must be admin, approver, security or auditor\nhint: run `countersign token create --help`\n',
    );
  });

  it('does not repeat a field problem the message already says', () => {
    const error = new AppError('INVALID_INPUT', '--product is required', {
      errors: [{ path: '--product', message: 'is required' }],
    });
    assert.equal(renderErrorText(error, false), 'error: --product is required\n');
  });
});
