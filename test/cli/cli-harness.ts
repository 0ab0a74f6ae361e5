/**
 * Runs the CLI two ways: in this process through `runCli` (fast, for parsing and rendering), and
 * as a real child process (for exit codes, signals and what a terminal actually sees).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { runCli } from '../../src/cli/main.ts';

export const ROOT = join(import.meta.dirname, '..', '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/** A clean environment: the developer's own COUNTERSIGN_* variables must not leak into tests. */
export function baseEnv(extra: Record<string, string> = {}): Record<string, string> {
  return { PATH: process.env['PATH'] ?? '', ...extra };
}

/** Runs the CLI in this process. */
export async function runInProcess(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string } = {},
): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  const code = await runCli(args, {
    stdout: (text) => {
      stdout += text;
    },
    stderr: (text) => {
      stderr += text;
    },
    env: options.env ?? {},
    cwd: options.cwd ?? ROOT,
  });
  return { code, stdout, stderr };
}

/** Starts the CLI as a child process on this Node (24 under the test runner). */
export function spawnCli(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; entry?: string } = {},
): ChildProcess {
  return spawn(process.execPath, [options.entry ?? MAIN, ...args], {
    cwd: options.cwd ?? ROOT,
    env: options.env ?? baseEnv(),
    stdio: ['ignore', 'pipe', 'pipe'],
  });
}

/** Runs the CLI as a child process to completion. */
export function runProcess(
  args: readonly string[],
  options: { env?: Record<string, string>; cwd?: string; entry?: string } = {},
): Promise<CliResult> {
  const child = spawnCli(args, options);
  return collect(child);
}

/** Collects a child's output until it exits. */
export function collect(child: ChildProcess): Promise<CliResult> {
  let stdout = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => {
      resolve({ code: code ?? (signal === null ? -1 : 128), stdout, stderr });
    });
  });
}

/**
 * Resolves with the first stdout line of `child` that `accept` returns a value for; rejects when
 * the child exits first or `timeoutMs` passes.
 */
export function waitForLine<T>(
  child: ChildProcess,
  accept: (line: string) => T | undefined,
  timeoutMs: number,
): Promise<T> {
  return new Promise((resolve, reject) => {
    let buffer = '';
    let stderr = '';
    const timer = setTimeout(() => {
      cleanup();
      reject(new Error(`no matching line within ${String(timeoutMs)} ms; stderr: ${stderr}`));
    }, timeoutMs);
    const onData = (chunk: Buffer) => {
      buffer += chunk.toString('utf8');
      let newline = buffer.indexOf('\n');
      while (newline !== -1) {
        const line = buffer.slice(0, newline);
        buffer = buffer.slice(newline + 1);
        const value = line.trim() === '' ? undefined : accept(line);
        if (value !== undefined) {
          cleanup();
          resolve(value);
          return;
        }
        newline = buffer.indexOf('\n');
      }
    };
    const onStderr = (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    };
    const onExit = (code: number | null) => {
      cleanup();
      reject(new Error(`exited with ${String(code)} before the line appeared; stderr: ${stderr}`));
    };
    const cleanup = () => {
      clearTimeout(timer);
      child.stdout?.off('data', onData);
      child.stderr?.off('data', onStderr);
      child.off('exit', onExit);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onStderr);
    child.once('exit', onExit);
  });
}

/** The URL of a `serve --json` child's `{"event":"listening","url":…}` line (for `waitForLine`). */
export function listeningUrl(line: string): string | undefined {
  try {
    const record = JSON.parse(line) as { event?: unknown; url?: unknown };
    return record.event === 'listening' && typeof record.url === 'string' ? record.url : undefined;
  } catch {
    return undefined;
  }
}
