/**
 * The demo workspace `npm start` serves: enough state to try Countersign without reading the
 * manual first. Idempotent: a restart reuses what the previous run set up.
 *
 * Besides an admin API token it puts demo governance in force: the development OIDC issuer is
 * trusted, and the demo workload (a GitHub- or GitLab-shaped `demo/hello` repository on `main`)
 * is entitled to sign product `demo` on channel `dev`. It is applied through the same use case as
 * `countersign apply`, so it is validated the same way and recorded in the log; a restart that
 * finds it in force changes nothing.
 */
import { isAppError } from '../core/errors.ts';
import type { ApiTokens } from './api-tokens.ts';
import type { GovernanceAdmin } from './apply-governance.ts';

/** Where the demo admin token is kept between runs (an owner-only file in the data directory). */
export interface DemoSecretFile {
  readonly path: string;
  /** The stored token, or `undefined` when there is none yet. */
  read(): Promise<string | undefined>;
  /** Stores the token, readable by its owner only. */
  write(secret: string): Promise<void>;
}

/** The workload the demo entitles: the development issuer's default token claims. */
export interface DemoWorkload {
  readonly repository: string;
  readonly repositoryId: string;
  readonly ownerId: string;
  readonly ref: string;
  readonly audience: string;
}

/** The demo governance: who is trusted, and through which use case it is applied. */
export interface DemoGovernanceDeps {
  readonly admin: GovernanceAdmin;
  /** Base URL of the development issuer (loopback http); GitLab-shaped tokens use `<url>/gitlab`. */
  readonly devIssuerUrl: string;
  readonly workload: DemoWorkload;
}

export interface DemoWorkspaceDeps {
  readonly apiTokens: ApiTokens;
  readonly adminTokenFile: DemoSecretFile;
  /** The demo governance; the service always sets it (tests of the token part alone do not). */
  readonly governance?: DemoGovernanceDeps;
}

/** What the demo workspace offers, for the start-up banner. */
export interface DemoWorkspace {
  /** An admin API token string; a secret, so print its file path rather than the token. */
  readonly adminToken: string;
  readonly adminTokenPath: string;
  /** True when this call created the token (first run, or the stored one no longer works). */
  readonly created: boolean;
  /** The governance version in force after setup, when demo governance was requested. */
  readonly governanceVersion?: number;
  /** True when this call applied demo governance (first run, or the issuer URL changed). */
  readonly governanceApplied?: boolean;
}

/** Name of the demo admin token, as listed by `countersign token list`. */
export const DEMO_ADMIN_TOKEN_NAME = 'demo-admin';

/** The demo's product and the channels it has. */
export const DEMO_PRODUCT = 'demo';
export const DEMO_ENTITLED_CHANNEL = 'dev';
/** The demo channel where one person's approval is needed (try `sign --wait` and `approve`). */
export const DEMO_APPROVAL_CHANNEL = 'staging';
/** File name the demo governance is applied under (shown in `GET /v1/governance`). */
export const DEMO_GOVERNANCE_FILE_NAME = 'demo-governance.yaml';

/**
 * Sets up the demo workspace unless it is already there: an admin API token stored in
 * `adminTokenFile` (a stored token that no longer authenticates is replaced) and, with
 * `governance`, the demo governance document. Throws STORAGE_UNAVAILABLE, INTERNAL (file
 * system), CONFLICT (another apply raced this one).
 */
export async function ensureDemoWorkspace(deps: DemoWorkspaceDeps): Promise<DemoWorkspace> {
  const token = await ensureAdminToken(deps);
  if (deps.governance === undefined) return token;
  const { admin, devIssuerUrl, workload } = deps.governance;
  const result = await admin.apply(
    {
      file: {
        name: DEMO_GOVERNANCE_FILE_NAME,
        text: renderDemoGovernance(devIssuerUrl, workload),
      },
      policies: [],
    },
    { kind: 'system', id: 'demo-workspace', name: 'serve --demo' },
  );
  return { ...token, governanceVersion: result.version, governanceApplied: result.applied };
}

