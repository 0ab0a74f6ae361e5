/**
 * `countersign exception request|approve|reject|list|show|cancel|review`: exceptions
 * (break-glass) through the HTTP API of a running server, as the person an API token acts for
 * (`countersign token create --user <id>`). docs/approvals.md, "Exceptions (break-glass)".
 */
import { parseDuration } from '../../core/duration.ts';
import { AppError } from '../../core/errors.ts';
import type { CliCommand, CommandContext } from '../command.ts';
import { optionalString, requireString } from '../flags.ts';
import { printTable } from '../print-table.ts';

const AUTH_DETAILS = [
  'Talks to the server named by --server or COUNTERSIGN_SERVER (default http://localhost:8080),',
  'as the person whose API token is in COUNTERSIGN_TOKEN or --token (a token created with',
  '`countersign token create --user <id>`). Who may do what comes from governance.yaml.',
].join('\n');

interface ExceptionView {
  readonly id: string;
  readonly product: string;
  readonly channel: string;
  readonly waives: readonly string[];
  readonly reason: string;
  readonly requestedBy: string;
  readonly state: string;
  readonly durationSeconds: number;
  readonly maxUses: number;
  readonly uses: number;
  readonly notAfter: string | null;
  readonly createdAt: string;
  readonly activatedAt: string | null;
  readonly endedAt: string | null;
  readonly endedBy: string | null;
  readonly approvals: {
    readonly required: number;
    readonly count: number;
    readonly submitted: readonly {
      readonly userId: string;
      readonly decision: string;
      readonly comment: string;
      readonly createdAt: string;
    }[];
  };
  readonly review: {
    readonly dueAt: string | null;
    readonly overdue: boolean;
    readonly reviewedAt: string | null;
    readonly reviewedBy: string | null;
    readonly findings: string | null;
  };
}

/** The one operand of `exception <verb> ID`. */
function exceptionId(context: CommandContext, verb: string): string {
  const [id, ...rest] = context.operands;
  if (id === undefined || rest.length > 0) {
    throw new AppError('INVALID_INPUT', `exception ${verb} takes exactly one exception id`, {
      hint: 'list ids with `countersign exception list`',
    });
  }
  return id;
}

function path(id: string, suffix = ''): string {
  return `/v1/exceptions/${encodeURIComponent(id)}${suffix}`;
}

/** A positive whole number flag. */
function positiveInteger(text: string, flag: string): number {
  if (!/^[1-9]\d{0,5}$/.test(text)) {
    throw new AppError('INVALID_INPUT', `--${flag} must be a whole number from 1`, {
      errors: [{ path: `--${flag}`, message: 'not a positive whole number' }],
    });
  }
  return Number(text);
}

function printException(context: CommandContext, view: ExceptionView): void {
  if (context.json) {
    context.printJson(view);
    return;
  }
  const lines = [
    `Exception ${view.id} (${view.state})`,
    `  scope:      ${view.product}/${view.channel}`,
    `  waives:     ${view.waives.join(', ')}`,
    `  reason:     ${view.reason}`,
    `  requested:  by ${view.requestedBy} at ${view.createdAt}`,
    `  approvals:  ${String(view.approvals.count)} of ${String(view.approvals.required)}`,
    ...view.approvals.submitted.map(
      (vote) =>
        `    ${vote.decision === 'approve' ? '+' : '-'} ${vote.userId} at ${vote.createdAt}${vote.comment === '' ? '' : `: ${vote.comment}`}`,
    ),
    `  uses:       ${String(view.uses)} of ${String(view.maxUses)}`,
    view.notAfter === null
      ? `  duration:   ${String(view.durationSeconds)}s once approved`
      : `  usable to:  ${view.notAfter}`,
    ...(view.endedAt === null
      ? []
      : [`  ended:      ${view.endedAt}${view.endedBy === null ? '' : ` by ${view.endedBy}`}`]),
    ...(view.review.reviewedAt !== null
      ? [
          `  reviewed:   by ${view.review.reviewedBy ?? '?'} at ${view.review.reviewedAt}`,
          `  findings:   ${view.review.findings ?? ''}`,
        ]
      : view.review.dueAt === null
        ? []
        : [`  review due: ${view.review.dueAt}${view.review.overdue ? ' (OVERDUE)' : ''}`]),
  ];
  for (const line of lines) context.print(line);
}

