/**
 * Unique-key violations arrive from both engines as a generic CONFLICT (`map-*-error.ts`); a
 * repository rephrases it to name what already exists. One helper, so every insert says it the
 * same way and keeps the driver error as `cause`.
 */
import { AppError, isAppError } from '../../core/errors.ts';

/** Runs `write`; a CONFLICT it throws is rethrown as CONFLICT with `message`. */
export async function withConflictMessage<T>(write: () => Promise<T>, message: string): Promise<T> {
  try {
    return await write();
  } catch (error) {
    if (isAppError(error, 'CONFLICT')) throw new AppError('CONFLICT', message, { cause: error });
    throw error;
  }
}
