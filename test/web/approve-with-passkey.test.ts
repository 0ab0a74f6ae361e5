/**
 * The approval page end to end in a real browser (issue #6): Debian's Chromium, driven by
 * playwright-core, with a CDP WebAuthn virtual authenticator (CTAP2, internal, resident keys,
 * user verification). The service runs in-process on loopback on SQLite, trusting a loopback
 * development OIDC issuer; governance puts one approval on `payments/prod`.
 *
 * An admin creates an enrolment link; the browser registers a passkey with it and signs in; a
 * workload asks for a signature and gets 202; the browser approves the pending request with the
 * passkey; the workload completes the signing and gets the bundle and the decision bundle; the
 * decision attestation verifies offline, the approver's WebAuthn signature included.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer as createNetServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { startDevIssuer, type DevIssuer } from '../../src/adapters/identity/dev-issuer.ts';
import { ensurePki } from '../../src/app/pki.ts';
import { verifyArtifact } from '../../src/app/verify-artifact.ts';
import { verifyDecision } from '../../src/app/verify-decision.ts';
import { composeService, type ComposedService } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { parseBundle } from '../../src/core/sigstore/bundle.ts';
import { parseTrustedRoot } from '../../src/core/sigstore/trusted-root.ts';
import { requireComponentForSuite } from '../support/components.ts';

/** Debian's Chromium (`apt-get install chromium`); CI installs it. */
const CHROMIUM = process.env['COUNTERSIGN_CHROMIUM'] ?? '/usr/bin/chromium';
const CHROMIUM_MISSING = `no Chromium at ${CHROMIUM} (apt-get install --no-install-recommends chromium)`;

function governanceYaml(issuerUrl: string): string {
  const q = (value: string) => JSON.stringify(value);
  return `apiVersion: countersign.dev/v1
kind: Governance
issuers:
  - name: ci
    type: github-actions
    issuer: ${q(issuerUrl)}
    jwksUrl: ${q(`${issuerUrl}/jwks`)}
    audiences: [countersign]
    algorithms: [ES256]
    allowInsecureLoopback: true
products:
  - name: payments
    owner: payments-team
    protectedRefs: [refs/heads/main]
    channels:
      - name: prod
        approval: { required: 1, group: payments-approvers }
entitlements:
  - id: payments-main
    selector:
      issuer: ci
      repositoryId: '100001'
      ownerId: '100000'
      ref: refs/heads/main
    grants: { product: payments, channels: [prod] }
    owner: payments-team
    justification: Builds of main sign releases.
    expiresAt: 2099-01-01T00:00:00Z
    reviewAt: 2098-01-01T00:00:00Z
users:
  - { id: alice, email: alice@acme.example, roles: [approver] }
  - { id: olivia, email: olivia@acme.example, roles: [admin] }
groups:
  - name: payments-approvers
    purpose: approvers
    members: [alice]
  - name: payments-team
    purpose: owners
    members: [olivia]
`;
}

/** A free loopback port: the public URL (and with it the WebAuthn origin) must be known up front. */
async function freePort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === 'string') throw new Error('no port');
  return address.port;
}

