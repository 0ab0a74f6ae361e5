/**
 * `countersign request list|show|cancel`: the signing requests waiting for approvals.
 */
import { toDisplaySafe } from '../../core/display-text.ts';
import type { CliCommand } from '../command.ts';
import { optionalString } from '../flags.ts';
import { describeRequest, requestIdOperand, type RequestView } from './approve.ts';

const listCommand: CliCommand = {
  name: 'list',
  summary: 'list signing requests (pending ones by default)',
  usage: 'request list [--state pending|approved|signed|rejected|expired|cancelled] [--product P]',
  usesServer: true,
  options: {
    state: { type: 'string', valueName: 'STATE', help: 'which ones (default pending)' },
    product: { type: 'string', valueName: 'P', help: 'only this product' },
  },
  async run(context) {
    const state = optionalString(context, 'state') ?? 'pending';
    const product = optionalString(context, 'product');
    const query = new URLSearchParams({ state, ...(product === undefined ? {} : { product }) });
    const { requests } = (await context
      .client()
      .request('GET', `/v1/requests?${query.toString()}`, {
        auth: true,
      })) as { requests: RequestView[] };
    if (context.json) {
      context.printJson({ requests });
      return 0;
    }
    if (requests.length === 0) context.print(`No ${state} signing requests.`);
    for (const r of requests) {
      const subject = r.subjects[0];
      context.print(
        `${r.id}  ${r.state}  ${r.product}/${r.channel}  ${subject?.name ?? '?'}  ${String(r.approvals.count)}/${String(r.approvals.required)}  expires ${r.expiresAt}`,
      );
    }
    return 0;
  },
};

const showCommand: CliCommand = {
  name: 'show',
  takesOperands: true,
  summary: 'show one signing request',
  usage: 'request show REQUEST_ID',
  usesServer: true,
  async run(context) {
    const id = requestIdOperand(context);
    const view = (await context
      .client()
      .request('GET', `/v1/requests/${id}`, { auth: true })) as RequestView;
    if (context.json) context.printJson(view);
    else {
      describeRequest((line) => context.print(line), view);
      if (view.approvals.missing !== '')
        context.print(`  missing: ${toDisplaySafe(view.approvals.missing)}`);
    }
    return 0;
  },
};

const cancelCommand: CliCommand = {
  name: 'cancel',
  takesOperands: true,
  summary: 'cancel a pending signing request (admin token)',
  usage: 'request cancel REQUEST_ID',
  usesServer: true,
  async run(context) {
    const id = requestIdOperand(context);
    const view = (await context
      .client()
      .request('POST', `/v1/requests/${id}/cancel`, { auth: true })) as RequestView;
    if (context.json) context.printJson(view);
    else context.print(`${view.id}: ${view.state}`);
    return 0;
  },
};

export const requestCommand: CliCommand = {
  name: 'request',
  summary: 'list, show and cancel signing requests waiting for approvals',
  usage: 'request list|show|cancel',
  subcommands: [listCommand, showCommand, cancelCommand],
};
