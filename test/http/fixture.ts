/**
 * A Countersign server for in-process HTTP tests: the real composition (SQLite storage in a temp
 * data directory, real use cases, real logger) with a fake clock and captured log lines.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeService, type ComposeOverrides, type ComposedService } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import type { Clock } from '../../src/core/ports.ts';

/** A clock that moves only when told to. */
export interface FakeClock extends Clock {
  advance(milliseconds: number): void;
}

export function createFakeClock(start = Date.parse('2026-01-15T10:00:00Z')): FakeClock {
  let now = start;
  return {
    now: () => new Date(now),
    advance: (milliseconds) => {
      now += milliseconds;
    },
  };
}

export interface TestServer {
  readonly service: ComposedService;
  readonly clock: FakeClock;
  /** Every log line written so far, raw. */
  readonly logLines: string[];
  /** An admin API token string. */
  readonly adminToken: string;
  readonly dataDir: string;
  /** `Authorization` header value for `token`. */
  bearer(token?: string): { authorization: string };
  close(): Promise<void>;
}

export interface TestServerOptions extends Omit<ComposeOverrides, 'clock' | 'logDestination'> {
  /** Extra configuration flags, e.g. `['--log-level', 'trace']`. */
  readonly flags?: readonly string[];
  /** Configuration environment variables, e.g. `{ COUNTERSIGN_TRUSTED_PROXIES: '10.0.0.1' }`. */
  readonly env?: Readonly<Record<string, string>>;
  /** Open storage without applying migrations. */
  readonly migrate?: boolean;
  /** Skip creating the admin token (needs a migrated database). */
  readonly withoutAdmin?: boolean;
}

export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const { flags = [], env = {}, migrate = true, withoutAdmin = false, ...overrides } = options;
  const dataDir = await mkdtemp(join(tmpdir(), 'countersign-http-'));
  const config = loadConfig({
    env,
    argv: ['--data-dir', dataDir, '--log-level', 'info', ...flags],
    cwd: dataDir,
  });
  const clock = createFakeClock();
  const logLines: string[] = [];
  let service: ComposedService;
  try {
    service = await composeService(
      config,
      { migrate },
      {
        ...overrides,
        clock,
        logDestination: { write: (line: string) => void logLines.push(line) },
      },
    );
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const adminToken = withoutAdmin
    ? ''
    : (await service.services.apiTokens.createToken({ name: 'test-admin', role: 'admin' })).token;
  return {
    service,
    clock,
    logLines,
    adminToken,
    dataDir,
    bearer: (token = adminToken) => ({ authorization: `Bearer ${token}` }),
    async close() {
      await service.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

/** The parsed JSON body of an inject response. */
export function jsonOf(response: { body: string }): Record<string, unknown> {
  return JSON.parse(response.body) as Record<string, unknown>;
}
