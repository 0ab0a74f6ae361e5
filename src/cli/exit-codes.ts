/**
 * Process exit codes: one per kind of outcome, so scripts can branch without parsing output.
 */
import type { ErrorCode } from '../core/errors.ts';

/** Success. */
export const EXIT_OK = 0;

/**
 * The exit code of each error code. Exhaustive by type: a new code does not compile until it has
 * a row here (and in `src/http/problem.ts`).
 */
export const EXIT_CODES: Readonly<Record<ErrorCode, number>> = {
  // 1: a definite "no".
  POLICY_DENIED: 1,
  VERIFICATION_FAILED: 1,
  // 2: bad usage or input.
  INVALID_INPUT: 2,
  CONFIG_INVALID: 2,
  // 3: authentication or authorization.
  UNAUTHENTICATED: 3,
  FORBIDDEN: 3,
  // 4: not found or conflicting state.
  NOT_FOUND: 4,
  CONFLICT: 4,
  // 5: accepted, waiting for approvers.
  APPROVAL_PENDING: 5,
  // 6: something needed is unavailable; retrying later may work.
  STORAGE_UNAVAILABLE: 6,
  KEY_UNAVAILABLE: 6,
  RATE_LIMITED: 6,
  UPSTREAM_UNAVAILABLE: 6,
  // 70: a bug (EX_SOFTWARE).
  INTERNAL: 70,
};

/** One line per exit code, for `--help`. */
export const EXIT_CODES_HELP = `Exit codes:
  0 ok, 1 denied or did not verify, 2 bad usage or input, 3 authentication or authorization,
  4 not found or conflict, 5 waiting for approval, 6 unavailable (retry later), 70 internal error`;
