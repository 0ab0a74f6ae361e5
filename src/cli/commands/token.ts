/**
 * `countersign token create|list|revoke`: manages operator API tokens through the HTTP API of a
 * running server, authenticating with an admin token.
 */
import { AppError } from '../../core/errors.ts';
import type { CliCommand } from '../command.ts';
import { optionalString, requireString } from '../flags.ts';
import { printTable, SERVER_AUTH_DETAILS } from '../print-table.ts';
import { parseDuration } from '../../core/duration.ts';

interface TokenView {
  readonly id: string;
  readonly name: string;
  readonly role: string;
  readonly userId: string | null;
  readonly status: string;
  readonly createdAt: string;
  readonly expiresAt: string | null;
  readonly revokedAt: string | null;
}

const createCommand: CliCommand = {
  name: 'create',
  summary: 'create an API token (printed once)',
  usage:
    'token create --name NAME --role ROLE [--user USER] [--expires-in DURATION | --expires-at TIME]',
  details: SERVER_AUTH_DETAILS,
  usesServer: true,
  options: {
    name: { type: 'string', valueName: 'NAME', help: 'what the token is for, e.g. "terraform"' },
    role: { type: 'string', valueName: 'ROLE', help: 'admin, approver, security or auditor' },
    user: {
      type: 'string',
      valueName: 'USER',
      help: 'the governance user the token acts for (needed to approve or reject)',
    },
    'expires-in': { type: 'string', valueName: 'DURATION', help: 'lifetime: 90d, 12h, 30m' },
    'expires-at': {
      type: 'string',
      valueName: 'TIME',
      help: 'expiry as RFC 3339, e.g. 2026-01-31T00:00:00Z',
    },
  },
  async run(context) {
    const name = requireString(context, 'name');
    const role = requireString(context, 'role');
    const userId = optionalString(context, 'user');
    const expiresIn = optionalString(context, 'expires-in');
    const expiresAt = optionalString(context, 'expires-at');
    if (expiresIn !== undefined && expiresAt !== undefined) {
      throw new AppError('INVALID_INPUT', '--expires-in and --expires-at exclude each other');
    }
    const body = {
      name,
      role,
      ...(userId === undefined ? {} : { userId }),
      ...(expiresIn === undefined
        ? {}
        : { expiresInSeconds: parseDuration(expiresIn, '--expires-in') }),
      ...(expiresAt === undefined ? {} : { expiresAt }),
    };
    const created = (await context
      .client()
      .request('POST', '/v1/tokens', { body, auth: true })) as TokenView & {
      token: string;
    };
    if (context.json) {
      context.printJson(created);
    } else {
      context.note(
        `Created token ${created.id} (${created.role}${created.userId === null ? '' : `, acts for ${created.userId}`}) "${created.name}". Shown once; store it now:`,
      );
      context.print(created.token);
    }
    return 0;
  },
};

const listCommand: CliCommand = {
  name: 'list',
  summary: 'list API tokens',
  usage: 'token list',
  details: SERVER_AUTH_DETAILS,
  usesServer: true,
  async run(context) {
    const { tokens } = (await context.client().request('GET', '/v1/tokens', { auth: true })) as {
      tokens: TokenView[];
    };
    if (context.json) {
      context.printJson({ tokens });
      return 0;
    }
    if (tokens.length === 0) {
      context.print('No tokens.');
      return 0;
    }
    const rows = [
      ['ID', 'NAME', 'ROLE', 'USER', 'STATUS', 'CREATED', 'EXPIRES'],
      ...tokens.map((token) => [
        token.id,
        token.name,
        token.role,
        token.userId ?? '-',
        token.status,
        token.createdAt,
        token.expiresAt ?? 'never',
      ]),
    ];
    printTable(context, rows);
    return 0;
  },
};

const revokeCommand: CliCommand = {
  name: 'revoke',
  takesOperands: true,
  summary: 'revoke an API token at once',
  usage: 'token revoke ID',
  details: SERVER_AUTH_DETAILS,
  usesServer: true,
  async run(context) {
    const [id, ...rest] = context.operands;
    if (id === undefined || rest.length > 0) {
      throw new AppError('INVALID_INPUT', 'token revoke takes exactly one token id', {
        hint: 'list ids with `countersign token list`',
      });
    }
    const revoked = (await context
      .client()
      .request('DELETE', `/v1/tokens/${encodeURIComponent(id)}`, { auth: true })) as TokenView;
    if (context.json) context.printJson(revoked);
    else context.print(`Revoked token ${revoked.id} ("${revoked.name}").`);
    return 0;
  },
};

export const tokenCommand: CliCommand = {
  name: 'token',
  summary: 'create, list and revoke operator API tokens (through the API)',
  usage: 'token create|list|revoke',
  details: SERVER_AUTH_DETAILS,
  subcommands: [createCommand, listCommand, revokeCommand],
};
