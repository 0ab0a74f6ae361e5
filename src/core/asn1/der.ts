/**
 * Strict DER (ITU-T X.690 §10) reading and writing for the ASN.1 Countersign handles by hand:
 * X.509 certificates, RFC 3161 requests, responses and tokens (CMS SignedData and its signed
 * attributes), ECDSA signatures and SCT lists.
 *
 * The reader accepts DER only, never BER: definite lengths in their shortest form, single-byte
 * (low-number) tags, no trailing bytes, nesting bounded by {@link MAX_DER_DEPTH}, minimal
 * INTEGERs, BOOLEANs of 0x00/0xFF. Verifiers such as `@sigstore/core` 4.x parse strictly
 * (interop G22); a lenient parser would let two encodings of one value mean different things to
 * different readers, and make our answer differ from theirs.
 *
 * Every element keeps its exact bytes (`bytes`), so signed structures (a TBSCertificate, CMS
 * signed attributes) are verified over what was signed, never over a re-encoding.
 *
 * Everything the reader is given may be attacker-controlled; every reader failure is an
 * `AppError('INVALID_INPUT')` (verifiers wrap it into VERIFICATION_FAILED with the name of the
 * malformed object). Writer failures are programming errors: `AppError('INTERNAL')`.
 */
import { AppError } from '../errors.ts';

/** Universal tags (X.680 §8.4) as full identifier octets, with the constructed bit where DER requires it. */
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

/**
 * Bound on nesting, so hostile input cannot recurse deeply or exhaust the stack (X.509 needs
 * well under 20).
 */
export const MAX_DER_DEPTH = 32;

/** One DER element (tag, length, value) and where it came from. Both byte fields are views. */
export interface DerElement {
  /** The identifier octet: class, constructed bit and tag number (< 31). */
  readonly tag: number;
  /** The whole encoding: identifier, length and contents. */
  readonly bytes: Uint8Array;
  /** The contents octets. */
  readonly contents: Uint8Array;
}

/**
 * The identifier octet of a context-specific tag `[n]`, constructed or primitive (X.690 §8.1.2).
 *
 * @param n - tag number, 0 to 30.
 */
export function contextTag(n: number, constructed: boolean): number {
  return 0x80 | (constructed ? 0x20 : 0) | n;
}

// ---------------------------------------------------------------------------------------------
// Reading

/**
 * Decodes `input` as exactly one DER element (no trailing bytes) and checks, recursively, that
 * every constructed element inside is well-formed DER too, nested at most {@link MAX_DER_DEPTH}
 * deep. Primitive contents are checked by the typed decoders below when a caller reads them.
 *
 * @param input - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when the encoding is not strict DER, is nested too
 *   deeply, or bytes follow it.
 */
export function parseDer(input: Uint8Array): DerElement {
  const element = readElementAt(input, 0);
  if (element.bytes.byteLength !== input.byteLength) invalid('trailing bytes after DER element');
  checkStructure(element, 0);
  return element;
}

/**
 * The elements inside a constructed element, in order; they must cover its contents exactly.
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when the element is primitive or its contents are not a
 *   sequence of strict DER elements.
 */
