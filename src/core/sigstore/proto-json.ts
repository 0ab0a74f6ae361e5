/**
 * Strict readers for the proto3 JSON mapping used by Sigstore documents (bundles, trusted roots):
 * lowerCamelCase names, int64 as decimal strings, bytes as standard padded base64, enums by name,
 * Timestamps as RFC 3339 in UTC (sigstore-interop §1.1).
 *
 * sigstore-go parses with `protojson.Unmarshal`, which rejects unknown fields (G12); these
 * readers do too, so a document we accept is one sigstore-go accepts. Absent scalars take their
 * proto3 default (`""`, `0`, empty bytes), as every proto3 parser does; callers that need a value
 * check for it. `null` means absent, as in the proto3 JSON mapping. Bytes are standard padded
 * base64; line breaks inside are ignored, as Go's decoder (and so sigstore-go) ignores them.
 *
 * Input is attacker-controlled. Every problem is `AppError('INVALID_INPUT')` with a JSON pointer.
 */
import { AppError } from '../errors.ts';
import { decodeBase64Strict, encodeBase64 } from '../tlog/bytes.ts';

/** A JSON object as parsed: string keys, unknown values. */
export type JsonObject = Readonly<Record<string, unknown>>;

/** int64 range (proto3 `int64`). */
const INT64_MAX = (1n << 63n) - 1n;
const DECIMAL = /^-?(?:0|[1-9][0-9]{0,19})$/;
/** RFC 3339 with `Z`, as protojson writes Timestamps: 0, 3, 6 or 9 fractional digits are common. */
const TIMESTAMP =
  /^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?Z$/;

/**
 * Parses JSON text of at most `maxBytes` characters; the size is checked before parsing.
 *
 * @param text - attacker-controlled.
 * @param what - the document's name for messages, e.g. `bundle`.
 * @throws {@link AppError} INVALID_INPUT when the text is too large or not JSON.
 */
export function parseJsonText(text: string, what: string, maxBytes: number): unknown {
  // Attacker-controlled: bound the size before the parser sees it.
  if (text.length > maxBytes) {
    throw new AppError('INVALID_INPUT', `${what} is larger than ${maxBytes} bytes`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (cause) {
    throw new AppError('INVALID_INPUT', `${what} is not valid JSON`, { cause });
  }
}

/**
 * Reads `value` as a JSON object whose keys are all in `allowed` (proto3 JSON as sigstore-go
 * parses it: unknown fields are an error).
 *
 * @param pointer - where `value` sits, for error messages.
 * @throws {@link AppError} INVALID_INPUT when `value` is not a plain JSON object or has a key
 *   outside `allowed`.
 */
export function readJsonObject(
  value: unknown,
  pointer: string,
  allowed: readonly string[],
): JsonObject {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    invalidAt(pointer, 'must be an object');
  }
  for (const key of Object.keys(value)) {
    if (!allowed.includes(key)) invalidAt(`${pointer}/${key}`, 'is not a known field');
  }
  return value as JsonObject;
}

/** True when `object[key]` is set (neither absent nor `null`). */
export function hasField(object: JsonObject, key: string): boolean {
  return object[key] !== undefined && object[key] !== null;
}

/**
 * The object at `object[key]`, or undefined when absent.
 *
 * @throws {@link AppError} INVALID_INPUT as `readJsonObject`.
 */
export function readOptionalObject(
  object: JsonObject,
  key: string,
  pointer: string,
  allowed: readonly string[],
): JsonObject | undefined {
  const value = object[key];
  if (value === undefined || value === null) return undefined;
  return readJsonObject(value, `${pointer}/${key}`, allowed);
}

/**
 * The object at `object[key]`.
 *
 * @throws {@link AppError} INVALID_INPUT when absent or not an allowed object.
 */
export function readRequiredObject(
  object: JsonObject,
  key: string,
  pointer: string,
  allowed: readonly string[],
): JsonObject {
  const value = readOptionalObject(object, key, pointer, allowed);
  if (value === undefined) invalidAt(`${pointer}/${key}`, 'is required');
  return value;
}

/**
 * The array at `object[key]` (`[]` when absent), at most `max` items.
 *
 * @throws {@link AppError} INVALID_INPUT when not an array or too long.
 */
export function readArray(
  object: JsonObject,
  key: string,
  pointer: string,
  max: number,
): unknown[] {
  const value = object[key];
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) invalidAt(`${pointer}/${key}`, 'must be an array');
  if (value.length > max) invalidAt(`${pointer}/${key}`, `must have at most ${max} items`);
  return value;
}

/**
 * The string at `object[key]` (`""` when absent), at most `maxLength` UTF-16 units.
 *
 * @throws {@link AppError} INVALID_INPUT when not a string or too long.
 */
export function readString(
  object: JsonObject,
  key: string,
  pointer: string,
  maxLength: number,
): string {
  const value = object[key];
  if (value === undefined || value === null) return '';
  if (typeof value !== 'string') invalidAt(`${pointer}/${key}`, 'must be a string');
  if (value.length > maxLength)
    invalidAt(`${pointer}/${key}`, `must be at most ${maxLength} characters`);
  return value;
}

