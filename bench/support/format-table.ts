/** The benchmark report as a plain-text table. */
import type { Measurement } from './measure.ts';

export interface SuiteResults {
  readonly suite: string;
  readonly results: readonly Measurement[];
  /** Set when the file threw. */
  readonly error?: string;
}

/** One row per measurement: suite, name, ops/s, median, p99, ratio to its baseline. */
export function formatTable(suites: readonly SuiteResults[]): string {
  const header = ['suite', 'benchmark', 'ops/s', 'median', 'p99', 'vs baseline'];
  const rows: string[][] = [];
  for (const { suite, results, error } of suites) {
    for (const m of results) {
      rows.push(
        m.skipped === undefined
          ? [
              suite,
              m.name,
              formatRate(m.opsPerSecond),
              formatDuration(m.medianMs),
              formatDuration(m.p99Ms),
              m.ratio === undefined ? '' : `${m.ratio.toFixed(2)}× ${m.baseline ?? ''}`,
            ]
          : [suite, m.name, 'skipped', '', '', m.skipped],
      );
    }
    if (error !== undefined) rows.push([suite, 'FAILED', '', '', '', error]);
  }
  const widths = header.map((title, i) =>
    Math.max(title.length, ...rows.map((r) => (r[i] ?? '').length)),
  );
  const numeric = new Set([2, 3, 4]);
  const line = (cells: readonly string[]) =>
    cells
      .map((cell, i) =>
        numeric.has(i) ? cell.padStart(widths[i] ?? 0) : cell.padEnd(widths[i] ?? 0),
      )
      .join('  ')
      .trimEnd();
  return [line(header), line(widths.map((w) => '-'.repeat(w))), ...rows.map(line)].join('\n');
}

function formatRate(perSecond: number): string {
  return Math.round(perSecond).toLocaleString('en-US');
}

function formatDuration(ms: number): string {
  if (ms < 1) return `${(ms * 1000).toFixed(0)} µs`;
  if (ms < 100) return `${ms.toFixed(2)} ms`;
  return `${ms.toFixed(0)} ms`;
}
