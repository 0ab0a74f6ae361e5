/**
 * RFC 8785 JSON Canonicalization Scheme (JCS): one byte-exact serialization per JSON value, for
 * everything Countersign hashes or signs (log entry bodies, approval statements, SET payloads).
 *
 * - Objects: members sorted by their names as arrays of UTF-16 code units (§3.2.3), no whitespace.
 * - Numbers: the ECMAScript Number-to-String algorithm (§3.2.2.3), i.e. `JSON.stringify`;
 *   `-0` becomes `0`; NaN and the infinities are rejected.
 * - Strings: `JSON.stringify` escaping (§3.2.2.2); lone surrogates are rejected (I-JSON, RFC 7493).
 *
 * Only plain JSON data is accepted: `null`, booleans, finite numbers, strings, arrays and plain
 * objects. Anything JSON.stringify would silently drop or coerce (`undefined`, functions, symbols,
 * `toJSON`, class instances such as `Date` or `Map`) is an error instead, so a value never
 * canonicalizes to something other than what its author meant.
 */
import { AppError } from './errors.ts';

/** Nesting deeper than this is rejected, so hostile input cannot exhaust the stack. */
export const MAX_CANONICAL_JSON_DEPTH = 512;

/**
 * The RFC 8785 canonical JSON text of `value`.
 *
 * @example canonicalizeJson({ b: 1, a: [true, null] }) === '{"a":[true,null],"b":1}'
 * @throws {@link AppError} INVALID_INPUT when the value holds a non-finite number, `undefined`, a
 *   function, a symbol, a bigint, a lone surrogate, a non-plain object, a sparse array, a cycle,
 *   or is nested deeper than 512 levels. The message says where (a JSON pointer).
 */
export function canonicalizeJson(value: unknown): string {
  const parts: string[] = [];
  write(value, parts, new Set<object>(), undefined);
  return parts.join('');
}

/**
 * The UTF-8 bytes of `canonicalizeJson(value)`: what gets hashed or signed.
 *
 * @throws {@link AppError} INVALID_INPUT as `canonicalizeJson`.
 */
export function canonicalJsonBytes(value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalizeJson(value));
}

/**
 * Where a value sits, as a chain of member names and array indices. Built as a linked list and
 * turned into a JSON pointer only for an error message: most values never need theirs.
 */
type Path = { readonly parent: Path; readonly key: string | number } | undefined;

function write(value: unknown, parts: string[], ancestors: Set<object>, pointer: Path): void {
  switch (typeof value) {
    case 'string':
      parts.push(serializeString(value, pointer));
      return;
    case 'number':
      if (!Number.isFinite(value)) reject(pointer, 'is not a finite number');
      // ECMAScript Number::toString, as RFC 8785 §3.2.2.3 requires; JSON.stringify(-0) is "0".
      parts.push(JSON.stringify(value));
      return;
    case 'boolean':
      parts.push(value ? 'true' : 'false');
      return;
    case 'object':
      if (value === null) {
        parts.push('null');
        return;
      }
      writeContainer(value, parts, ancestors, pointer);
      return;
    case 'undefined':
    case 'function':
    case 'symbol':
    case 'bigint':
      reject(pointer, `is a ${typeof value}, which JSON cannot represent`);
  }
}

function writeContainer(
  value: object,
  parts: string[],
  ancestors: Set<object>,
  pointer: Path,
): void {
  if (ancestors.has(value)) reject(pointer, 'is a cycle');
  if (ancestors.size >= MAX_CANONICAL_JSON_DEPTH) {
    reject(pointer, `is nested deeper than ${MAX_CANONICAL_JSON_DEPTH} levels`);
  }
  ancestors.add(value);
  if (Array.isArray(value)) {
    parts.push('[');
    for (let i = 0; i < value.length; i++) {
      const child = { parent: pointer, key: i };
      if (!Object.hasOwn(value, i)) reject(child, 'is a hole in a sparse array');
      if (i > 0) parts.push(',');
      write(value[i] as unknown, parts, ancestors, child);
    }
    parts.push(']');
  } else {
    const prototype = Object.getPrototypeOf(value) as unknown;
    if (prototype !== Object.prototype && prototype !== null) {
      reject(pointer, 'is not a plain object');
    }
    if (Object.getOwnPropertySymbols(value).length > 0) reject(pointer, 'has symbol keys');
    const record = value as Record<string, unknown>;
    // RFC 8785 §3.2.3: sort by UTF-16 code units, which is what JS string comparison does.
    const keys = Object.keys(record).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
    parts.push('{');
    keys.forEach((key, i) => {
      const child = { parent: pointer, key };
      if (i > 0) parts.push(',');
      parts.push(serializeString(key, child), ':');
      write(record[key], parts, ancestors, child);
    });
    parts.push('}');
  }
  ancestors.delete(value);
}

function serializeString(value: string, pointer: Path): string {
  if (!value.isWellFormed()) reject(pointer, 'contains a lone surrogate');
  return JSON.stringify(value);
}

/** The RFC 6901 JSON pointer of `path`, so error messages point at the offending member. */
function pointerOf(path: Path): string {
  let pointer = '';
  for (let at = path; at !== undefined; at = at.parent) {
    const key = typeof at.key === 'number' ? String(at.key) : at.key;
    pointer = `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}${pointer}`;
  }
  return pointer;
}

function reject(path: Path, problem: string): never {
  const pointer = pointerOf(path);
  const where = pointer === '' ? 'value' : pointer;
  throw new AppError('INVALID_INPUT', `cannot canonicalize JSON: ${where} ${problem}`, {
    errors: [{ path: pointer === '' ? '/' : pointer, message: problem }],
  });
}
