/**
 * `countersign log info|verify|monitor|proof`: inspect and audit the transparency log. `verify` and
 * `monitor` trust the server for nothing: they check every byte against a checkpoint signed by
 * the log key (pin it with --public-key).
 */
import { createPublicKey } from 'node:crypto';
import { readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createLogNoteVerifier } from '../../app/log-keys.ts';
import {
  checkLogProgress,
  fetchConsistencyProofFromTiles,
  verifyLogFromTiles,
} from '../../app/verify-log.ts';
import type { MonitorState } from '../../app/verify-log.ts';
import type { LogIdentity } from '../../app/check-log-integrity.ts';
import { AppError } from '../../core/errors.ts';
import { parseCheckpoint } from '../../core/tlog/checkpoint.ts';
import type { CliCommand, CommandContext } from '../command.ts';
import { EXIT_CODES } from '../exit-codes.ts';
import { createProgress, type Progress } from '../progress.ts';

/** Largest response accepted from a log: a full tile is 8 KiB, an entry bundle at most 16 MiB. */
const MAX_RESPONSE_BYTES = 17 * 1024 * 1024;
const FETCH_TIMEOUT_MS = 30_000;

const URL_OPTION = {
  url: {
    type: 'string',
    valueName: 'URL',
    help: 'the log prefix, e.g. http://localhost:8080/log (default: <server>/log)',
  },
  'public-key': {
    type: 'string',
    valueName: 'FILE',
    help: 'the log public key (PEM); without it the key the server reports is trusted',
  },
} as const;

interface LogInfoView {
  readonly origin: string;
  readonly logId: string;
  readonly publicKey: string;
  readonly treeSize: string;
  readonly rootHash: string;
  readonly checkpoint: string;
}

const infoCommand: CliCommand = {
  name: 'info',
  summary: 'show the log origin, key, size and latest checkpoint',
  usage: 'log info [--server URL]',
  usesServer: true,
  async run(context) {
    const info = (await context.client().request('GET', '/v1/log')) as LogInfoView;
    if (context.json) {
      context.printJson(info);
      return 0;
    }
    context.print(`origin:    ${info.origin}`);
    context.print(`log id:    ${info.logId}`);
    context.print(`tree size: ${info.treeSize}`);
    context.print(`root hash: ${info.rootHash}`);
    context.print(`public key:\n${info.publicKey.trimEnd()}`);
    return 0;
  },
};

/** Entries above which `log verify` shows progress on a terminal unasked. */
const LOG_PROGRESS_MIN_ENTRIES = 100_000n;

const verifyCommand: CliCommand = {
  name: 'verify',
  summary: 'recompute the whole log from its entries and check it against the signed checkpoint',
  usage: 'log verify [--url URL] [--public-key FILE] | log verify --data-dir DIR',
  details: [
    'From a URL (default <server>/log): downloads every entry bundle (C2SP tlog-tiles), recomputes',
    'the Merkle root and checks it against the checkpoint signed by the log key.',
    "With --data-dir: checks a stopped service's own database offline, every entry and tree node,",
    'and names the first bad index. Exits 1 when the log does not verify.',
  ].join('\n'),
  usesServer: true,
  readsConfig: true,
  options: {
    ...URL_OPTION,
    progress: {
      type: 'boolean',
      help: 'show progress on stderr even when it is not a terminal (throttled lines)',
    },
  },
  async run(context) {
    if (typeof context.flags['data-dir'] === 'string') return verifyDataDir(context);
    const prefix = logPrefix(context);
    const identity = await resolveIdentity(context, prefix);
    const note = await fetchText(`${prefix}/checkpoint`);
    const started = Date.now();
    // One line rewritten on a terminal (large logs), throttled lines with --progress, else quiet.
    let progress: Progress | undefined;
    const result = await verifyLogFromTiles(
      note,
      identity,
      (path) => fetchBytes(`${prefix}/${path}`),
      (done, total) => {
        progress ??= createProgress(context, total >= LOG_PROGRESS_MIN_ENTRIES);
        progress.update(`verified ${String(done)}/${String(total)} entries`);
      },
    );
    progress?.done();
    const summary = {
      verified: true,
      origin: identity.origin,
      treeSize: result.treeSize.toString(),
      rootHash: Buffer.from(result.rootHash).toString('base64'),
    };
    if (context.json) context.printJson(summary);
    else
      context.print(
        `log verified: ${summary.treeSize} entries match the signed root ${summary.rootHash} (${Date.now() - started} ms)`,
      );
    return 0;
  },
};

