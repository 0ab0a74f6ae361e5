/**
 * A strict DER (ITU-T X.690 §10) reader and a minimal encoder, for the ASN.1 that verification
 * reads: X.509 certificates, RFC 3161 timestamps (CMS SignedData), ECDSA signatures and SCT lists.
 *
 * Strict means: definite lengths only, in their shortest form; single-byte tags only (every
 * structure we read uses low tag numbers); no trailing bytes; INTEGERs minimally encoded;
 * BOOLEANs 0x00 or 0xFF. `@sigstore/core` 4.x rejects the same non-DER encodings (interop G22),
 * and accepting what another verifier rejects would make our answer differ from theirs.
 *
 * Every element keeps its exact bytes (`bytes`), so signed structures (a TBSCertificate, CMS
 * signed attributes) are verified over what was signed, never over a re-encoding.
 *
 * All input is attacker-controlled. Errors are `AppError('INVALID_INPUT')`; verifiers wrap them
 * into VERIFICATION_FAILED with the name of the object that was malformed.
 */
import { AppError } from '../errors.ts';

/** Universal tags (X.680 §8.4) and the context-specific/constructed bits, as full identifier octets. */
export const DER_TAG = {
  BOOLEAN: 0x01,
  INTEGER: 0x02,
  BIT_STRING: 0x03,
  OCTET_STRING: 0x04,
  NULL: 0x05,
  OID: 0x06,
  ENUMERATED: 0x0a,
  UTF8_STRING: 0x0c,
  PRINTABLE_STRING: 0x13,
  IA5_STRING: 0x16,
  UTC_TIME: 0x17,
  GENERALIZED_TIME: 0x18,
  SEQUENCE: 0x30,
  SET: 0x31,
} as const;

/** Identifier octet of a context-specific tag `[n]`, constructed or primitive (X.690 §8.1.2). */
export function contextTag(n: number, constructed: boolean): number {
  return 0x80 | (constructed ? 0x20 : 0) | n;
}

/** Nesting is bounded so hostile input cannot recurse deeply (X.509 needs well under 20). */
export const MAX_DER_DEPTH = 32;

/** One DER element (tag, length, value) and where it came from. */
export interface DerElement {
  /** The identifier octet: class, constructed bit and tag number (< 31). */
  readonly tag: number;
  /** The whole encoding: identifier, length and contents. */
  readonly bytes: Uint8Array;
  /** The contents octets. */
  readonly contents: Uint8Array;
}

/**
 * Reads exactly one DER element from `bytes`.
 *
 * @param bytes - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when the encoding is not strict DER or bytes follow it.
 */
export function readDer(bytes: Uint8Array): DerElement {
  const element = readElementAt(bytes, 0);
  if (element.bytes.byteLength !== bytes.byteLength) invalid('trailing bytes after DER element');
  return element;
}

/**
 * The elements inside a constructed element, in order.
 *
 * @throws {@link AppError} INVALID_INPUT when the element is primitive or its contents are not a
 *   sequence of strict DER elements.
 */
export function readChildren(element: DerElement): DerElement[] {
  if ((element.tag & 0x20) === 0) invalid('expected a constructed DER element');
  const children: DerElement[] = [];
  let offset = 0;
  while (offset < element.contents.byteLength) {
    const child = readElementAt(element.contents, offset);
    children.push(child);
    offset += child.bytes.byteLength;
  }
  return children;
}

/**
 * `element`'s children, checking its tag first.
 *
 * @throws {@link AppError} INVALID_INPUT when the tag differs or the contents are malformed.
 */
export function readConstructed(element: DerElement, tag: number, what: string): DerElement[] {
  expectTag(element, tag, what);
  return readChildren(element);
}

/**
 * Throws unless `element` has identifier octet `tag`.
 *
 * @throws {@link AppError} INVALID_INPUT naming `what`.
 */
