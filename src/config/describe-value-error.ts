/**
 * Schema errors in words an operator can act on.
 */
import type { TSchema } from '@sinclair/typebox';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';

/** Messages for the errors operators meet in configuration; others keep TypeBox's wording. */
const MESSAGES: Partial<Record<ValueErrorType, (schema: TSchema) => string>> = {
  [ValueErrorType.ObjectAdditionalProperties]: () => 'is not a known setting',
  [ValueErrorType.Union]: (schema) => {
    const allowed = literalsOf(schema);
    return allowed === undefined
      ? 'has an unexpected type'
      : `must be one of: ${allowed.join(', ')}`;
  },
  [ValueErrorType.Integer]: () => 'must be an integer',
  [ValueErrorType.IntegerMinimum]: between,
  [ValueErrorType.IntegerMaximum]: between,
  [ValueErrorType.Boolean]: () => 'must be true or false',
  [ValueErrorType.String]: () => 'must be a string',
  [ValueErrorType.StringMinLength]: () => 'must not be empty',
  [ValueErrorType.StringMaxLength]: (schema) =>
    `must be at most ${String(schema['maxLength'])} characters`,
  [ValueErrorType.StringPattern]: () => 'must not contain spaces or "+"',
  [ValueErrorType.Object]: () => 'must be a mapping of settings',
};

/** Says what is wrong with a value, from the TypeBox error and the schema it broke. */
export function describeValueError(error: ValueError): string {
  const describe = MESSAGES[error.type];
  if (describe !== undefined) return describe(error.schema);
  return error.message.charAt(0).toLowerCase() + error.message.slice(1);
}

function between(schema: TSchema): string {
  return `must be between ${String(schema['minimum'])} and ${String(schema['maximum'])}`;
}

function literalsOf(schema: TSchema): string[] | undefined {
  const members: unknown = schema['anyOf'];
  if (!Array.isArray(members)) return undefined;
  const values: string[] = [];
  for (const member of members) {
    const value: unknown =
      typeof member === 'object' && member !== null
        ? (member as { const?: unknown }).const
        : undefined;
    if (typeof value !== 'string') return undefined;
    values.push(value);
  }
  return values;
}
