/**
 * Shared pieces of the governance suites: a governance file trusting a loopback test issuer, the
 * events of a log decoded, and error assertions.
 */
import assert from 'node:assert/strict';
import { isAppError } from '../../src/core/errors.ts';
import type { Storage } from '../../src/core/ports.ts';

/** The repository and owner ids of `gitHubClaims` (test/identity/test-issuer.ts). */
export const ENTITLED_REPOSITORY_ID = '7001';
export const ENTITLED_OWNER_ID = '7000';

/**
 * A governance file trusting one GitHub-shaped issuer at `issuerUrl` (JWKS at `<url>/jwks`),
 * with product `payments` (channels `dev` and `prod`, prod needing one approval) and repository
 * 7001 entitled on `dev`. `extra` is appended verbatim (more entitlements, policies).
 */
export function governanceYaml(
  issuerUrl: string,
  options: { readonly extraEntitlements?: string; readonly policies?: string } = {},
): string {
  return `apiVersion: countersign.dev/v1
kind: Governance
issuers:
  - name: ci
    type: github-actions
    issuer: ${JSON.stringify(issuerUrl)}
    jwksUrl: ${JSON.stringify(`${issuerUrl}/jwks`)}
    audiences: [countersign]
    algorithms: [ES256]
    allowInsecureLoopback: true
products:
  - name: payments
    owner: payments-team
    protectedRefs: [refs/heads/main]
    channels:
      - name: dev
      - name: prod
        signingMode: managed
        approval: { required: 1, group: payments-approvers }
entitlements:
  - id: payments-main
    selector:
      issuer: ci
      repositoryId: '${ENTITLED_REPOSITORY_ID}'
      ownerId: '${ENTITLED_OWNER_ID}'
      ref: refs/heads/main
    grants: { product: payments, channels: [dev] }
    owner: payments-team
    justification: Builds of main sign for dev.
    expiresAt: 2099-01-01T00:00:00Z
    reviewAt: 2098-01-01T00:00:00Z
${options.extraEntitlements ?? ''}users:
  - { id: alice, email: alice@acme.example, roles: [admin] }
  - { id: bob, email: bob@acme.example, roles: [approver] }
groups:
  - name: payments-approvers
    purpose: approvers
    members: [bob]
  - name: payments-team
    purpose: owners
    members: [alice]
${options.policies ?? ''}`;
}

/** One decoded `countersign.event/v1` entry. */
export interface LoggedEvent {
  readonly index: bigint;
  readonly kind: string;
  readonly body: Record<string, unknown>;
  /** The exact bytes stored in the log. */
  readonly raw: string;
}

/** Every governance event in the log, in order. */
export async function readEvents(storage: Storage): Promise<LoggedEvent[]> {
  const entries = await storage.log.entries(0n, await storage.log.treeSize());
  return entries
    .filter((entry) => entry.kind === 'countersign.event/v1')
    .map((entry) => {
      const raw = new TextDecoder().decode(entry.body);
      const parsed = JSON.parse(raw) as { kind: string; body: Record<string, unknown> };
      return { index: entry.index, kind: parsed.kind, body: parsed.body, raw };
    });
}

/** For `assert.rejects`: the error is an AppError with `code`. */
export function hasCode(code: string) {
  return (error: unknown): boolean => {
    assert.ok(isAppError(error), `expected an AppError, got ${String(error)}`);
    assert.equal(error.code, code, error.message);
    return true;
  };
}
