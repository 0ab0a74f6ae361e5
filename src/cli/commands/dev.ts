/**
 * `countersign dev issuer|token`: a development OIDC issuer, so Countersign can be tried without
 * a CI provider. INSECURE by design: it listens on loopback only, and its key sits in the data
 * directory (`<dataDir>/dev-issuer/`, mode 0600). `serve --demo` runs one itself and trusts it.
 */
import { isLoopbackHost } from '../../core/governance/issuer.ts';
import { AppError } from '../../core/errors.ts';
import type { CliCommand, CommandContext } from '../command.ts';
import { optionalString } from '../flags.ts';

/** Port of a standalone `dev issuer`; `serve --demo` runs its own on the server port + 1. */
export const DEFAULT_DEV_ISSUER_PORT = 8089;

const SHAPES = ['github-actions', 'gitlab'] as const;
type Shape = (typeof SHAPES)[number];

const INSECURE =
  'INSECURE: this development issuer signs whatever it is asked to. Never trust it in production.';

const issuerCommand: CliCommand = {
  name: 'issuer',
  summary: 'serve the development OIDC issuer on loopback (insecure, for trying things out)',
  usage: 'dev issuer [--port PORT] [--host HOST] [--data-dir DIR]',
  details: [
    'Serves a JWKS and discovery documents over plain HTTP on a loopback address only; any other',
    'host is refused. GitHub-shaped tokens have iss <url>, GitLab-shaped ones <url>/gitlab.',
    'Trust it in governance.yaml with the issuer entries it prints, and mint tokens with',
    '`countersign dev token`. Runs until SIGINT or SIGTERM.',
  ].join('\n'),
  options: {
    port: {
      type: 'string',
      valueName: 'PORT',
      help: `port to listen on, 0 for any free one (default ${String(DEFAULT_DEV_ISSUER_PORT)})`,
    },
    host: {
      type: 'string',
      valueName: 'HOST',
      help: 'loopback address to listen on: 127.0.0.1 (default), ::1 or localhost',
    },
  },
  async run(context) {
    const port = parsePort(context.flags['port']);
    const hostFlag = context.flags['host'];
    const host = typeof hostFlag === 'string' ? hostFlag : '127.0.0.1';
    if (!isLoopbackHost(host)) {
      throw new AppError(
        'CONFIG_INVALID',
        'the development issuer is insecure and only listens on loopback',
        { errors: [{ path: '--host', message: 'must be 127.0.0.1, ::1 or localhost' }] },
      );
    }
    const { dataDir } = context.loadConfig();
    const { startDataDirDevIssuer } = await import('../../compose.ts');
    const issuer = await startDataDirDevIssuer(dataDir, { host, port });
    const entries = SHAPES.map((shape) => issuer.issuerConfig(shape));
    if (context.json) {
      context.printJson({
        event: 'listening',
        url: issuer.url,
        jwksUrl: `${issuer.url}/jwks`,
        issuers: entries.map((entry) => ({
          name: entry.name,
          type: entry.type,
          issuer: entry.issuer,
        })),
      });
    } else {
      context.note(
        [
          INSECURE,
          `Development issuer listening on ${issuer.url} (key in ${dataDir}/dev-issuer/).`,
          '',
          'Trust it in governance.yaml (development only):',
          'issuers:',
          ...entries.flatMap((entry) => [
            `  - name: ${entry.name}`,
            `    type: ${entry.type}`,
            `    issuer: ${entry.issuer}`,
            `    jwksUrl: ${entry.jwksUrl}`,
            `    audiences: [${entry.audiences.join(', ')}]`,
            `    algorithms: [${entry.algorithms.join(', ')}]`,
            '    allowInsecureLoopback: true',
          ]),
          '',
          'Mint a token: countersign dev token [--shape gitlab] [--repository-id N] [--ref REF]',
          'Stop with Ctrl+C.',
        ].join('\n'),
      );
    }
    const signal = await new Promise<NodeJS.Signals>((resolve) => {
      process.once('SIGINT', () => resolve('SIGINT'));
      process.once('SIGTERM', () => resolve('SIGTERM'));
    });
    context.note(`${signal}: stopping the development issuer`);
    await issuer.close();
    return 0;
  },
};

