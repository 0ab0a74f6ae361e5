/**
 * `countersign sign FILE…`: the CI side of signing. Hashes each file locally (streaming), asks the
 * server to sign the digest with the job's OIDC identity (`POST /v1/sign`), and writes the
 * Sigstore bundle it answers next to the file as `<file>.sigstore.json` (attestations:
 * `<file>.intoto.sigstore.json`), atomically. The file itself never leaves the machine.
 */
import { mkdir, readFile } from 'node:fs/promises';
import { basename, join, resolve } from 'node:path';
import {
  readUnverifiedClaims,
  resolveIdentityTokenSource,
  type IdentityTokenSource,
} from '../../app/ci-identity-token.ts';
import { hashFile, statRegularFile } from '../../app/hash-files.ts';
import { AppError, isAppError, toAppError } from '../../core/errors.ts';
import { parseStrictJson } from '../../core/strict-json.ts';
import { parseBundle, type Bundle } from '../../core/sigstore/bundle.ts';
import { isHashAlgorithm, type HashAlgorithm } from '../../core/sigstore/hash-algorithm.ts';
import {
  hasSubjectDigest,
  IN_TOTO_STATEMENT_V1,
  parseInTotoStatement,
  type InTotoStatement,
} from '../../core/sigstore/in-toto-statement.ts';
import { equalBytes } from '../../core/tlog/bytes.ts';
import { PRODUCT_OR_CHANNEL_NAME } from '../../core/x509/create-channel-ca-certificate.ts';
import { createApiClient } from '../api-client.ts';
import { renderErrorJson } from '../render-error.ts';
import type { CliCommand, CommandContext } from '../command.ts';
import { writeFileAtomically } from '../write-file-atomically.ts';
import {
  createProgress,
  formatBytes,
  PROGRESS_MIN_BYTES,
  PROGRESS_MIN_FILES,
} from '../progress.ts';
import { optionalString } from '../flags.ts';
import { DECISION_BUNDLE_SUFFIX } from '../../app/verify-decision.ts';
import { parseDuration } from '../../core/duration.ts';

/** Signing requests in flight at once (the server bounds its own queue and answers 503 when full). */
export const DEFAULT_SIGN_CONCURRENCY = 4;
const MAX_SIGN_CONCURRENCY = 16;
/** Files hashed at once: reading is disk-bound, two keep a disk and a core busy. */
const HASH_CONCURRENCY = 2;
/** Upper bound on an in-toto statement file (the server's evidence body limit is 8 MiB). */
const MAX_STATEMENT_BYTES = 8 * 1024 * 1024;
/** A signing request may wait on the log's group commit and the TSA. */
const SIGN_TIMEOUT_MS = 120_000;

/** Bundle file suffixes, by kind. */
export const BUNDLE_SUFFIX = {
  artifact: '.sigstore.json',
  attestation: '.intoto.sigstore.json',
} as const;

type SignKind = keyof typeof BUNDLE_SUFFIX;

/** One file to sign. */
interface SignTarget {
  /** As given on the command line (shown to the user). */
  readonly file: string;
  /** Resolved against the working directory. */
  readonly path: string;
  readonly size: number;
  /** Where the bundle goes, as shown and as resolved. */
  readonly bundle: string;
  readonly bundlePath: string;
}

/** One file signed. */
interface Signed {
  readonly file: string;
  readonly name: string;
  readonly size: number;
  readonly digest: { readonly algorithm: HashAlgorithm; readonly value: string };
  readonly logIndex: string;
  readonly bundle: string;
  /** Where the decision attestation was written. */
  readonly decisionBundle?: string;
  /** The server's id of the signing record, when it gives one. */
  readonly signingId?: string;
}

