/**
 * What a `bench/*.bench.ts` file gets: its default export is `(bench: Bench) => Promise<void>`
 * and records measurements through it.
 *
 * @example
 * export default async function (bench: Bench) {
 *   const raw = await bench.measure('sha256 1 KiB', () => hash(kib));
 *   await bench.measure('leaf hash 1 KiB', () => hashLeaf(kib), { baseline: raw.name });
 * }
 */
import {
  measure,
  measureConcurrent,
  type ConcurrentMeasureOptions,
  type MeasureOptions,
  type Measurement,
} from './measure.ts';

export interface BenchOptions extends MeasureOptions {
  /** Name of an earlier measurement of this file to report the ratio against. */
  readonly baseline?: string;
}

/** A benchmark file's entry point. */
export type BenchFile = (bench: Bench) => Promise<void>;

export class Bench {
  /** The file's name without `.bench.ts`. */
  readonly suite: string;
  readonly #results: Measurement[] = [];

  constructor(suite: string) {
    this.suite = suite;
  }

  /** Measures `operation` (see `measure`) and records it, with its ratio to `options.baseline`. */
  async measure(
    name: string,
    operation: (call: number) => unknown,
    options: BenchOptions = {},
  ): Promise<Measurement> {
    return this.#record(await measure(name, operation, options), options.baseline);
  }

  /** Measures `operation` under `options.concurrency` callers (see `measureConcurrent`) and records it. */
  async measureConcurrent(
    name: string,
    operation: (call: number) => unknown,
    options: ConcurrentMeasureOptions & { readonly baseline?: string },
  ): Promise<Measurement> {
    return this.#record(await measureConcurrent(name, operation, options), options.baseline);
  }

  #record(measured: Measurement, baseline: string | undefined): Measurement {
    const base = this.#results.find((m) => m.name === baseline);
    if (baseline !== undefined && base === undefined) {
      throw new Error(`baseline "${baseline}" was not measured before "${measured.name}"`);
    }
    const result: Measurement =
      base === undefined
        ? measured
        : { ...measured, baseline: base.name, ratio: measured.opsPerSecond / base.opsPerSecond };
    this.#results.push(result);
    return result;
  }

  /** Records that `name` could not be measured here, and why. */
  skip(name: string, reason: string): void {
    this.#results.push({ name, calls: 0, opsPerSecond: 0, medianMs: 0, p99Ms: 0, skipped: reason });
  }

  get results(): readonly Measurement[] {
    return this.#results;
  }
}
