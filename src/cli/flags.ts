/**
 * Reading string flags the same way in every command: an absent flag is undefined, an empty one
 * (`--name=`) is a usage error rather than silently "not given".
 */
import { AppError } from '../core/errors.ts';
import type { CommandContext } from './command.ts';

/** The value of `--flag`, or undefined when absent. Throws INVALID_INPUT when it is empty. */
export function optionalString(context: CommandContext, flag: string): string | undefined {
  const value = context.flags[flag];
  if (value === '') {
    throw new AppError('INVALID_INPUT', `--${flag} needs a value`, {
      errors: [{ path: `--${flag}`, message: 'is empty' }],
    });
  }
  return typeof value === 'string' ? value : undefined;
}

/** The value of `--flag`. Throws INVALID_INPUT when it is absent or empty. */
export function requireString(context: CommandContext, flag: string): string {
  const value = optionalString(context, flag);
  if (value === undefined) {
    throw new AppError('INVALID_INPUT', `--${flag} is required`, {
      errors: [{ path: `--${flag}`, message: 'is required' }],
    });
  }
  return value;
}