const DETAILS = [
  'Each file is hashed here, streaming (only the digest goes to the server), and signed by the',
  'server named by --server or COUNTERSIGN_SERVER as the CI workload its OIDC token proves. The',
  'bundle is written next to the file (or in --out-dir) as <file>.sigstore.json, or',
  '<file>.intoto.sigstore.json for --attest.',
  '',
  'The identity token is taken from, in order: --identity-token, COUNTERSIGN_IDENTITY_TOKEN,',
  'GitHub Actions (needs `permissions: id-token: write`; a fresh token per file, audience from',
  '--audience or COUNTERSIGN_AUDIENCE, default countersign), then GitLab CI `id_tokens:` named',
  'COUNTERSIGN_ID_TOKEN or SIGSTORE_ID_TOKEN. The server accepts each token once, so a token',
  'that is not minted per file (all but GitHub Actions) signs one file.',
  '',
  '--attest FILE signs an in-toto Statement v1 (DSSE) instead of the bare digest; each file',
  "must be one of the statement's subjects, by the --digest-algorithm digest. Each file's",
  'attestation is that statement narrowed to its subject alone (the server signs attestations',
  'about exactly one subject, the one it decided and recorded).',
].join('\n');

export const signCommand: CliCommand = {
  name: 'sign',
  takesOperands: true,
  summary: 'sign files (or attest them) with the CI job identity; writes Sigstore bundles',
  usage:
    'sign FILE… --product P --channel C [--attest STATEMENT] [--out-dir DIR] [--identity-token TOKEN] [--wait [--wait-timeout 1h]]',
  details: DETAILS,
  options: {
    product: { type: 'string', valueName: 'P', help: 'product to sign for, e.g. payments-api' },
    channel: { type: 'string', valueName: 'C', help: 'release channel, e.g. prod' },
    kind: {
      type: 'string',
      valueName: 'KIND',
      help: 'artifact (default) or attestation (implied by --attest)',
    },
    attest: {
      type: 'string',
      valueName: 'FILE',
      help: 'in-toto Statement v1 JSON to sign; its subjects must include each file',
    },
    'digest-algorithm': {
      type: 'string',
      valueName: 'ALG',
      help: 'sha256 (default), sha384 or sha512',
    },
    'out-dir': {
      type: 'string',
      valueName: 'DIR',
      help: 'write bundles here instead of next to each file',
    },
    'identity-token': {
      type: 'string',
      valueName: 'TOKEN',
      help: 'OIDC token; prefer env COUNTERSIGN_IDENTITY_TOKEN, flags are visible in the process list',
    },
    audience: {
      type: 'string',
      valueName: 'AUD',
      help: 'audience of GitHub Actions tokens (env COUNTERSIGN_AUDIENCE; default countersign)',
    },
    concurrency: {
      type: 'string',
      valueName: 'N',
      help: `signing requests at once, 1 to ${String(MAX_SIGN_CONCURRENCY)} (default ${String(DEFAULT_SIGN_CONCURRENCY)})`,
    },
    progress: {
      type: 'boolean',
      help: 'show progress on stderr even when it is not a terminal (never with --json)',
    },
    wait: {
      type: 'boolean',
      help: 'when approvals are needed, wait for them and then sign (see --wait-timeout)',
    },
    'wait-timeout': {
      type: 'string',
      valueName: 'DURATION',
      help: 'how long --wait waits for approvals, e.g. 30m or 2h (default 1h)',
    },
  },
  async run(context) {
    const product = requireName(context, 'product');
    const channel = requireName(context, 'channel');
    const algorithm = parseAlgorithm(context.flags['digest-algorithm']);
    const concurrency = parseConcurrency(context.flags['concurrency']);
    const waitTimeout = optionalString(context, 'wait-timeout');
    const wait =
      context.flags['wait'] === true
        ? {
            seconds:
              waitTimeout === undefined ? 3600 : parseDuration(waitTimeout, '--wait-timeout'),
          }
        : undefined;
    const attestPath = optionalString(context, 'attest');
    const kind = parseKind(context.flags['kind'], attestPath !== undefined);
    if (context.operands.length === 0) {
      throw new AppError('INVALID_INPUT', 'sign needs at least one file', {
        hint: 'e.g. `countersign sign dist/app.tgz --product payments-api --channel prod`',
      });
    }
    const statement =
      attestPath === undefined ? undefined : await readStatement(context, attestPath);
    const outDir = optionalString(context, 'out-dir');
    const targets = await planTargets(context, kind, outDir);

    const source = resolveIdentityTokenSource({
      flag: optionalString(context, 'identity-token'),
      audience: optionalString(context, 'audience'),
      env: context.io.env,
      fetch,
    });
    if (!source.canMint && targets.length > 1) {
      throw new AppError(
        'INVALID_INPUT',
        `the identity token from ${source.description} can sign one file, and ${String(targets.length)} were given`,
        {
          hint: 'the server accepts each token once: sign one file per token, or sign a checksums file (sha256sum dist/* > SHA256SUMS)',
        },
      );
    }
    const server = context.client().server;
    if (outDir !== undefined) {
      try {
        await mkdir(resolve(context.io.cwd, outDir), { recursive: true });
      } catch (cause) {
        throw new AppError('INVALID_INPUT', `cannot create --out-dir ${outDir}`, {
          cause,
          hint: 'name a directory (it is created if missing) where you may write',
        });
      }
    }

    const digests = await hashTargets(context, targets, algorithm);
    if (statement !== undefined) {
      checkStatementCovers(statement.parsed, targets, digests, algorithm, attestPath ?? '');
    }

    if (!context.json) context.note(`signing ${describeTargets(targets)} on ${product}/${channel}`);
    const progress = createProgress(context, targets.length >= PROGRESS_MIN_FILES);
    let described = false;
    let finished = 0;
    const outcome = await runPool(targets, concurrency, async (target, i) => {
      const digest = digests[i];
      if (digest === undefined) throw new AppError('INTERNAL', 'missing digest');
      const token = await source.next();
      if (!described && !context.json) {
        described = true;
        context.note(describeSigner(source, token));
      }
      const signed = await signOne({
        server,
        token,
        source,
        product,
        channel,
        kind,
        target,
        digest: { algorithm, value: digest },
        statement,
        wait,
        note: (message) => {
          if (!context.json) context.note(message);
        },
      });
      finished += 1;
      progress.update(`signed ${String(finished)}/${String(targets.length)} files`);
      return signed;
    });
    progress.done();
    const signed = outcome.results.filter((result): result is Signed => result !== undefined);
    if (outcome.error !== undefined) {
      if (context.json && signed.length > 0) {
        // Scripts must learn what was signed (and logged) before the failure, not only the error.
        const { error } = renderErrorJson(toAppError(outcome.error));
        context.printJson({ product, channel, kind, signed, error });
        return error.exitCode;
      }
      if (signed.length > 0 && !context.json) {
        context.note(
          `signed before the failure: ${signed.map((s) => `${s.file} (log index ${s.logIndex})`).join(', ')}`,
        );
      }
      throw outcome.error;
    }
    if (context.json) {
      context.printJson({ product, channel, kind, signed });
      return 0;
    }
    for (const result of signed) {
      context.print(
        `signed ${result.file} (${result.digest.algorithm}:${result.digest.value}) on ${product}/${channel}: log index ${result.logIndex}, bundle ${result.bundle}`,
      );
    }
    return 0;
  },
};