export function expectTag(element: DerElement | undefined, tag: number, what: string): DerElement {
  if (element === undefined) invalid(`${what} is missing`);
  if (element.tag !== tag) {
    invalid(`${what} has tag 0x${hexByte(element.tag)}, expected 0x${hexByte(tag)}`);
  }
  return element;
}

/**
 * An INTEGER as a bigint (two's complement).
 *
 * @throws {@link AppError} INVALID_INPUT when not a minimally encoded INTEGER.
 */
export function readInteger(element: DerElement | undefined, what: string): bigint {
  const contents = readIntegerContents(element, what);
  let value = 0n;
  for (const byte of contents) value = (value << 8n) | BigInt(byte);
  if ((contents[0] ?? 0) & 0x80) value -= 1n << BigInt(contents.byteLength * 8);
  return value;
}

/**
 * The contents octets of a minimally encoded INTEGER (a certificate serial is compared as these).
 *
 * @throws {@link AppError} INVALID_INPUT when not a minimally encoded INTEGER.
 */
export function readIntegerContents(element: DerElement | undefined, what: string): Uint8Array {
  const { contents } = expectTag(element, DER_TAG.INTEGER, what);
  if (contents.byteLength === 0) invalid(`${what} is an empty INTEGER`);
  const [first = 0, second = 0] = contents;
  if (
    contents.byteLength > 1 &&
    ((first === 0 && second < 0x80) || (first === 0xff && second >= 0x80))
  ) {
    invalid(`${what} is not a minimally encoded INTEGER`);
  }
  return contents;
}

/**
 * An OBJECT IDENTIFIER in dotted decimal.
 *
 * @throws {@link AppError} INVALID_INPUT when not a well-formed OID.
 */
export function readOid(element: DerElement | undefined, what: string): string {
  const { contents } = expectTag(element, DER_TAG.OID, what);
  if (contents.byteLength === 0 || contents.byteLength > 64) invalid(`${what} is not a valid OID`);
  const arcs: bigint[] = [];
  let arc = 0n;
  let start = true;
  for (const byte of contents) {
    if (start && byte === 0x80) invalid(`${what} has a non-minimal OID arc`);
    arc = (arc << 7n) | BigInt(byte & 0x7f);
    start = (byte & 0x80) === 0;
    if (start) {
      arcs.push(arc);
      arc = 0n;
    }
  }
  if (!start) invalid(`${what} has a truncated OID arc`);
  const [first = 0n, ...rest] = arcs;
  const head = first < 40n ? [0n, first] : first < 80n ? [1n, first - 40n] : [2n, first - 80n];
  return [...head, ...rest].join('.');
}

/**
 * The DER encoding of an OBJECT IDENTIFIER given in dotted decimal.
 *
 * @throws {@link AppError} INVALID_INPUT when `oid` is not dotted decimal with at least two arcs.
 */
export function encodeOid(oid: string): Uint8Array {
  if (!/^[0-2](?:\.(?:0|[1-9][0-9]*))+$/.test(oid)) invalid(`not an OID: ${oid}`);
  const arcs = oid.split('.').map((arc) => BigInt(arc));
  const [a = 0n, b = 0n, ...rest] = arcs;
  const bytes: number[] = [];
  for (const arc of [a * 40n + b, ...rest]) {
    const groups: number[] = [Number(arc & 0x7fn)];
    for (let v = arc >> 7n; v > 0n; v >>= 7n) groups.unshift(Number(v & 0x7fn) | 0x80);
    bytes.push(...groups);
  }
  return encodeDer(DER_TAG.OID, Uint8Array.from(bytes));
}

/**
 * The contents of an OCTET STRING.
 *
 * @throws {@link AppError} INVALID_INPUT when the tag differs.
 */
export function readOctetString(element: DerElement | undefined, what: string): Uint8Array {
  return expectTag(element, DER_TAG.OCTET_STRING, what).contents;
}

