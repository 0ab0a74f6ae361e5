import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { findEntitlements, matchRefPattern } from './find-entitlements.ts';
import type { Entitlement, EntitlementSelector } from './governance.ts';
import type { Workload } from './workload.ts';

const GITHUB = 'https://token.actions.githubusercontent.com';
const NOW = new Date('2026-03-01T12:00:00Z');

function entitlement(
  id: string,
  selector: Partial<EntitlementSelector>,
  overrides: Partial<Entitlement> = {},
): Entitlement {
  return {
    id,
    selector: { issuer: 'github', issuerUrl: GITHUB, ...selector },
    grants: { product: 'payments-api', channels: ['dev', 'prod'] },
    owner: 'payments-team',
    justification: 'test',
    expiresAt: new Date('2027-01-01T00:00:00Z'),
    reviewAt: new Date('2026-06-01T00:00:00Z'),
    ...overrides,
  };
}

const workload: Workload = {
  issuer: GITHUB,
  issuerType: 'github-actions',
  subject: 'repo:acme/payments-api:ref:refs/heads/main',
  identityUri: 'https://github.com/acme/payments-api/.github/workflows/release.yml@refs/heads/main',
  repositoryId: '812345678',
  ownerId: '1234567',
  repository: 'acme/payments-api',
  ref: 'refs/heads/main',
  event: 'push',
};

function ids(list: readonly Entitlement[]): string[] {
  return list.map((e) => e.id);
}

describe('findEntitlements', () => {
  it('matches an entitlement whose every selector field equals the workload', () => {
    const result = findEntitlements(
      workload,
      'payments-api',
      'prod',
      [
        entitlement('main', {
          repositoryId: '812345678',
          ownerId: '1234567',
          ref: 'refs/heads/main',
          event: 'push',
        }),
      ],
      NOW,
    );
    assert.deepEqual(ids(result.matched), ['main']);
    assert.deepEqual(result.expired, []);
  });

  it('does not match a renamed or re-created repository with the same name but another id', () => {
    const impostor: Workload = { ...workload, repositoryId: '999999999' };
    const result = findEntitlements(
      impostor,
      'payments-api',
      'prod',
      [entitlement('main', { repositoryId: '812345678' })],
      NOW,
    );
    assert.deepEqual(result.matched, []);
  });

  it('compares ids exactly: no trimming, no case folding, no numeric equivalence', () => {
    for (const variant of ['812345678 ', ' 812345678', '0812345678', '812345678\n']) {
      const result = findEntitlements(
        { ...workload, repositoryId: variant },
        'payments-api',
        'prod',
        [entitlement('main', { repositoryId: '812345678' })],
        NOW,
      );
      assert.deepEqual(result.matched, [], JSON.stringify(variant));
    }
    const caseVariant = findEntitlements(
      { ...workload, environment: 'Production' },
      'payments-api',
      'prod',
      [entitlement('env', { repositoryId: '812345678', environment: 'production' })],
      NOW,
    );
    assert.deepEqual(caseVariant.matched, []);
  });

  it('never matches when the selector names a field the workload lacks', () => {
    assert.equal(workload.environment, undefined);
    const result = findEntitlements(
      workload,
      'payments-api',
      'prod',
      [entitlement('env', { repositoryId: '812345678', environment: 'production' })],
      NOW,
    );
    assert.deepEqual(result.matched, []);
  });

  it('requires the token issuer to be the selector issuer', () => {
    const result = findEntitlements(
      { ...workload, issuer: 'https://gitlab.com' },
      'payments-api',
      'prod',
      [entitlement('main', { repositoryId: '812345678' })],
      NOW,
    );
    assert.deepEqual(result.matched, []);
  });

  it('matches only the granted product and channels', () => {
    const list = [
      entitlement(
        'dev-only',
        { repositoryId: '812345678' },
        { grants: { product: 'payments-api', channels: ['dev'] } },
      ),
    ];
    assert.deepEqual(ids(findEntitlements(workload, 'payments-api', 'dev', list, NOW).matched), [
      'dev-only',
    ]);
    assert.deepEqual(findEntitlements(workload, 'payments-api', 'prod', list, NOW).matched, []);
    assert.deepEqual(findEntitlements(workload, 'web-frontend', 'dev', list, NOW).matched, []);
  });

  it('reports an expired entitlement instead of matching it, from the exact expiry instant on', () => {
    const expiresAt = new Date('2026-03-01T12:00:00Z');
    const list = [entitlement('old', { repositoryId: '812345678' }, { expiresAt })];
    const atExpiry = findEntitlements(workload, 'payments-api', 'prod', list, expiresAt);
    assert.deepEqual(atExpiry.matched, []);
    assert.deepEqual(ids(atExpiry.expired), ['old']);
    const justBefore = findEntitlements(
      workload,
      'payments-api',
      'prod',
      list,
      new Date(expiresAt.getTime() - 1),
    );
    assert.deepEqual(ids(justBefore.matched), ['old']);
  });

  it('does not report expired entitlements that would not have matched anyway', () => {
    const list = [
      entitlement(
        'other-repo',
        { repositoryId: '1' },
        { expiresAt: new Date('2020-01-01T00:00:00Z') },
      ),
    ];
    assert.deepEqual(findEntitlements(workload, 'payments-api', 'prod', list, NOW).expired, []);
  });

  it('matches ref globs within one path segment only', () => {
    const list = [entitlement('tags', { repositoryId: '812345678', ref: 'refs/tags/v*' })];
    const at = (ref: string): string[] =>
      ids(findEntitlements({ ...workload, ref }, 'payments-api', 'prod', list, NOW).matched);
    assert.deepEqual(at('refs/tags/v1.2.3'), ['tags']);
    assert.deepEqual(at('refs/tags/v'), ['tags']);
    assert.deepEqual(at('refs/tags/v1/evil'), []);
    assert.deepEqual(at('refs/heads/v1.2.3'), []);
    assert.deepEqual(at('refs/tags/x1.2.3'), []);
  });
});