interface SignOneInput {
  readonly server: string;
  readonly token: string;
  readonly source: IdentityTokenSource;
  readonly product: string;
  readonly channel: string;
  readonly kind: SignKind;
  readonly target: SignTarget;
  readonly digest: { readonly algorithm: HashAlgorithm; readonly value: Uint8Array };
  readonly statement: { readonly json: unknown; readonly parsed: InTotoStatement } | undefined;
  /** Wait this long for approvals when the server opens a signing request; undefined: do not. */
  readonly wait: { readonly seconds: number } | undefined;
  readonly note: (message: string) => void;
}

async function signOne(input: SignOneInput): Promise<Signed> {
  const { target, digest } = input;
  const name = basename(target.file);
  const hex = Buffer.from(digest.value).toString('hex');
  const client = createApiClient({
    server: input.server,
    token: input.token,
    timeoutMs: SIGN_TIMEOUT_MS,
    notify: input.note,
  });
  const narrowed =
    input.statement === undefined
      ? undefined
      : narrowStatement(input.statement, name, digest.algorithm, hex);
  const body = {
    product: input.product,
    channel: input.channel,
    subject: { name: narrowed?.name ?? name, digest: { algorithm: digest.algorithm, value: hex } },
    kind: input.kind,
    ...(narrowed === undefined ? {} : { statement: narrowed.statement }),
  };
  let answer: unknown;
  try {
    answer = await client.request('POST', '/v1/sign', { body, auth: true });
  } catch (error) {
    throw aboutFile(target.file, error, input.source);
  }
  const pending = readPendingRequest(answer);
  if (pending !== undefined) {
    if (input.wait === undefined) {
      throw new AppError(
        'APPROVAL_PENDING',
        `${target.file}: signing request ${pending.id} waits for approvals (${pending.missing})`,
        {
          hint: `approvers run \`countersign approve ${pending.id}\` or use the approval page; sign again with --wait to wait for them`,
        },
      );
    }
    await waitForApproval({ ...input, client, request: pending });
    // A fresh token when the source can mint one; a job's only token otherwise (the server spends
    // it only when it signs).
    const token = input.source.canMint ? await input.source.next() : input.token;
    const again = createApiClient({
      server: input.server,
      token,
      timeoutMs: SIGN_TIMEOUT_MS,
      notify: input.note,
    });
    try {
      answer = await again.request('POST', '/v1/sign', {
        body: { ...body, requestId: pending.id },
        auth: true,
      });
    } catch (error) {
      throw aboutFile(target.file, error, input.source);
    }
  }
  const { bundle, bundleJson, logIndex, id, decisionBundleJson } = readSignAnswer(
    answer,
    target.file,
  );
  checkBundleMatches(bundle, input.kind, digest, target.file);
  try {
    await writeFileAtomically(target.bundlePath, `${JSON.stringify(bundleJson)}\n`);
    if (decisionBundleJson !== undefined) {
      await writeFileAtomically(
        decisionBundlePath(target.bundlePath),
        `${JSON.stringify(decisionBundleJson)}\n`,
      );
    }
  } catch (cause) {
    throw new AppError(
      'INVALID_INPUT',
      `${target.file} was signed (log index ${logIndex}) but its bundle could not be written to ${target.bundle}`,
      { cause, hint: 'check that the directory is writable and has space, then sign again' },
    );
  }
  return {
    file: target.file,
    name,
    size: target.size,
    digest: { algorithm: digest.algorithm, value: hex },
    logIndex,
    bundle: target.bundle,
    ...(decisionBundleJson === undefined
      ? {}
      : { decisionBundle: decisionBundlePath(target.bundle) }),
    ...(id === undefined ? {} : { signingId: id }),
  };
}

