/**
 * The transparency log as the service runs it: checked at start-up, then read and appended to.
 * A log that fails its integrity check stays readable (so operators and monitors can see what
 * happened) but refuses every append and keeps the service not-ready (threat-model FT-10).
 */
import { AppError } from '../core/errors.ts';
import type { Clock, KeyHandle, Storage } from '../core/ports.ts';
import { createEventLog } from './append-event.ts';
import type { EventLog } from './append-event.ts';
import { checkLogIntegrity } from './check-log-integrity.ts';
import type { LogIntegrityReport } from './check-log-integrity.ts';
import { createLogNoteVerifier, describeLog } from './log-keys.ts';
import { createLogNodeCache, DEFAULT_NODE_CACHE_BYTES } from './log-node-cache.ts';
import type { LogNodeCache, LogNodeCacheOptions } from './log-node-cache.ts';
import { openLogSequencer } from './log-sequencer.ts';
import type {
  LogAppend,
  LogAppendResult,
  LogFaultHook,
  LogSequencer,
  LogWrite,
} from './log-sequencer.ts';
import { createLogReader } from './read-log.ts';
import type { LogReader } from './read-log.ts';

export interface TransparencyLog {
  readonly reader: LogReader;
  readonly events: EventLog;
  /** Appends entries; refuses with STORAGE_UNAVAILABLE when the integrity check failed. */
  append(entries: readonly LogAppend[]): Promise<LogAppendResult[]>;
  /** `LogSequencer.write`: a write committed with the next batch; refused like `append`. */
  write(work: LogWrite): Promise<void>;
  /** The start-up integrity check's result. */
  readonly integrity: LogIntegrityReport;
  /** Whether the log can take appends, and why not. */
  readiness(): { readonly ok: boolean; readonly problem?: string };
  /** Waits for the batch in flight and stops. */
  close(): Promise<void>;
}

export interface OpenTransparencyLogOptions {
  readonly storage: Storage;
  readonly clock: Clock;
  readonly logKey: KeyHandle;
  readonly origin: string;
  /** Reports progress of the start-up check on large logs. */
  readonly onIntegrityProgress?: (checked: bigint, total: bigint) => void;
  /**
   * The in-memory copy of the tree's node hashes that proofs and tiles are served from (default
   * `DEFAULT_NODE_CACHE_BYTES`; `maxBytes: 0` reads every node from storage).
   */
  readonly nodeCache?: LogNodeCacheOptions;
  /** Test-only: see `LogSequencerOptions.faultHook`. */
  readonly faultHook?: LogFaultHook;
}

/**
 * Checks every stored entry and node against the last signed checkpoint, then opens the
 * sequencer. Never throws for a damaged log: the damage is reported through `integrity` and
 * `readiness()`; throws STORAGE_UNAVAILABLE when storage cannot be read at all.
 */
export async function openTransparencyLog(
  options: OpenTransparencyLogOptions,
): Promise<TransparencyLog> {
  const { storage, clock, logKey, origin } = options;
  const identity = { origin, verifier: createLogNoteVerifier(origin, logKey.publicKeySpki) };
  const integrity = await checkLogIntegrity(storage, identity, options.onIntegrityProgress);
  let sequencer: LogSequencer | undefined;
  let nodeCache: LogNodeCache | undefined;
  let problem: string | undefined;
  if (integrity.ok) {
    sequencer = await openLogSequencer({
      storage,
      clock,
      logKey,
      origin,
      ...(options.faultHook === undefined ? {} : { faultHook: options.faultHook }),
    });
    // Filled from the checked tree in the background; until then proofs read storage.
    nodeCache = createLogNodeCache(
      storage.log,
      options.nodeCache ?? { maxBytes: DEFAULT_NODE_CACHE_BYTES },
    );
    nodeCache.follow(integrity.treeSize);
  } else {
    const where =
      integrity.firstBadIndex === undefined ? '' : ` at index ${integrity.firstBadIndex}`;
    problem = `the log failed its integrity check${where}: ${integrity.problem ?? 'unknown problem'}; appends are refused`;
  }
  const refuse = (): Promise<never> =>
    Promise.reject(
      new AppError('STORAGE_UNAVAILABLE', problem ?? 'the log is not open', {
        hint: 'run countersign log verify and restore the log from a backup',
      }),
    );
  const append = (entries: readonly LogAppend[]): Promise<LogAppendResult[]> =>
    sequencer === undefined ? refuse() : sequencer.append(entries);
  const write = (work: LogWrite): Promise<void> =>
    sequencer === undefined ? refuse() : sequencer.write(work);
  return {
    reader: createLogReader(
      storage.log,
      describeLog(origin, logKey.publicKeySpki),
      nodeCache === undefined ? {} : { nodeCache },
    ),
    events: createEventLog({ append }),
    append,
    write,
    integrity,
    readiness: () => (problem === undefined ? { ok: true } : { ok: false, problem }),
    async close() {
      await sequencer?.close();
      await nodeCache?.close();
    },
  };
}

/**
 * A log that cannot be opened yet (the database schema is behind the code): reads and appends
 * fail with `problem`, and readiness says so.
 */
export function unavailableTransparencyLog(
  storage: Storage,
  logKey: KeyHandle,
  origin: string,
  problem: string,
): TransparencyLog {
  const append = (): Promise<never> => Promise.reject(new AppError('STORAGE_UNAVAILABLE', problem));
  const integrity: LogIntegrityReport = { ok: false, treeSize: 0n, problem };
  return {
    reader: createLogReader(storage.log, describeLog(origin, logKey.publicKeySpki)),
    events: createEventLog({ append }),
    append,
    write: append,
    integrity,
    readiness: () => ({ ok: false, problem }),
    close: () => Promise.resolve(),
  };
}
