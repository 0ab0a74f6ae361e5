/**
 * A log key for tests: a file key in a temporary directory that is removed after the test file,
 * and the checkpoint origin the service would give it.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after } from 'node:test';
import { loadOrCreateFileKey } from '../../src/adapters/keys/file-key.ts';
import type { KeyHandle } from '../../src/core/ports.ts';
import { defaultLogOrigin } from '../../src/app/log-keys.ts';

export interface TestLogKey {
  /** Purpose `log`. */
  readonly logKey: KeyHandle;
  /** `defaultLogOrigin('<name>.test', …)`. */
  readonly origin: string;
  /** The temporary directory holding the key, for more keys beside it. */
  readonly dir: string;
}

/** Creates the log key of a test file; `name` names its directory and origin host. */
export function createTestLogKey(name: string): TestLogKey {
  const dir = mkdtempSync(join(tmpdir(), `countersign-${name}-`));
  after(() => rmSync(dir, { recursive: true, force: true }));
  const logKey = loadOrCreateFileKey({ path: join(dir, 'log.pem'), id: 'log', purpose: 'log' });
  return { logKey, origin: defaultLogOrigin(`${name}.test`, logKey.publicKeySpki), dir };
}
