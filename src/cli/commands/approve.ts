/**
 * `countersign approve ID` and `countersign reject ID --reason …`: a person answers a signing
 * request from the command line. The server drafts the exact approval statement; this command
 * checks it names the request that was shown (request id, product, channel, every digest), signs
 * those bytes with the person's approver key, and submits the signature. The key never leaves
 * the machine.
 */
import { toDisplaySafe } from '../../core/display-text.ts';
import { createHash, createPrivateKey, createPublicKey, sign as signBytes } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseApprovalStatement } from '../../core/approvals/approval-statement.ts';
import { AppError } from '../../core/errors.ts';
import type { CliCommand, CommandContext } from '../command.ts';
import { optionalString } from '../flags.ts';

export const APPROVER_KEY_ENV = 'COUNTERSIGN_APPROVER_KEY';

const DETAILS = [
  'Talks to the server named by --server or COUNTERSIGN_SERVER with your API token',
  '(COUNTERSIGN_TOKEN, created with `countersign token create --user <you>`), and signs with your',
  `approver key: a P-256 private key in PEM from --key or ${APPROVER_KEY_ENV}, registered once`,
  'with `countersign approver-key add`. What you sign names exactly this request: its digests,',
  'product, channel, requester and the policy version; it counts for nothing else.',
].join('\n');

/** A request as `GET /v1/requests/{id}` shows it (the fields this command reads). */
export interface RequestView {
  readonly id: string;
  readonly state: string;
  readonly product: string;
  readonly channel: string;
  readonly kind: string;
  readonly subjects: readonly {
    readonly name: string;
    readonly digest: { readonly algorithm: string; readonly value: string };
  }[];
  readonly requester: {
    readonly identityUri?: string;
    readonly repository?: string;
    readonly ref?: string;
    readonly commitSha?: string;
    readonly workflow?: string;
  };
  readonly context: { readonly reasons: readonly string[] };
  readonly approvals: {
    readonly required: number;
    readonly count: number;
    readonly missing: string;
    readonly counted: readonly { readonly userId: string }[];
  };
  readonly expiresAt: string;
}

function answerCommand(decision: 'approve' | 'reject'): CliCommand {
  const approve = decision === 'approve';
  return {
    name: decision,
    takesOperands: true,
    summary: approve
      ? 'approve a signing request with your approver key'
      : 'reject a signing request (one rejection ends it)',
    usage: approve
      ? 'approve REQUEST_ID [--comment TEXT] [--key FILE]'
      : 'reject REQUEST_ID --reason TEXT [--key FILE]',
    details: DETAILS,
    usesServer: true,
    options: {
      ...(approve
        ? { comment: { type: 'string', valueName: 'TEXT', help: 'why you approve (recorded)' } }
        : { reason: { type: 'string', valueName: 'TEXT', help: 'why you reject (required)' } }),
      key: {
        type: 'string',
        valueName: 'FILE',
        help: `your approver private key in PEM (default: env ${APPROVER_KEY_ENV})`,
      },
    },
    async run(context) {
      const id = requestIdOperand(context);
      const comment = optionalString(context, approve ? 'comment' : 'reason') ?? '';
      if (!approve && comment.trim() === '') {
        throw new AppError('INVALID_INPUT', 'reject needs --reason', {
          hint: 'say why, e.g. --reason "wrong artifact: built from a fork"',
        });
      }
      const key = await readApproverKey(context);
      const client = context.client();
      const view = (await client.request('GET', `/v1/requests/${id}`, {
        auth: true,
      })) as RequestView;
      if (!context.json) describeRequest((line) => context.note(line), view);
      const draft = (await client.request('POST', `/v1/requests/${id}/approval-statement`, {
        body: { decision, comment },
        auth: true,
      })) as { statement: string };
      const statementBytes = new Uint8Array(Buffer.from(draft.statement, 'base64url'));
      checkDraft(statementBytes, view, decision);
      const signature = signBytes('sha256', statementBytes, {
        key: key.privateKey,
        dsaEncoding: 'der',
      });
      const after = (await client.request('POST', `/v1/requests/${id}/approvals`, {
        body: {
          statement: draft.statement,
          credentialId: key.credentialId,
          signature: signature.toString('base64url'),
        },
        auth: true,
      })) as RequestView;
      if (context.json) {
        context.printJson(after);
      } else {
        context.print(
          `${approve ? 'Approved' : 'Rejected'} ${id}: now ${after.state}` +
            (after.state === 'pending' ? ` (${after.approvals.missing})` : ''),
        );
      }
      return 0;
    },
  };
}

