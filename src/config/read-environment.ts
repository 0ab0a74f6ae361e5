/**
 * The one place that touches `process.env`: entry points call this once and pass the snapshot on.
 */

/** A frozen snapshot of the process environment. */
export function readEnvironment(): Readonly<Record<string, string | undefined>> {
  return Object.freeze({ ...process.env });
}