/** `<file>.sigstore.json` → `<file>.decision.sigstore.json` (what `verify` looks for). */
function decisionBundlePath(bundlePath: string): string {
  return `${bundlePath.slice(0, -'.sigstore.json'.length)}${DECISION_BUNDLE_SUFFIX}`;
}

/** A `202` answer's signing request, or undefined. */
function readPendingRequest(
  answer: unknown,
): { readonly id: string; readonly missing: string } | undefined {
  if (typeof answer !== 'object' || answer === null) return undefined;
  const record = answer as { status?: unknown; request?: unknown };
  if (record.status !== 'pending' || typeof record.request !== 'object' || record.request === null)
    return undefined;
  const request = record.request as { id?: unknown; approvals?: { missing?: unknown } };
  if (typeof request.id !== 'string' || !/^[A-Za-z0-9_-]{1,64}$/.test(request.id)) {
    throw new AppError('INTERNAL', 'the server opened a signing request without a usable id');
  }
  return {
    id: request.id,
    missing: typeof request.approvals?.missing === 'string' ? request.approvals.missing : '',
  };
}

/** Long-polls the request until it is approved; throws when it ends any other way or time runs out. */
async function waitForApproval(
  input: SignOneInput & {
    readonly client: ReturnType<typeof createApiClient>;
    readonly request: { readonly id: string; readonly missing: string };
  },
): Promise<void> {
  const { id } = input.request;
  const deadline = Date.now() + (input.wait?.seconds ?? 0) * 1000;
  input.note(
    `${input.target.file}: waiting for approvals of signing request ${id} (${input.request.missing}); approvers: countersign approve ${id}`,
  );
  let last = input.request.missing;
  for (;;) {
    const remaining = Math.ceil((deadline - Date.now()) / 1000);
    if (remaining <= 0) {
      throw new AppError(
        'APPROVAL_PENDING',
        `${input.target.file}: signing request ${id} was not approved in time (${last})`,
        { hint: 'sign again later: the same request is picked up while it is pending' },
      );
    }
    const token = input.source.canMint ? await input.source.next() : input.token;
    const poll = createApiClient({
      server: input.server,
      token,
      timeoutMs: 75_000,
      notify: input.note,
    });
    const view = (await poll.request(
      'GET',
      `/v1/requests/${id}?wait=${String(Math.min(remaining, 30))}`,
      { auth: true },
    )) as { state?: unknown; approvals?: { missing?: unknown; count?: unknown } };
    const state = typeof view.state === 'string' ? view.state : 'unknown';
    if (state === 'approved') return;
    if (state !== 'pending') {
      throw new AppError(
        'POLICY_DENIED',
        `${input.target.file}: signing request ${id} was ${state}`,
        {
          hint:
            'see `countersign request show ' + id + '`; run the job again to open a new request',
        },
      );
    }
    const missing = typeof view.approvals?.missing === 'string' ? view.approvals.missing : last;
    if (missing !== last) {
      last = missing;
      input.note(`${input.target.file}: signing request ${id}: ${missing}`);
    }
  }
}

