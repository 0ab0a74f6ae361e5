import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { validateIssuerConfig, type IssuerConfig } from './issuer.ts';
import { normalizeClaims } from './normalize-claims.ts';
import type { IssuerType } from './workload.ts';

function issuerOf(
  type: IssuerType,
  issuer: string,
  name = type.split('-')[0] ?? type,
): IssuerConfig {
  return validateIssuerConfig({
    name,
    type,
    issuer,
    jwksUrl: `${issuer}/jwks`,
    audiences: ['countersign'],
    algorithms: ['RS256'],
  });
}

const GITHUB = issuerOf('github-actions', 'https://token.actions.githubusercontent.com');
const GITLAB = issuerOf('gitlab', 'https://gitlab.example.com');
const SHA = 'a1b2c3d4e5f60718293a4b5c6d7e8f9012345678';

const githubClaims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: GITHUB.issuer,
  sub: 'repo:acme/payments:environment:production',
  jti: 'c0ffee',
  repository: 'acme/payments',
  repository_id: '123456',
  repository_owner: 'acme',
  repository_owner_id: '654321',
  ref: 'refs/heads/main',
  ref_type: 'branch',
  sha: SHA,
  event_name: 'workflow_dispatch',
  environment: 'production',
  run_id: '987654321',
  runner_environment: 'github-hosted',
  workflow_ref: 'acme/payments/.github/workflows/release.yml@refs/heads/main',
  job_workflow_ref: 'acme/shared/.github/workflows/sign.yml@refs/tags/v2',
  ...overrides,
});

const gitlabClaims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
  iss: GITLAB.issuer,
  sub: 'project_path:acme/platform/payments:ref_type:branch:ref:main',
  project_id: '42',
  project_path: 'acme/platform/payments',
  namespace_id: '7',
  namespace_path: 'acme/platform',
  ref: 'main',
  ref_type: 'branch',
  ref_protected: 'true',
  ci_config_ref_uri: 'gitlab.example.com/acme/platform/payments//.gitlab-ci.yml@refs/heads/main',
  sha: SHA,
  pipeline_source: 'push',
  pipeline_id: '1001',
  job_id: '2002',
  ...overrides,
});

function rejects(issuer: IssuerConfig, claims: Record<string, unknown>, message: RegExp): void {
  assert.throws(() => normalizeClaims(issuer, claims), { code: 'UNAUTHENTICATED', message });
}

