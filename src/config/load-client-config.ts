/**
 * Settings of the CLI as a client of a running server: which server, which API token, and whether
 * to show stack traces.
 */
import { AppError, type FieldError } from '../core/errors.ts';

/** Where the CLI talks to when neither `--server` nor `COUNTERSIGN_SERVER` says otherwise. */
export const DEFAULT_SERVER_URL = 'http://localhost:8080';

/** The client settings of one CLI invocation. */
export interface ClientConfig {
  /** Base URL of the Countersign server, without a trailing slash. */
  readonly server: string;
  /** The operator API token (`cs_…`); a secret. */
  readonly token: string | undefined;
  /** `COUNTERSIGN_DEBUG=1`: print stack traces of failures. */
  readonly debug: boolean;
}

export interface LoadClientConfigOptions {
  readonly env: Readonly<Record<string, string | undefined>>;
  /** `--server` and `--token` as parsed by the CLI. */
  readonly flags: { readonly server?: string | undefined; readonly token?: string | undefined };
}

/**
 * Resolves the client settings: flags win over `COUNTERSIGN_SERVER` / `COUNTERSIGN_TOKEN`.
 * Throws CONFIG_INVALID when the server is not an http(s) URL.
 */
export function loadClientConfig(options: LoadClientConfigOptions): ClientConfig {
  const { env, flags } = options;
  const errors: FieldError[] = [];
  const serverSource = flags.server !== undefined ? '--server' : 'COUNTERSIGN_SERVER';
  const serverText = flags.server ?? nonEmpty(env['COUNTERSIGN_SERVER']) ?? DEFAULT_SERVER_URL;
  let server = DEFAULT_SERVER_URL;
  try {
    const url = new URL(serverText);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new Error('not http');
    server = `${url.origin}${url.pathname.replace(/\/+$/, '')}`;
  } catch {
    errors.push({ path: 'server', source: serverSource, message: 'must be an http or https URL' });
  }
  if (errors.length > 0) {
    throw new AppError('CONFIG_INVALID', 'the server URL is invalid', {
      errors,
      hint: 'pass --server http://host:port (or set COUNTERSIGN_SERVER)',
    });
  }
  return {
    server,
    token: flags.token ?? nonEmpty(env['COUNTERSIGN_TOKEN']),
    debug: env['COUNTERSIGN_DEBUG'] === '1' || env['COUNTERSIGN_DEBUG'] === 'true',
  };
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value === '' ? undefined : value;
}
