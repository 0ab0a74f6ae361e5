/**
 * Measures one operation: warm-up, then calls until an iteration count or a duration is reached,
 * timing each call. Reports throughput and per-call latency percentiles. Machines are noisy, so
 * results are read as ratios against a baseline measured in the same run (DESIGN.md §8).
 */

export interface MeasureOptions {
  /** Untimed calls first, to warm caches and the JIT. Default 5. */
  readonly warmupCalls?: number;
  /** Stop after this many timed calls. */
  readonly calls?: number;
  /** Or after this long, in ms (default 1000 when `calls` is not given). */
  readonly durationMs?: number;
  /** Operations one call performs (rows of a batch, say), for ops/s. Default 1. */
  readonly opsPerCall?: number;
}

export interface Measurement {
  readonly name: string;
  /** Timed calls. */
  readonly calls: number;
  /** Operations per second: calls · opsPerCall / total time. */
  readonly opsPerSecond: number;
  /** Per-call latency in milliseconds. */
  readonly medianMs: number;
  readonly p99Ms: number;
  /** The measurement of the same run this one is compared with, by name. */
  readonly baseline?: string;
  /** `opsPerSecond / baseline.opsPerSecond`, filled in by the report. */
  readonly ratio?: number;
  /** Why it was not measured. */
  readonly skipped?: string;
}

/**
 * Calls `operation` repeatedly and measures it. `operation(i)` gets the timed call's number, so a
 * caller can hand each call pre-built input without timing its construction.
 */
export async function measure(
  name: string,
  operation: (call: number) => unknown,
  options: MeasureOptions = {},
): Promise<Measurement> {
  const warmupCalls = options.warmupCalls ?? 5;
  for (let i = 0; i < warmupCalls; i++) await operation(-1 - i);
  const maxCalls = options.calls ?? Number.POSITIVE_INFINITY;
  const durationMs = options.calls === undefined ? (options.durationMs ?? 1000) : Infinity;
  const samples: number[] = [];
  const started = performance.now();
  let now = started;
  while (samples.length < maxCalls && now - started < durationMs) {
    const before = now;
    await operation(samples.length);
    now = performance.now();
    samples.push(now - before);
  }
  const totalMs = now - started;
  return {
    name,
    calls: samples.length,
    opsPerSecond: (samples.length * (options.opsPerCall ?? 1) * 1000) / totalMs,
    medianMs: percentile(samples, 0.5),
    p99Ms: percentile(samples, 0.99),
  };
}

/** The `q`-quantile (0..1) of `samples` by nearest rank; 0 for no samples. */
export function percentile(samples: readonly number[], q: number): number {
  if (samples.length === 0) return 0;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? 0;
}

export interface ConcurrentMeasureOptions {
  /** Callers running `operation` in a loop at once. */
  readonly concurrency: number;
  /** How long to keep them running, in ms (default 2000). */
  readonly durationMs?: number;
  /** Untimed calls per caller first. Default 2. */
  readonly warmupCalls?: number;
  /** Operations one call performs, for ops/s. Default 1. */
  readonly opsPerCall?: number;
}

/**
 * Runs `operation` from `concurrency` callers at once for a duration: throughput of the whole, and
 * the latency each call saw under that load (what a client of a busy service experiences).
 */
export async function measureConcurrent(
  name: string,
  operation: (call: number) => unknown,
  options: ConcurrentMeasureOptions,
): Promise<Measurement> {
  const warmupCalls = options.warmupCalls ?? 2;
  await Promise.all(
    Array.from({ length: options.concurrency }, async (_, worker) => {
      for (let i = 0; i < warmupCalls; i++) await operation(-1 - worker * warmupCalls - i);
    }),
  );
  const durationMs = options.durationMs ?? 2000;
  const samples: number[] = [];
  const started = performance.now();
  let calls = 0;
  await Promise.all(
    Array.from({ length: options.concurrency }, async () => {
      while (performance.now() - started < durationMs) {
        const before = performance.now();
        await operation(calls++);
        samples.push(performance.now() - before);
      }
    }),
  );
  const totalMs = performance.now() - started;
  return {
    name,
    calls: samples.length,
    opsPerSecond: (samples.length * (options.opsPerCall ?? 1) * 1000) / totalMs,
    medianMs: percentile(samples, 0.5),
    p99Ms: percentile(samples, 0.99),
  };
}