async function ensureAdminToken(deps: DemoWorkspaceDeps): Promise<DemoWorkspace> {
  const { apiTokens, adminTokenFile } = deps;
  const stored = await adminTokenFile.read();
  if (stored !== undefined) {
    try {
      const principal = await apiTokens.authenticateToken(stored);
      if (principal.role === 'admin') {
        return { adminToken: stored, adminTokenPath: adminTokenFile.path, created: false };
      }
    } catch (error) {
      if (!isAppError(error, 'UNAUTHENTICATED')) throw error;
    }
  }
  const created = await apiTokens.createToken({
    name: DEMO_ADMIN_TOKEN_NAME,
    role: 'admin',
    createdBy: { kind: 'system', id: 'demo-workspace', name: 'serve --demo' },
  });
  await adminTokenFile.write(created.token);
  return { adminToken: created.token, adminTokenPath: adminTokenFile.path, created: true };
}

/**
 * The demo governance file. Deterministic for one issuer URL, so a restart applies nothing.
 * Strings are written as JSON, which YAML reads as double-quoted scalars: no value can break
 * out of its field.
 */
export function renderDemoGovernance(devIssuerUrl: string, workload: DemoWorkload): string {
  const q = (value: string) => JSON.stringify(value);
  const issuer = (name: string, type: string, iss: string) =>
    [
      `  - name: ${name}`,
      `    type: ${type}`,
      `    issuer: ${q(iss)}`,
      `    jwksUrl: ${q(`${devIssuerUrl}/jwks`)}`,
      `    audiences: [${q(workload.audience)}]`,
      '    algorithms: [ES256]',
      '    # The development issuer serves plain HTTP on loopback: never in production.',
      '    allowInsecureLoopback: true',
    ].join('\n');
  const entitlement = (id: string, issuerName: string) =>
    [
      `  - id: ${id}`,
      '    selector:',
      `      issuer: ${issuerName}`,
      `      repositoryId: ${q(workload.repositoryId)} # ${workload.repository}`,
      `      ownerId: ${q(workload.ownerId)}`,
      `      ref: ${q(workload.ref)}`,
      `    grants: { product: ${DEMO_PRODUCT}, channels: [${DEMO_ENTITLED_CHANNEL}, ${DEMO_APPROVAL_CHANNEL}] }`,
      '    owner: demo-team',
      '    justification: The quick-start demo signs its development builds.',
      '    expiresAt: 2099-12-31T00:00:00Z',
      '    reviewAt: 2099-06-30T00:00:00Z',
    ].join('\n');
  return [
    '# Demo governance, applied by `countersign serve --demo`. Trusts the insecure development',
    '# issuer; never use it for anything real.',
    'apiVersion: countersign.dev/v1',
    'kind: Governance',
    'issuers:',
    issuer('dev', 'github-actions', devIssuerUrl),
    issuer('dev-gitlab', 'gitlab', `${devIssuerUrl}/gitlab`),
    'products:',
    `  - name: ${DEMO_PRODUCT}`,
    '    owner: demo-team',
    '    description: The quick-start demo product.',
    `    protectedRefs: [${q(workload.ref)}]`,
    '    channels:',
    '      - name: dev',
    '        signingMode: ephemeral',
    `      - name: ${DEMO_APPROVAL_CHANNEL}`,
    '        approval: { required: 1, group: demo-approvers }',
    '      - name: prod',
    '        signingMode: managed',
    '        approval: { required: 1, group: demo-approvers }',
    '        requiredEvidence: [provenance]',
    'entitlements:',
    entitlement('demo-hello', 'dev'),
    entitlement('demo-hello-gitlab', 'dev-gitlab'),
    'users:',
    '  - { id: demo-admin, email: admin@demo.example, roles: [admin] }',
    '  - { id: demo-approver, email: approver@demo.example, roles: [approver] }',
    'groups:',
    '  - name: demo-team',
    '    purpose: owners',
    '    members: [demo-admin]',
    '  - name: demo-approvers',
    '    purpose: approvers',
    '    members: [demo-approver]',
    '',
  ].join('\n');
}