const requestCommand: CliCommand = {
  name: 'request',
  summary: 'ask for an exception on one product/channel',
  usage:
    'exception request --product P --channel C --waive CHECK[,CHECK…] --reason TEXT --for DURATION [--max-uses N]',
  details: [
    AUTH_DETAILS,
    '',
    'Waivable checks: approvals, provenance, checks, changeWindow. Entitlements and protected',
    'refs are never waivable. Members of the channel’s emergency group approve it; it is usable',
    'from the approval for --for (at most governance exceptions.maxDuration) and --max-uses',
    'signatures (default 1).',
  ].join('\n'),
  usesServer: true,
  options: {
    product: { type: 'string', valueName: 'PRODUCT', help: 'the product, e.g. payments-api' },
    channel: { type: 'string', valueName: 'CHANNEL', help: 'the channel, e.g. prod' },
    waive: {
      type: 'string',
      valueName: 'CHECKS',
      help: 'comma-separated: approvals, provenance, checks, changeWindow',
    },
    reason: { type: 'string', valueName: 'TEXT', help: 'why: the incident, the ticket' },
    for: { type: 'string', valueName: 'DURATION', help: 'how long once approved: 30m, 2h, 1d' },
    'max-uses': { type: 'string', valueName: 'N', help: 'signatures it allows (default 1)' },
  },
  async run(context) {
    const maxUses = optionalString(context, 'max-uses');
    const body = {
      product: requireString(context, 'product'),
      channel: requireString(context, 'channel'),
      waives: requireString(context, 'waive')
        .split(',')
        .map((check) => check.trim())
        .filter((check) => check !== ''),
      reason: requireString(context, 'reason'),
      durationSeconds: parseDuration(requireString(context, 'for'), '--for'),
      maxUses: maxUses === undefined ? 1 : positiveInteger(maxUses, 'max-uses'),
    };
    const created = (await context
      .client()
      .request('POST', '/v1/exceptions', { body, auth: true })) as ExceptionView;
    if (!context.json) {
      context.note(
        `Requested exception ${created.id}: ${String(created.approvals.required)} member(s) of the emergency group of ${created.product}/${created.channel} must approve it (\`countersign exception approve ${created.id}\`).`,
      );
    }
    printException(context, created);
    return 0;
  },
};

function voteCommand(decision: 'approve' | 'reject'): CliCommand {
  const isApproval = decision === 'approve';
  return {
    name: decision,
    takesOperands: true,
    summary: isApproval
      ? 'approve an exception (a member of the channel’s emergency group)'
      : 'reject an exception: one rejection ends it',
    usage: isApproval
      ? 'exception approve ID [--comment TEXT]'
      : 'exception reject ID --reason TEXT',
    details: AUTH_DETAILS,
    usesServer: true,
    options: isApproval
      ? { comment: { type: 'string', valueName: 'TEXT', help: 'recorded with the approval' } }
      : { reason: { type: 'string', valueName: 'TEXT', help: 'why it is rejected' } },
    async run(context) {
      const id = exceptionId(context, decision);
      const comment = isApproval
        ? (optionalString(context, 'comment') ?? '')
        : requireString(context, 'reason');
      const updated = (await context.client().request('POST', path(id, '/approvals'), {
        body: { decision, comment },
        auth: true,
      })) as ExceptionView;
      printException(context, updated);
      return 0;
    },
  };
}

