/**
 * Drives `storage-child.ts` from a test: spawn it under the same Node (the test runner's
 * `process.execPath` is Node 24), read its lines as they come, kill it.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { join } from 'node:path';
import type { StorageOptions } from '../../src/adapters/storage/open-storage.ts';

const CHILD_SCRIPT = join(import.meta.dirname, 'storage-child.ts');

export interface StorageChild {
  readonly process: ChildProcessWithoutNullStreams;
  /** Every complete line printed so far. */
  readonly lines: string[];
  /** Resolves with the first line matching `pattern` (rejects if the child exits first). */
  waitForLine(pattern: RegExp): Promise<string>;
  /** Resolves when the child has exited. */
  readonly exited: Promise<void>;
  /** Everything written to stderr, for failure messages. */
  stderr(): string;
}

/** What `storage-child.ts` does (see its header). */
export type StorageChildMode = 'hold' | 'open' | 'write' | 'commit';

/** The command line of `storage-child.ts <mode> <options> [...args]`, to run it under a wrapper. */
export function storageChildCommand(
  mode: StorageChildMode,
  options: StorageOptions,
  ...args: string[]
): [string, ...string[]] {
  return [process.execPath, CHILD_SCRIPT, mode, JSON.stringify(options), ...args];
}

/** Starts `storage-child.ts <mode> <options> [...args]`. */
export function spawnStorageChild(
  mode: StorageChildMode,
  options: StorageOptions,
  ...args: string[]
): StorageChild {
  const [command, ...commandArgs] = storageChildCommand(mode, options, ...args);
  const child = spawn(command, commandArgs, { stdio: ['pipe', 'pipe', 'pipe'] });
  const lines: string[] = [];
  let partial = '';
  let errors = '';
  const waiters: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  child.stdout.setEncoding('utf8');
  child.stdout.on('data', (chunk: string) => {
    const parts = (partial + chunk).split('\n');
    partial = parts.pop() ?? '';
    for (const line of parts) {
      lines.push(line);
      for (const waiter of [...waiters]) {
        if (waiter.pattern.test(line)) {
          waiters.splice(waiters.indexOf(waiter), 1);
          waiter.resolve(line);
        }
      }
    }
  });
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (chunk: string) => (errors += chunk));
  const exited = new Promise<void>((resolve) => child.on('close', () => resolve()));
  return {
    process: child,
    lines,
    stderr: () => errors,
    exited,
    waitForLine(pattern) {
      const seen = lines.find((line) => pattern.test(line));
      if (seen !== undefined) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({ pattern, resolve });
        void exited.then(() =>
          reject(new Error(`child exited before printing ${pattern}; stderr:\n${errors}`)),
        );
      });
    },
  };
}
