import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ERROR_CODES } from '../core/errors.ts';
import { EXIT_CODES } from './exit-codes.ts';

describe('EXIT_CODES', () => {
  it('gives every error code an exit code from the documented set', () => {
    for (const code of ERROR_CODES)
      assert.ok([1, 2, 3, 4, 5, 6, 70].includes(EXIT_CODES[code]), code);
  });

  it('follows the documented table', () => {
    assert.deepEqual(
      {
        denied: [EXIT_CODES.POLICY_DENIED, EXIT_CODES.VERIFICATION_FAILED],
        usage: [EXIT_CODES.INVALID_INPUT, EXIT_CODES.CONFIG_INVALID],
        auth: [EXIT_CODES.UNAUTHENTICATED, EXIT_CODES.FORBIDDEN],
        missing: [EXIT_CODES.NOT_FOUND, EXIT_CODES.CONFLICT],
        pending: [EXIT_CODES.APPROVAL_PENDING],
        unavailable: [
          EXIT_CODES.STORAGE_UNAVAILABLE,
          EXIT_CODES.KEY_UNAVAILABLE,
          EXIT_CODES.RATE_LIMITED,
        ],
        internal: [EXIT_CODES.INTERNAL],
      },
      {
        denied: [1, 1],
        usage: [2, 2],
        auth: [3, 3],
        missing: [4, 4],
        pending: [5],
        unavailable: [6, 6, 6],
        internal: [70],
      },
    );
  });
});