describe('the approval page with a passkey', () => {
  if (!requireComponentForSuite('Chromium', existsSync(CHROMIUM), CHROMIUM_MISSING)) return;

  let dataDir: string;
  let issuer: DevIssuer;
  let service: ComposedService;
  let baseUrl: string;
  let adminToken: string;
  let browser: Browser;
  let context: BrowserContext;
  let page: Page;
  const pageErrors: string[] = [];

  before(async () => {
    dataDir = await mkdtemp(join(tmpdir(), 'countersign-web-'));
    issuer = await startDevIssuer();
    const port = await freePort();
    // `localhost`, not 127.0.0.1: an IP address cannot be a WebAuthn relying party id.
    baseUrl = `http://localhost:${String(port)}`;
    service = await composeService(
      loadConfig({
        env: {},
        argv: [
          '--data-dir',
          dataDir,
          '--host',
          '127.0.0.1',
          '--port',
          String(port),
          '--public-url',
          baseUrl,
          '--log-level',
          'silent',
        ],
        cwd: dataDir,
      }),
      { migrate: true },
    );
    await ensurePki(service.pki, {
      organization: 'Countersign Web Test',
      channels: [{ product: 'payments', channel: 'prod' }],
    });
    await service.services.governance.apply(
      { file: { name: 'governance.yaml', text: governanceYaml(issuer.url) }, policies: [] },
      { kind: 'system', id: 'test', name: 'approve-with-passkey test' },
    );
    adminToken = (await service.services.apiTokens.createToken({ name: 'admin', role: 'admin' }))
      .token;
    await service.server.listen({ host: '127.0.0.1', port });

    browser = await chromium.launch({
      executablePath: CHROMIUM,
      headless: true,
      args: process.getuid?.() === 0 ? ['--no-sandbox'] : [],
    });
    context = await browser.newContext();
    page = await context.newPage();
    page.on('pageerror', (error) => pageErrors.push(error.message));

    const cdp = await context.newCDPSession(page);
    await cdp.send('WebAuthn.enable');
    await cdp.send('WebAuthn.addVirtualAuthenticator', {
      options: {
        protocol: 'ctap2',
        transport: 'internal',
        hasResidentKey: true,
        hasUserVerification: true,
        isUserVerified: true,
        automaticPresenceSimulation: true,
      },
    });
  });

  after(async () => {
    await browser?.close();
    await service?.close();
    await issuer?.close();
    if (dataDir !== undefined) await rm(dataDir, { recursive: true, force: true });
  });

  const artifact = Buffer.from('payments-api 2.4.0 release build\n');
  const digest = createHash('sha256').update(artifact).digest('hex');
  let requestId: string;

  async function sign(extra: Record<string, unknown> = {}) {
    const response = await fetch(`${baseUrl}/v1/sign`, {
      method: 'POST',
      headers: {
        authorization: `Bearer ${await issuer.mintToken()}`,
        'content-type': 'application/json',
      },
      body: JSON.stringify({
        product: 'payments',
        channel: 'prod',
        kind: 'artifact',
        subject: { name: 'payments-api.tar.gz', digest: { algorithm: 'sha256', value: digest } },
        ...extra,
      }),
    });
    return { status: response.status, body: (await response.json()) as Record<string, unknown> };
  }

  it('enrols a passkey from a one-time link an admin created', async () => {
    const created = await fetch(`${baseUrl}/v1/enrolments`, {
      method: 'POST',
      headers: { authorization: `Bearer ${adminToken}`, 'content-type': 'application/json' },
      body: JSON.stringify({ userId: 'alice' }),
    });
    assert.equal(created.status, 201, await created.clone().text());
    const { url } = (await created.json()) as { url: string };
    assert.match(url, new RegExp(`^${baseUrl}/ui/enrol\\.html#token=`));

    const response = await page.goto(url);
    const csp = response?.headers()['content-security-policy'] ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline/);
    await page.locator('#user-id').waitFor();
    assert.equal(await page.locator('#user-id').textContent(), 'alice');
    // The secret left the address bar as soon as the page read it.
    assert.equal(new URL(page.url()).hash, '');
    await page.fill('#label', 'laptop');
    await page.click('#create-passkey');
    await page.getByText('Passkey registered').waitFor();
    assert.match((await page.textContent('main')) ?? '', /"laptop" now belongs to alice/);

    // The link worked once.
    await page.goto('about:blank');
    await page.goto(url);
    await page.getByText(/enrolment link is not valid/).waitFor();
  });

  it('signs in with the passkey', async () => {
    await page.goto(`${baseUrl}/ui/`);
    await page.click('#sign-in');
    await page.locator('#signed-in-as').waitFor();
    assert.equal(await page.textContent('#signed-in-as'), 'alice');
    const cookies = await context.cookies(baseUrl);
    const session = cookies.find((cookie) => cookie.name === 'countersign_session');
    assert.ok(session, 'the session cookie is set');
    assert.equal(session.httpOnly, true);
    assert.equal(session.sameSite, 'Strict');
  });

  it('shows the pending request a workload opened, and approves it with the passkey', async () => {
    const pending = await sign();
    assert.equal(pending.status, 202, JSON.stringify(pending.body));
    // The contract's 202 body is `{ requestId, state, … }`; the first implementation answers
    // `{ status, request: view }`. Either names the request.
    const view = pending.body['request'] as { id?: string; state?: string } | undefined;
    assert.equal(pending.body['state'] ?? view?.state, 'pending');
    const id = pending.body['requestId'] ?? view?.id;
    assert.equal(typeof id, 'string');
    requestId = id as string;

    await page.goto(`${baseUrl}/ui/`);
    const link = page.locator(`a[data-request-id="${requestId}"]`);
    await link.waitFor();
    await link.click();
    await page.locator('#request').waitFor();
    const shown = (await page.textContent('#request')) ?? '';
    assert.ok(shown.includes(`sha256:${digest}`), 'the digest is shown');
    assert.ok(shown.includes('payments-api.tar.gz'));
    assert.ok(shown.includes('demo/hello'), 'the repository is shown');
    assert.match((await page.textContent('#approval-count')) ?? '', /0 of 1/);

    await page.fill('#comment', 'Release notes reviewed.');
    await page.click('#approve');
    await page.locator('#statement').waitFor();
    const statement = JSON.parse((await page.textContent('#statement')) ?? '{}') as Record<
      string,
      unknown
    >;
    assert.equal(statement['requestId'], requestId);
    assert.equal(statement['decision'], 'approve');
    assert.equal(statement['comment'], 'Release notes reviewed.');
    await page.click('#sign-statement');
    await page.getByText('Your approval is recorded.').waitFor();
    assert.match((await page.textContent('#approval-count')) ?? '', /1 of 1/);
    assert.deepEqual(pageErrors, []);
  });

  it('lets the workload complete the signing; the decision attestation verifies offline with the passkey approval', async () => {
    const signed = await sign({ requestId });
    // `POST /v1/sign` answers 201 Created for a signature (the contract says 200).
    assert.ok([200, 201].includes(signed.status), `status ${String(signed.status)}`);
    const trustResponse = await fetch(`${baseUrl}/v1/trust/trusted-root.json`);
    const trustedRoot = parseTrustedRoot(await trustResponse.json());
    const artifactVerification = verifyArtifact({
      bundle: parseBundle(signed.body['bundle']),
      artifact: {
        digest: { algorithm: 'sha256', value: new Uint8Array(Buffer.from(digest, 'hex')) },
      },
      trustedRoot,
    });
    const decisionBundle = parseBundle(signed.body['decisionBundle']);
    const { summary } = verifyDecision({
      bundle: decisionBundle,
      trustedRoot,
      artifact: artifactVerification,
      requireApprovals: 1,
      expected: { product: 'payments', channel: 'prod' },
    });
    assert.deepEqual(summary.approvers, [{ userId: 'alice', group: 'payments-approvers' }]);

    // The approval in the attestation is the passkey's own WebAuthn assertion.
    assert.equal(decisionBundle.content.type, 'dsseEnvelope');
    if (decisionBundle.content.type !== 'dsseEnvelope') return;
    const predicate = (
      JSON.parse(new TextDecoder().decode(decisionBundle.content.dsseEnvelope.payload)) as {
        predicate: {
          approvals: {
            approvers: {
              userId: string;
              credential: { kind: string; rpId?: string };
              webauthn?: { authenticatorData: string; clientDataJSON: string };
            }[];
          };
        };
      }
    ).predicate;
    const [approver] = predicate.approvals.approvers;
    assert.equal(approver?.userId, 'alice');
    assert.equal(approver.credential.kind, 'webauthn');
    assert.equal(approver.credential.rpId, 'localhost');
    assert.ok(approver.webauthn, 'the assertion travels with the attestation');
    const clientData = JSON.parse(
      Buffer.from(approver.webauthn.clientDataJSON, 'base64').toString('utf8'),
    ) as { type: string; origin: string };
    assert.equal(clientData.type, 'webauthn.get');
    assert.equal(clientData.origin, baseUrl);
  });

  it('signs out and the session no longer works', async () => {
    await page.goto(`${baseUrl}/ui/`);
    await page.click('#sign-out');
    await page.locator('#sign-in').waitFor();
    const session = await page.evaluate(async () => (await fetch('/v1/passkeys/session')).status);
    assert.equal(session, 401);
  });
});
