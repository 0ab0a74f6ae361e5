/**
 * Strict DER (X.690 §10) reading and writing for the few ASN.1 structures Countersign handles by
 * hand: RFC 3161 requests and responses, CMS signed attributes, and the fields of certificates.
 *
 * The reader accepts DER only, never BER: definite lengths in their shortest form, low tag
 * numbers, no trailing bytes, minimal INTEGERs, BOOLEANs of 0x00/0xFF. Verifiers such as
 * `@sigstore/core` 4.x parse strictly (interop G22), and a lenient parser would let two encodings
 * of one value mean different things to different readers. Everything the reader is given may be
 * attacker-controlled; every failure is an `AppError('INVALID_INPUT')`.
 */
import { AppError } from '../errors.ts';

/** Universal tags (X.690 §8), with the constructed bit where DER requires it. */
export const DER_TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Bound on nesting, so a crafted input cannot exhaust the stack. */
const MAX_DEPTH = 32;

/** One decoded TLV. `bytes` is the whole element; `content` the value part. Both are views. */
export interface DerElement {
  /** The identifier octet (class, constructed bit and tag number < 31). */
  readonly tag: number;
  readonly bytes: Uint8Array;
  readonly content: Uint8Array;
}

function fail(message: string): AppError {
  return new AppError('INVALID_INPUT', `malformed DER: ${message}`);
}

function isConstructed(tag: number): boolean {
  return (tag & 0x20) !== 0;
}

/** Reads the element starting at `offset`; returns it and the offset after it. */
function readElementAt(input: Uint8Array, offset: number): { element: DerElement; end: number } {
  if (offset + 2 > input.length) throw fail('truncated element');
  const tag = input[offset] as number;
  if ((tag & 0x1f) === 0x1f) throw fail('high tag numbers are not used here');
  let length = input[offset + 1] as number;
  let headerLength = 2;
  if (length === 0x80) throw fail('indefinite length (BER, not DER)');
  if (length > 0x80) {
    const count = length & 0x7f;
    if (count > 4) throw fail('length too large');
    if (offset + 2 + count > input.length) throw fail('truncated length');
    if (input[offset + 2] === 0) throw fail('non-minimal length (leading zero octet)');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (input[offset + 2 + i] as number);
    if (length < 0x80) throw fail('non-minimal length (long form for a short length)');
    headerLength += count;
  }
  const end = offset + headerLength + length;
  if (end > input.length) throw fail('element longer than its input');
  return {
    element: {
      tag,
      bytes: input.subarray(offset, end),
      content: input.subarray(offset + headerLength, end),
    },
    end,
  };
}

/** The children of a constructed element, which must cover its content exactly. */
export function readChildren(element: DerElement): DerElement[] {
  if (!isConstructed(element.tag)) throw fail('expected a constructed element');
  const children: DerElement[] = [];
  let offset = 0;
  while (offset < element.content.length) {
    const { element: child, end } = readElementAt(element.content, offset);
    children.push(child);
    offset = end;
  }
  return children;
}

/**
 * Decodes `input` as exactly one DER element (no trailing bytes) and checks, recursively, that
 * every constructed element inside is well-formed DER too. Primitive contents are checked by the
 * typed decoders below when a caller reads them.
 *
 * @throws {@link AppError} INVALID_INPUT on any framing error.
 */
export function parseDer(input: Uint8Array): DerElement {
  const { element, end } = readElementAt(input, 0);
  if (end !== input.length) throw fail('trailing bytes after the element');
  checkStructure(element, 0);
  return element;
}

function checkStructure(element: DerElement, depth: number): void {
  if (depth > MAX_DEPTH) throw fail('nested too deeply');
  if (!isConstructed(element.tag)) return;
  for (const child of readChildren(element)) checkStructure(child, depth + 1);
}

/**
 * Walks the children of a SEQUENCE in order, the way its ASN.1 definition lists them: required
 * fields with `next`, OPTIONAL and DEFAULT ones with `optional`, then `end` to refuse extras.
 */
