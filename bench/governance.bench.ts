/**
 * Who may sign what (issue "Who may sign what" item 7, DESIGN.md §8):
 *
 * - baseline: a bare ES256 `jwtVerify` (jose) with a local public key, the work no token check
 *   can skip;
 * - workload-token verification by the OIDC verifier with a warm JWKS cache (header checks,
 *   issuer pinning, signature, times, audience, claim normalisation), against the development
 *   issuer on loopback;
 * - the signing decision (entitlements + Cedar policies) with the shipped policies on the example
 *   governance, and with 1,000 entitlements: p50/p99 (target p99 under 1 ms; reported, not
 *   asserted);
 * - a whole recorded decision (`decideSigning`: verify, decide, append `signing.decided` to the log
 *   on SQLite with a durable commit), one at a time and with 32 concurrent callers (group commit).
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { importJWK, jwtVerify } from 'jose';
import { startDevIssuer } from '../src/adapters/identity/dev-issuer.ts';
import { createMemoryTokenIdStore } from '../src/adapters/identity/memory-token-id-store.ts';
import { createOidcVerifier } from '../src/adapters/identity/oidc-verifier.ts';
import { systemClock } from '../src/adapters/system/system-clock.ts';
import { compileGovernance } from '../src/app/compile-governance.ts';
import { evaluateSigningDecision } from '../src/app/evaluate-signing-decision.ts';
import { composeApp, loadPolicyCompiler } from '../src/compose.ts';
import { loadConfig } from '../src/config/load-config.ts';
import type { Workload } from '../src/core/governance/workload.ts';
import type { Bench } from './support/bench.ts';

/**
 * Untimed decisions before each decision benchmark: a running service is warm, and without this
 * the p99 measures V8 and wasm tier-up (the first hundreds of calls), not steady-state decisions.
 */
const DECISION_WARMUP_CALLS = 1000;

const BASELINE = 'jose jwtVerify ES256, local key';
const ROOT = join(import.meta.dirname, '..');
const EXAMPLE = readFileSync(join(ROOT, 'examples/governance.yaml'), 'utf8');

/** A workload of examples/governance.yaml entitled on payments-api/dev. */
const PAYMENTS_MAIN: Workload = {
  issuer: 'https://token.actions.githubusercontent.com',
  issuerType: 'github-actions',
  subject: 'repo:acme/payments-api:ref:refs/heads/main',
  identityUri: 'https://github.com/acme/payments-api/.github/workflows/release.yml@refs/heads/main',
  repositoryId: '812345678',
  ownerId: '1234567',
  repository: 'acme/payments-api',
  ref: 'refs/heads/main',
  event: 'push',
};

export default async function governanceBench(bench: Bench): Promise<void> {
  const issuer = await startDevIssuer();
  const root = mkdtempSync(join(tmpdir(), 'countersign-bench-governance-'));
  try {
    const token = await issuer.mintToken({ lifetimeSeconds: 3600 });
    const publicKey = await importJWK(issuer.key.publicJwk, 'ES256');
    await bench.measure(BASELINE, () => jwtVerify(token, publicKey), { durationMs: 1000 });

    const verifier = createOidcVerifier({
      issuers: [issuer.issuerConfig()],
      clock: systemClock,
      tokenIds: createMemoryTokenIdStore({ clock: systemClock }),
    });
    await verifier.verify(token, { purpose: 'read' }); // fetches the JWKS once
    await bench.measure(
      'OIDC verifier, warm JWKS (purpose read)',
      () => verifier.verify(token, { purpose: 'read' }),
      { durationMs: 1000, baseline: BASELINE },
    );

    const compiler = await loadPolicyCompiler();
    const example = compileGovernance(
      { file: { name: 'governance.yaml', text: EXAMPLE }, policies: [] },
      compiler,
    );
    await bench.measure(
      'decision, shipped policies, example governance',
      () =>
        evaluateSigningDecision(
          { workload: PAYMENTS_MAIN, product: 'payments-api', channel: 'dev' },
          {
            governance: example.governance,
            policyEngine: example.policyEngine,
            clock: systemClock,
          },
        ),
      { durationMs: 1000, warmupCalls: DECISION_WARMUP_CALLS },
    );

    const large = compileGovernance(
      { file: { name: 'governance.yaml', text: withEntitlements(1000) }, policies: [] },
      compiler,
    );
    // The last entitlement matches: every one is looked at.
    const lastRepository: Workload = { ...PAYMENTS_MAIN, repositoryId: String(900_000 + 999) };
    await bench.measure(
      'decision, shipped policies, 1,000 entitlements',
      () =>
        evaluateSigningDecision(
          { workload: lastRepository, product: 'payments-api', channel: 'dev' },
          { governance: large.governance, policyEngine: large.policyEngine, clock: systemClock },
        ),
      { durationMs: 1000, warmupCalls: DECISION_WARMUP_CALLS },
    );

    await measureRecordedDecisions(bench, root, issuer.url, token);
  } finally {
    await issuer.close();
    rmSync(root, { recursive: true, force: true });
  }
}

/** `decideSigning` through the composed service on SQLite, with the dev issuer trusted. */
async function measureRecordedDecisions(
  bench: Bench,
  root: string,
  issuerUrl: string,
  token: string,
): Promise<void> {
  const config = loadConfig({
    env: {},
    argv: ['--data-dir', join(root, 'data'), '--log-level', 'silent'],
    cwd: root,
  });
  const app = await composeApp(config, { migrate: true });
  try {
    const { renderDemoGovernance } = await import('../src/app/demo-workspace.ts');
    const { DEV_TOKEN_DEFAULTS } = await import('../src/adapters/identity/dev-issuer.ts');
    await app.services.governance.apply(
      {
        file: { name: 'demo.yaml', text: renderDemoGovernance(issuerUrl, DEV_TOKEN_DEFAULTS) },
        policies: [],
      },
      { kind: 'system', id: 'bench', name: 'bench' },
    );
    const decide = () =>
      app.services.decisions.decide(
        { identityToken: token, product: 'demo', channel: 'dev' },
        { purpose: 'read' },
      );
    await bench.measure('recorded decision (verify, decide, log) on SQLite, 1 caller', decide, {
      durationMs: 1500,
    });
    await bench.measureConcurrent('recorded decisions on SQLite, 32 callers', decide, {
      concurrency: 32,
      durationMs: 2000,
    });
  } finally {
    await app.close();
  }
}

/** examples/governance.yaml with `count` more entitlements on payments-api/dev. */
function withEntitlements(count: number): string {
  const lines: string[] = [];
  for (let i = 0; i < count; i++) {
    lines.push(
      `  - id: bulk-${String(i)}`,
      '    selector:',
      '      issuer: github',
      `      repositoryId: '${String(900_000 + i)}'`,
      "      ownerId: '1234567'",
      '      ref: refs/heads/main',
      '    grants: { product: payments-api, channels: [dev] }',
      '    owner: payments-team',
      '    justification: Bulk entitlement for the benchmark.',
      '    expiresAt: 2099-01-01T00:00:00Z',
      '    reviewAt: 2098-01-01T00:00:00Z',
    );
  }
  return EXAMPLE.replace(/^entitlements:\n/m, `entitlements:\n${lines.join('\n')}\n`);
}
