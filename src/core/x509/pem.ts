/**
 * PEM (RFC 7468) for certificates: how operators and `openssl` exchange them. Reading is strict
 * (RFC 7468 §3 "strict" grammar: 64-column base64 lines, matching labels, nothing between
 * blocks but whitespace), since a certificate file can come from anywhere.
 */
import { AppError } from '../errors.ts';
import { decodeBase64Strict, encodeBase64 } from '../tlog/bytes.ts';

/** Label of a certificate block. */
export const PEM_CERTIFICATE = 'CERTIFICATE';

const BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----\r?\n([A-Za-z0-9+/=\r\n]*?)-----END ([A-Z0-9 ]+)-----/g;

/** One PEM block with 64-character lines and a final newline. */
export function encodePem(label: string, der: Uint8Array): string {
  const lines = encodeBase64(der).match(/.{1,64}/g) ?? [];
  return `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
}

/**
 * The DER contents of every `label` block of `text`, in order.
 *
 * @throws {@link AppError} INVALID_INPUT when there is none, a block's labels differ, its base64
 *   is not canonical, or anything but whitespace lies outside the blocks.
 */
export function decodePem(text: string, label: string = PEM_CERTIFICATE): Uint8Array[] {
  const blocks: Uint8Array[] = [];
  let outside = '';
  let last = 0;
  for (const match of text.matchAll(BLOCK)) {
    outside += text.slice(last, match.index);
    last = match.index + match[0].length;
    const [, begin, body = '', end] = match;
    if (begin !== label || end !== label) {
      throw new AppError('INVALID_INPUT', `expected PEM ${label} blocks, found ${begin ?? '?'}`);
    }
    const der = decodeBase64Strict(body.replace(/\r?\n/g, ''));
    if (der === undefined || der.length === 0) {
      throw new AppError('INVALID_INPUT', `a PEM ${label} block is not valid base64`);
    }
    blocks.push(der);
  }
  outside += text.slice(last);
  if (outside.trim() !== '') {
    throw new AppError('INVALID_INPUT', 'unexpected text outside the PEM blocks');
  }
  if (blocks.length === 0) throw new AppError('INVALID_INPUT', `no PEM ${label} block found`);
  return blocks;
}