export class DerSequenceReader {
  readonly #children: DerElement[];
  readonly #what: string;
  #index = 0;

  constructor(element: DerElement, what: string, tag: number = DER_TAG.SEQUENCE) {
    if (element.tag !== tag) throw fail(`${what} is not the expected type`);
    this.#children = readChildren(element);
    this.#what = what;
  }

  /** The next child, which must carry `tag`. */
  next(tag: number, field: string): DerElement {
    const child = this.#children[this.#index];
    if (child === undefined) throw fail(`${this.#what} lacks ${field}`);
    if (child.tag !== tag) throw fail(`${this.#what} has an unexpected type for ${field}`);
    this.#index++;
    return child;
  }

  /** The next child when it carries `tag`; otherwise nothing is consumed. */
  optional(tag: number): DerElement | undefined {
    const child = this.#children[this.#index];
    if (child === undefined || child.tag !== tag) return undefined;
    this.#index++;
    return child;
  }

  /** The next child whatever its tag (an ANY or a CHOICE). */
  any(field: string): DerElement {
    const child = this.#children[this.#index];
    if (child === undefined) throw fail(`${this.#what} lacks ${field}`);
    this.#index++;
    return child;
  }

  /** Refuses children left over after the last field the definition knows. */
  end(): void {
    if (this.#index !== this.#children.length) throw fail(`${this.#what} has unexpected fields`);
  }
}

function expectTag(element: DerElement, tag: number, what: string): void {
  if (element.tag !== tag) throw fail(`${what} is not the expected type`);
}

/**
 * The two's-complement content octets of a DER INTEGER, checked to be minimal (X.690 §8.3.2).
 * Use `decodeUnsignedInteger` for serial numbers and nonces.
 */
export function decodeIntegerBytes(element: DerElement, what: string): Uint8Array {
  expectTag(element, DER_TAG.INTEGER, what);
  const { content } = element;
  if (content.length === 0) throw fail(`${what} is an empty INTEGER`);
  if (content.length > 1) {
    const first = content[0] as number;
    const second = content[1] as number;
    if ((first === 0x00 && second < 0x80) || (first === 0xff && second >= 0x80)) {
      throw fail(`${what} is a non-minimal INTEGER`);
    }
  }
  return content;
}

/** A small INTEGER (version numbers) as a number; throws when negative or above 2^31. */
export function decodeSmallInteger(element: DerElement, what: string): number {
  const bytes = decodeIntegerBytes(element, what);
  if (((bytes[0] as number) & 0x80) !== 0) throw fail(`${what} is negative`);
  if (bytes.length > 4) throw fail(`${what} is too large`);
  let value = 0;
  for (const byte of bytes) value = value * 256 + byte;
  return value;
}

/**
 * A non-negative INTEGER as its magnitude, without the sign octet: what serial numbers and nonces
 * are compared and re-encoded by. Throws INVALID_INPUT for negative values.
 */
export function decodeUnsignedInteger(element: DerElement, what: string): Uint8Array {
  const bytes = decodeIntegerBytes(element, what);
  if (((bytes[0] as number) & 0x80) !== 0) throw fail(`${what} is negative`);
  return bytes[0] === 0 && bytes.length > 1 ? bytes.subarray(1) : bytes;
}

/** An OBJECT IDENTIFIER in dotted decimal, with minimal base-128 arcs (X.690 §8.19). */
export function decodeOid(element: DerElement, what: string): string {
  expectTag(element, DER_TAG.OID, what);
  const { content } = element;
  if (content.length === 0 || content.length > 64) throw fail(`${what} has a bad OID length`);
  const arcs: bigint[] = [];
  let value = 0n;
  let start = true;
  for (const byte of content) {
    if (start && byte === 0x80) throw fail(`${what} has a non-minimal OID arc`);
    value = (value << 7n) | BigInt(byte & 0x7f);
    start = (byte & 0x80) === 0;
    if (start) {
      arcs.push(value);
      value = 0n;
    }
  }
  if (!start) throw fail(`${what} has a truncated OID`);
  const first = arcs[0] as bigint;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...arcs.slice(1)].join('.');
}