const tokenCommand: CliCommand = {
  name: 'token',
  summary: 'print a token signed by the development issuer (insecure, for trying things out)',
  usage:
    'dev token [--shape github-actions|gitlab] [--repository R] [--repository-id N] [--ref REF] [--audience A]',
  details: [
    'Signs with the data directory key of the development issuer (created on first use, mode',
    '0600). The token names as issuer the URL the last development issuer of this data directory',
    '(`serve --demo` or `dev issuer`) served at, or --issuer. Defaults are the demo workload:',
    'repository demo/hello (id 100001, owner id 100000) on refs/heads/main, audience countersign.',
    'The token goes to stdout alone, so `TOKEN=$(countersign dev token)` works.',
  ].join('\n'),
  options: {
    shape: {
      type: 'string',
      valueName: 'SHAPE',
      help: 'github-actions (default) or gitlab: which CI provider the claims look like',
    },
    repository: { type: 'string', valueName: 'R', help: 'owner/name (GitLab: group/project)' },
    'repository-id': {
      type: 'string',
      valueName: 'N',
      help: 'immutable repository id (GitLab project_id)',
    },
    'owner-id': {
      type: 'string',
      valueName: 'N',
      help: 'immutable owner id (GitLab namespace_id)',
    },
    ref: { type: 'string', valueName: 'REF', help: 'full ref: refs/heads/… or refs/tags/…' },
    workflow: {
      type: 'string',
      valueName: 'PATH',
      help: 'workflow file in the repository (GitLab: CI config file)',
    },
    environment: { type: 'string', valueName: 'NAME', help: 'deployment environment' },
    event: { type: 'string', valueName: 'NAME', help: 'triggering event (default push)' },
    audience: { type: 'string', valueName: 'A', help: 'aud claim (default countersign)' },
    lifetime: { type: 'string', valueName: 'SECONDS', help: '1 to 3600 (default 300)' },
    issuer: {
      type: 'string',
      valueName: 'URL',
      help: 'the development issuer URL (default: the one last started with this data directory)',
    },
  },
  async run(context) {
    const shape = parseShape(context.flags['shape']);
    const issuerUrl = optionalString(context, 'issuer');
    if (issuerUrl !== undefined) checkIssuerUrl(issuerUrl);
    const lifetime = optionalString(context, 'lifetime');
    const options = {
      shape,
      ...pick(context, 'repository', 'repository'),
      ...pick(context, 'repository-id', 'repositoryId'),
      ...pick(context, 'owner-id', 'ownerId'),
      ...pick(context, 'ref', 'ref'),
      ...pick(context, 'workflow', 'workflow'),
      ...pick(context, 'environment', 'environment'),
      ...pick(context, 'event', 'event'),
      ...pick(context, 'audience', 'audience'),
      ...(lifetime === undefined ? {} : { lifetimeSeconds: parseLifetime(lifetime) }),
      ...(issuerUrl === undefined ? {} : { issuerUrl }),
    };
    const { dataDir } = context.loadConfig();
    const { mintDataDirDevToken } = await import('../../compose.ts');
    const minted = await mintDataDirDevToken(dataDir, options);
    if (context.json) {
      context.printJson({ token: minted.token, issuer: minted.issuerUrl, shape });
    } else {
      context.note(`${INSECURE}\nToken from ${minted.issuerUrl} (${shape} shape):`);
      context.print(minted.token);
    }
    return 0;
  },
};

export const devCommand: CliCommand = {
  name: 'dev',
  summary: 'development OIDC issuer and tokens (insecure, loopback only)',
  usage: 'dev issuer|token',
  subcommands: [issuerCommand, tokenCommand],
};

function pick<K extends string>(
  context: CommandContext,
  flag: string,
  key: K,
): Partial<Record<K, string>> {
  const value = optionalString(context, flag);
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

function parseShape(value: string | boolean | undefined): Shape {
  if (value === undefined) return 'github-actions';
  if (typeof value === 'string' && (SHAPES as readonly string[]).includes(value)) {
    return value as Shape;
  }
  throw new AppError('INVALID_INPUT', '--shape must be github-actions or gitlab', {
    errors: [{ path: '--shape', message: 'must be github-actions or gitlab' }],
  });
}

function parsePort(value: string | boolean | undefined): number {
  if (value === undefined) return DEFAULT_DEV_ISSUER_PORT;
  const port = typeof value === 'string' && /^\d{1,5}$/.test(value) ? Number(value) : -1;
  if (port < 0 || port > 65_535) {
    throw new AppError('INVALID_INPUT', '--port must be a number from 0 to 65535', {
      errors: [{ path: '--port', message: 'must be 0 to 65535' }],
    });
  }
  return port;
}

function parseLifetime(value: string): number {
  if (!/^\d{1,4}$/.test(value)) {
    throw new AppError('INVALID_INPUT', '--lifetime must be a number of seconds from 1 to 3600', {
      errors: [{ path: '--lifetime', message: 'must be 1 to 3600' }],
    });
  }
  return Number(value);
}

/** Development tokens name a loopback development issuer, nothing that looks like a real one. */
function checkIssuerUrl(value: string): void {
  const url = URL.canParse(value) ? new URL(value) : undefined;
  if (url === undefined || url.protocol !== 'http:' || !isLoopbackHost(url.hostname)) {
    throw new AppError(
      'INVALID_INPUT',
      '--issuer must be the http:// loopback URL of a development issuer',
      {
        errors: [{ path: '--issuer', message: 'must be http://127.0.0.1:PORT or similar' }],
      },
    );
  }
  if (value.endsWith('/')) {
    throw new AppError('INVALID_INPUT', '--issuer must not end with "/"');
  }
}
