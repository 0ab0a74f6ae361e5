/**
 * `countersign webhook create|list|delete|deliveries`: manages webhooks through the HTTP API of a
 * running server, authenticating with an admin token.
 */
import { AppError } from '../../core/errors.ts';
import type { CliCommand, CommandContext } from '../command.ts';
import { optionalString, requireString } from '../flags.ts';
import { printTable } from '../print-table.ts';

const AUTH_DETAILS = [
  'Talks to the server named by --server or COUNTERSIGN_SERVER (default http://localhost:8080),',
  'authenticating with an admin token from COUNTERSIGN_TOKEN or --token.',
  'Receivers verify deliveries as docs/approvals.md ("Webhooks") describes.',
].join('\n');

interface WebhookView {
  readonly id: string;
  readonly url: string;
  readonly events: readonly string[];
  readonly enabled: boolean;
  readonly createdAt: string;
  readonly createdBy: string;
}

interface DeliveryView {
  readonly id: string;
  readonly event: string;
  readonly state: string;
  readonly attempts: number;
  readonly nextAttemptAt: string | null;
  readonly lastStatusCode: number | null;
  readonly lastError: string | null;
  readonly createdAt: string;
}

const createCommand: CliCommand = {
  name: 'create',
  summary: 'register a webhook (its signing secret is printed once)',
  usage: 'webhook create --url URL --events EVENT[,EVENT…]',
  details: [
    AUTH_DETAILS,
    '',
    'Events: request.created, request.approved, request.rejected, request.expired,',
    'exception.requested, exception.approved, exception.rejected, exception.used,',
    'exception.expired, exception.review-overdue.',
  ].join('\n'),
  usesServer: true,
  options: {
    url: {
      type: 'string',
      valueName: 'URL',
      help: 'https: URL the deliveries are POSTed to (http: only to localhost)',
    },
    events: {
      type: 'string',
      valueName: 'EVENTS',
      help: 'comma-separated events, e.g. request.created,exception.used',
    },
  },
  async run(context) {
    const url = requireString(context, 'url');
    const events = requireString(context, 'events')
      .split(',')
      .map((event) => event.trim())
      .filter((event) => event !== '');
    const created = (await context.client().request('POST', '/v1/webhooks', {
      body: { url, events },
      auth: true,
    })) as WebhookView & { secret: string };
    if (context.json) {
      context.printJson(created);
    } else {
      context.note(
        `Created webhook ${created.id} for ${created.events.join(', ')}. Its signing secret, shown once; store it now:`,
      );
      context.print(created.secret);
    }
    return 0;
  },
};

const listCommand: CliCommand = {
  name: 'list',
  summary: 'list webhooks',
  usage: 'webhook list',
  details: AUTH_DETAILS,
  usesServer: true,
  async run(context) {
    const { webhooks } = (await context.client().request('GET', '/v1/webhooks', {
      auth: true,
    })) as { webhooks: WebhookView[] };
    if (context.json) {
      context.printJson({ webhooks });
      return 0;
    }
    if (webhooks.length === 0) {
      context.print('No webhooks.');
      return 0;
    }
    printTable(context, [
      ['ID', 'URL', 'EVENTS', 'CREATED'],
      ...webhooks.map((webhook) => [
        webhook.id,
        webhook.url,
        webhook.events.join(','),
        webhook.createdAt,
      ]),
    ]);
    return 0;
  },
};

const deleteCommand: CliCommand = {
  name: 'delete',
  takesOperands: true,
  summary: 'delete a webhook and its deliveries',
  usage: 'webhook delete ID',
  details: AUTH_DETAILS,
  usesServer: true,
  async run(context) {
    const id = onlyOperand(context, 'webhook delete');
    const deleted = (await context
      .client()
      .request('DELETE', `/v1/webhooks/${encodeURIComponent(id)}`, { auth: true })) as WebhookView;
    if (context.json) context.printJson(deleted);
    else context.print(`Deleted webhook ${deleted.id} (${deleted.url}).`);
    return 0;
  },
};

const deliveriesCommand: CliCommand = {
  name: 'deliveries',
  takesOperands: true,
  summary: "show a webhook's deliveries and their state, newest first",
  usage: 'webhook deliveries ID [--limit N]',
  details: AUTH_DETAILS,
  usesServer: true,
  options: {
    limit: { type: 'string', valueName: 'N', help: 'at most N deliveries (1–1000, default 100)' },
  },
  async run(context) {
    const id = onlyOperand(context, 'webhook deliveries');
    const limitText = optionalString(context, 'limit');
    if (limitText !== undefined && !/^\d{1,4}$/.test(limitText)) {
      throw new AppError('INVALID_INPUT', '--limit must be a number from 1 to 1000');
    }
    const query = limitText === undefined ? '' : `?limit=${limitText}`;
    const { deliveries } = (await context
      .client()
      .request('GET', `/v1/webhooks/${encodeURIComponent(id)}/deliveries${query}`, {
        auth: true,
      })) as { deliveries: DeliveryView[] };
    if (context.json) {
      context.printJson({ deliveries });
      return 0;
    }
    if (deliveries.length === 0) {
      context.print('No deliveries.');
      return 0;
    }
    printTable(context, [
      ['ID', 'EVENT', 'STATE', 'ATTEMPTS', 'STATUS', 'NEXT ATTEMPT', 'LAST ERROR'],
      ...deliveries.map((delivery) => [
        delivery.id,
        delivery.event,
        delivery.state,
        String(delivery.attempts),
        delivery.lastStatusCode === null ? '-' : String(delivery.lastStatusCode),
        delivery.nextAttemptAt ?? '-',
        delivery.lastError ?? '',
      ]),
    ]);
    return 0;
  },
};

export const webhookCommand: CliCommand = {
  name: 'webhook',
  summary: 'register webhooks and watch their deliveries (through the API)',
  usage: 'webhook create|list|delete|deliveries',
  details: AUTH_DETAILS,
  subcommands: [createCommand, listCommand, deleteCommand, deliveriesCommand],
};

function onlyOperand(context: CommandContext, command: string): string {
  const [id, ...rest] = context.operands;
  if (id === undefined || rest.length > 0) {
    throw new AppError('INVALID_INPUT', `${command} takes exactly one webhook id`, {
      hint: 'list ids with `countersign webhook list`',
    });
  }
  return id;
}
