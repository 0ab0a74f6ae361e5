/**
 * A real service (demo workspace on SQLite, in-process) with governance for approval tests:
 * product `demo` with channels `dev` (no approvals), `staging` (1 of release-approvers) and
 * `prod` (2 of release-approvers, emergency group `emergency`), people bob, carol and dave
 * (approvers), erin and grace (emergency), and helpers to act as each of them from the API.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign as signBytes, type KeyObject } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEV_TOKEN_DEFAULTS } from '../../src/adapters/identity/dev-issuer.ts';
import { renderDemoGovernance } from '../../src/app/demo-workspace.ts';
import { composeService, type ComposedService } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { ensurePki } from '../../src/app/pki.ts';

export const APPROVERS = ['bob', 'carol', 'dave'] as const;

/** The demo governance with approval channels and people added. */
export function approvalsGovernance(
  devIssuerUrl: string,
  extra: { prodRequired?: number; lifetime?: string; minCredentialAge?: string } = {},
): string {
  const base = renderDemoGovernance(devIssuerUrl, DEV_TOKEN_DEFAULTS);
  return base
    .replaceAll('channels: [dev, staging] }', 'channels: [dev, staging, prod] }')
    .replace(
      '      - name: staging\n        approval: { required: 1, group: demo-approvers }\n',
      '',
    )
    .replace(
      /      - name: prod\n        signingMode: managed\n        approval: \{ required: 1, group: demo-approvers \}\n        requiredEvidence: \[provenance\]\n/,
      [
        '      - name: staging',
        `        approval: { required: 1, group: release-approvers, lifetime: ${extra.lifetime ?? '1h'}${extra.minCredentialAge === undefined ? '' : `, minCredentialAge: ${extra.minCredentialAge}`} }`,
        '        emergencyGroup: emergency',
        '      - name: prod',
        `        approval: { required: ${String(extra.prodRequired ?? 2)}, group: release-approvers, lifetime: ${extra.lifetime ?? '1h'} }`,
        '        emergencyGroup: emergency',
        '',
      ].join('\n'),
    )
    .replace(
      'users:\n',
      [
        'users:',
        '  - { id: bob, email: bob@demo.example, roles: [approver] }',
        '  - { id: carol, email: carol@demo.example, roles: [approver] }',
        '  - { id: dave, email: dave@demo.example, roles: [approver] }',
        '  - { id: erin, email: erin@demo.example, roles: [security] }',
        '  - { id: grace, email: grace@demo.example, roles: [security, approver] }',
        '',
      ].join('\n'),
    )
    .concat(
      [
        '  - name: release-approvers',
        '    purpose: approvers',
        '    members: [bob, carol, dave]',
        '  - name: emergency',
        '    purpose: emergency',
        '    members: [erin, grace]',
        '',
      ].join('\n'),
    );
}

export interface Person {
  readonly userId: string;
  /** An API token acting for the person. */
  readonly token: string;
  readonly key: KeyObject;
  readonly credentialId: string;
}

export interface ApprovalsService {
  readonly service: ComposedService;
  readonly dataDir: string;
  readonly adminToken: string;
  /** A fresh single-use workload token of the demo workload (started by `actor`, default dev). */
  workloadToken(actor?: string): Promise<string>;
  /** A person with an API token and a registered approver key. */
  person(userId: string): Promise<Person>;
  inject(options: {
    method: 'GET' | 'POST' | 'DELETE';
    url: string;
    token?: string;
    payload?: unknown;
  }): Promise<{ statusCode: number; json: () => unknown; body: string }>;
  /** Re-applies governance (text from `approvalsGovernance`). */
  applyGovernance(text: string): Promise<void>;
  close(): Promise<void>;
}

/** A clock tests move forward. */
export interface TestClock {
  now(): Date;
  advance(seconds: number): void;
}

export function createTestClock(start = Date.now()): TestClock {
  let t = start;
  return {
    now: () => new Date(t),
    advance: (seconds) => {
      t += seconds * 1000;
    },
  };
}