export const approveCommand = answerCommand('approve');
export const rejectCommand = answerCommand('reject');

export function requestIdOperand(context: CommandContext): string {
  const [id, ...rest] = context.operands;
  if (id === undefined || rest.length > 0 || !/^[A-Za-z0-9_-]{1,64}$/.test(id)) {
    throw new AppError('INVALID_INPUT', 'name exactly one signing request id', {
      hint: 'list pending requests with `countersign request list`',
    });
  }
  return id;
}

/** What the person approves, on stderr, before anything is signed. */
/**
 * What a person approves, one line each to `write` (stdout for `request show`, stderr before
 * `approve` asks). Server text is shown escaped: a name must read as what it is.
 */
export function describeRequest(write: (line: string) => void, view: RequestView): void {
  const r = view.requester;
  const safe = toDisplaySafe;
  write(
    `Signing request ${safe(view.id)} (${safe(view.state)}) on ${safe(view.product)}/${safe(view.channel)}, ${safe(view.kind)}:`,
  );
  for (const subject of view.subjects) {
    write(
      `  ${safe(subject.name)}  ${safe(subject.digest.algorithm)}:${safe(subject.digest.value)}`,
    );
  }
  write(`  requested by ${safe(r.identityUri ?? '?')}`);
  if (r.repository !== undefined) {
    write(safe(`  repository ${r.repository} ${r.ref ?? ''} ${r.commitSha ?? ''}`.trimEnd()));
  }
  for (const reason of view.context.reasons) write(`  policy: ${safe(reason)}`);
  write(
    `  approvals: ${String(view.approvals.count)} of ${String(view.approvals.required)}; expires ${safe(view.expiresAt)}`,
  );
}

/** The server's draft must name exactly what was shown: nothing else gets signed. */
function checkDraft(bytes: Uint8Array, view: RequestView, decision: 'approve' | 'reject'): void {
  const statement = parseApprovalStatement(bytes);
  const shown = view.subjects
    .map((s) => `${s.name} ${s.digest.algorithm}:${s.digest.value}`)
    .join('\n');
  const drafted = statement.subjects
    .map((s) => `${s.name} ${s.digest.algorithm}:${s.digest.value}`)
    .join('\n');
  if (
    statement.requestId !== view.id ||
    statement.product !== view.product ||
    statement.channel !== view.channel ||
    statement.kind !== view.kind ||
    statement.decision !== decision ||
    drafted !== shown
  ) {
    throw new AppError(
      'VERIFICATION_FAILED',
      'the server drafted a statement for something other than the request shown; nothing was signed',
    );
  }
}

/** The approver's private key and the id its public key is registered under. */
export async function readApproverKey(
  context: CommandContext,
): Promise<{ privateKey: ReturnType<typeof createPrivateKey>; credentialId: string }> {
  const path = optionalString(context, 'key') ?? context.io.env[APPROVER_KEY_ENV];
  if (path === undefined || path === '') {
    throw new AppError('INVALID_INPUT', 'an approver key is needed', {
      hint: `pass --key approver.pem or set ${APPROVER_KEY_ENV}; create one with \`openssl ecparam -name prime256v1 -genkey -noout -out approver.pem\` and register it with \`countersign approver-key add --key approver.pem\``,
    });
  }
  let pem: string;
  try {
    pem = await readFile(resolve(context.io.cwd, path), 'utf8');
  } catch (cause) {
    throw new AppError('INVALID_INPUT', `cannot read the approver key ${path}`, { cause });
  }
  let privateKey;
  try {
    privateKey = createPrivateKey(pem);
  } catch (cause) {
    throw new AppError('INVALID_INPUT', `${path} is not a PEM private key`, { cause });
  }
  if (
    privateKey.asymmetricKeyType !== 'ec' ||
    privateKey.asymmetricKeyDetails?.namedCurve !== 'prime256v1'
  ) {
    throw new AppError('INVALID_INPUT', `${path} is not a P-256 key`, {
      hint: 'create one with `openssl ecparam -name prime256v1 -genkey -noout -out approver.pem`',
    });
  }
  const spki = createPublicKey(privateKey).export({ format: 'der', type: 'spki' });
  return { privateKey, credentialId: createHash('sha256').update(spki).digest('hex') };
}
