/**
 * Governance evidence: every signing and governance event becomes an entry of kind
 * `countersign.event/v1` in the transparency log (DESIGN.md §7, issue "Transparency log" item 8).
 */
import { canonicalJsonBytes } from '../core/canonical-json.ts';
import { AppError } from '../core/errors.ts';
import type { StorageSession } from '../core/ports.ts';
import type { LogAppendResult, LogSequencer } from './log-sequencer.ts';

/** The log entry kind of governance events. */
export const EVENT_ENTRY_KIND = 'countersign.event/v1';

/** Event kinds are dotted lower-case words, e.g. `token.created`, `signing.decided`. */
const EVENT_KIND_PATTERN = /^[a-z][a-z0-9-]*(\.[a-z][a-z0-9-]*)+$/;

export interface AppendEventOptions {
  /** A retry with the same key returns the first entry (see `LogAppend.idempotencyKey`). */
  readonly idempotencyKey?: string;
  /** Work that commits atomically with the event (see `LogAppend.effect`). */
  readonly effect?: (
    session: StorageSession,
    entry: { readonly index: bigint; readonly integratedTime: number },
  ) => Promise<void>;
}

/** Appends governance events to the log. */
export interface EventLog {
  /**
   * Appends one event and resolves once it is durably in the log. The entry body is the RFC 8785
   * canonical JSON of `{ apiVersion, kind, body }`, so anyone can recompute its leaf hash.
   * Throws INVALID_INPUT for a malformed kind or a body that is not canonicalisable JSON.
   */
  appendEvent(
    kind: string,
    body: Readonly<Record<string, unknown>>,
    options?: AppendEventOptions,
  ): Promise<LogAppendResult>;
}

/** Encodes an event as the exact bytes stored in the log. */
export function encodeEvent(kind: string, body: Readonly<Record<string, unknown>>): Uint8Array {
  if (!EVENT_KIND_PATTERN.test(kind)) {
    throw new AppError(
      'INVALID_INPUT',
      `event kind ${JSON.stringify(kind)} is not dotted lower-case words`,
    );
  }
  return canonicalJsonBytes({ apiVersion: EVENT_ENTRY_KIND, kind, body });
}

/** The event log over a sequencer. */
export function createEventLog(sequencer: Pick<LogSequencer, 'append'>): EventLog {
  return {
    async appendEvent(kind, body, options = {}) {
      const [result] = await sequencer.append([
        {
          kind: EVENT_ENTRY_KIND,
          body: encodeEvent(kind, body),
          ...(options.idempotencyKey === undefined
            ? {}
            : { idempotencyKey: options.idempotencyKey }),
          ...(options.effect === undefined ? {} : { effect: options.effect }),
        },
      ]);
      if (result === undefined) throw new AppError('INTERNAL', 'the log returned no result');
      return result;
    },
  };
}
