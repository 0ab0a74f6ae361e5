/**
 * `countersign verify FILE` / `countersign verify --digest ALG:HEX`: offline verification of a
 * Sigstore bundle against a trusted root the consumer holds. No network, no server: what is
 * trusted is the trusted root file, and the identity or channel asked for on the command line.
 */
import { AppError, isAppError } from '../../core/errors.ts';
import {
  parseDigestText,
  PUBLIC_GOOD_TRUSTED_ROOT,
  verifyArtifactFiles,
  type ArtifactCheckName,
  type ArtifactVerification,
} from '../../app/verify-artifact.ts';
import type { IdentityPolicy } from '../../core/verify/verify-bundle.ts';
import type { CliCommand, CommandContext } from '../command.ts';
import { createProgress, formatBytes, PROGRESS_MIN_BYTES } from '../progress.ts';
import { BUNDLE_SUFFIX } from './sign.ts';
import { parseProductChannel } from './trust.ts';
import { optionalString } from '../flags.ts';

/** The checks, longest names first, to find which one a failure message starts with. */
const CHECK_NAMES: readonly ArtifactCheckName[] = [
  'certificate chain',
  'inclusion proof',
  'checkpoint',
  'timestamp',
  'signature',
  'tlog body',
  'artifact',
  'identity',
  'channel',
  'shape',
  'tlog',
  'SET',
  'SCT',
];

const DETAILS = [
  'Checks, offline, that the bundle signs FILE (hashed here, streaming) or the --digest given:',
  'signature, transparency log entry (SET, inclusion proof, checkpoint), RFC 3161 timestamp, and',
  'the certificate chain to a CA of --trusted-root at the signing time. --trusted-root is a file',
  '(`countersign trust export --out trusted_root.json`) or sigstore-public-good.',
  '',
  'Say who must have signed: --product and --channel require the certificate to come from that',
  "channel's CA; --identity (exact) or --identity-regexp (must match the whole identity) and",
  "--issuer check the certificate's workload identity and OIDC issuer, as cosign's",
  '--certificate-identity and --certificate-oidc-issuer do. Exits 1 naming the check that failed.',
].join('\n');

export const verifyCommand: CliCommand = {
  name: 'verify',
  summary: 'verify a file (or digest) against a Sigstore bundle and a trusted root, offline',
  usage:
    'verify FILE|--digest ALG:HEX --trusted-root T [--bundle B] [--product P --channel C] [--identity I --issuer S]',
  details: DETAILS,
  options: {
    bundle: {
      type: 'string',
      valueName: 'FILE',
      help: `the bundle (default FILE${BUNDLE_SUFFIX.artifact})`,
    },
    'trusted-root': {
      type: 'string',
      valueName: 'FILE',
      help: `trusted_root.json from \`countersign trust export\`, or ${PUBLIC_GOOD_TRUSTED_ROOT}`,
    },
    digest: {
      type: 'string',
      valueName: 'ALG:HEX',
      help: 'verify this digest instead of a file, e.g. sha256:<64 hex>',
    },
    product: { type: 'string', valueName: 'P', help: 'require a signature on this product' },
    channel: { type: 'string', valueName: 'C', help: 'require a signature on this channel' },
    identity: {
      type: 'string',
      valueName: 'I',
      help: 'required signer identity (certificate SAN), exactly',
    },
    'identity-regexp': {
      type: 'string',
      valueName: 'RE',
      help: 'required signer identity as a regular expression matching all of it',
    },
    issuer: { type: 'string', valueName: 'URL', help: 'required OIDC issuer, exactly' },
    verbose: { type: 'boolean', short: 'v', help: 'list every check that passed' },
    progress: {
      type: 'boolean',
      help: 'show hashing progress on stderr even when it is not a terminal',
    },
  },
  async run(context) {
    const digestText = optionalString(context, 'digest');
    const [file, ...extra] = context.operands;
    if (extra.length > 0) {
      throw new AppError('INVALID_INPUT', 'verify takes one file', {
        hint: 'run verify once per file',
      });
    }
    if ((file === undefined) === (digestText === undefined)) {
      throw new AppError('INVALID_INPUT', 'verify needs a FILE or --digest ALG:HEX (one of them)', {
        hint: 'e.g. `countersign verify app.tgz --trusted-root trusted_root.json --product payments-api --channel prod`',
      });
    }
    const trustedRoot = optionalString(context, 'trusted-root');
    if (trustedRoot === undefined) {
      throw new AppError('INVALID_INPUT', '--trusted-root is required', {
        errors: [{ path: '--trusted-root', message: 'is required' }],
        hint: `export it once with \`countersign trust export --out trusted_root.json\` (or use ${PUBLIC_GOOD_TRUSTED_ROOT})`,
      });
    }
    const bundle =
      optionalString(context, 'bundle') ??
      (file === undefined ? undefined : `${file}${BUNDLE_SUFFIX.artifact}`);
    if (bundle === undefined) {
      throw new AppError('INVALID_INPUT', '--bundle is required with --digest', {
        errors: [{ path: '--bundle', message: 'is required' }],
      });
    }
    const channel = parseProductChannel(context);
    const policy = parsePolicy(context);
    if (channel === undefined && policy === undefined && !context.json) {
      context.note(
        'warning: no --product/--channel or --identity/--issuer: any signer the trusted root trusts is accepted',
      );
    }

    const label = file ?? digestText ?? '';
    let progress: ReturnType<typeof createProgress> | undefined;
    let result: ArtifactVerification;
    try {
      result = await verifyArtifactFiles({
        artifact:
          file === undefined ? { digest: parseDigestText(digestText ?? '') } : { path: file },
        bundlePath: bundle,
        trustedRoot,
        cwd: context.io.cwd,
        ...(policy === undefined ? {} : { policy }),
        ...(channel === undefined ? {} : { channel }),
        onProgress: (done, size) => {
          progress ??= createProgress(context, size >= PROGRESS_MIN_BYTES);
          progress.update(`hashing ${formatBytes(done)}/${formatBytes(size)}`);
        },
      });
    } catch (error) {
      throw describeFailure(error, label, context);
    } finally {
      progress?.done();
    }

    const document = toDocument(result, label, file, bundle);
    if (context.json) {
      context.printJson(document);
      return 0;
    }
    context.print(renderSummary(result, label));
    if (context.flags['verbose'] === true) {
      for (const { check, detail } of result.checks) context.print(`  ok ${check}: ${detail}`);
    }
    return 0;
  },
};

