import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { AppError } from '../errors.ts';
import { parseGovernanceFile } from './governance-file.ts';
import { findChannel } from './governance.ts';

const EXAMPLE = readFileSync(
  join(import.meta.dirname, '../../../examples/governance.yaml'),
  'utf8',
);

/** Runs `parse` and returns the CONFIG_INVALID error it throws. */
function configError(parse: () => unknown): AppError {
  try {
    parse();
  } catch (error) {
    assert.ok(error instanceof AppError, String(error));
    assert.equal(error.code, 'CONFIG_INVALID');
    return error;
  }
  assert.fail('expected CONFIG_INVALID');
}

/** `source path: message` lines of an error, for compact assertions. */
function problems(error: AppError): string[] {
  return error.errors.map((e) => `${e.source ?? ''} ${e.path}: ${e.message}`);
}

const MINIMAL = `apiVersion: countersign.dev/v1
kind: Governance
issuers:
  - name: github
    type: github-actions
    issuer: https://token.actions.githubusercontent.com
    jwksUrl: https://token.actions.githubusercontent.com/.well-known/jwks
    audiences: [countersign]
    algorithms: [RS256]
users:
  - { id: alice, email: alice@acme.example, roles: [admin] }
products:
  - name: api
    owner: alice
    channels:
      - name: dev
entitlements:
  - id: api-main
    selector:
      issuer: github
      repositoryId: "0123"
      ref: refs/heads/main
    grants: { product: api, channels: [dev] }
    owner: alice
    justification: test
    expiresAt: 2027-01-01T00:00:00Z
    reviewAt: 2026-06-01T00:00:00Z
`;