/** The offline check of a data directory: the same integrity check the service runs at start. */
async function verifyDataDir(context: CommandContext): Promise<number> {
  const { composeApp, missingEmbeddedDatabase } = await import('../../compose.ts');
  const config = context.loadConfig();
  // An audit reads what exists: a mistyped --data-dir must not create an empty installation.
  const missing = missingEmbeddedDatabase(config);
  if (missing !== undefined) {
    throw new AppError('NOT_FOUND', `no Countersign database at ${missing}`, {
      hint: 'name the data directory of the service with --data-dir (or COUNTERSIGN_DATA_DIR)',
    });
  }
  const app = await composeApp(config, { migrate: false });
  try {
    const report = app.log.integrity;
    const summary = {
      verified: report.ok,
      treeSize: report.treeSize.toString(),
      ...(report.firstBadIndex === undefined
        ? {}
        : { firstBadIndex: report.firstBadIndex.toString() }),
      ...(report.problem === undefined ? {} : { problem: report.problem }),
    };
    if (context.json) context.printJson(summary);
    else if (report.ok)
      context.print(
        `log verified: ${summary.treeSize} entries and every tree node match the signed checkpoint`,
      );
    else context.print(`LOG DOES NOT VERIFY: ${report.problem ?? 'unknown problem'}`);
    return report.ok ? 0 : EXIT_CODES.VERIFICATION_FAILED;
  } finally {
    await app.close();
  }
}

const monitorCommand: CliCommand = {
  name: 'monitor',
  summary: 'check that the log only grew since the last run (detects forks and rollbacks)',
  usage: 'log monitor --state FILE [--url URL] [--public-key FILE]',
  details: [
    'Fetches the current checkpoint, proves (from hash tiles) that it extends the one stored in the',
    'state file, and saves it. On a fork or rollback it exits 1 and prints both signed checkpoints:',
    'two checkpoints signed by the same key that contradict each other are proof of misbehaviour.',
    'Run it from cron or a CI schedule; keep the state file somewhere the log operator cannot write.',
  ].join('\n'),
  usesServer: true,
  options: {
    ...URL_OPTION,
    state: {
      type: 'string',
      valueName: 'FILE',
      help: 'where the last accepted checkpoint is kept',
    },
  },
  async run(context) {
    const statePath = context.flags['state'];
    if (typeof statePath !== 'string')
      throw new AppError('INVALID_INPUT', 'log monitor needs --state FILE');
    const prefix = logPrefix(context);
    const identity = await resolveIdentity(context, prefix);
    const previous = readState(statePath);
    const outcome = await checkLogProgress(
      previous,
      identity,
      () => fetchText(`${prefix}/checkpoint`),
      (from, to) =>
        fetchConsistencyProofFromTiles(from, to, (path) => fetchBytes(`${prefix}/${path}`)),
    );
    switch (outcome.status) {
      case 'first':
      case 'unchanged':
      case 'grew': {
        writeState(statePath, { checkpoint: outcome.note });
        const line = { status: outcome.status, treeSize: outcome.current.treeSize.toString() };
        if (context.json) context.printJson(line);
        else
          context.print(
            `log ${outcome.status === 'first' ? 'first seen' : outcome.status} at ${line.treeSize} entries`,
          );
        return 0;
      }
      case 'fork':
      case 'rollback': {
        const evidence = {
          status: outcome.status,
          reason: outcome.reason,
          previousCheckpoint: outcome.previousNote,
          currentCheckpoint: outcome.currentNote,
        };
        if (context.json) context.printJson(evidence);
        else {
          context.print(`LOG ${outcome.status.toUpperCase()}: ${outcome.reason}`);
          context.print(`previously seen checkpoint:\n${outcome.previousNote}`);
          context.print(`checkpoint served now:\n${outcome.currentNote}`);
        }
        return EXIT_CODES.VERIFICATION_FAILED;
      }
    }
  },
};

const proofCommand: CliCommand = {
  name: 'proof',
  summary: 'print an inclusion proof (--index) or a consistency proof (--from, --to)',
  usage: 'log proof --index N [--tree-size N] | log proof --from N --to N',
  usesServer: true,
  options: {
    index: { type: 'string', valueName: 'N', help: 'entry index' },
    'tree-size': {
      type: 'string',
      valueName: 'N',
      help: 'tree size to prove against (default: latest)',
    },
    from: { type: 'string', valueName: 'N', help: 'older tree size' },
    to: { type: 'string', valueName: 'N', help: 'newer tree size' },
  },
  async run(context) {
    const { index, from, to } = context.flags;
    const treeSize = context.flags['tree-size'];
    let proof: unknown;
    if (typeof index === 'string') {
      const query = new URLSearchParams({
        index,
        ...(typeof treeSize === 'string' ? { treeSize } : {}),
      });
      proof = await context.client().request('GET', `/v1/log/proofs/inclusion?${query.toString()}`);
    } else if (typeof from === 'string' && typeof to === 'string') {
      proof = await context
        .client()
        .request(
          'GET',
          `/v1/log/proofs/consistency?${new URLSearchParams({ from, to }).toString()}`,
        );
    } else {
      throw new AppError('INVALID_INPUT', 'log proof needs --index N, or --from N and --to N');
    }
    if (context.json) context.printJson(proof);
    else context.print(JSON.stringify(proof, null, 2));
    return 0;
  },
};