function renderSummary(result: ArtifactVerification, label: string): string {
  const who =
    result.identity === undefined
      ? 'a managed key'
      : `${result.identity}${result.issuer === undefined ? '' : ` (issuer ${result.issuer})`}`;
  const authority = result.authority;
  const where =
    authority === undefined
      ? ''
      : authority.product !== undefined && authority.channel !== undefined
        ? ` on ${authority.product}/${authority.channel}`
        : authority.commonName === undefined
          ? ''
          : ` by CA ${JSON.stringify(authority.commonName)}`;
  const when =
    result.signedAt === undefined
      ? ''
      : ` at ${result.signedAt.time.toISOString()} (${result.signedAt.source === 'tlog' ? 'log' : 'timestamp authority'})`;
  const index = result.logIndex === undefined ? '' : `, log index ${result.logIndex.toString()}`;
  const what =
    result.kind === 'attestation'
      ? ` attested (${result.predicateType ?? 'unknown predicate'})`
      : ' signed';
  return `verified: ${label}${what} by ${who}${where}${when}${index}`;
}

function toDocument(
  result: ArtifactVerification,
  label: string,
  file: string | undefined,
  bundle: string,
): Record<string, unknown> {
  return {
    verified: true,
    artifact: {
      ...(file === undefined ? {} : { file }),
      digest: {
        algorithm: result.digest.algorithm,
        value: Buffer.from(result.digest.value).toString('hex'),
      },
    },
    subject: label,
    bundle,
    kind: result.kind,
    ...(result.predicateType === undefined ? {} : { predicateType: result.predicateType }),
    signer: {
      identity: result.identity ?? null,
      issuer: result.issuer ?? null,
      product: result.authority?.product ?? null,
      channel: result.authority?.channel ?? null,
      certificateAuthority: result.authority?.commonName ?? null,
    },
    signedAt: result.signedAt?.time.toISOString() ?? null,
    timestamps: result.timestamps.map((t) => ({ source: t.source, time: t.time.toISOString() })),
    logIndex: result.logIndex?.toString() ?? null,
    tlogEntries: result.verification.tlogEntries.map((entry) => ({
      logIndex: entry.logIndex.toString(),
      baseUrl: entry.baseUrl,
    })),
    checks: result.checks,
  };
}

/** A failed check becomes "FILE did not verify (check): detail", exit 1; input errors pass. */
function describeFailure(error: unknown, label: string, context: CommandContext): unknown {
  if (!isAppError(error, 'VERIFICATION_FAILED')) return error;
  const check = CHECK_NAMES.find((name) => error.message.startsWith(`${name}: `));
  const detail = check === undefined ? error.message : error.message.slice(check.length + 2);
  const hint =
    check === 'artifact'
      ? 'the file is not the one that was signed (or the bundle belongs to another file)'
      : check === 'identity'
        ? 'the signer is not the one asked for: check --identity/--identity-regexp and --issuer'
        : check === 'channel'
          ? 'the signature is from another product or channel (or another CA) than the one asked for'
          : check === 'certificate chain'
            ? `the signing certificate does not chain to a CA of ${String(context.flags['trusted-root'])} at the signing time`
            : undefined;
  return new AppError(
    'VERIFICATION_FAILED',
    `${label} did not verify (${check ?? 'verification'}): ${detail}`,
    { ...(hint === undefined ? {} : { hint }), cause: error },
  );
}

function parsePolicy(context: CommandContext): IdentityPolicy | undefined {
  const identity = optionalString(context, 'identity');
  const pattern = optionalString(context, 'identity-regexp');
  const issuer = optionalString(context, 'issuer');
  if (identity !== undefined && pattern !== undefined) {
    throw new AppError('INVALID_INPUT', '--identity and --identity-regexp exclude each other');
  }
  let expected: string | RegExp | undefined = identity;
  if (pattern !== undefined) {
    try {
      // Anchored: the whole identity must match, so `https://github.com/org/` cannot be satisfied
      // by an identity that merely contains it.
      expected = new RegExp(`^(?:${pattern})$`, 'u');
    } catch (cause) {
      throw new AppError('INVALID_INPUT', '--identity-regexp is not a valid regular expression', {
        cause,
        errors: [{ path: '--identity-regexp', message: 'is not a valid regular expression' }],
      });
    }
  }
  if (expected === undefined && issuer === undefined) return undefined;
  return {
    ...(expected === undefined ? {} : { identity: expected }),
    ...(issuer === undefined ? {} : { issuer }),
  };
}
