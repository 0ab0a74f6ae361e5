/**
 * Configuration as it may be shown: in `countersign config check`, in logs, in bug reports.
 */
import type { Config } from './load-config.ts';

/** What a redacted secret reads as. */
export const REDACTED = '***';

/** Query parameters of a PostgreSQL URL that carry secrets (libpq connection parameters). */
const SECRET_URL_PARAMETERS = ['password', 'sslpassword'];

/** A copy of `config` with every secret replaced by `***`; safe to print. */
export function redactConfig(config: Config): Config {
  return {
    ...config,
    storage: {
      ...config.storage,
      url: config.storage.url === null ? null : redactUrl(config.storage.url),
    },
    keys: config.keys.backend === 'pkcs11' ? { ...config.keys, pkcs11Pin: REDACTED } : config.keys,
  };
}

/**
 * A database URL with its password and secret query parameters replaced by `***`. Anything that
 * is not a postgres:// URL is replaced whole: `user:secret@host` parses as a URL of scheme `user:`,
 * and cannot be told apart from a bare secret.
 */
export function redactUrl(text: string): string {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return REDACTED;
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') return REDACTED;
  if (url.password !== '') url.password = REDACTED;
  for (const name of SECRET_URL_PARAMETERS) {
    if (url.searchParams.has(name)) url.searchParams.set(name, REDACTED);
  }
  // URL setters percent-encode `*`; show the marker as written.
  return url.toString().replaceAll('%2A%2A%2A', REDACTED);
}