describe('normalizeClaims', () => {
  describe('for a github-actions issuer', () => {
    it('maps every claim it defines', () => {
      assert.deepEqual(normalizeClaims(GITHUB, githubClaims()), {
        issuer: GITHUB.issuer,
        issuerType: 'github-actions',
        subject: 'repo:acme/payments:environment:production',
        tokenId: 'c0ffee',
        identityUri: 'https://github.com/acme/shared/.github/workflows/sign.yml@refs/tags/v2',
        repositoryId: '123456',
        ownerId: '654321',
        repository: 'acme/payments',
        ref: 'refs/heads/main',
        workflow: 'acme/shared/.github/workflows/sign.yml@refs/tags/v2',
        callerWorkflow: 'acme/payments/.github/workflows/release.yml@refs/heads/main',
        environment: 'production',
        event: 'workflow_dispatch',
        commitSha: SHA,
        runnerEnvironment: 'github-hosted',
        runId: '987654321',
      });
    });

    it('leaves out optional claims that are absent or empty', () => {
      const workload = normalizeClaims(
        GITHUB,
        githubClaims({
          environment: '',
          runner_environment: undefined,
          workflow_ref: null,
          jti: undefined,
        }),
      );
      for (const field of ['environment', 'runnerEnvironment', 'callerWorkflow', 'tokenId']) {
        assert.equal(Object.hasOwn(workload, field), false, field);
      }
    });

    it('places GitHub Enterprise Server workflows on the server’s own host', () => {
      const ghes = issuerOf('github-actions', 'https://git.acme.example/_services/token', 'ghes');
      const workload = normalizeClaims(ghes, githubClaims({ iss: ghes.issuer }));
      assert.equal(
        workload.identityUri,
        'https://git.acme.example/acme/shared/.github/workflows/sign.yml@refs/tags/v2',
      );
    });

    for (const claim of [
      'repository_id',
      'repository_owner_id',
      'repository',
      'ref',
      'job_workflow_ref',
      'sha',
      'event_name',
      'run_id',
      'sub',
    ]) {
      it(`refuses a token lacking ${claim}`, () => {
        rejects(
          GITHUB,
          githubClaims({ [claim]: undefined }),
          new RegExp(`^token from issuer github lacks required claim ${claim}$`),
        );
      });
    }

    it('treats a null claim as missing', () => {
      rejects(GITHUB, githubClaims({ repository_id: null }), /lacks required claim repository_id/);
    });

    it('refuses ids of the wrong JSON type or not canonical digits', () => {
      rejects(
        GITHUB,
        githubClaims({ repository_id: 123456 }),
        /repository_id of the wrong type \(expected a string of digits\)/,
      );
      rejects(
        GITHUB,
        githubClaims({ repository_owner_id: ['1'] }),
        /repository_owner_id of the wrong type/,
      );
      for (const id of ['0123', '12a', '-1', '1e5', ' 1', '1'.repeat(21)]) {
        rejects(GITHUB, githubClaims({ repository_id: id }), /repository_id/);
      }
    });

    it('refuses short refs, which could be a branch or a tag', () => {
      rejects(GITHUB, githubClaims({ ref: 'main' }), /malformed claim ref/);
    });

    it('refuses overlong, control-character and ill-formed strings', () => {
      rejects(
        GITHUB,
        githubClaims({ environment: 'p'.repeat(256) }),
        /environment longer than 255/,
      );
      rejects(
        GITHUB,
        githubClaims({ environment: 'prod\nuction' }),
        /environment with control characters/,
      );
      rejects(GITHUB, githubClaims({ environment: 'prod\ud800' }), /invalid Unicode/);
      rejects(GITHUB, githubClaims({ sub: 's'.repeat(2049) }), /sub longer than 2048/);
    });

    it('refuses a token whose iss is not the issuer’s', () => {
      rejects(GITHUB, githubClaims({ iss: `${GITHUB.issuer}/` }), /was not issued by that issuer/);
    });

    it('refuses a GitLab-shaped token instead of mapping it', () => {
      rejects(GITHUB, gitlabClaims({ iss: GITHUB.issuer }), /lacks required claim repository_id/);
    });

    it('ignores prototype-looking keys', () => {
      const claims = JSON.parse(
        `{"__proto__": {"repository_id": "1"}, "iss": "${GITHUB.issuer}", "sub": "x"}`,
      ) as Record<string, unknown>;
      rejects(GITHUB, claims, /lacks required claim repository_id/);
    });
  });

  describe('for a gitlab issuer', () => {
    it('maps a protected branch pipeline, with the full ref and Fulcio-style identity', () => {
      const workload = normalizeClaims(GITLAB, gitlabClaims({ environment: 'production' }));
      assert.equal(workload.repositoryId, '42');
      assert.equal(workload.ownerId, '7');
      assert.equal(workload.repository, 'acme/platform/payments');
      assert.equal(workload.ref, 'refs/heads/main');
      assert.equal(workload.refProtected, true);
      assert.equal(workload.event, 'push');
      assert.equal(workload.runId, '1001');
      assert.equal(workload.environment, 'production');
      assert.equal(
        workload.identityUri,
        'https://gitlab.example.com/acme/platform/payments//.gitlab-ci.yml@refs/heads/main',
      );
    });

    it('keeps a tag and a branch of the same name apart', () => {
      const tag = normalizeClaims(
        GITLAB,
        gitlabClaims({ ref: 'v1', ref_type: 'tag', ref_protected: 'false' }),
      );
      const branch = normalizeClaims(GITLAB, gitlabClaims({ ref: 'v1' }));
      assert.equal(tag.ref, 'refs/tags/v1');
      assert.equal(tag.refProtected, false);
      assert.equal(branch.ref, 'refs/heads/v1');
    });

    it('refuses ref_protected given as a JSON boolean or another string', () => {
      rejects(GITLAB, gitlabClaims({ ref_protected: true }), /ref_protected of the wrong type/);
      rejects(GITLAB, gitlabClaims({ ref_protected: 'yes' }), /malformed claim ref_protected/);
    });

    it('refuses a config reference on another host than the issuer', () => {
      rejects(
        GITLAB,
        gitlabClaims({
          ci_config_ref_uri: 'gitlab.com/acme/payments//.gitlab-ci.yml@refs/heads/main',
        }),
        /ci_config_ref_uri on another host/,
      );
    });

    it('refuses a GitHub-shaped token instead of mapping it', () => {
      rejects(
        GITLAB,
        githubClaims({ iss: GITLAB.issuer }),
        /^token from issuer gitlab lacks required claim project_id$/,
      );
    });
  });

  describe('for a buildkite issuer', () => {
    const BUILDKITE = issuerOf('buildkite', 'https://agent.buildkite.com');
    const claims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
      iss: BUILDKITE.issuer,
      sub: `organization:acme:pipeline:payments:ref:refs/tags/v1.0.0:commit:${SHA}:step:sign`,
      organization_slug: 'acme',
      pipeline_slug: 'payments',
      organization_id: '0184990A-477B-4FA8-9968-496074483C77',
      pipeline_id: '0184990a-4782-42b5-afc1-16715b10b110',
      build_number: 17,
      build_branch: 'main',
      build_tag: 'v1.0.0',
      build_commit: SHA,
      step_key: 'sign',
      job_id: '0184990a-477b-4fa8-9968-496074483cee',
      ...overrides,
    });

    it('maps pipeline and organization UUIDs (lower-cased) as the immutable ids', () => {
      const workload = normalizeClaims(BUILDKITE, claims());
      assert.equal(workload.repositoryId, '0184990a-4782-42b5-afc1-16715b10b110');
      assert.equal(workload.ownerId, '0184990a-477b-4fa8-9968-496074483c77');
      assert.equal(workload.ref, 'refs/tags/v1.0.0');
      assert.equal(workload.runId, '17');
      assert.equal(workload.identityUri, 'https://buildkite.com/acme/payments');
    });

    it('uses the branch when the build has no tag', () => {
      assert.equal(
        normalizeClaims(BUILDKITE, claims({ build_tag: undefined })).ref,
        'refs/heads/main',
      );
    });

    it('insists on the optional pipeline_id claim', () => {
      rejects(BUILDKITE, claims({ pipeline_id: undefined }), /lacks required claim pipeline_id/);
    });

    it('refuses build_number given as a string', () => {
      rejects(BUILDKITE, claims({ build_number: '17' }), /build_number of the wrong type/);
    });
  });

  describe('for a circleci issuer', () => {
    const CIRCLECI = issuerOf(
      'circleci',
      'https://oidc.circleci.com/org/3f1d0a3e-1111-4a4a-9a9a-111111111111',
    );
    const projectId = '5e0b7e2c-2222-4b4b-8b8b-222222222222';
    const claims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
      iss: CIRCLECI.issuer,
      sub: `org/3f1d0a3e-1111-4a4a-9a9a-111111111111/project/${projectId}/user/6a6a6a6a-3333-4c4c-8c8c-333333333333`,
      'oidc.circleci.com/project-id': projectId,
      'oidc.circleci.com/org-id': '3f1d0a3e-1111-4a4a-9a9a-111111111111',
      'oidc.circleci.com/pipeline-definition-id': '7b7b7b7b-5555-4e4e-8e8e-555555555555',
      'oidc.circleci.com/vcs-origin': 'github.com/acme/payments',
      'oidc.circleci.com/vcs-ref': 'refs/heads/main',
      'oidc.circleci.com/ssh-rerun': true,
      ...overrides,
    });

    it('maps the project and flags SSH reruns as interactive', () => {
      const workload = normalizeClaims(CIRCLECI, claims());
      assert.equal(workload.repositoryId, projectId);
      assert.equal(workload.ownerId, '3f1d0a3e-1111-4a4a-9a9a-111111111111');
      assert.equal(workload.repository, 'github.com/acme/payments');
      assert.equal(workload.isInteractive, true);
      assert.equal(
        workload.identityUri,
        `https://circleci.com/api/v2/projects/${projectId}/pipeline-definitions/7b7b7b7b-5555-4e4e-8e8e-555555555555`,
      );
    });

    it('refuses a project id that is not a UUID', () => {
      rejects(
        CIRCLECI,
        claims({ 'oidc.circleci.com/project-id': 'payments' }),
        /malformed claim oidc.circleci.com\/project-id/,
      );
    });

    it('refuses ssh-rerun given as a string', () => {
      rejects(
        CIRCLECI,
        claims({ 'oidc.circleci.com/ssh-rerun': 'false' }),
        /ssh-rerun of the wrong type/,
      );
    });
  });

  describe('for a kubernetes issuer', () => {
    const K8S = issuerOf('kubernetes', 'https://oidc.eks.example.com/id/ABC', 'eks');
    const claims = (overrides: Record<string, unknown> = {}): Record<string, unknown> => ({
      iss: K8S.issuer,
      sub: 'system:serviceaccount:release:signer',
      'kubernetes.io': {
        namespace: 'release',
        serviceaccount: { name: 'signer', uid: '4b1e6f3c-4444-4d4d-9d9d-444444444444' },
        pod: { name: 'signer-abc', uid: '5c5c5c5c-6666-4f4f-8f8f-666666666666' },
      },
      ...overrides,
    });

    it('maps namespace and service account, with its uid', () => {
      const workload = normalizeClaims(K8S, claims());
      assert.equal(workload.namespace, 'release');
      assert.equal(workload.serviceAccount, 'signer');
      assert.equal(workload.serviceAccountUid, '4b1e6f3c-4444-4d4d-9d9d-444444444444');
      assert.equal(
        workload.identityUri,
        'https://kubernetes.io/namespaces/release/serviceaccounts/signer',
      );
    });

    it('refuses a subject that disagrees with the service account', () => {
      rejects(
        K8S,
        claims({ sub: 'system:serviceaccount:kube-system:admin' }),
        /subject that does not match/,
      );
    });

    it('refuses a token without the service account uid', () => {
      rejects(
        K8S,
        claims({ 'kubernetes.io': { namespace: 'release', serviceaccount: { name: 'signer' } } }),
        /lacks required claim kubernetes.io.serviceaccount.uid/,
      );
    });

    it('refuses a flattened or non-object kubernetes.io claim', () => {
      rejects(
        K8S,
        claims({ 'kubernetes.io': 'release' }),
        /lacks required claim kubernetes.io.namespace/,
      );
    });
  });

  describe('for a spiffe issuer', () => {
    const SPIRE = issuerOf('spiffe', 'https://oidc.spire.example.com', 'spire');

    it('uses the SPIFFE ID as the identity', () => {
      const workload = normalizeClaims(SPIRE, {
        iss: SPIRE.issuer,
        sub: 'spiffe://example.org/ci/release-signer',
      });
      assert.equal(workload.identityUri, 'spiffe://example.org/ci/release-signer');
    });

    for (const sub of [
      'spiffe://',
      'spiffe://Example.org/x',
      'spiffe://example.org/a//b',
      'spiffe://example.org/../x',
      'spiffe://example.org/a/',
      'spiffe://example.org/a?b',
      'https://example.org/a',
      'SPIFFE://example.org/a',
    ]) {
      it(`refuses ${sub}`, () => {
        rejects(SPIRE, { iss: SPIRE.issuer, sub }, /not a SPIFFE ID/);
      });
    }
  });

  describe('for a generic issuer', () => {
    const IDP = issuerOf('generic', 'https://jenkins.acme.example/oidc', 'jenkins');

    it('uses a subject URL on the issuer’s own origin as the identity', () => {
      const sub = 'https://jenkins.acme.example/job/release/';
      assert.equal(normalizeClaims(IDP, { iss: IDP.issuer, sub }).identityUri, sub);
    });

    it('places any other subject under the issuer, so it cannot pose as another issuer’s identity', () => {
      const sub = 'https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main';
      const workload = normalizeClaims(IDP, { iss: IDP.issuer, sub });
      assert.equal(workload.identityUri, `${IDP.issuer}#${encodeURIComponent(sub)}`);
      assert.ok(workload.identityUri.startsWith('https://jenkins.acme.example/'));
    });

    it('reads no CI claims from a generic token', () => {
      const workload = normalizeClaims(IDP, { ...githubClaims(), iss: IDP.issuer });
      assert.equal(workload.repositoryId, undefined);
      assert.equal(workload.ref, undefined);
    });
  });
});
