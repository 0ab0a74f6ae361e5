/**
 * `countersign trust export`: downloads the service's Sigstore TrustedRoot (channel CAs, log key,
 * timestamp authority), checks it parses as one, and writes it for consumers: `countersign verify`,
 * `cosign --trusted-root` (JSON) and `gh attestation verify --custom-trusted-root` (JSON Lines:
 * one compact line ending in a newline, interop §8.1, G23).
 */
import { resolve } from 'node:path';
import { AppError, isAppError } from '../../core/errors.ts';
import {
  encodeTrustedRoot,
  parseTrustedRoot,
  serializeTrustedRoot,
  type TrustedRoot,
} from '../../core/sigstore/trusted-root.ts';
import { PRODUCT_OR_CHANNEL_NAME } from '../../core/x509/create-channel-ca-certificate.ts';
import type { CliCommand, CommandContext } from '../command.ts';
import { writeFileAtomically } from '../write-file-atomically.ts';
import { optionalString } from '../flags.ts';

/** Where the service publishes its trusted root. */
export const TRUSTED_ROOT_PATH = '/v1/trust/trusted-root.json';

const exportCommand: CliCommand = {
  name: 'export',
  summary: "write the trusted root that verifies this service's bundles (cosign, gh, countersign)",
  usage: 'trust export [--product P --channel C] [--out FILE] [--jsonl]',
  details: [
    'Fetches the TrustedRoot of the server named by --server or COUNTERSIGN_SERVER: every channel',
    "CA (or, with --product and --channel, only that channel's chain), the log key and the",
    'timestamp authority. Fetch it once over a channel you trust and keep it with the consumer;',
    'verification itself never needs the server.',
    '',
    '--jsonl writes one compact line ending in a newline, the JSON Lines framing',
    '`gh attestation verify --custom-trusted-root` reads; cosign and countersign read it too.',
  ].join('\n'),
  options: {
    product: { type: 'string', valueName: 'P', help: 'only the CA of this product…' },
    channel: { type: 'string', valueName: 'C', help: '…and channel' },
    out: {
      type: 'string',
      valueName: 'FILE',
      help: 'write to FILE (atomically) instead of stdout',
    },
    jsonl: { type: 'boolean', help: 'one compact line (for gh --custom-trusted-root)' },
  },
  async run(context) {
    const scope = parseProductChannel(context);
    const query =
      scope === undefined
        ? ''
        : `?${new URLSearchParams({ product: scope.product, channel: scope.channel }).toString()}`;
    let answer: unknown;
    try {
      answer = await context.client().request('GET', `${TRUSTED_ROOT_PATH}${query}`);
    } catch (error) {
      if (isAppError(error, 'NOT_FOUND') && scope !== undefined) {
        throw new AppError(
          'NOT_FOUND',
          `the server has no CA for ${scope.product}/${scope.channel}`,
          {
            hint: 'check the names, and that governance defining the channel was applied',
            cause: error,
          },
        );
      }
      throw error;
    }
    let root: TrustedRoot;
    try {
      root = parseTrustedRoot(answer);
    } catch (cause) {
      throw new AppError(
        'INTERNAL',
        `the server at ${context.client().server} answered with an invalid trusted root`,
        { cause, hint: 'is --server a Countersign server of a matching version?' },
      );
    }
    if (scope !== undefined && root.certificateAuthorities.length === 0) {
      throw new AppError('NOT_FOUND', `the server has no CA for ${scope.product}/${scope.channel}`);
    }
    const text =
      context.flags['jsonl'] === true
        ? serializeTrustedRoot(root)
        : `${JSON.stringify(encodeTrustedRoot(root), null, 2)}\n`;
    const out = optionalString(context, 'out');
    if (out === undefined) {
      context.io.stdout(text);
      return 0;
    }
    await writeFileAtomically(resolve(context.io.cwd, out), text).catch((cause: unknown) => {
      throw new AppError('INVALID_INPUT', `cannot write ${out}`, {
        cause,
        hint: 'check that the directory exists and is writable',
      });
    });
    const summary = {
      file: out,
      certificateAuthorities: root.certificateAuthorities.length,
      tlogs: root.tlogs.length,
      timestampAuthorities: root.timestampAuthorities.length,
    };
    if (context.json) context.printJson(summary);
    else
      context.note(
        `wrote the trusted root of ${context.client().server}${scope === undefined ? '' : ` for ${scope.product}/${scope.channel}`} to ${out}: ${plural(summary.certificateAuthorities, 'certificate authority', 'certificate authorities')}, ${plural(summary.tlogs, 'log', 'logs')}, ${plural(summary.timestampAuthorities, 'timestamp authority', 'timestamp authorities')}`,
      );
    return 0;
  },
};

export const trustCommand: CliCommand = {
  name: 'trust',
  summary: 'export the trusted root consumers verify bundles with',
  usage: 'trust export',
  subcommands: [exportCommand],
};

/** `--product P --channel C`, both or neither; names as governance defines them. */
export function parseProductChannel(
  context: CommandContext,
): { product: string; channel: string } | undefined {
  const product = optionalString(context, 'product');
  const channel = optionalString(context, 'channel');
  if (product === undefined && channel === undefined) return undefined;
  if (product === undefined || channel === undefined) {
    throw new AppError('INVALID_INPUT', '--product and --channel go together', {
      hint: 'e.g. --product payments-api --channel prod',
    });
  }
  for (const [flag, value] of [
    ['--product', product],
    ['--channel', channel],
  ] as const) {
    if (!PRODUCT_OR_CHANNEL_NAME.test(value)) {
      throw new AppError('INVALID_INPUT', `${flag} must be lower-case letters, digits and dashes`, {
        errors: [{ path: flag, message: 'must match [a-z0-9][a-z0-9-]{0,62}' }],
      });
    }
  }
  return { product, channel };
}

function plural(n: number, one: string, many: string): string {
  return `${String(n)} ${n === 1 ? one : many}`;
}