describe('parseGovernanceFile', () => {
  describe('with the shipped example', () => {
    it('returns the products, channels, entitlements, users, groups and issuers it declares', () => {
      const { governance } = parseGovernanceFile(EXAMPLE);
      assert.deepEqual(
        governance.products.map((p) => p.name),
        ['payments-api', 'web-frontend'],
      );
      assert.equal(governance.channels.length, 6);
      const prod = findChannel(governance, 'payments-api', 'prod');
      assert.deepEqual(prod?.approval, {
        required: 2,
        group: 'payments-approvers',
        lifetimeSeconds: 86_400,
        minCredentialAgeSeconds: 0,
      });
      assert.equal(prod?.signingMode, 'managed');
      assert.deepEqual(prod?.requiredEvidence, ['provenance', 'checks']);
      assert.equal(findChannel(governance, 'web-frontend', 'dev')?.signingMode, 'ephemeral');
      assert.deepEqual(
        governance.issuers.map((i) => [i.name, i.type]),
        [
          ['github', 'github-actions'],
          ['gitlab', 'gitlab'],
        ],
      );
      const release = governance.entitlements.find((e) => e.id === 'payments-api-release');
      assert.equal(release?.selector.issuerUrl, 'https://token.actions.githubusercontent.com');
      assert.equal(release?.expiresAt.toISOString(), '2027-06-30T00:00:00.000Z');
      assert.equal(governance.policies.inline[0]?.name, 'no-pull-request-builds');
      assert.ok(Object.isFrozen(governance.products));
    });

    it('warns about expired entitlements when given the time', () => {
      const { warnings } = parseGovernanceFile(EXAMPLE, {
        fileName: 'examples/governance.yaml',
        now: new Date('2026-03-01T00:00:00Z'),
      });
      assert.equal(warnings.length, 1);
      assert.match(warnings[0]?.message ?? '', /payments-api-hotfix-2025 expired/);
      assert.match(warnings[0]?.source ?? '', /^examples\/governance\.yaml:\d+$/);
    });

    it('records the line where each inline policy text starts', () => {
      const { governance } = parseGovernanceFile(EXAMPLE);
      const line = governance.policies.inline[0]?.line ?? 0;
      assert.match(EXAMPLE.split('\n')[line - 1] ?? '', /@id\("no-pull-request-builds"\)/);
    });
  });

  it('keeps ids as written: YAML numbers are never reinterpreted', () => {
    const unquoted = MINIMAL.replace('"0123"', '0123');
    assert.match(unquoted, /repositoryId: 0123\n/);
    const { governance } = parseGovernanceFile(unquoted);
    assert.equal(governance.entitlements[0]?.selector.repositoryId, '0123');
  });

  it('refuses a misspelt field with its line and a suggestion', () => {
    const text = MINIMAL.replace('repositoryId: "0123"', 'repositry: "0123"');
    const error = configError(() => parseGovernanceFile(text));
    assert.deepEqual(problems(error), [
      'governance.yaml:19 entitlements[0].selector: must select an immutable id: repositoryId, ownerId, serviceAccountUid or subject (names can be re-registered)',
      'governance.yaml:21 entitlements[0].selector.repositry: unknown field (did you mean repositoryId?)',
    ]);
    assert.match(
      error.message,
      /^governance\.yaml:21: entitlements\[0\]\.selector\.repositry: unknown field \(did you mean repositoryId\?\)$/m,
    );
  });

  it('reports every problem at once, in line order', () => {
    const text = MINIMAL.replace('kind: Governance', 'kind: Governance\nextra: 1')
      .replace('      - name: dev', '      - name: dev\n        signingMode: manged')
      .replace(
        'grants: { product: api, channels: [dev] }',
        'grants: { product: apj, channels: [dev] }',
      )
      .replace('owner: alice\n    justification', 'owner: bob\n    justification');
    const error = configError(() => parseGovernanceFile(text, { fileName: 'ops/governance.yaml' }));
    assert.deepEqual(problems(error), [
      'ops/governance.yaml:3 extra: unknown field',
      'ops/governance.yaml:18 products[0].channels[0].signingMode: "manged" is not one of "ephemeral", "managed" (did you mean managed?)',
      'ops/governance.yaml:25 entitlements[0].grants.product: unknown product apj (did you mean api?)',
      'ops/governance.yaml:26 entitlements[0].owner: unknown owner bob: name a user id or a group',
    ]);
  });

  it('refuses references to unknown products, channels, groups, users and issuers', () => {
    const text = `apiVersion: countersign.dev/v1
kind: Governance
users:
  - { id: alice, email: alice@acme.example, roles: [approver] }
groups:
  - { name: approvers, purpose: approvers, members: [alice, mallory] }
  - { name: oncall, purpose: emergency, members: [alice] }
products:
  - name: api
    owner: nobody
    channels:
      - name: prod
        approval: { required: 1, group: aprovers }
        emergencyGroup: approvers
entitlements:
  - id: e1
    selector: { issuer: gihub, repositoryId: "1" }
    grants: { product: api, channels: [prd] }
    owner: alice
    justification: test
    expiresAt: 2027-01-01T00:00:00Z
    reviewAt: 2026-06-01T00:00:00Z
`;
    const error = configError(() => parseGovernanceFile(text));
    assert.deepEqual(problems(error), [
      'governance.yaml:6 groups[0].members[1]: unknown user mallory',
      'governance.yaml:10 products[0].owner: unknown owner nobody: name a user id or a group',
      'governance.yaml:13 products[0].channels[0].approval.group: unknown group aprovers (did you mean approvers?)',
      'governance.yaml:14 products[0].channels[0].emergencyGroup: group approvers has purpose approvers; this needs a group with purpose emergency',
      'governance.yaml:17 entitlements[0].selector.issuer: unknown issuer gihub',
      'governance.yaml:18 entitlements[0].grants.channels[0]: unknown channel prd of product api (did you mean prod?)',
    ]);
  });

  it('refuses an approval rule no group could ever satisfy', () => {
    const text = MINIMAL.replace(
      '      - name: dev',
      '      - name: dev\n        approval: { required: 2, group: approvers }',
    ).replace(
      'products:',
      'groups:\n  - { name: approvers, purpose: approvers, members: [alice] }\nproducts:',
    );
    const error = configError(() => parseGovernanceFile(text));
    assert.match(
      problems(error).join('\n'),
      /approval\.required: needs 2 approvals but group approvers has 1 member/,
    );
  });

  it('refuses GitHub entitlements that select only the subject', () => {
    const text = MINIMAL.replace(
      'repositoryId: "0123"',
      'subject: repo:acme/api:ref:refs/heads/main',
    );
    const error = configError(() => parseGovernanceFile(text));
    assert.match(problems(error).join('\n'), /github-actions subjects are built from names/);
  });

  it('applies the issuer rules and reports their errors with lines', () => {
    const text = MINIMAL.replace('algorithms: [RS256]', 'algorithms: [HS256]');
    const error = configError(() => parseGovernanceFile(text));
    assert.deepEqual(problems(error), [
      'governance.yaml:9 issuers[0].algorithms[0]: "HS256" is not one of "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA" (did you mean RS256?)',
    ]);
    const insecure = MINIMAL.replace(
      'jwksUrl: https://token.actions.githubusercontent.com/.well-known/jwks',
      'jwksUrl: http://token.actions.githubusercontent.com/.well-known/jwks',
    );
    assert.deepEqual(problems(configError(() => parseGovernanceFile(insecure))), [
      'governance.yaml:7 issuers[0].jwksUrl: must be an https:// URL',
    ]);
  });

  it('refuses impossible dates, review after expiry, and refs that are not full refs', () => {
    const text = MINIMAL.replace(
      'expiresAt: 2027-01-01T00:00:00Z',
      'expiresAt: 2026-02-30T00:00:00Z',
    ).replace('ref: refs/heads/main', 'ref: main');
    const error = configError(() => parseGovernanceFile(text));
    assert.deepEqual(problems(error), [
      'governance.yaml:22 entitlements[0].selector.ref: must be a full Git ref starting with refs/ (e.g. refs/heads/main, refs/tags/v*); "*" matches within one path segment',
      'governance.yaml:26 entitlements[0].expiresAt: 2026-02-30T00:00:00Z is not a real date and time',
    ]);
    const late = MINIMAL.replace(
      'reviewAt: 2026-06-01T00:00:00Z',
      'reviewAt: 2027-06-01T00:00:00Z',
    );
    assert.match(
      problems(configError(() => parseGovernanceFile(late))).join(),
      /reviewAt: must not be after expiresAt/,
    );
  });

  it('refuses duplicate keys, duplicate names and YAML-1.1 booleans', () => {
    const duplicateKey = MINIMAL.replace('kind: Governance', 'kind: Governance\nkind: Governance');
    assert.match(
      problems(configError(() => parseGovernanceFile(duplicateKey))).join(),
      /governance\.yaml:3 : YAML: Map keys must be unique/,
    );
    const duplicateUser = MINIMAL.replace(
      'roles: [admin] }',
      'roles: [admin] }\n  - { id: alice, email: other@acme.example, roles: [] }',
    );
    assert.deepEqual(problems(configError(() => parseGovernanceFile(duplicateUser))), [
      'governance.yaml:12 users[1].id: user alice is defined twice',
    ]);
    const yes = `${MINIMAL}policies:\n  defaults: yes\n`;
    assert.deepEqual(problems(configError(() => parseGovernanceFile(yes))), [
      'governance.yaml:29 policies.defaults: must be true or false, not "yes"',
    ]);
  });

  it('refuses policy files outside the governance directory', () => {
    for (const file of ['../secrets.cedar', '/etc/x.cedar', 'a/../../b.cedar', 'policy.txt']) {
      const text = `${MINIMAL}policies:\n  files: [${JSON.stringify(file)}]\n`;
      const error = configError(() => parseGovernanceFile(text));
      assert.match(
        problems(error).join(),
        /policies\.files\[0\]: must be a relative path ending in \.cedar/,
        file,
      );
    }
  });

  it('refuses alias bombs without expanding them', () => {
    const bomb = [
      'apiVersion: countersign.dev/v1',
      'kind: Governance',
      'users:',
      '  - &u { id: a, email: a@x.example, roles: [] }',
      ...Array.from({ length: 200 }, () => '  - *u'),
    ].join('\n');
    const error = configError(() => parseGovernanceFile(bomb));
    assert.match(problems(error).join('\n'), /more than 100 alias/);
  });

  it('refuses deep nesting before parsing it, naming the line', () => {
    const cases = [
      [
        `apiVersion: countersign.dev/v1\nkind: Governance\nusers: ${'['.repeat(2_000_000)}${']'.repeat(2_000_000)}\n`,
        3,
      ],
      [`apiVersion: countersign.dev/v1\nkind: Governance\nusers:\n  ${'- '.repeat(500)}x\n`, 4],
    ] as const;
    for (const [text, line] of cases) {
      // The pre-scan's message (the parser's own would be a YAML error or a stack overflow).
      assert.deepEqual(problems(configError(() => parseGovernanceFile(text))), [
        `governance.yaml:${String(line)} : nested deeper than 64 levels`,
      ]);
    }
    // Brackets and quotes inside scalars and comments do not count.
    const quoted = MINIMAL.replace(
      'kind: Governance',
      `kind: Governance # ${'['.repeat(100)}\nx-note: "${'{'.repeat(100)}" # don't [[[`,
    );
    assert.doesNotMatch(
      problems(configError(() => parseGovernanceFile(`${quoted}\nbad: [`))).join('\n'),
      /nested deeper/,
    );
  });

  it('refuses a document that is not a mapping, and an unknown apiVersion', () => {
    assert.deepEqual(problems(configError(() => parseGovernanceFile('- 1\n'))), [
      'governance.yaml:1 : must be a mapping of fields, not a list',
    ]);
    const v2 = MINIMAL.replace('countersign.dev/v1', 'countersign.dev/v2');
    assert.deepEqual(problems(configError(() => parseGovernanceFile(v2))), [
      'governance.yaml:1 apiVersion: must be "countersign.dev/v1", not "countersign.dev/v2"',
    ]);
  });
});