/** The `201` answer: `{ id, logIndex, bundle }`. Anything else is a server defect, reported as such. */
function readSignAnswer(
  answer: unknown,
  file: string,
): {
  bundle: Bundle;
  bundleJson: unknown;
  logIndex: string;
  id: string | undefined;
  decisionBundleJson: unknown;
} {
  const record =
    typeof answer === 'object' && answer !== null ? (answer as Record<string, unknown>) : {};
  const bundleJson = record['bundle'];
  const logIndex = record['logIndex'];
  if (bundleJson === undefined) {
    // 202 problem+json: accepted, but approvers must act first (DESIGN.md §6 step 5).
    if (record['code'] === 'APPROVAL_PENDING') {
      const detail = typeof record['detail'] === 'string' ? record['detail'] : 'approval pending';
      throw new AppError('APPROVAL_PENDING', `${file}: ${detail}`, {
        hint: 'approvers have been asked; sign again (with a new token) once the request is approved',
      });
    }
    throw new AppError('INTERNAL', `the server answered the signing of ${file} without a bundle`);
  }
  let bundle: Bundle;
  try {
    bundle = parseBundle(bundleJson);
  } catch (cause) {
    throw new AppError('INTERNAL', `the server answered ${file} with a malformed bundle`, {
      cause,
    });
  }
  const index =
    typeof logIndex === 'string' && /^\d{1,20}$/.test(logIndex)
      ? logIndex
      : (bundle.verificationMaterial.tlogEntries[0]?.logIndex.toString() ?? '?');
  const id = record['id'];
  return {
    bundle,
    bundleJson,
    decisionBundleJson: record['decisionBundle'],
    logIndex: index,
    id: typeof id === 'string' && id.length <= 128 ? id : undefined,
  };
}

/** The server must have signed what we asked for; a bundle about something else is refused. */
function checkBundleMatches(
  bundle: Bundle,
  kind: SignKind,
  digest: { readonly algorithm: HashAlgorithm; readonly value: Uint8Array },
  file: string,
): void {
  const content = bundle.content;
  let ok: boolean;
  if (kind === 'artifact') {
    ok =
      content.type === 'messageSignature' &&
      content.messageSignature.messageDigest.algorithm === digest.algorithm &&
      equalBytes(content.messageSignature.messageDigest.digest, digest.value);
  } else {
    try {
      ok =
        content.type === 'dsseEnvelope' &&
        hasSubjectDigest(
          parseInTotoStatement(content.dsseEnvelope.payload),
          digest.algorithm,
          digest.value,
        );
    } catch {
      ok = false;
    }
  }
  if (!ok) {
    throw new AppError(
      'VERIFICATION_FAILED',
      `the server returned a bundle that is not about ${file}'s ${digest.algorithm} digest`,
    );
  }
}

