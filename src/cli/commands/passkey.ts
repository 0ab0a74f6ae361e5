/**
 * `countersign passkey enrol-link --user ID`: asks a running server for a one-time link with
 * which that person registers a passkey for the approval page. Needs an admin API token.
 */
import type { CliCommand } from '../command.ts';
import { optionalString, requireString } from '../flags.ts';
import { parseDuration } from '../../core/duration.ts';
import { SERVER_AUTH_DETAILS } from '../print-table.ts';

interface EnrolmentView {
  readonly id: string;
  readonly userId: string;
  readonly url: string;
  readonly token: string;
  readonly expiresAt: string;
}

const enrolLinkCommand: CliCommand = {
  name: 'enrol-link',
  summary: 'create a one-time passkey enrolment link for a user (printed once)',
  usage: 'passkey enrol-link --user ID [--expires-in DURATION]',
  details: [
    SERVER_AUTH_DETAILS,
    '',
    'The user must be in the governance in force. Give the link to that person over a channel',
    'you trust: whoever opens it first registers a passkey that approves as that user. It works',
    'once and expires after a day unless --expires-in says otherwise (5m to 7d).',
  ].join('\n'),
  usesServer: true,
  options: {
    user: { type: 'string', valueName: 'ID', help: 'the governance user id, e.g. "alice"' },
    'expires-in': { type: 'string', valueName: 'DURATION', help: 'lifetime: 24h (default), 30m' },
  },
  async run(context) {
    const userId = requireString(context, 'user');
    const expiresIn = optionalString(context, 'expires-in');
    const created = (await context.client().request('POST', '/v1/enrolments', {
      body: {
        userId,
        ...(expiresIn === undefined
          ? {}
          : { expiresInSeconds: parseDuration(expiresIn, '--expires-in') }),
      },
      auth: true,
    })) as EnrolmentView;
    if (context.json) {
      context.printJson(created);
    } else {
      context.note(
        `Enrolment link for ${created.userId}, valid once until ${created.expiresAt}. Shown once; give it to ${created.userId} privately:`,
      );
      context.print(created.url);
    }
    return 0;
  },
};

export const passkeyCommand: CliCommand = {
  name: 'passkey',
  summary: 'passkeys for the approval page: enrolment links (through the API)',
  usage: 'passkey enrol-link',
  details: SERVER_AUTH_DETAILS,
  subcommands: [enrolLinkCommand],
};
