/**
 * What a test does when a system component it needs (PostgreSQL binaries, SoftHSM2, Chromium…)
 * is missing: it is skipped with a loud reason, except in CI (COUNTERSIGN_REQUIRE_ALL=1), where a
 * skip would hide a gap and the test fails instead (STYLE.md "Tests").
 */
import assert from 'node:assert/strict';
import { it, type TestContext } from 'node:test';

/** True when every component is required (CI): a missing one fails instead of skipping. */
export function isEveryComponentRequired(): boolean {
  return process.env['COUNTERSIGN_REQUIRE_ALL'] === '1';
}

/**
 * Inside a running test: returns true when `available`. Otherwise fails the test (CI) or skips
 * it, warning on stderr, and returns false; the caller then returns at once.
 *
 * @example
 * it('stores tokens', async (t) => {
 *   if (!requireComponent(t, 'PostgreSQL', cluster !== undefined, POSTGRES_MISSING_REASON)) return;
 *   …
 * });
 */
export function requireComponent(
  t: TestContext,
  name: string,
  available: boolean,
  reason: string,
): boolean {
  if (available) return true;
  const message = missingMessage(name, reason);
  if (isEveryComponentRequired()) assert.fail(`${message} (COUNTERSIGN_REQUIRE_ALL=1)`);
  warnOnce(message);
  t.skip(message);
  return false;
}

/**
 * Inside a `describe`, before registering the tests that need `name`: returns true when
 * `available`. Otherwise registers one placeholder test, skipped with the reason or failing in
 * CI, and returns false so the caller registers nothing else.
 */
export function requireComponentForSuite(
  name: string,
  available: boolean,
  reason: string,
): boolean {
  if (available) return true;
  const message = missingMessage(name, reason);
  if (isEveryComponentRequired()) {
    it(`needs ${name} (COUNTERSIGN_REQUIRE_ALL=1)`, () => assert.fail(message));
  } else {
    warnOnce(message);
    it(`needs ${name}`, { skip: message }, () => undefined);
  }
  return false;
}

function missingMessage(name: string, reason: string): string {
  return `SKIPPED: ${name} is not available: ${reason}`;
}

const warned = new Set<string>();

function warnOnce(message: string): void {
  if (warned.has(message)) return;
  warned.add(message);
  console.warn(message);
}