function aboutFile(file: string, error: unknown, source: IdentityTokenSource): AppError {
  if (!isAppError(error))
    return new AppError('INTERNAL', `signing ${file} failed`, { cause: error });
  const hint =
    error.code === 'UNAUTHENTICATED' && /already used/.test(error.message)
      ? `each signature needs a fresh token: mint a new one (${source.description} gave one already spent)`
      : error.code === 'UNAUTHENTICATED' && /expired/.test(error.message)
        ? `the token from ${source.description} expired (waiting for approvals too?): sign again with a fresh one`
        : error.code === 'UNAUTHENTICATED'
          ? `the server refused the identity token from ${source.description}: is its issuer trusted in governance, its audience right, and is it unexpired and unused?`
          : error.code === 'NOT_FOUND'
            ? 'check --product and --channel: the channel must exist and have a CA (countersign plan / apply)'
            : error.hint;
  return new AppError(error.code, `${file}: ${error.message}`, {
    errors: error.errors,
    ...(hint === undefined ? {} : { hint }),
    ...(error.retryAfterSeconds === undefined
      ? {}
      : { retryAfterSeconds: error.retryAfterSeconds }),
    cause: error,
  });
}

// ---------------------------------------------------------------------------------------------
// Inputs

async function planTargets(
  context: CommandContext,
  kind: SignKind,
  outDir: string | undefined,
): Promise<SignTarget[]> {
  const seen = new Set<string>();
  const bundles = new Map<string, string>();
  const targets: SignTarget[] = [];
  for (const file of context.operands) {
    const path = resolve(context.io.cwd, file);
    if (seen.has(path)) continue;
    seen.add(path);
    const size = await statRegularFile(path, file);
    const bundle =
      outDir === undefined
        ? `${file}${BUNDLE_SUFFIX[kind]}`
        : join(outDir, `${basename(file)}${BUNDLE_SUFFIX[kind]}`);
    const bundlePath = resolve(context.io.cwd, bundle);
    const clash = bundles.get(bundlePath);
    if (clash !== undefined) {
      throw new AppError(
        'INVALID_INPUT',
        `${clash} and ${file} would both write ${bundle} in --out-dir`,
        { hint: 'files signed into one --out-dir need distinct names' },
      );
    }
    bundles.set(bundlePath, file);
    targets.push({ file, path, size, bundle, bundlePath });
  }
  return targets;
}

async function hashTargets(
  context: CommandContext,
  targets: readonly SignTarget[],
  algorithm: HashAlgorithm,
): Promise<Uint8Array[]> {
  const total = targets.reduce((sum, target) => sum + target.size, 0);
  const progress = createProgress(
    context,
    total >= PROGRESS_MIN_BYTES || targets.length >= PROGRESS_MIN_FILES,
  );
  const done = new Array<number>(targets.length).fill(0);
  let filesDone = 0;
  const report = () => {
    const bytes = done.reduce((sum, value) => sum + value, 0);
    progress.update(
      `hashing ${formatBytes(bytes)}/${formatBytes(total)} (${String(filesDone)}/${String(targets.length)} files)`,
    );
  };
  const outcome = await runPool(targets, HASH_CONCURRENCY, async (target, i) => {
    const hashed = await hashFile(target.path, [algorithm], {
      label: target.file,
      onProgress: (bytes) => {
        done[i] = bytes;
        report();
      },
    });
    filesDone += 1;
    report();
    const digest = hashed.digests.get(algorithm);
    if (digest === undefined) throw new AppError('INTERNAL', 'hashFile lost a digest');
    return digest;
  });
  progress.done();
  if (outcome.error !== undefined) throw outcome.error;
  return outcome.results.map((digest) => {
    if (digest === undefined) throw new AppError('INTERNAL', 'a file was not hashed');
    return digest;
  });
}

