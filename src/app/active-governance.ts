/**
 * The governance in force: the latest applied version, loaded once per version with everything
 * the hot path needs already built (the parsed snapshot, the compiled policy engine, the workload
 * verifier for its issuers and their JWKS cache). DESIGN.md §8: parse policies and keys once.
 *
 * Every `current()` asks storage for the latest version number (one indexed read), so a version
 * applied through another PostgreSQL replica is in force here from the next request on.
 */
import { AppError, isAppError } from '../core/errors.ts';
import { EMPTY_GOVERNANCE, type Governance } from '../core/governance/governance.ts';
import { parseGovernanceFile } from '../core/governance/governance-file.ts';
import type { IssuerConfig } from '../core/governance/issuer.ts';
import type { PolicyEngine } from '../core/policy/policy-engine.ts';
import type { GovernanceVersionRecord, Storage, WorkloadVerifier } from '../core/ports.ts';
import type { PolicyCompiler } from './compile-governance.ts';

/** One governance version, ready to decide with. */
export interface ActiveGovernance {
  /** 0 when no governance was ever applied: no issuers, nothing entitled, default policies. */
  readonly version: number;
  readonly governance: Governance;
  readonly policyEngine: PolicyEngine;
  /** Verifies workload tokens against this version's issuers. */
  readonly verifier: WorkloadVerifier;
  /** The stored version; undefined for version 0. */
  readonly record: GovernanceVersionRecord | undefined;
}

/** Builds a workload-token verifier for a set of trusted issuers (the OIDC adapter). */
export type CreateWorkloadVerifier = (issuers: readonly IssuerConfig[]) => WorkloadVerifier;

/** What the governance state is built from. */
export interface GovernanceStateDeps {
  readonly storage: Storage;
  readonly compiler: PolicyCompiler;
  readonly createVerifier: CreateWorkloadVerifier;
}

/** Access to the governance in force. */
export interface GovernanceState {
  /**
   * The latest applied version, built on first use and cached until a newer one is applied.
   * Throws STORAGE_UNAVAILABLE; INTERNAL when the stored version no longer loads (its policy set
   * does not reproduce its hash, or its file no longer validates).
   */
  current(): Promise<ActiveGovernance>;
}

/** The governance state over storage. Concurrent callers share one load per version. */
export function createGovernanceState(deps: GovernanceStateDeps): GovernanceState {
  let cached: { readonly version: number; readonly loading: Promise<ActiveGovernance> } | undefined;

  const load = async (version: number): Promise<ActiveGovernance> => {
    if (version === 0) {
      return {
        version: 0,
        governance: EMPTY_GOVERNANCE,
        policyEngine: deps.compiler.compile({
          schema: deps.compiler.schema,
          policies: [deps.compiler.defaults],
        }),
        verifier: deps.createVerifier([]),
        record: undefined,
      };
    }
    const record = await deps.storage.governance.findByVersion(version);
    if (record === undefined) {
      throw new AppError('INTERNAL', `governance version ${String(version)} vanished from storage`);
    }
    return activate(record, deps);
  };

  return {
    async current() {
      const version = await deps.storage.governance.latestVersion();
      if (cached?.version !== version) {
        const loading = load(version);
        cached = { version, loading };
        // A failed load is not cached: the next request tries again.
        loading.catch(() => {
          if (cached?.loading === loading) cached = undefined;
        });
      }
      return cached.loading;
    },
  };
}

/** Rebuilds a stored version and checks it is the one that was applied. */
function activate(record: GovernanceVersionRecord, deps: GovernanceStateDeps): ActiveGovernance {
  const broken = (problem: string, cause?: unknown) =>
    new AppError('INTERNAL', `stored governance version ${String(record.version)} ${problem}`, {
      hint: 'apply a corrected governance file with `countersign apply`',
      ...(cause === undefined ? {} : { cause }),
    });
  let governance: Governance;
  let policyEngine: PolicyEngine;
  try {
    governance = parseGovernanceFile(record.fileText, { fileName: record.fileName }).governance;
    policyEngine = deps.compiler.compile({
      schema: record.policySchema,
      policies: record.policies,
    });
  } catch (error) {
    if (isAppError(error, 'CONFIG_INVALID')) throw broken('no longer validates', error);
    throw error;
  }
  // The hash is what every decision records: a policy set that does not reproduce it is not the
  // one that was applied (and logged), so it must not decide anything.
  if (policyEngine.policyHash !== record.policyHash) {
    throw broken(`does not reproduce its policy hash ${record.policyHash}`);
  }
  return {
    version: record.version,
    governance,
    policyEngine,
    verifier: deps.createVerifier(governance.issuers),
    record,
  };
}
