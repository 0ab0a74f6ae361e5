/**
 * TypeBox as Fastify's schema language: request types inferred from route schemas, and
 * validation by TypeBox's compiler, which rejects unknown fields instead of stripping them and
 * never coerces a JSON body (`"1"` is not `1`).
 */
import type { FastifySchemaCompiler, FastifyTypeProvider } from 'fastify';
import {
  FormatRegistry,
  Kind,
  Type,
  type ObjectOptions,
  type Static,
  type TObject,
  type TProperties,
  type TSchema,
} from '@sinclair/typebox';
import { TypeCompiler } from '@sinclair/typebox/compiler';
import { ValueErrorType, type ValueError } from '@sinclair/typebox/errors';
import { Value } from '@sinclair/typebox/value';
import { AppError, type FieldError } from '../core/errors.ts';

/** Types request parts and replies from TypeBox route schemas. */
export interface TypeBoxTypeProvider extends FastifyTypeProvider {
  readonly validator: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
  readonly serializer: this['schema'] extends TSchema ? Static<this['schema']> : unknown;
}

/** At most this many field errors go back in one problem; a huge bad body must not yield a huge answer. */
const MAX_FIELD_ERRORS = 20;

/** RFC 3339 date-time, as OpenAPI's `date-time` format means it. */
const DATE_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,9})?(?:Z|[+-]\d{2}:\d{2})$/i;

/** Registers the string formats route schemas may use (TypeBox knows none by itself). */
export function registerFormats(): void {
  if (!FormatRegistry.Has('date-time')) {
    FormatRegistry.Set(
      'date-time',
      (value) => DATE_TIME.test(value) && !Number.isNaN(Date.parse(value)),
    );
  }
  if (!FormatRegistry.Has('uri')) {
    FormatRegistry.Set('uri', (value) => URL.canParse(value));
  }
}

/**
 * Fastify validator compiler over TypeBox. Bodies are checked as sent; params, querystrings and
 * headers arrive as strings and are converted to the schema's types first. A failure throws
 * INVALID_INPUT carrying every field error (up to a bound), located by JSON pointer.
 */
export const compileTypeBoxValidator: FastifySchemaCompiler<unknown> = (routeSchema) => {
  const schema = routeSchema.schema;
  if (!isTypeBoxSchema(schema)) {
    throw new AppError(
      'INTERNAL',
      `route ${routeSchema.method} ${routeSchema.url} has a ${routeSchema.httpPart ?? 'request'} schema that is not a TypeBox schema`,
    );
  }
  const part = routeSchema.httpPart ?? 'body';
  if (part !== 'headers') {
    const open = findOpenObject(schema, '');
    if (open !== undefined) {
      throw new AppError(
        'INTERNAL',
        `route ${routeSchema.method} ${routeSchema.url}: the ${part} object at "${open || '/'}" must set additionalProperties: false (use strictObject)`,
      );
    }
  }
  const check = TypeCompiler.Compile(schema);
  const converts = part !== 'body';
  return (data: unknown) => {
    const value = converts ? Value.Convert(schema, data) : data;
    if (check.Check(value)) return { value };
    const errors: FieldError[] = [];
    for (const error of check.Errors(value)) {
      if (errors.length === MAX_FIELD_ERRORS) break;
      errors.push({
        path: error.path === '' ? '/' : error.path,
        source: part,
        message: describeError(error),
      });
    }
    const where = part === 'body' ? 'request body' : part === 'querystring' ? 'query string' : part;
    return {
      error: new AppError('INVALID_INPUT', `the ${where} does not match the schema`, { errors }),
    };
  };
};

/**
 * An object schema that rejects unknown properties. Use it for every request object: a field the
 * server ignores is a field a client believes has an effect.
 */
export function strictObject<T extends TProperties>(
  properties: T,
  options: ObjectOptions = {},
): TObject<T> {
  return Type.Object(properties, { ...options, additionalProperties: false });
}

/** The JSON pointer of the first object schema that accepts unknown properties, if any. */
function findOpenObject(schema: unknown, pointer: string): string | undefined {
  if (typeof schema !== 'object' || schema === null) return undefined;
  const node = schema as Record<string, unknown>;
  const properties = node['properties'];
  if (typeof properties === 'object' && properties !== null) {
    if (node['additionalProperties'] !== false) return pointer;
    for (const [name, child] of Object.entries(properties)) {
      const found = findOpenObject(child, `${pointer}/${name}`);
      if (found !== undefined) return found;
    }
  }
  for (const key of ['items', 'additionalProperties']) {
    const found = findOpenObject(node[key], `${pointer}/*`);
    if (found !== undefined) return found;
  }
  for (const key of ['anyOf', 'oneOf', 'allOf']) {
    const members = node[key];
    if (!Array.isArray(members)) continue;
    for (const member of members) {
      const found = findOpenObject(member, pointer);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function isTypeBoxSchema(schema: unknown): schema is TSchema {
  return typeof schema === 'object' && schema !== null && Kind in schema;
}

function describeError(error: ValueError): string {
  if (error.type === ValueErrorType.ObjectAdditionalProperties) return 'unknown field';
  if (error.type === ValueErrorType.ObjectRequiredProperty) return 'is required';
  return error.message.charAt(0).toLowerCase() + error.message.slice(1);
}
