/**
 * Text that people read (artifact names, comments, reasons) and that ends up in the log, the CLI
 * and the approval page: it must read as it is. Control characters (terminal escapes, NUL) and
 * format characters (bidi overrides such as U+202E, which show `app-\u202Eexe.tar.gz` as
 * `app-zg.rat.exe`, zero-width characters) are refused, as are lone surrogates (threat model I6).
 */

/** Control (Cc) or format (Cf) characters; with `multiline`, newline and tab are allowed. */
const UNSAFE = /[\p{Cc}\p{Cf}]/u;
const UNSAFE_MULTILINE = /[^\P{Cc}\n\t]|\p{Cf}/u;

/**
 * True when `text` shows as it is: well-formed UTF-16, no control or format character (newline
 * and tab allowed with `multiline`).
 *
 * @example isDisplaySafe('app.tar.gz') === true; isDisplaySafe('app-\u202Eexe.tar.gz') === false
 */
export function isDisplaySafe(
  text: string,
  options: { readonly multiline?: boolean } = {},
): boolean {
  return (
    text.isWellFormed() && !(options.multiline === true ? UNSAFE_MULTILINE : UNSAFE).test(text)
  );
}

/**
 * `text` with every character `isDisplaySafe` refuses written as a `\uXXXX` escape, so text from
 * elsewhere (a server's error message) cannot clear a terminal or reorder what is shown.
 *
 * @example toDisplaySafe('ok\u001b[2K') === 'ok\\u001b[2K'
 */
export function toDisplaySafe(text: string): string {
  return text
    .toWellFormed()
    .replace(
      /[\p{Cc}\p{Cf}]/gu,
      (char) => `\\u${(char.codePointAt(0) ?? 0).toString(16).padStart(4, '0')}`,
    );
}
