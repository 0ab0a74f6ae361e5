/**
 * The demo service for the signing and verification benchmarks: composed in this process on
 * SQLite in a temporary data directory (as `serve --demo` runs it), with workload tokens minted by
 * its own development issuer before any timing starts (each token's jti is single-use). The
 * request budgets (limits.*RequestsPerMinute) are lifted: the benchmarks measure capacity, and
 * one loopback client with one workload identity would otherwise meet them within a second.
 */
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { composeService, type ComposedService } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load-config.ts';

export interface BenchDemoService {
  readonly service: ComposedService;
  /** `count` fresh workload tokens of the demo workload, entitled on demo/dev. */
  mintTokens(count: number): Promise<string[]>;
  close(): Promise<void>;
}

/** Starts the demo service (not listening: call `service.server.listen` to serve HTTP). */
export async function startBenchDemoService(): Promise<BenchDemoService> {
  const dataDir = await mkdtemp(join(tmpdir(), 'countersign-bench-demo-'));
  let service: ComposedService;
  try {
    service = await composeService(
      loadConfig({
        env: {
          COUNTERSIGN_LIMITS_IP_REQUESTS_PER_MINUTE: '0',
          COUNTERSIGN_LIMITS_IDENTITY_REQUESTS_PER_MINUTE: '0',
        },
        argv: ['--demo', '--port', '0', '--data-dir', dataDir, '--log-level', 'silent'],
        cwd: dataDir,
      }),
      { migrate: true },
    );
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    throw error;
  }
  const issuer = service.devIssuer;
  return {
    service,
    async mintTokens(count) {
      if (issuer === undefined) throw new Error('the demo service runs no development issuer');
      const tokens: string[] = [];
      // The default lifetime (300 s) outlasts any one bench file.
      for (let i = 0; i < count; i++) tokens.push(await issuer.mintToken());
      return tokens;
    },
    async close() {
      try {
        await service.close();
      } finally {
        await rm(dataDir, { recursive: true, force: true });
      }
    },
  };
}

/** The body of `POST /v1/sign` for an artifact of the demo workspace with this sha256 digest. */
export function signArtifactBody(name: string, sha256Hex: string): Record<string, unknown> {
  return {
    product: 'demo',
    channel: 'dev',
    subject: { name, digest: { algorithm: 'sha256', value: sha256Hex } },
    kind: 'artifact',
  };
}
