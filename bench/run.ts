/**
 * `npm run bench [-- [--json] [name…]]`: runs every `bench/*.bench.ts` (or those named, by file
 * name without `.bench.ts`) one after the other in this process and prints one table: ops/s,
 * median and p99 latency, and the ratio to each measurement's baseline from the same run.
 * `--json` prints the results as JSON instead. Progress goes to stderr.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { Bench, type BenchFile } from './support/bench.ts';
import { formatTable, type SuiteResults } from './support/format-table.ts';

const BENCH_SUFFIX = '.bench.ts';

const args = process.argv.slice(2);
const asJson = args.includes('--json');
const wanted = args.filter((arg) => !arg.startsWith('--'));
const available = readdirSync(import.meta.dirname)
  .filter((file) => file.endsWith(BENCH_SUFFIX))
  .map((file) => file.slice(0, -BENCH_SUFFIX.length))
  .sort();
const unknown = wanted.filter((name) => !available.includes(name));
if (unknown.length > 0) {
  console.error(`unknown benchmark(s): ${unknown.join(', ')}; available: ${available.join(', ')}`);
  process.exit(2);
}

const suites: SuiteResults[] = [];
for (const suite of wanted.length > 0 ? wanted : available) {
  const bench = new Bench(suite);
  const started = performance.now();
  console.error(`bench: ${suite}…`);
  try {
    const module = (await import(
      pathToFileURL(join(import.meta.dirname, suite + BENCH_SUFFIX)).href
    )) as {
      default?: unknown;
    };
    if (typeof module.default !== 'function') throw new Error('no default export function');
    await (module.default as BenchFile)(bench);
    suites.push({ suite, results: bench.results });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    suites.push({ suite, results: bench.results, error: message });
    console.error(error);
  }
  console.error(`bench: ${suite} took ${((performance.now() - started) / 1000).toFixed(1)} s`);
}

if (asJson) {
  console.log(
    JSON.stringify({ node: process.version, platform: process.platform, suites }, null, 2),
  );
} else {
  console.log(`Node ${process.version} on ${process.platform}/${process.arch}\n`);
  console.log(formatTable(suites));
}
process.exitCode = suites.some((s) => s.error !== undefined) ? 1 : 0;