/**
 * A non-empty string at `object[key]`.
 *
 * @throws {@link AppError} INVALID_INPUT when absent, empty, not a string or too long.
 */
export function readRequiredString(
  object: JsonObject,
  key: string,
  pointer: string,
  maxLength: number,
): string {
  const value = readString(object, key, pointer, maxLength);
  if (value.length === 0) invalidAt(`${pointer}/${key}`, 'is required');
  return value;
}

/**
 * Bytes at `object[key]`: standard padded base64 only (empty when absent), at most `maxBytes`.
 *
 * @throws {@link AppError} INVALID_INPUT when not canonical base64 or too large.
 */
export function readBytes(
  object: JsonObject,
  key: string,
  pointer: string,
  maxBytes: number,
): Uint8Array {
  const text = readString(object, key, pointer, Math.ceil(maxBytes / 3) * 8);
  const bytes = decodeBase64Strict(text.includes('\n') ? text.replace(/\r?\n/g, '') : text);
  if (bytes === undefined) invalidAt(`${pointer}/${key}`, 'is not standard padded base64');
  return bytes;
}

/**
 * Non-empty bytes at `object[key]`.
 *
 * @throws {@link AppError} INVALID_INPUT when absent, empty, not canonical base64 or too large.
 */
export function readRequiredBytes(
  object: JsonObject,
  key: string,
  pointer: string,
  maxBytes: number,
): Uint8Array {
  const bytes = readBytes(object, key, pointer, maxBytes);
  if (bytes.byteLength === 0) invalidAt(`${pointer}/${key}`, 'is required');
  return bytes;
}

/**
 * A non-negative int64 at `object[key]` (0 when absent): a decimal string, or a JSON number that
 * is a safe integer (proto3 JSON accepts both).
 *
 * @throws {@link AppError} INVALID_INPUT when negative, not an integer, or beyond 2^63 - 1.
 */
export function readUint63(object: JsonObject, key: string, pointer: string): bigint {
  const value = object[key];
  const where = `${pointer}/${key}`;
  if (value === undefined || value === null) return 0n;
  let parsed: bigint;
  if (typeof value === 'string') {
    if (!DECIMAL.test(value)) invalidAt(where, 'must be a decimal integer');
    parsed = BigInt(value);
  } else if (typeof value === 'number' && Number.isSafeInteger(value)) {
    parsed = BigInt(value);
  } else {
    return invalidAt(where, 'must be an integer');
  }
  if (parsed < 0n) invalidAt(where, 'must not be negative');
  if (parsed > INT64_MAX) invalidAt(where, 'must fit in int64');
  return parsed;
}

/**
 * One of `allowed` at `object[key]`.
 *
 * @throws {@link AppError} INVALID_INPUT when absent or another value.
 */
export function readEnum<T extends string>(
  object: JsonObject,
  key: string,
  pointer: string,
  allowed: readonly T[],
): T {
  const value = object[key];
  if (typeof value !== 'string' || !(allowed as readonly string[]).includes(value)) {
    invalidAt(`${pointer}/${key}`, `must be one of ${allowed.join(', ')}`);
  }
  return value as T;
}

/**
 * A protobuf Timestamp (RFC 3339, UTC `Z`, up to nanoseconds) at `object[key]`, or undefined when
 * absent. Sub-millisecond digits are truncated (JavaScript dates hold milliseconds).
 *
 * @throws {@link AppError} INVALID_INPUT when not an RFC 3339 UTC timestamp of a real date.
 */
export function readTimestamp(object: JsonObject, key: string, pointer: string): Date | undefined {
  const value = object[key];
  const where = `${pointer}/${key}`;
  if (value === undefined || value === null) return undefined;
  if (typeof value !== 'string') invalidAt(where, 'must be an RFC 3339 timestamp');
  const match = TIMESTAMP.exec(value);
  if (match === null) invalidAt(where, 'must be an RFC 3339 timestamp in UTC (…Z)');
  const [year, month, day, hour, minute, second] = match.slice(1, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const millis = Number((match[7] ?? '').padEnd(3, '0').slice(0, 3));
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    invalidAt(where, 'is not a valid date and time');
  }
  return date;
}

/**
 * The protobuf JSON form of a time: RFC 3339 UTC, milliseconds only when non-zero
 * (`2026-01-01T00:00:00Z`, `2026-01-01T00:00:00.250Z`).
 */
export function formatTimestamp(date: Date): string {
  return date.toISOString().replace('.000Z', 'Z');
}

/** Standard padded base64, as proto3 JSON writes `bytes`. */
export function formatBytes(bytes: Uint8Array): string {
  return encodeBase64(bytes);
}

/**
 * Throws INVALID_INPUT for the field at `pointer`.
 *
 * @throws {@link AppError} INVALID_INPUT always.
 */
export function invalidAt(pointer: string, problem: string): never {
  const path = pointer === '' ? '/' : pointer;
  throw new AppError('INVALID_INPUT', `${path} ${problem}`, {
    errors: [{ path, message: problem }],
  });
}
