import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Workload } from '../governance/workload.ts';
import { deriveFulcioExtensions } from './fulcio-extensions.ts';
import { FULCIO_OID } from './oids.ts';

function valuesOf(workload: Workload): Record<string, string> {
  return Object.fromEntries(deriveFulcioExtensions(workload).map(({ oid, value }) => [oid, value]));
}

describe('deriveFulcioExtensions', () => {
  describe('for a GitLab workload', () => {
    const workload: Workload = {
      issuer: 'https://gitlab.example.com',
      issuerType: 'gitlab',
      subject: 'project_path:group/sub/app:ref_type:branch:ref:main',
      identityUri: 'https://gitlab.example.com/group/sub/app//.gitlab-ci.yml@refs/heads/main',
      repositoryId: '11',
      ownerId: '22',
      repository: 'group/sub/app',
      ref: 'refs/heads/main',
      workflow: 'gitlab.example.com/group/sub/app//.gitlab-ci.yml@refs/heads/main',
      event: 'push',
      commitSha: 'c'.repeat(40),
    };

    it('uses the instance host and the namespace path as owner', () => {
      const values = valuesOf(workload);
      assert.equal(values[FULCIO_OID.ISSUER], 'https://gitlab.example.com');
      assert.equal(
        values[FULCIO_OID.SOURCE_REPOSITORY_URI],
        'https://gitlab.example.com/group/sub/app',
      );
      assert.equal(
        values[FULCIO_OID.SOURCE_REPOSITORY_OWNER_URI],
        'https://gitlab.example.com/group/sub',
      );
      assert.equal(values[FULCIO_OID.BUILD_SIGNER_URI], workload.identityUri);
      assert.equal(values[FULCIO_OID.BUILD_CONFIG_URI], workload.identityUri);
      assert.equal(values[FULCIO_OID.SOURCE_REPOSITORY_IDENTIFIER], '11');
      assert.equal(values[FULCIO_OID.SOURCE_REPOSITORY_OWNER_IDENTIFIER], '22');
    });
  });

  describe('for a GitHub workload without a caller workflow', () => {
    it('omits the build config URI rather than guessing it', () => {
      const values = valuesOf({
        issuer: 'https://token.actions.githubusercontent.com',
        issuerType: 'github-actions',
        subject: 'repo:acme/app:ref:refs/heads/main',
        identityUri: 'https://github.com/acme/app/.github/workflows/ci.yml@refs/heads/main',
        repository: 'acme/app',
      });
      assert.equal(values[FULCIO_OID.BUILD_CONFIG_URI], undefined);
      assert.equal(values[FULCIO_OID.SOURCE_REPOSITORY_OWNER_URI], 'https://github.com/acme');
    });
  });

  describe('for a Kubernetes workload', () => {
    it('writes only the issuer: no source or build values are known', () => {
      assert.deepEqual(
        deriveFulcioExtensions({
          issuer: 'https://kubernetes.default.svc',
          issuerType: 'kubernetes',
          subject: 'system:serviceaccount:ci:builder',
          identityUri: 'https://kubernetes.io/namespaces/ci/serviceaccounts/builder',
          namespace: 'ci',
          serviceAccount: 'builder',
        }),
        [{ oid: FULCIO_OID.ISSUER, value: 'https://kubernetes.default.svc' }],
      );
    });
  });
});