/** A BOOLEAN: exactly one octet, 0x00 or 0xFF (X.690 §11.1). */
export function decodeBoolean(element: DerElement, what: string): boolean {
  expectTag(element, DER_TAG.BOOLEAN, what);
  const { content } = element;
  if (content.length !== 1 || (content[0] !== 0x00 && content[0] !== 0xff)) {
    throw fail(`${what} is not a DER BOOLEAN`);
  }
  return content[0] === 0xff;
}

/** A NULL: empty content. */
export function decodeNull(element: DerElement, what: string): void {
  expectTag(element, DER_TAG.NULL, what);
  if (element.content.length !== 0) throw fail(`${what} is not a NULL`);
}

/** The content of an OCTET STRING (primitive form only, as DER requires). */
export function decodeOctetString(element: DerElement, what: string): Uint8Array {
  expectTag(element, DER_TAG.OCTET_STRING, what);
  return element.content;
}

/** A UTF8String, rejecting invalid UTF-8. */
export function decodeUtf8String(element: DerElement, what: string): string {
  expectTag(element, DER_TAG.UTF8_STRING, what);
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(element.content);
  } catch {
    throw fail(`${what} is not valid UTF-8`);
  }
}

/** The bits of a BIT STRING with no unused bits (keys and signatures), as bytes. */
export function decodeBitStringBytes(element: DerElement, what: string): Uint8Array {
  expectTag(element, DER_TAG.BIT_STRING, what);
  const { content } = element;
  if (content.length === 0 || content[0] !== 0)
    throw fail(`${what} is not a whole-byte BIT STRING`);
  return content.subarray(1);
}

const UTC_TIME = /^(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})Z$/;
const GENERALIZED_TIME = /^(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d*[1-9]))?Z$/;

/**
 * A UTCTime or GeneralizedTime in the DER forms RFC 5280 §4.1.2.5 allows: seconds present, `Z`,
 * GeneralizedTime fractions without trailing zeros.
 */
export function decodeTime(element: DerElement, what: string): Date {
  const text = new TextDecoder('latin1').decode(element.content);
  let match: RegExpExecArray | null;
  let year: number;
  let fraction = '';
  if (element.tag === DER_TAG.UTC_TIME) {
    match = UTC_TIME.exec(text);
    if (match === null) throw fail(`${what} is not a DER UTCTime`);
    const yy = Number(match[1]);
    year = yy < 50 ? 2000 + yy : 1900 + yy;
  } else if (element.tag === DER_TAG.GENERALIZED_TIME) {
    match = GENERALIZED_TIME.exec(text);
    if (match === null) throw fail(`${what} is not a DER GeneralizedTime`);
    year = Number(match[1]);
    fraction = match[7] ?? '';
  } else {
    throw fail(`${what} is not a time`);
  }
  const [month, day, hour, minute, second] = match.slice(2, 7).map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const millis = fraction === '' ? 0 : Math.floor(Number(`0.${fraction}`) * 1000);
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
  // Date.UTC rolls 31 February over into March: insist the fields survive the round trip.
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    throw fail(`${what} is not a valid date`);
  }
  return date;
}

// ---------------------------------------------------------------------------------------------
// Writing

function encodeLength(length: number): Uint8Array {
  if (length < 0x80) return Uint8Array.of(length);
  const octets: number[] = [];
  for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return Uint8Array.of(0x80 | octets.length, ...octets);
}

/** Concatenates byte arrays. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.length, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.length;
  }
  return out;
}

/** One TLV with the shortest length form. */
export function encodeTlv(tag: number, content: Uint8Array): Uint8Array {
  return concatBytes(Uint8Array.of(tag), encodeLength(content.length), content);
}

export function encodeSequence(...children: readonly Uint8Array[]): Uint8Array {
  return encodeTlv(DER_TAG.SEQUENCE, concatBytes(...children));
}