export async function startApprovalsService(
  options: { readonly clock?: TestClock; readonly publicUrl?: string } = {},
): Promise<ApprovalsService> {
  const dataDir = await mkdtemp(join(tmpdir(), 'countersign-approvals-'));
  const service = await composeService(
    loadConfig({
      env: {},
      argv: [
        '--demo',
        '--port',
        '0',
        '--data-dir',
        dataDir,
        '--log-level',
        'silent',
        ...(options.publicUrl === undefined ? [] : ['--public-url', options.publicUrl]),
      ],
      cwd: dataDir,
    }),
    { migrate: true },
    options.clock === undefined ? {} : { clock: options.clock },
  );
  await ensurePki(service.pki, {
    organization: 'Countersign Demo',
    channels: [
      { product: 'demo', channel: 'staging' },
      { product: 'demo', channel: 'prod' },
    ],
  });
  const devIssuer = service.devIssuer;
  assert.ok(devIssuer !== undefined && service.demo !== undefined);
  const adminToken = service.demo.adminToken;
  assert.ok(adminToken !== undefined);
  const inject: ApprovalsService['inject'] = async ({ method, url, token, payload }) => {
    const response = await service.server.inject({
      method,
      url,
      ...(token === undefined ? {} : { headers: { authorization: `Bearer ${token}` } }),
      ...(payload === undefined ? {} : { payload: payload as Record<string, unknown> }),
    });
    return { statusCode: response.statusCode, body: response.body, json: () => response.json() };
  };
  const applyGovernance = async (text: string): Promise<void> => {
    await service.services.governance.apply(
      { file: { name: 'governance.yaml', text }, policies: [] },
      { kind: 'api-token', id: 'test', name: 'test' },
    );
  };
  await applyGovernance(approvalsGovernance(devIssuer.url));
  const people = new Map<string, Person>();
  return {
    service,
    dataDir,
    adminToken,
    workloadToken: (actor) => devIssuer.mintToken(actor === undefined ? {} : { actor }),
    async person(userId) {
      const known = people.get(userId);
      if (known !== undefined) return known;
      const created = await inject({
        method: 'POST',
        url: '/v1/tokens',
        token: adminToken,
        payload: { name: `${userId} laptop`, role: 'approver', userId },
      });
      assert.equal(created.statusCode, 201, created.body);
      const token = (created.json() as { token: string }).token;
      const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
      const registered = await inject({
        method: 'POST',
        url: '/v1/approver-keys',
        token,
        payload: {
          publicKey: publicKey.export({ format: 'pem', type: 'spki' }).toString(),
          label: `${userId} key`,
        },
      });
      assert.equal(registered.statusCode, 201, registered.body);
      const person = {
        userId,
        token,
        key: privateKey,
        credentialId: (registered.json() as { id: string }).id,
      };
      people.set(userId, person);
      return person;
    },
    inject,
    applyGovernance,
    async close() {
      await service.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** The body of `POST /v1/sign` for an artifact with `content`. */
export function signBody(channel: string, content: string, extra: Record<string, unknown> = {}) {
  return {
    product: 'demo',
    channel,
    subject: {
      name: `${content}.tar.gz`,
      digest: { algorithm: 'sha256', value: sha256Hex(content) },
    },
    kind: 'artifact',
    ...extra,
  };
}

/** Drafts the statement for `person` on request `id`, signs it with their key and submits it. */
export async function answer(
  app: ApprovalsService,
  person: Person,
  id: string,
  decision: 'approve' | 'reject' = 'approve',
  tamper?: (statement: Buffer) => Buffer,
): Promise<{ statusCode: number; json: () => unknown; body: string }> {
  const draft = await app.inject({
    method: 'POST',
    url: `/v1/requests/${id}/approval-statement`,
    token: person.token,
    payload: { decision, comment: `${decision} by ${person.userId}` },
  });
  if (draft.statusCode !== 200) return draft;
  const statement = Buffer.from((draft.json() as { statement: string }).statement, 'base64url');
  const signed = tamper === undefined ? statement : tamper(statement);
  return submit(app, person, id, signed);
}

/** Submits `statement` signed with the person's key. */
export function submit(app: ApprovalsService, person: Person, id: string, statement: Buffer) {
  const signature = signBytes('sha256', statement, { key: person.key, dsaEncoding: 'der' });
  return app.inject({
    method: 'POST',
    url: `/v1/requests/${id}/approvals`,
    token: person.token,
    payload: {
      statement: statement.toString('base64url'),
      credentialId: person.credentialId,
      signature: signature.toString('base64url'),
    },
  });
}