/** Reads `--attest`: an in-toto Statement v1 JSON object, kept as given to send. */
async function readStatement(
  context: CommandContext,
  file: string,
): Promise<{ json: unknown; parsed: InTotoStatement }> {
  const path = resolve(context.io.cwd, file);
  const size = await statRegularFile(path, `--attest ${file}`);
  if (size > MAX_STATEMENT_BYTES) {
    throw new AppError(
      'INVALID_INPUT',
      `--attest ${file} is larger than ${formatBytes(MAX_STATEMENT_BYTES)}`,
    );
  }
  const bytes = new Uint8Array(await readFile(path));
  // Strictly: a duplicate member or a number a parser rounds would sign what was not written.
  const json = parseStrictJson(bytes, `--attest ${file}`);
  let parsed: InTotoStatement;
  try {
    parsed = parseInTotoStatement(bytes);
  } catch (error) {
    throw new AppError(
      'INVALID_INPUT',
      `--attest ${file} is not an in-toto statement: ${isAppError(error) ? error.message : 'not JSON'}`,
      {
        cause: error,
        hint: 'the statement must be in-toto Statement v1 JSON (https://in-toto.io/Statement/v1)',
      },
    );
  }
  if (parsed.type !== IN_TOTO_STATEMENT_V1) {
    throw new AppError('INVALID_INPUT', `--attest ${file} is not an in-toto Statement v1`, {
      hint: `its _type must be ${IN_TOTO_STATEMENT_V1}`,
    });
  }
  return { json, parsed };
}

/**
 * The statement to sign for one file: `--attest`'s statement with that file's subject as its only
 * subject, under the one digest signed (the server signs attestations about exactly the subject
 * it decided and recorded). The subject keeps its name in the statement, or takes the file's.
 */
function narrowStatement(
  statement: { readonly json: unknown; readonly parsed: InTotoStatement },
  fileName: string,
  algorithm: HashAlgorithm,
  hex: string,
): { readonly name: string; readonly statement: Record<string, unknown> } {
  const json = statement.json as Record<string, unknown>;
  const subjects = json['subject'] as readonly unknown[];
  const index = statement.parsed.subjects.findIndex((subject) => subject.digest[algorithm] === hex);
  const raw = subjects[index] as Record<string, unknown> | undefined;
  const parsed = statement.parsed.subjects[index];
  if (raw === undefined || parsed === undefined) {
    throw new AppError('INTERNAL', `the statement lost the subject ${algorithm}:${hex}`);
  }
  const name = parsed.name === '' ? fileName : parsed.name;
  return {
    name,
    statement: { ...json, subject: [{ ...raw, name, digest: { [algorithm]: hex } }] },
  };
}

function checkStatementCovers(
  statement: InTotoStatement,
  targets: readonly SignTarget[],
  digests: readonly Uint8Array[],
  algorithm: HashAlgorithm,
  attestPath: string,
): void {
  const missing = targets.flatMap((target, i) => {
    const digest = digests[i];
    if (digest === undefined) return [];
    return hasSubjectDigest(statement, algorithm, digest)
      ? []
      : [
          {
            path: target.file,
            message: `${algorithm}:${Buffer.from(digest).toString('hex')} is not a subject of the statement`,
          },
        ];
  });
  if (missing.length > 0) {
    const names = statement.subjects
      .slice(0, 5)
      .map((subject) => subject.name || '(unnamed)')
      .join(', ');
    throw new AppError(
      'INVALID_INPUT',
      `the statement ${attestPath} does not name ${missing.length === 1 ? 'this file' : 'these files'} among its subjects (${names}${statement.subjects.length > 5 ? ', …' : ''})`,
      {
        errors: missing,
        hint: 'generate the statement from these exact files, or match its digest algorithm with --digest-algorithm',
      },
    );
  }
}

// ---------------------------------------------------------------------------------------------
// Helpers