export function readChildren(element: DerElement): DerElement[] {
  if (!isConstructed(element.tag)) invalid('expected a constructed DER element');
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
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when the element is missing, the tag differs or the
 *   contents are malformed.
 */
export function readConstructed(
  element: DerElement | undefined,
  tag: number,
  what: string,
): DerElement[] {
  return readChildren(expectTag(element, tag, what));
}

/**
 * Returns `element` when it is present and has identifier octet `tag`.
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT naming `what` otherwise.
 */
export function expectTag(element: DerElement | undefined, tag: number, what: string): DerElement {
  if (element === undefined) invalid(`${what} is missing`);
  if (element.tag !== tag) {
    invalid(`${what} has tag 0x${hexByte(element.tag)}, expected 0x${hexByte(tag)}`);
  }
  return element;
}

/**
 * Walks the children of a SEQUENCE (or another constructed element) in order, the way its ASN.1
 * definition lists them: required fields with `next`, OPTIONAL and DEFAULT ones with `optional`,
 * ANY or CHOICE with `any`, then `end` to refuse extras. Every method throws
 * {@link AppError} INVALID_INPUT on a mismatch; the element is attacker-controlled.
 */
export class DerSequenceReader {
  readonly #children: DerElement[];
  readonly #what: string;
  #index = 0;

  /** @throws {@link AppError} INVALID_INPUT when `element` lacks `tag` or is malformed. */
  constructor(element: DerElement, what: string, tag: number = DER_TAG.SEQUENCE) {
    if (element.tag !== tag) invalid(`${what} is not the expected type`);
    this.#children = readChildren(element);
    this.#what = what;
  }

  /** The next child, which must carry `tag`. */
  next(tag: number, field: string): DerElement {
    const child = this.#children[this.#index];
    if (child === undefined) invalid(`${this.#what} lacks ${field}`);
    if (child.tag !== tag) invalid(`${this.#what} has an unexpected type for ${field}`);
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
    if (child === undefined) invalid(`${this.#what} lacks ${field}`);
    this.#index++;
    return child;
  }

  /** Refuses children left over after the last field the definition knows. */
  end(): void {
    if (this.#index !== this.#children.length) invalid(`${this.#what} has unexpected fields`);
  }
}

/**
 * The two's-complement contents octets of a minimally encoded INTEGER (X.690 §8.3.2), e.g. a
 * certificate serial compared as bytes.
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when missing, not an INTEGER, empty or non-minimal.
 */
export function decodeIntegerBytes(element: DerElement | undefined, what: string): Uint8Array {
  const { contents } = expectTag(element, DER_TAG.INTEGER, what);
  if (contents.byteLength === 0) invalid(`${what} is an empty INTEGER`);
  const [first = 0, second = 0] = contents;
  if (
    contents.byteLength > 1 &&
    ((first === 0x00 && second < 0x80) || (first === 0xff && second >= 0x80))
  ) {
    invalid(`${what} is not a minimally encoded INTEGER`);
  }
  return contents;
}

/**
 * An INTEGER as a bigint (two's complement).
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when not a minimally encoded INTEGER.
 */
export function decodeInteger(element: DerElement | undefined, what: string): bigint {
  const contents = decodeIntegerBytes(element, what);
  let value = 0n;
  for (const byte of contents) value = (value << 8n) | BigInt(byte);
  if ((contents[0] ?? 0) & 0x80) value -= 1n << BigInt(contents.byteLength * 8);
  return value;
}

/**
 * A small non-negative INTEGER (version numbers) as a number.
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when malformed, negative or 2^32 or more.
 */
export function decodeSmallInteger(element: DerElement | undefined, what: string): number {
  const bytes = decodeIntegerBytes(element, what);
  if (((bytes[0] ?? 0) & 0x80) !== 0) invalid(`${what} is negative`);
  if (bytes.byteLength > 4) invalid(`${what} is too large`);
  let value = 0;
  for (const byte of bytes) value = value * 256 + byte;
  return value;
}

/**
 * A non-negative INTEGER as its magnitude, without the sign octet: what serial numbers and nonces
 * are compared and re-encoded by.
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when malformed or negative.
 */
export function decodeUnsignedInteger(element: DerElement | undefined, what: string): Uint8Array {
  const bytes = decodeIntegerBytes(element, what);
  if (((bytes[0] ?? 0) & 0x80) !== 0) invalid(`${what} is negative`);
  return bytes[0] === 0 && bytes.byteLength > 1 ? bytes.subarray(1) : bytes;
}

/**
 * An OBJECT IDENTIFIER in dotted decimal, with minimal base-128 arcs (X.690 §8.19), at most 64
 * contents octets.
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when not a well-formed OID.
 */
export function decodeOid(element: DerElement | undefined, what: string): string {
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
 * A BOOLEAN: exactly one octet, 0x00 or 0xFF (X.690 §11.1).
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when malformed.
 */
export function decodeBoolean(element: DerElement | undefined, what: string): boolean {
  const { contents } = expectTag(element, DER_TAG.BOOLEAN, what);
  if (contents.byteLength !== 1 || (contents[0] !== 0x00 && contents[0] !== 0xff)) {
    invalid(`${what} is not a DER BOOLEAN`);
  }
  return contents[0] === 0xff;
}

/**
 * A NULL: empty contents.
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when malformed.
 */
export function decodeNull(element: DerElement | undefined, what: string): void {
  const { contents } = expectTag(element, DER_TAG.NULL, what);
  if (contents.byteLength !== 0) invalid(`${what} is not a NULL`);
}

/**
 * The contents of an OCTET STRING (primitive form only, as DER requires).
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when missing or the tag differs.
 */
export function decodeOctetString(element: DerElement | undefined, what: string): Uint8Array {
  return expectTag(element, DER_TAG.OCTET_STRING, what).contents;
}

/**
 * A BIT STRING's bytes and its count of unused bits, which must be zero bits (X.690 §11.2).
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when malformed (no unused-bits octet, unused bits > 7,
 *   or set, or on an empty string).
 */
export function decodeBitString(
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
 * The bits of a BIT STRING with no unused bits (keys and signatures), as bytes.
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when malformed or not a whole number of bytes.
 */
export function decodeBitStringBytes(element: DerElement | undefined, what: string): Uint8Array {
  const { bytes, unusedBits } = decodeBitString(element, what);
  if (unusedBits !== 0) invalid(`${what} is not a whole-byte BIT STRING`);
  return bytes;
}

/**
 * UTF-8 bytes as text, rejecting invalid sequences and keeping a leading BOM as U+FEFF.
 *
 * @param bytes - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when not valid UTF-8.
 */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch (cause) {
    throw new AppError('INVALID_INPUT', `malformed DER: ${what} is not valid UTF-8`, { cause });
  }
}

/**
 * The text of a UTF8String.
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when missing, another type, or not valid UTF-8.
 */
export function decodeUtf8String(element: DerElement | undefined, what: string): string {
  return decodeUtf8(expectTag(element, DER_TAG.UTF8_STRING, what).contents, what);
}

/**
 * The text of a UTF8String, PrintableString or IA5String.
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when the tag is another or the bytes are not valid for it.
 */
export function decodeString(element: DerElement | undefined, what: string): string {
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
 * A UTCTime or GeneralizedTime as RFC 5280 §4.1.2.5 allows in certificates: `YYMMDDHHMMSSZ`
 * (years 1950–2049) or `YYYYMMDDHHMMSSZ`, seconds present, no fraction, UTC, a real calendar
 * date.
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when the time is not in that form.
 */
export function decodeCertificateTime(element: DerElement | undefined, what: string): Date {
  if (element?.tag === DER_TAG.UTC_TIME) {
    const text = ascii(element.contents);
    const match = /^([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})([0-9]{2})Z$/.exec(text);
    if (match === null) invalid(`${what} is not a UTCTime YYMMDDHHMMSSZ`);
    const yy = Number(match[1]);
    return buildDate(yy < 50 ? 2000 + yy : 1900 + yy, match.slice(2, 7), 0, what);
  }
  return decodeGeneralizedTime(element, what, { fraction: false });
}

/**
 * A GeneralizedTime in DER form: `YYYYMMDDHHMMSS[.f…]Z`, the fraction (only when
 * `options.fraction`) of 1 to 3 digits without trailing zeros (X.690 §11.7), so at most
 * millisecond precision.
 *
 * @param element - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when the time is not in that form.
 */
export function decodeGeneralizedTime(
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

// ---------------------------------------------------------------------------------------------
// Writing

/** Concatenates byte arrays. */
export function concatBytes(...parts: readonly Uint8Array[]): Uint8Array {
  const out = new Uint8Array(parts.reduce((sum, part) => sum + part.byteLength, 0));
  let offset = 0;
  for (const part of parts) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/**
 * One element (TLV) with identifier octet `tag`, the shortest length form and the concatenation
 * of `contents` as its contents.
 */
export function encodeTlv(tag: number, ...contents: readonly Uint8Array[]): Uint8Array {
  // One allocation and one copy per part: certificates and timestamps nest a few hundred of these.
  let length = 0;
  for (const part of contents) length += part.byteLength;
  let lengthOctets = 0;
  if (length >= 0x80)
    for (let rest = length; rest > 0; rest = Math.floor(rest / 256)) lengthOctets++;
  const out = new Uint8Array(2 + lengthOctets + length);
  out[0] = tag;
  if (lengthOctets === 0) {
    out[1] = length;
  } else {
    out[1] = 0x80 | lengthOctets;
    for (let i = lengthOctets, rest = length; i >= 1; i--, rest = Math.floor(rest / 256)) {
      out[1 + i] = rest % 256;
    }
  }
  let offset = 2 + lengthOctets;
  for (const part of contents) {
    out.set(part, offset);
    offset += part.byteLength;
  }
  return out;
}

/** Re-encodes `element` with another identifier octet (e.g. CMS signed attributes `[0]` → SET). */
export function retagDer(element: DerElement, tag: number): Uint8Array {
  return encodeTlv(tag, element.contents);
}

/** A SEQUENCE of the given encoded elements, in order. */
export function encodeSequence(...children: readonly Uint8Array[]): Uint8Array {
  return encodeTlv(DER_TAG.SEQUENCE, ...children);
}

/** Orders DER encodings as X.690 §11.6 orders the elements of a SET OF. */
export function compareDerEncodings(a: Uint8Array, b: Uint8Array): number {
  const length = Math.min(a.byteLength, b.byteLength);
  for (let i = 0; i < length; i++) {
    const diff = (a[i] ?? 0) - (b[i] ?? 0);
    if (diff !== 0) return diff;
  }
  return a.byteLength - b.byteLength;
}

/** A SET OF with its elements in DER order (X.690 §11.6), under `tag` (SET or an IMPLICIT tag). */
export function encodeSetOf(
  children: readonly Uint8Array[],
  tag: number = DER_TAG.SET,
): Uint8Array {
  return encodeTlv(tag, ...[...children].sort(compareDerEncodings));
}

/** A non-negative INTEGER from its magnitude (big-endian, any leading zeros). */
export function encodeUnsignedInteger(magnitude: Uint8Array): Uint8Array {
  let start = 0;
  while (start < magnitude.byteLength - 1 && magnitude[start] === 0) start++;
  const trimmed = magnitude.subarray(start);
  const contents =
    trimmed.byteLength === 0
      ? Uint8Array.of(0)
      : ((trimmed[0] ?? 0) & 0x80) !== 0
        ? concatBytes(Uint8Array.of(0), trimmed)
        : trimmed;
  return encodeTlv(DER_TAG.INTEGER, contents);
}

/** A small non-negative INTEGER (versions). */
export function encodeSmallInteger(value: number): Uint8Array {
  const octets: number[] = [];
  for (let rest = value; rest > 0; rest = Math.floor(rest / 256)) octets.unshift(rest % 256);
  return encodeUnsignedInteger(Uint8Array.from(octets));
}

/**
 * An OBJECT IDENTIFIER from dotted decimal.
 *
 * @throws {@link AppError} INTERNAL when `oid` is not dotted decimal with at least two arcs.
 */
export function encodeOid(oid: string): Uint8Array {
  let encoded = encodedOids.get(oid);
  if (encoded === undefined) {
    encoded = encodeOidUncached(oid);
    // A handful of OIDs recur in every certificate and timestamp; bound the cache all the same.
    if (encodedOids.size >= MAX_ENCODED_OIDS) encodedOids.clear();
    encodedOids.set(oid, encoded);
  }
  return encoded.slice();
}

const encodedOids = new Map<string, Uint8Array>();
const MAX_ENCODED_OIDS = 1024;

function encodeOidUncached(oid: string): Uint8Array {
  if (!/^[0-2](?:\.(?:0|[1-9][0-9]*))+$/.test(oid)) {
    throw new AppError('INTERNAL', `not an OID: ${oid}`);
  }
  const [first = 0n, second = 0n, ...rest] = oid.split('.').map(BigInt);
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

/** An OCTET STRING with the given contents. */
export function encodeOctetString(contents: Uint8Array): Uint8Array {
  return encodeTlv(DER_TAG.OCTET_STRING, contents);
}

/** A UTF8String holding `text`. */
export function encodeUtf8String(text: string): Uint8Array {
  return encodeTlv(DER_TAG.UTF8_STRING, new TextEncoder().encode(text));
}

/** A NULL. */
export function encodeNull(): Uint8Array {
  return Uint8Array.of(DER_TAG.NULL, 0);
}

/** A BOOLEAN, 0xFF or 0x00 (X.690 §11.1). */
export function encodeBoolean(value: boolean): Uint8Array {
  return Uint8Array.of(DER_TAG.BOOLEAN, 1, value ? 0xff : 0x00);
}

/**
 * GeneralizedTime `YYYYMMDDHHMMSSZ`, no fraction (RFC 5280 §4.1.2.5.2, interop G16).
 *
 * @throws {@link AppError} INTERNAL when `date` is invalid or has a sub-second part.
 */
export function encodeGeneralizedTime(date: Date): Uint8Array {
  return encodeTlv(
    DER_TAG.GENERALIZED_TIME,
    new TextEncoder().encode(`${formatWholeSeconds(date)}Z`),
  );
}

/**
 * UTCTime `YYMMDDHHMMSSZ`, for years 1950–2049 (RFC 5280 §4.1.2.5.1, RFC 5652 §11.3).
 *
 * @throws {@link AppError} INTERNAL when the year is outside 1950–2049, or `date` is invalid or
 *   has a sub-second part.
 */
export function encodeUtcTime(date: Date): Uint8Array {
  const year = date.getUTCFullYear();
  if (year < 1950 || year > 2049) throw new AppError('INTERNAL', 'UTCTime covers 1950–2049 only');
  return encodeTlv(
    DER_TAG.UTC_TIME,
    new TextEncoder().encode(`${formatWholeSeconds(date).slice(2)}Z`),
  );
}

/** `[n] EXPLICIT inner`: a constructed context-specific tag around one encoded element. */
export function encodeExplicit(tagNumber: number, inner: Uint8Array): Uint8Array {
  return encodeTlv(contextTag(tagNumber, true), inner);
}

// ---------------------------------------------------------------------------------------------
// Internals

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

function checkStructure(element: DerElement, depth: number): void {
  if (depth > MAX_DER_DEPTH) invalid('DER is nested too deeply');
  if (!isConstructed(element.tag)) return;
  for (const child of readChildren(element)) checkStructure(child, depth + 1);
}

function isConstructed(tag: number): boolean {
  return (tag & 0x20) !== 0;
}

/** Rejects instants with a sub-second part: Countersign issues whole-second times only (G16). */
function formatWholeSeconds(date: Date): string {
  if (!Number.isFinite(date.getTime()) || date.getTime() % 1000 !== 0) {
    throw new AppError('INTERNAL', 'DER times are written in whole seconds');
  }
  return date.toISOString().replace(/[-:T]/g, '').slice(0, 14);
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
  const date = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
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