/**
 * A BIT STRING's bytes and its count of unused bits.
 *
 * @throws {@link AppError} INVALID_INPUT when malformed (unused bits > 7, or set, or on an empty
 *   string).
 */
export function readBitString(
  element: DerElement | undefined,
  what: string,
): { readonly bytes: Uint8Array; readonly unusedBits: number } {
  const { contents } = expectTag(element, DER_TAG.BIT_STRING, what);
  const unusedBits = contents[0];
  if (unusedBits === undefined || unusedBits > 7) invalid(`${what} is a malformed BIT STRING`);
  const bytes = contents.subarray(1);
  if (bytes.byteLength === 0 && unusedBits !== 0) invalid(`${what} is a malformed BIT STRING`);
  const last = bytes[bytes.byteLength - 1] ?? 0;
  if ((last & ((1 << unusedBits) - 1)) !== 0) invalid(`${what} has non-zero unused bits`);
  return { bytes, unusedBits };
}

/**
 * A BOOLEAN (DER: 0x00 or 0xFF).
 *
 * @throws {@link AppError} INVALID_INPUT when malformed.
 */
export function readBoolean(element: DerElement | undefined, what: string): boolean {
  const { contents } = expectTag(element, DER_TAG.BOOLEAN, what);
  if (contents.byteLength !== 1 || (contents[0] !== 0x00 && contents[0] !== 0xff)) {
    invalid(`${what} is not a DER BOOLEAN`);
  }
  return contents[0] === 0xff;
}

/**
 * A UTCTime or GeneralizedTime as used in X.509 validity (RFC 5280 §4.1.2.5): `YYMMDDHHMMSSZ` or
 * `YYYYMMDDHHMMSSZ`, seconds present, no fraction, UTC.
 *
 * @throws {@link AppError} INVALID_INPUT when the time is not in that form.
 */
export function readCertificateTime(element: DerElement | undefined, what: string): Date {
  if (element?.tag === DER_TAG.UTC_TIME) {
    const text = ascii(element.contents);
    const match = /^([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})Z$/.exec(text);
    if (match === null) invalid(`${what} is not a UTCTime YYMMDDHHMMSSZ`);
    const yy = Number(match[1]);
    return buildDate(yy < 50 ? 2000 + yy : 1900 + yy, match.slice(2, 7), 0, what);
  }
  return readGeneralizedTime(element, what, { fraction: false });
}

/**
 * A GeneralizedTime in DER form: `YYYYMMDDHHMMSS[.f…]Z`, the fraction (when allowed) of 1 to 3
 * digits without trailing zeros (X.690 §11.7), so at most millisecond precision.
 *
 * @throws {@link AppError} INVALID_INPUT when the time is not in that form.
 */
export function readGeneralizedTime(
  element: DerElement | undefined,
  what: string,
  options: { readonly fraction: boolean },
): Date {
  const { contents } = expectTag(element, DER_TAG.GENERALIZED_TIME, what);
  const text = ascii(contents);
  const match =
    /^([0-9]{4})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})(?:\.([0-9]{1,3}))?Z$/.exec(text);
  if (match === null) invalid(`${what} is not a DER GeneralizedTime`);
  const fraction = match[7];
  if (fraction !== undefined) {
    if (!options.fraction) invalid(`${what} must not have fractional seconds`);
    if (fraction.endsWith('0')) invalid(`${what} has trailing zeros in its fraction`);
  }
  const millis = fraction === undefined ? 0 : Number(fraction.padEnd(3, '0'));
  return buildDate(Number(match[1]), match.slice(2, 7), millis, what);
}

/**
 * The text of a UTF8String, PrintableString or IA5String.
 *
 * @throws {@link AppError} INVALID_INPUT when the tag is another or the bytes are not valid for it.
 */