/**
 * Runs `task` over `items`, at most `limit` at once. After the first failure no new item starts;
 * those in flight finish. Resolves to each item's result (undefined where it failed or never
 * ran) and the first error.
 */
async function runPool<T, R>(
  items: readonly T[],
  limit: number,
  task: (item: T, index: number) => Promise<R>,
): Promise<{ results: (R | undefined)[]; error: AppError | undefined }> {
  const results = new Array<R | undefined>(items.length).fill(undefined);
  let next = 0;
  let error: AppError | undefined;
  let failed = false;
  const worker = async () => {
    while (!failed && next < items.length) {
      const index = next;
      next += 1;
      try {
        results[index] = await task(items[index] as T, index);
      } catch (thrown) {
        if (!failed) error = toAppError(thrown);
        failed = true;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return { results, error };
}

function describeTargets(targets: readonly SignTarget[]): string {
  const total = targets.reduce((sum, target) => sum + target.size, 0);
  return targets.length === 1
    ? `${targets[0]?.file ?? ''} (${formatBytes(total)})`
    : `${String(targets.length)} files (${formatBytes(total)})`;
}

function describeSigner(source: IdentityTokenSource, token: string): string {
  const { issuer, subject } = readUnverifiedClaims(token);
  const who =
    subject === undefined ? '' : ` as ${subject}${issuer === undefined ? '' : ` (${issuer})`}`;
  return `identity token from ${source.description}${who}`;
}

function requireName(context: CommandContext, flag: 'product' | 'channel'): string {
  const value = optionalString(context, flag);
  if (value === undefined) {
    throw new AppError('INVALID_INPUT', `--${flag} is required`, {
      errors: [{ path: `--${flag}`, message: 'is required' }],
      hint: 'e.g. --product payments-api --channel prod',
    });
  }
  if (!PRODUCT_OR_CHANNEL_NAME.test(value)) {
    throw new AppError('INVALID_INPUT', `--${flag} must be lower-case letters, digits and dashes`, {
      errors: [{ path: `--${flag}`, message: 'must match [a-z0-9][a-z0-9-]{0,62}' }],
    });
  }
  return value;
}

function parseAlgorithm(value: string | boolean | undefined): HashAlgorithm {
  if (value === undefined) return 'sha256';
  if (isHashAlgorithm(value)) return value;
  throw new AppError('INVALID_INPUT', '--digest-algorithm must be sha256, sha384 or sha512', {
    errors: [{ path: '--digest-algorithm', message: 'must be sha256, sha384 or sha512' }],
  });
}

function parseConcurrency(value: string | boolean | undefined): number {
  if (value === undefined) return DEFAULT_SIGN_CONCURRENCY;
  const n = typeof value === 'string' && /^\d{1,2}$/.test(value) ? Number(value) : 0;
  if (n < 1 || n > MAX_SIGN_CONCURRENCY) {
    throw new AppError(
      'INVALID_INPUT',
      `--concurrency must be 1 to ${String(MAX_SIGN_CONCURRENCY)}`,
      {
        errors: [
          { path: '--concurrency', message: `must be 1 to ${String(MAX_SIGN_CONCURRENCY)}` },
        ],
      },
    );
  }
  return n;
}

function parseKind(value: string | boolean | undefined, hasStatement: boolean): SignKind {
  if (value === undefined) return hasStatement ? 'attestation' : 'artifact';
  if (value === 'artifact') {
    if (hasStatement) {
      throw new AppError('INVALID_INPUT', '--attest signs an attestation, not --kind artifact', {
        hint: 'drop --kind, or drop --attest to sign the files themselves',
      });
    }
    return 'artifact';
  }
  if (value === 'attestation') {
    if (!hasStatement) {
      throw new AppError('INVALID_INPUT', '--kind attestation needs --attest STATEMENT', {
        hint: 'pass the in-toto Statement v1 JSON to sign with --attest statement.json',
      });
    }
    return 'attestation';
  }
  throw new AppError('INVALID_INPUT', '--kind must be artifact or attestation', {
    errors: [{ path: '--kind', message: 'must be artifact or attestation' }],
  });
}