export const logCommand: CliCommand = {
  name: 'log',
  summary: 'inspect, verify and monitor the transparency log',
  usage: 'log info|verify|monitor|proof',
  subcommands: [infoCommand, verifyCommand, monitorCommand, proofCommand],
};

function logPrefix(context: CommandContext): string {
  const url = context.flags['url'];
  const prefix = typeof url === 'string' ? url : `${context.client().server}/log`;
  return prefix.replace(/\/+$/, '');
}

/** The log identity to check against: the pinned key file, else the key the server reports. */
async function resolveIdentity(context: CommandContext, prefix: string): Promise<LogIdentity> {
  const keyFile = context.flags['public-key'];
  const note = await fetchText(`${prefix}/checkpoint`);
  const origin = parseCheckpoint(note.slice(0, note.indexOf('\n\n') + 1)).origin;
  let pem: string;
  if (typeof keyFile === 'string') {
    try {
      pem = readFileSync(keyFile, 'utf8');
    } catch (cause) {
      throw new AppError('INVALID_INPUT', `cannot read --public-key ${keyFile}`, {
        cause,
        hint: 'name the log public key PEM (`countersign log info` prints it)',
      });
    }
  } else {
    const info = (await context.client().request('GET', '/v1/log')) as LogInfoView;
    pem = info.publicKey;
    context.note('warning: trusting the log key the server reports; pin it with --public-key FILE');
  }
  let spki: Uint8Array;
  try {
    spki = new Uint8Array(createPublicKey(pem).export({ type: 'spki', format: 'der' }));
  } catch (cause) {
    throw new AppError('INVALID_INPUT', 'the log public key is not a PEM public key', { cause });
  }
  return { origin, verifier: createLogNoteVerifier(origin, spki) };
}

async function fetchBytes(url: string): Promise<Uint8Array> {
  let response: Response;
  try {
    response = await fetch(url, {
      redirect: 'error',
      signal: AbortSignal.timeout(FETCH_TIMEOUT_MS),
    });
  } catch (cause) {
    throw new AppError('UPSTREAM_UNAVAILABLE', `cannot fetch ${url}`, { cause });
  }
  if (!response.ok) {
    throw new AppError(
      response.status === 404 ? 'NOT_FOUND' : 'UPSTREAM_UNAVAILABLE',
      `${url} answered ${response.status}`,
    );
  }
  const length = Number(response.headers.get('content-length') ?? '0');
  if (length > MAX_RESPONSE_BYTES)
    throw new AppError('VERIFICATION_FAILED', `${url} is larger than any tile`);
  const bytes = new Uint8Array(await response.arrayBuffer());
  if (bytes.length > MAX_RESPONSE_BYTES)
    throw new AppError('VERIFICATION_FAILED', `${url} is larger than any tile`);
  return bytes;
}

async function fetchText(url: string): Promise<string> {
  return new TextDecoder('utf-8', { fatal: true }).decode(await fetchBytes(url));
}

function readState(path: string): MonitorState | undefined {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new AppError('INVALID_INPUT', `cannot read the state file ${path}`, { cause: error });
  }
  let parsed: { checkpoint?: unknown } | null;
  try {
    parsed = JSON.parse(text) as { checkpoint?: unknown } | null;
  } catch {
    parsed = null;
  }
  if (typeof parsed?.checkpoint !== 'string') {
    throw new AppError('INVALID_INPUT', `${path} is not a log monitor state file`, {
      hint: 'point --state at the file log monitor keeps (a new path starts a new state)',
    });
  }
  return { checkpoint: parsed.checkpoint };
}

/** Write-temp then rename: a crash never leaves a half-written state file. */
function writeState(path: string, state: MonitorState): void {
  const temp = `${path}.tmp-${process.pid}`;
  try {
    writeFileSync(temp, JSON.stringify(state, null, 2) + '\n', { mode: 0o600 });
    renameSync(temp, path);
  } catch (cause) {
    throw new AppError('INVALID_INPUT', `cannot write the state file ${path}`, {
      cause,
      hint: 'give --state a path in a directory that exists and is writable',
    });
  }
}