const listCommand: CliCommand = {
  name: 'list',
  summary: 'list exceptions, newest first',
  usage: 'exception list [--overdue] [--state STATE] [--product P] [--json]',
  details: AUTH_DETAILS,
  usesServer: true,
  options: {
    overdue: { type: 'boolean', help: 'only exceptions whose review is overdue' },
    state: {
      type: 'string',
      valueName: 'STATE',
      help: 'pending, active, rejected, cancelled, expired or exhausted',
    },
    product: { type: 'string', valueName: 'PRODUCT', help: 'only this product' },
  },
  async run(context) {
    const query = new URLSearchParams();
    const state = optionalString(context, 'state');
    const product = optionalString(context, 'product');
    if (state !== undefined) query.set('state', state);
    if (product !== undefined) query.set('product', product);
    if (context.flags['overdue'] === true) query.set('overdue', 'true');
    const search = query.size === 0 ? '' : `?${query.toString()}`;
    const { exceptions } = (await context
      .client()
      .request('GET', `/v1/exceptions${search}`, { auth: true })) as {
      exceptions: ExceptionView[];
    };
    if (context.json) {
      context.printJson({ exceptions });
      return 0;
    }
    if (exceptions.length === 0) {
      context.print('No exceptions.');
      return 0;
    }
    const rows = [
      ['ID', 'SCOPE', 'STATE', 'WAIVES', 'USES', 'BY', 'USABLE TO', 'REVIEW'],
      ...exceptions.map((view) => [
        view.id,
        `${view.product}/${view.channel}`,
        view.state,
        view.waives.join(','),
        `${String(view.uses)}/${String(view.maxUses)}`,
        view.requestedBy,
        view.notAfter ?? '-',
        view.review.reviewedAt !== null
          ? 'done'
          : view.review.overdue
            ? 'OVERDUE'
            : (view.review.dueAt ?? '-'),
      ]),
    ];
    printTable(context, rows);
    return 0;
  },
};

const showCommand: CliCommand = {
  name: 'show',
  takesOperands: true,
  summary: 'show one exception with its votes and review',
  usage: 'exception show ID',
  details: AUTH_DETAILS,
  usesServer: true,
  async run(context) {
    const id = exceptionId(context, 'show');
    const view = (await context.client().request('GET', path(id), { auth: true })) as ExceptionView;
    printException(context, view);
    return 0;
  },
};

const cancelCommand: CliCommand = {
  name: 'cancel',
  takesOperands: true,
  summary: 'end a pending or active exception (its requester or an admin)',
  usage: 'exception cancel ID',
  details: AUTH_DETAILS,
  usesServer: true,
  async run(context) {
    const id = exceptionId(context, 'cancel');
    const view = (await context
      .client()
      .request('POST', path(id, '/cancel'), { auth: true })) as ExceptionView;
    printException(context, view);
    return 0;
  },
};

const reviewCommand: CliCommand = {
  name: 'review',
  takesOperands: true,
  summary: 'record the post-incident review of an exception that has ended',
  usage: 'exception review ID --findings TEXT',
  details: [
    AUTH_DETAILS,
    '',
    'The reviewer is an approver or security user who neither asked for nor approved the',
    'exception. While a review is overdue, governance can block new exceptions for the product.',
  ].join('\n'),
  usesServer: true,
  options: {
    findings: {
      type: 'string',
      valueName: 'TEXT',
      help: 'what happened, what was signed, what follows',
    },
  },
  async run(context) {
    const id = exceptionId(context, 'review');
    const findings = requireString(context, 'findings');
    const view = (await context.client().request('POST', path(id, '/review'), {
      body: { findings },
      auth: true,
    })) as ExceptionView;
    printException(context, view);
    return 0;
  },
};

export const exceptionCommand: CliCommand = {
  name: 'exception',
  summary: 'ask for, approve and review exceptions (break-glass) (through the API)',
  usage: 'exception request|approve|reject|list|show|cancel|review',
  details: AUTH_DETAILS,
  subcommands: [
    requestCommand,
    voteCommand('approve'),
    voteCommand('reject'),
    listCommand,
    showCommand,
    cancelCommand,
    reviewCommand,
  ],
};