describe('matchRefPattern', () => {
  it('matches a pattern without * only to the identical ref', () => {
    assert.equal(matchRefPattern('refs/heads/main', 'refs/heads/main'), true);
    assert.equal(matchRefPattern('refs/heads/main', 'refs/tags/main'), false);
    assert.equal(matchRefPattern('refs/heads/main', 'main'), false);
    assert.equal(matchRefPattern('refs/heads/main', 'refs/heads/main/x'), false);
    assert.equal(matchRefPattern('refs/heads/main', 'refs/heads/mainline'), false);
  });

  it('supports several * in one segment, with backtracking', () => {
    assert.equal(matchRefPattern('refs/heads/release-*-*', 'refs/heads/release-2026-03'), true);
    assert.equal(matchRefPattern('refs/heads/*-fix', 'refs/heads/a-b-fix'), true);
    assert.equal(matchRefPattern('refs/heads/*-fix', 'refs/heads/a-b-fixed'), false);
    assert.equal(matchRefPattern('refs/heads/*', 'refs/heads/'), true);
  });

  it('agrees with a naive regular-expression reference on generated cases', () => {
    const alphabet = ['a', 'b', '-', '*'];
    const texts = ['', 'a', 'ab', 'a-b', 'ba-', 'aab-b', '--', 'abab'];
    const patterns: string[] = [''];
    for (let length = 1; length <= 4; length += 1) {
      for (const prefix of patterns.filter((p) => p.length === length - 1)) {
        for (const c of alphabet) patterns.push(prefix + c);
      }
    }
    for (const pattern of patterns) {
      const reference = new RegExp(`^${pattern.replace(/[-]/g, '\\-').replace(/\*/g, '[^/]*')}$`);
      for (const text of texts) {
        assert.equal(
          matchRefPattern(`refs/${pattern}`, `refs/${text}`),
          reference.test(text),
          `${pattern} vs ${text}`,
        );
      }
    }
  });
});

describe('findEntitlements on a large governance', () => {
  it('finds exactly what checking every entitlement in order finds', () => {
    // A deterministic mix: other issuers, other repositories, none named, other refs, expired.
    const list: Entitlement[] = [];
    for (let i = 0; i < 600; i++) {
      const selector: Partial<EntitlementSelector> = {
        ...(i % 7 === 0 ? { issuerUrl: 'https://gitlab.com' } : {}),
        ...(i % 3 === 0 ? {} : { repositoryId: i % 5 === 0 ? '812345678' : String(i) }),
        ...(i % 4 === 0 ? { ref: 'refs/heads/*' } : {}),
        ...(i % 11 === 0 ? { ownerId: '999' } : {}),
      };
      list.push(
        entitlement(
          `e${String(i)}`,
          selector,
          i % 13 === 0 ? { expiresAt: new Date('2026-01-01T00:00:00Z') } : {},
        ),
      );
    }
    // What each entitlement above selects, worked out from how it was built.
    const expected = (w: Workload) => {
      const matched: string[] = [];
      const expired: string[] = [];
      for (let i = 0; i < 600; i++) {
        const issuer = i % 7 === 0 ? 'https://gitlab.com' : GITHUB;
        const repositoryId = i % 3 === 0 ? undefined : i % 5 === 0 ? '812345678' : String(i);
        const selects =
          w.issuer === issuer &&
          (repositoryId === undefined || w.repositoryId === repositoryId) &&
          i % 11 !== 0; // ownerId 999 matches no workload here
        if (!selects) continue;
        (i % 13 === 0 ? expired : matched).push(`e${String(i)}`);
      }
      return { matched, expired };
    };
    for (const w of [
      workload,
      { ...workload, repositoryId: '10' },
      { ...workload, issuer: 'https://gitlab.com' },
      withoutRepository(workload),
    ]) {
      const found = findEntitlements(w, 'payments-api', 'prod', list, NOW);
      assert.deepEqual({ matched: ids(found.matched), expired: ids(found.expired) }, expected(w));
      assert.ok(found.matched.length > 0 || w.issuer !== GITHUB, 'the case selects something');
    }
  });
});

function withoutRepository(w: Workload): Workload {
  const copy: { -readonly [K in keyof Workload]?: Workload[K] } = { ...w };
  delete copy.repositoryId;
  return copy as Workload;
}
