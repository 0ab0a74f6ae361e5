/**
 * `countersign approver-key add|list`: registers the P-256 key you approve with from the CLI
 * (only its public half goes to the server) and lists your credentials (keys and passkeys).
 */
import { createPublicKey } from 'node:crypto';
import { AppError } from '../../core/errors.ts';
import type { CliCommand } from '../command.ts';
import { optionalString } from '../flags.ts';
import { APPROVER_KEY_ENV, readApproverKey } from './approve.ts';

interface CredentialView {
  readonly id: string;
  readonly kind: string;
  readonly label: string;
  readonly createdAt: string;
  readonly revokedAt: string | null;
}

const addCommand: CliCommand = {
  name: 'add',
  summary: 'register your approver key (its public half)',
  usage: 'approver-key add [--key FILE] [--label TEXT]',
  details: `Needs an API token acting for you (COUNTERSIGN_TOKEN). The key is --key or ${APPROVER_KEY_ENV}.`,
  usesServer: true,
  options: {
    key: { type: 'string', valueName: 'FILE', help: 'your P-256 private key in PEM' },
    label: { type: 'string', valueName: 'TEXT', help: 'a name for it, e.g. "alice laptop"' },
  },
  async run(context) {
    const key = await readApproverKey(context);
    const publicKey = createPublicKey(key.privateKey)
      .export({ format: 'pem', type: 'spki' })
      .toString();
    const created = (await context.client().request('POST', '/v1/approver-keys', {
      body: { publicKey, label: optionalString(context, 'label') ?? 'approver key' },
      auth: true,
    })) as CredentialView;
    if (context.json) context.printJson(created);
    else context.print(`Registered approver key ${created.id} ("${created.label}").`);
    return 0;
  },
};

const listCommand: CliCommand = {
  name: 'list',
  summary: 'list your approver keys and passkeys',
  usage: 'approver-key list',
  usesServer: true,
  async run(context) {
    const { credentials } = (await context.client().request('GET', '/v1/approver-keys', {
      auth: true,
    })) as { credentials: CredentialView[] };
    if (context.json) {
      context.printJson({ credentials });
      return 0;
    }
    if (credentials.length === 0)
      context.print('No credentials: add one with `countersign approver-key add`.');
    for (const c of credentials) {
      context.print(
        `${c.id}  ${c.kind}  ${c.label}  ${c.revokedAt === null ? 'active' : `revoked ${c.revokedAt}`}`,
      );
    }
    return 0;
  },
};

const revokeCommand: CliCommand = {
  name: 'revoke',
  takesOperands: true,
  summary: 'revoke an approver key or passkey (yours; anyone’s with an admin token)',
  usage: 'approver-key revoke ID',
  usesServer: true,
  async run(context) {
    const [id, ...rest] = context.operands;
    if (id === undefined || rest.length > 0) {
      throw new AppError('INVALID_INPUT', 'name exactly one credential id', {
        hint: 'list yours with `countersign approver-key list`',
      });
    }
    const revoked = (await context
      .client()
      .request('DELETE', `/v1/approver-keys/${encodeURIComponent(id)}`, {
        auth: true,
      })) as CredentialView;
    if (context.json) context.printJson(revoked);
    else context.print(`Revoked ${revoked.kind} ${revoked.id} ("${revoked.label}").`);
    return 0;
  },
};

export const approverKeyCommand: CliCommand = {
  name: 'approver-key',
  summary: 'register, list and revoke the credentials you approve signing requests with',
  usage: 'approver-key add|list|revoke',
  subcommands: [addCommand, listCommand, revokeCommand],
};
