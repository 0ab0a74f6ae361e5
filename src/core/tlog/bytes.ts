/**
 * Small byte helpers shared by the transparency-log code: strict base64 (RFC 4648 §4) and
 * constant-shape comparisons. Kept here so every wire format in `tlog/` decodes base64 the same,
 * strict way.
 */

/** Standard padded base64 (RFC 4648 §4), nothing else: no whitespace, no URL alphabet. */
const BASE64_PATTERN = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/**
 * Decodes standard padded base64, or returns `undefined` when `text` is not its canonical encoding
 * (wrong alphabet, missing padding, non-zero padding bits). `Buffer.from(text, 'base64')` silently
 * skips bad characters, which would let two different strings name the same bytes.
 */
export function decodeBase64Strict(text: string): Uint8Array | undefined {
  if (!BASE64_PATTERN.test(text)) return undefined;
  const bytes = Buffer.from(text, 'base64');
  // Canonical form only: "AB==" and "AC==" decode to the same byte; only one of them round-trips.
  if (bytes.toString('base64') !== text) return undefined;
  return viewBytes(bytes);
}

/** Standard padded base64 (RFC 4648 §4). */
export function encodeBase64(bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64');
}

/** True when both arrays hold the same bytes. */
export function equalBytes(a: Uint8Array, b: Uint8Array): boolean {
  if (a.byteLength !== b.byteLength) return false;
  for (let i = 0; i < a.byteLength; i++) {
    if (a[i] !== b[i]) return false;
  }
  return true;
}

/**
 * A plain `Uint8Array` view of `bytes` (no copy), so results compare equal under
 * `assert.deepStrictEqual` with other `Uint8Array`s whatever produced them (a `Buffer` does not).
 */
export function viewBytes(bytes: Uint8Array): Uint8Array {
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}
