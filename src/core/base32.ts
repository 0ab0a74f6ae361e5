/** RFC 4648 base32 in lower case without padding: ids people read and type (no `_`, no case). */

const BASE32_ALPHABET = 'abcdefghijklmnopqrstuvwxyz234567';

/** `bytes` as lower-case RFC 4648 base32, without padding. */
export function encodeBase32(bytes: Uint8Array): string {
  let out = '';
  let buffer = 0;
  let bits = 0;
  for (const byte of bytes) {
    buffer = (buffer << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32_ALPHABET.charAt((buffer >>> (bits - 5)) & 31);
      bits -= 5;
    }
    buffer &= (1 << bits) - 1;
  }
  if (bits > 0) out += BASE32_ALPHABET.charAt((buffer << (5 - bits)) & 31);
  return out;
}
