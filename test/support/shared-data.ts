/**
 * Access to `../shared` (third-party vectors and conformance data, never copied into the repo).
 * Suites that need it skip loudly when it is absent; with COUNTERSIGN_REQUIRE_ALL=1 (CI) they fail.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { it } from 'node:test';
import assert from 'node:assert/strict';

/** `<project>/../shared`. */
export const SHARED_DIR = path.join(import.meta.dirname, '..', '..', '..', 'shared');

/** A path inside `../shared`. */
export function sharedPath(...parts: string[]): string {
  return path.join(SHARED_DIR, ...parts);
}

/**
 * Call inside a `describe` before registering tests that read `dir`. Returns true when it exists.
 * Otherwise registers one test that is skipped with the reason (and warns on stderr), or fails
 * when COUNTERSIGN_REQUIRE_ALL=1, and returns false so the caller registers nothing else.
 */
export function requireSharedData(dir: string, what: string): boolean {
  if (existsSync(dir)) return true;
  const reason = `SKIPPED: ${what} not found at ${dir} (../shared is absent)`;
  if (process.env['COUNTERSIGN_REQUIRE_ALL'] === '1') {
    it(`needs ${what} (COUNTERSIGN_REQUIRE_ALL=1)`, () => assert.fail(reason));
  } else {
    console.warn(reason);
    it(`needs ${what}`, { skip: reason }, () => undefined);
  }
  return false;
}
