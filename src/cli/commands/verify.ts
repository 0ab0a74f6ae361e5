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
import {
  DECISION_BUNDLE_SUFFIX,
  findDecisionBundle,
  verifyArtifactAndDecisionFiles,
  type DecisionVerification,
} from '../../app/verify-decision.ts';
import type { SigningDecisionSummary } from '../../core/attestation/verify-signing-decision.ts';
import type { IdentityPolicy } from '../../core/verify/verify-bundle.ts';
import type { CliCommand, CommandContext } from '../command.ts';
import { createProgress, formatBytes, PROGRESS_MIN_BYTES } from '../progress.ts';
import { BUNDLE_SUFFIX } from './sign.ts';
import { parseProductChannel } from './trust.ts';
import { optionalString } from '../flags.ts';

/** The checks, longest names first, to find which one a failure message starts with. */
const CHECK_NAMES: readonly (ArtifactCheckName | 'decision' | 'decision bundle')[] = [
  'decision bundle',
  'decision',
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
  '',
  `The decision attestation (FILE${DECISION_BUNDLE_SUFFIX}, or --decision-bundle) says why the`,
  'service signed: who asked, under which policy, with which approvals, exception and change',
  'window. It is checked whenever it is present: same trusted root, signed by the service itself',
  '(<service>/attestation/signing-decision), about this very signature, and every approval in it',
  "verified with the approver's own credential. --require-approvals N also requires N distinct",
  'approvers (and the decision bundle). --json prints what it says under "decision".',
].join('\n');