export function readString(element: DerElement | undefined, what: string): string {
  if (element === undefined) invalid(`${what} is missing`);
  switch (element.tag) {
    case DER_TAG.UTF8_STRING:
      return decodeUtf8(element.contents, what);
    case DER_TAG.PRINTABLE_STRING:
    case DER_TAG.IA5_STRING:
      if (element.contents.some((byte) => byte > 0x7f)) invalid(`${what} is not ASCII`);
      return ascii(element.contents);
    default:
      return invalid(`${what} is not a string`);
  }
}

/**
 * UTF-8 bytes as text, rejecting invalid sequences.
 *
 * @throws {@link AppError} INVALID_INPUT when not valid UTF-8.
 */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (cause) {
    throw new AppError('INVALID_INPUT', `${what} is not valid UTF-8`, { cause });
  }
}

/** The DER encoding of one element with identifier octet `tag` and the given contents. */
export function encodeDer(tag: number, ...contents: readonly Uint8Array[]): Uint8Array {
  const length = contents.reduce((sum, part) => sum + part.byteLength, 0);
  const header = [tag, ...encodeLength(length)];
  const out = new Uint8Array(header.length + length);
  out.set(header);
  let offset = header.length;
  for (const part of contents) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Re-encodes `element` with another identifier octet (e.g. CMS signed attributes `[0]` → SET). */
export function retagDer(element: DerElement, tag: number): Uint8Array {
  return encodeDer(tag, element.contents);
}

function readElementAt(bytes: Uint8Array, offset: number): DerElement {
  const tag = bytes[offset];
  if (tag === undefined) invalid('DER element is truncated');
  if ((tag & 0x1f) === 0x1f) invalid('DER high tag numbers are not supported');
  const first = bytes[offset + 1];
  if (first === undefined) invalid('DER length is truncated');
  let length: number;
  let headerLength: number;
  if (first < 0x80) {
    length = first;
    headerLength = 2;
  } else {
    const count = first & 0x7f;
    if (count === 0) invalid('DER forbids indefinite lengths');
    if (count > 4) invalid('DER length is too large');
    if (offset + 2 + count > bytes.byteLength) invalid('DER length is truncated');
    length = 0;
    for (let i = 0; i < count; i++) length = length * 256 + (bytes[offset + 2 + i] ?? 0);
    if (bytes[offset + 2] === 0 || length < 0x80) invalid('DER length is not minimally encoded');
    headerLength = 2 + count;
  }
  const end = offset + headerLength + length;
  if (end > bytes.byteLength) invalid('DER element is truncated');
  return {
    tag,
    bytes: bytes.subarray(offset, end),
    contents: bytes.subarray(offset + headerLength, end),
  };
}

function encodeLength(length: number): number[] {
  if (length < 0x80) return [length];
  const bytes: number[] = [];
  for (let v = length; v > 0; v = Math.floor(v / 256)) bytes.unshift(v % 256);
  return [0x80 | bytes.length, ...bytes];
}

function buildDate(
  year: number,
  parts: readonly (string | undefined)[],
  millis: number,
  what: string,
): Date {
  const [month, day, hour, minute, second] = parts.map(Number) as [
    number,
    number,
    number,
    number,
    number,
  ];
  const time = Date.UTC(year, month - 1, day, hour, minute, second, millis);
  const date = new Date(time);
  // Date.UTC rolls over (Feb 30 → Mar 2); a real calendar date round-trips.
  if (
    date.getUTCFullYear() !== year ||
    date.getUTCMonth() !== month - 1 ||
    date.getUTCDate() !== day ||
    date.getUTCHours() !== hour ||
    date.getUTCMinutes() !== minute ||
    date.getUTCSeconds() !== second
  ) {
    invalid(`${what} is not a valid calendar time`);
  }
  return date;
}

function ascii(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('latin1');
}

function hexByte(byte: number): string {
  return byte.toString(16).padStart(2, '0');
}

function invalid(message: string): never {
  throw new AppError('INVALID_INPUT', `malformed DER: ${message}`);
}