/** Orders DER encodings as X.690 §11.6 orders the elements of a SET OF. */
export function compareDerEncodings(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.length, b.length);
  for (let i = 0; i < length; i++) {
    const diff = (a[i] as number) - (b[i] as number);
    if (diff !== 0) return diff;
  }
  return a.length - b.length;
}

/** A SET OF with its elements in DER order (X.690 §11.6), under `tag` (SET or an IMPLICIT tag). */
export function encodeSetOf(
  children: readonly Uint8Array[],
  tag: number = DER_TAG.SET,
): Uint8Array {
  return encodeTlv(tag, concatBytes(...[...children].sort(compareDerEncodings)));
}

/** A non-negative INTEGER from its magnitude (big-endian, any leading zeros). */
export function encodeUnsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.length - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const content =
    trimmed.length === 0
      ? Uint8Array.of(0)
      : ((trimmed[0] as number) & 0x80) !== 0
        ? concatBytes(Uint8Array.of(0), trimmed)
        : trimmed;
  return encodeTlv(DER_TAG.INTEGER, content);
}

/** A small non-negative INTEGER (versions). */
export function encodeSmallInteger(value: number): Uint8Array {
  const octets: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return encodeUnsignedInteger(Uint8Array.from(octets));
}

/** An OBJECT IDENTIFIER from dotted decimal. */
export function encodeOid(oid: string): Uint8Array {
  if (!/^[0-2](?:\.(?:0|[1-9][0-9]*))+$/.test(oid)) {
    throw new AppError('INTERNAL', `not an OID: ${oid}`);
  }
  const arcs = oid.split('.').map(BigInt);
  const [first, second, ...rest] = arcs as [bigint, bigint, ...bigint[]];
  const octets: number[] = [];
  for (const arc of [first * 40n + second, ...rest]) {
    const group: number[] = [Number(arc & 0x7fn)];
    for (let value = arc >> 7n; value > 0n; value >>= 7n) {
      group.unshift(Number(value & 0x7fn) | 0x80);
    }
    octets.push(...group);
  }
  return encodeTlv(DER_TAG.OID, Uint8Array.from(octets));
}

export function encodeOctetString(content: Uint8Array): Uint8Array {
  return encodeTlv(DER_TAG.OCTET_STRING, content);
}

export function encodeUtf8String(text: string): Uint8Array {
  return encodeTlv(DER_TAG.UTF8_STRING, new TextEncoder().encode(text));
}

export function encodeNull(): Uint8Array {
  return Uint8Array.of(DER_TAG.NULL, 0);
}

export function encodeBoolean(value: boolean): Uint8Array {
  return Uint8Array.of(DER_TAG.BOOLEAN, 1, value ? 0xff : 0x00);
}

/** Rejects instants with a sub-second part: Countersign issues whole-second times only (G16). */
function wholeSecondDigits(date: Date): string {
  if (!Number.isFinite(date.getTime()) || date.getTime() % 1000 !== 0) {
    throw new AppError('INTERNAL', 'DER times are written in whole seconds');
  }
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
}

/** GeneralizedTime `YYYYMMDDHHMMSSZ`, no fraction (RFC 5280 §4.1.2.5.2, interop G16). */
export function encodeGeneralizedTime(date: Date): Uint8Array {
  return encodeTlv(
    DER_TAG.GENERALIZED_TIME,
    new TextEncoder().encode(`${wholeSecondDigits(date)}Z`),
  );
}

/** UTCTime `YYMMDDHHMMSSZ`, for years 1950–2049 (RFC 5280 §4.1.2.5.1, RFC 5652 §11.3). */
export function encodeUtcTime(date: Date): Uint8Array {
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 2049) throw new AppError('INTERNAL', 'UTCTime covers 1950–2049 only');
  return encodeTlv(
    DER_TAG.UTC_TIME,
    new TextEncoder().encode(`${wholeSecondDigits(date).slice(2)}Z`),
  );
}

/** `[n] EXPLICIT inner`. */
export function encodeExplicit(tagNumber: number, inner: Uint8Array): Uint8Array {
  return encodeTlv(0xa0 | tagNumber, inner);
}
