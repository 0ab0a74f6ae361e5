/**
 * Fulcio-compatible certificate extensions (sigstore/fulcio `docs/oid-info.md`; interop §5.1):
 * what a Sigstore verifier reads besides the SAN to know who signed. `cosign
 * --certificate-oidc-issuer` and sigstore-js `extensions.issuer` compare 1.3.6.1.4.1.57264.1.8;
 * `gh attestation verify` compares .12 and .16 for GitHub-shaped identities (§8.3).
 *
 * Only values the verified workload token actually states are written, each with the meaning
 * Fulcio gives it for that issuer type. A value we would have to guess (a run attempt, a workflow
 * file digest) is left out rather than approximated: a verifier may compare it exactly.
 */
import type { Workload } from '../governance/workload.ts';
import { FULCIO_OID } from './oids.ts';

/** One Fulcio extension value, before DER encoding. */
export interface FulcioExtensionValue {
  readonly oid: string;
  readonly value: string;
}

/**
 * The Fulcio V2 extensions (DER UTF8String values) a leaf certificate for `workload` carries, in
 * OID order. The issuer (.8) is always present; for `github-actions` and `gitlab` the source and
 * build extensions follow Fulcio's mapping of those issuers' claims, with URIs on the server that
 * issued the token; for other issuer types only type-neutral values (commit, ref, runner
 * environment, trigger) are written.
 */
export function deriveFulcioExtensions(workload: Workload): FulcioExtensionValue[] {
  const values: FulcioExtensionValue[] = [];
  const add = (oid: string, value: string | undefined): void => {
    if (value !== undefined && value !== '') values.push({ oid, value });
  };
  add(FULCIO_OID.ISSUER, workload.issuer);

  const forge = forgeOf(workload);
  if (forge !== undefined) {
    // Build Signer URI: the workflow that ran the job (Fulcio: server + job_workflow_ref for
    // GitHub, https:// + ci_config_ref_uri for GitLab) — the same value as the SAN.
    add(FULCIO_OID.BUILD_SIGNER_URI, workload.identityUri);
  }
  add(FULCIO_OID.RUNNER_ENVIRONMENT, workload.runnerEnvironment);
  if (forge !== undefined) {
    add(FULCIO_OID.SOURCE_REPOSITORY_URI, `${forge.server}/${forge.repository}`);
  }
  add(FULCIO_OID.SOURCE_REPOSITORY_DIGEST, workload.commitSha);
  add(FULCIO_OID.SOURCE_REPOSITORY_REF, workload.ref);
  if (forge !== undefined) {
    add(FULCIO_OID.SOURCE_REPOSITORY_IDENTIFIER, workload.repositoryId);
    add(FULCIO_OID.SOURCE_REPOSITORY_OWNER_URI, `${forge.server}/${forge.owner}`);
    add(FULCIO_OID.SOURCE_REPOSITORY_OWNER_IDENTIFIER, workload.ownerId);
    add(FULCIO_OID.BUILD_CONFIG_URI, forge.buildConfigUri);
  }
  add(FULCIO_OID.BUILD_TRIGGER, workload.event);
  return values;
}

interface Forge {
  /** `https://github.com`, a GitHub Enterprise Server or a GitLab instance. */
  readonly server: string;
  readonly repository: string;
  readonly owner: string;
  readonly buildConfigUri: string | undefined;
}

/**
 * The source forge of a GitHub Actions or GitLab workload. The server is the origin of the
 * identity URI, which claim normalisation built from the issuer's own server.
 */
function forgeOf(workload: Workload): Forge | undefined {
  if (workload.issuerType !== 'github-actions' && workload.issuerType !== 'gitlab') {
    return undefined;
  }
  const { repository } = workload;
  if (repository === undefined || !URL.canParse(workload.identityUri)) return undefined;
  const server = new URL(workload.identityUri).origin;
  const slash = repository.lastIndexOf('/');
  if (slash <= 0) return undefined;
  // GitHub: owner/repo. GitLab: group/subgroup/project, whose owner is the namespace path.
  const owner =
    workload.issuerType === 'github-actions'
      ? repository.slice(0, repository.indexOf('/'))
      : repository.slice(0, slash);
  const buildConfigUri =
    workload.issuerType === 'github-actions'
      ? workload.callerWorkflow === undefined
        ? undefined
        : `${server}/${workload.callerWorkflow}`
      : workload.identityUri;
  return { server, repository, owner, buildConfigUri };
}
