/**
 * JSON read as one meaning only (threat model I6, INV-9 "bind everything, parse once"). Plain
 * `JSON.parse` gives some documents a meaning their author may not have had, and other parsers
 * another: with a duplicate key the last one wins (`{"product":"nope","product":"demo"}`), an
 * integer beyond 2^53 is rounded, a number too small becomes 0, and invalid UTF-8 is repaired
 * with U+FFFD. What the service then signs or decides would differ from what was sent. Strict
 * JSON refuses all of these, saying where (a JSON pointer).
 */
import { AppError } from './errors.ts';

/** Significant digits an IEEE 754 double tells apart; more are silently dropped. */
const MAX_SIGNIFICANT_DIGITS = 17;
const NUMBER = /-?(0|[1-9]\d*)(?:\.(\d+))?(?:[eE][+-]?\d+)?/y;
const LITERAL = /true|false|null/y;

/**
 * The value of the UTF-8 JSON document `bytes`, refused unless it has exactly one meaning.
 *
 * @param what - names the document in messages, e.g. "the request body".
 * @throws {@link AppError} INVALID_INPUT when the bytes are not UTF-8, not JSON, or the JSON has
 *   a duplicate member name or a number a double cannot hold exactly enough (see `checkJsonText`).
 */
export function parseStrictJson(bytes: Uint8Array, what: string): unknown {
  const text = decodeUtf8(bytes, what);
  checkJsonText(text, what);
  try {
    return JSON.parse(text) as unknown;
  } catch {
    throw new AppError('INVALID_INPUT', `${what} is not valid JSON`);
  }
}

/** `bytes` as UTF-8 text; invalid sequences are refused, not replaced. */
export function decodeUtf8(bytes: Uint8Array, what: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true, ignoreBOM: true }).decode(bytes);
  } catch {
    throw new AppError('INVALID_INPUT', `${what} is not valid UTF-8`, {
      hint: 'send UTF-8 text; invalid bytes are refused rather than replaced',
    });
  }
}

type Frame =
  | {
      readonly kind: 'object';
      readonly names: Set<string>;
      name: string | undefined;
      expectName: boolean;
    }
  | { readonly kind: 'array'; index: number };

/**
 * Refuses JSON text whose meaning depends on the parser: a member name twice in one object
 * (after unescaping), an integer beyond ±(2^53 − 1), a number with more than 17 significant
 * digits, one too large for a double, or a non-zero one that would become 0. Text that is not
 * JSON passes: `JSON.parse` reports it.
 *
 * @throws {@link AppError} INVALID_INPUT naming the JSON pointer of the offending member.
 */
export function checkJsonText(text: string, what: string): void {
  const stack: Frame[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text.charCodeAt(i);
    const top = stack.at(-1);
    switch (c) {
      case 0x20: // space, tab, newline, carriage return
      case 0x09:
      case 0x0a:
      case 0x0d:
        i++;
        break;
      case 0x7b: // {
        stack.push({ kind: 'object', names: new Set(), name: undefined, expectName: true });
        i++;
        break;
      case 0x5b: // [
        stack.push({ kind: 'array', index: 0 });
        i++;
        break;
      case 0x7d: // }
      case 0x5d: // ]
        stack.pop();
        i++;
        break;
      case 0x2c: // ,
        if (top?.kind === 'object') top.expectName = true;
        else if (top?.kind === 'array') top.index++;
        i++;
        break;
      case 0x3a: // :
        if (top?.kind === 'object') top.expectName = false;
        i++;
        break;
      case 0x22: {
        // "
        const end = stringEnd(text, i);
        if (end < 0) return;
        if (top?.kind === 'object' && top.expectName) {
          let name: string;
          try {
            name = JSON.parse(text.slice(i, end + 1)) as string;
          } catch {
            return;
          }
          if (top.names.has(name)) {
            top.name = name;
            reject(what, stack, 'appears twice in its object; send each member once');
          }
          top.names.add(name);
          top.name = name;
        }
        i = end + 1;
        break;
      }
      default: {
        NUMBER.lastIndex = i;
        const number = NUMBER.exec(text);
        if (number !== null) {
          checkNumber(number[0], number[1] ?? '', number[2] ?? '', what, stack);
          i = NUMBER.lastIndex;
          break;
        }
        LITERAL.lastIndex = i;
        if (LITERAL.exec(text) === null) return;
        i = LITERAL.lastIndex;
      }
    }
  }
}

/** The index of the quote closing the string that opens at `start`, or -1. */
function stringEnd(text: string, start: number): number {
  let at = start + 1;
  for (;;) {
    const quote = text.indexOf('"', at);
    if (quote < 0) return -1;
    let backslashes = 0;
    while (text.charCodeAt(quote - 1 - backslashes) === 0x5c) backslashes++;
    if (backslashes % 2 === 0) return quote;
    at = quote + 1;
  }
}

function checkNumber(
  token: string,
  integerDigits: string,
  fractionDigits: string,
  what: string,
  stack: readonly Frame[],
): void {
  const value = Number(token);
  if (!Number.isFinite(value)) reject(what, stack, `(${token}) is too large for a number`);
  const isInteger = fractionDigits === '' && !/[eE]/.test(token);
  if (isInteger && !Number.isSafeInteger(value)) {
    reject(
      what,
      stack,
      `(${token}) is an integer beyond ±(2^53 − 1), which parsers round; send it as a string`,
    );
  }
  const significant = (integerDigits + fractionDigits).replace(/^0+/, '').replace(/0+$/, '');
  if (significant.length > MAX_SIGNIFICANT_DIGITS) {
    reject(
      what,
      stack,
      `(${token}) has more than ${String(MAX_SIGNIFICANT_DIGITS)} significant digits, which parsers round; send it as a string`,
    );
  }
  if (value === 0 && significant !== '') {
    reject(what, stack, `(${token}) is too small for a number and would read as 0`);
  }
}

function reject(what: string, stack: readonly Frame[], problem: string): never {
  let pointer = '';
  for (const frame of stack) {
    const key = frame.kind === 'array' ? String(frame.index) : (frame.name ?? '');
    pointer += `/${key.replaceAll('~', '~0').replaceAll('/', '~1')}`;
  }
  throw new AppError(
    'INVALID_INPUT',
    `${what}: ${pointer === '' ? 'the value' : pointer} ${problem}`,
    {
      errors: [{ path: pointer === '' ? '/' : pointer, message: problem }],
    },
  );
}