export const verifyCommand: CliCommand = {
  name: 'verify',
  takesOperands: true,
  summary: 'verify a file (or digest) against a Sigstore bundle and a trusted root, offline',
  usage:
    'verify FILE|--digest ALG:HEX --trusted-root T [--bundle B] [--product P --channel C] [--identity I --issuer S] [--require-approvals N] [--decision-bundle D]',
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
    'decision-bundle': {
      type: 'string',
      valueName: 'FILE',
      help: `the decision attestation bundle (default FILE${DECISION_BUNDLE_SUFFIX} when present)`,
    },
    'require-approvals': {
      type: 'string',
      valueName: 'N',
      help: 'require a decision attestation holding N distinct verified approvers',
    },
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
    const requireApprovals = parseRequireApprovals(context);
    const decisionBundle =
      optionalString(context, 'decision-bundle') ??
      (file === undefined ? undefined : await findDecisionBundle(file, context.io.cwd));
    if (requireApprovals !== undefined && decisionBundle === undefined) {
      throw new AppError(
        'INVALID_INPUT',
        file === undefined
          ? '--require-approvals needs the decision attestation: name it with --decision-bundle'
          : `--require-approvals needs the decision attestation, and there is no ${file}${DECISION_BUNDLE_SUFFIX}`,
        {
          errors: [{ path: '--decision-bundle', message: 'is required with --require-approvals' }],
          hint: 'the service returns it beside the artifact bundle when it signs; name it with --decision-bundle FILE',
        },
      );
    }
    if (channel === undefined && policy === undefined && !context.json) {
      context.note(
        'warning: no --product/--channel or --identity/--issuer: any signer the trusted root trusts is accepted',
      );
    }

    const label = file ?? digestText ?? '';
    let progress: ReturnType<typeof createProgress> | undefined;
    let result: ArtifactVerification;
    let decision: DecisionVerification | undefined;
    try {
      const input = {
        artifact:
          file === undefined ? { digest: parseDigestText(digestText ?? '') } : { path: file },
        bundlePath: bundle,
        trustedRoot,
        cwd: context.io.cwd,
        ...(policy === undefined ? {} : { policy }),
        ...(channel === undefined ? {} : { channel }),
        onProgress: (done: number, size: number) => {
          progress ??= createProgress(context, size >= PROGRESS_MIN_BYTES);
          progress.update(`hashing ${formatBytes(done)}/${formatBytes(size)}`);
        },
      };
      if (decisionBundle === undefined) {
        result = await verifyArtifactFiles(input);
      } else {
        ({ artifact: result, decision } = await verifyArtifactAndDecisionFiles({
          ...input,
          decisionBundlePath: decisionBundle,
          requireApprovals: requireApprovals ?? 0,
        }));
      }
    } catch (error) {
      throw describeFailure(error, label, context);
    } finally {
      progress?.done();
    }

    const document = toDocument(result, label, file, bundle);
    if (context.json) {
      context.printJson(
        decision === undefined
          ? document
          : { ...document, decision: toDecisionDocument(decision, decisionBundle ?? '') },
      );
      return 0;
    }
    context.print(renderSummary(result, label));
    if (context.flags['verbose'] === true) {
      for (const { check, detail } of result.checks) context.print(`  ok ${check}: ${detail}`);
    }
    if (decision !== undefined) {
      for (const line of renderDecision(decision.summary, requireApprovals)) context.print(line);
      if (context.flags['verbose'] === true) {
        for (const { check, detail } of decision.bundle.checks) {
          context.print(`  ok decision bundle ${check}: ${detail}`);
        }
      }
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

/** The decision attestation, in words (every value came through the strict parser: no control characters). */
function renderDecision(summary: SigningDecisionSummary, required: number | undefined): string[] {
  const { requester } = summary;
  const lines = [
    `decision: requested by ${requester.identityUri} (issuer ${requester.issuer}) on ${summary.product}/${summary.channel}`,
    `  policy ${summary.policyHash}, governance version ${String(summary.governanceVersion)}, decided at ${summary.decidedAt}`,
  ];
  const approvers = summary.approvers.map((a) => `${a.userId} (${a.group})`).join(', ');
  const wanted = required === undefined ? '' : `, ${String(required)} required here`;
  lines.push(
    summary.approvers.length === 0
      ? `  approvals: none${wanted}`
      : `  approvals: ${String(summary.approvers.length)} verified (${String(summary.requiredByPolicy)} required by policy${wanted}): ${approvers}`,
  );
  const { exception } = summary;
  lines.push(
    exception === null
      ? '  exception: none'
      : `  exception: ${exception.id} (use ${String(exception.use)} of ${String(exception.maxUses)}, until ${exception.notAfter}), waives ${exception.waives.join(', ') || 'nothing'}: ${quote(exception.reason)}; requested by ${exception.requestedBy}, approved by ${exception.approvedBy.join(', ') || 'nobody'}`,
  );
  lines.push(
    `  change window: ${summary.changeWindow.open ? 'open' : 'closed'} at ${summary.changeWindow.evaluatedAt}`,
  );
  return lines;
}

/** Free text as a JSON string literal, C1 controls escaped too (JSON.stringify leaves them). */
function quote(text: string): string {
  return JSON.stringify(text).replace(
    /[\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/gu,
    (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`,
  );
}

function toDecisionDocument(
  decision: DecisionVerification,
  bundle: string,
): Record<string, unknown> {
  return {
    verified: true,
    bundle,
    logIndex: decision.bundle.logIndex?.toString() ?? null,
    signer: { identity: decision.bundle.identity ?? null, issuer: decision.bundle.issuer ?? null },
    ...decision.summary,
  };
}

/** `--require-approvals N`: a whole number, 0 to 1000. */
function parseRequireApprovals(context: CommandContext): number | undefined {
  const text = optionalString(context, 'require-approvals');
  if (text === undefined) return undefined;
  if (!/^(?:0|[1-9][0-9]{0,3})$/.test(text) || Number(text) > 1000) {
    throw new AppError(
      'INVALID_INPUT',
      '--require-approvals must be a whole number from 0 to 1000',
      {
        errors: [{ path: '--require-approvals', message: 'must be a whole number from 0 to 1000' }],
      },
    );
  }
  return Number(text);
}

/** A failed check becomes "FILE did not verify (check): detail", exit 1; input errors pass. */
function describeFailure(error: unknown, label: string, context: CommandContext): unknown {
  if (!isAppError(error, 'VERIFICATION_FAILED')) return error;
  const check = CHECK_NAMES.find((name) => error.message.startsWith(`${name}: `));
  const detail = check === undefined ? error.message : error.message.slice(check.length + 2);
  const hint =
    check === 'decision'
      ? 'the decision attestation does not show the approvals asked for, or belongs to another signature'
      : check === 'decision bundle'
        ? "the decision bundle is not the service's own attestation under this trusted root"
        : check === 'artifact'
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
