/**
 * The Workload principal: a CI job (or other machine workload) identified by a verified OIDC
 * token, with its claims normalised per issuer type (DESIGN.md §5). Policy matches immutable ids
 * (`repositoryId`, `ownerId`), never display names, which can be renamed and re-registered.
 */

/** Issuer types whose claims Countersign knows how to read. */
export const ISSUER_TYPES = [
  'github-actions',
  'gitlab',
  'buildkite',
  'circleci',
  'kubernetes',
  'spiffe',
  'generic',
] as const;

export type IssuerType = (typeof ISSUER_TYPES)[number];

/**
 * A verified workload identity. Every field is derived from a claim whose meaning the issuer's
 * own type defines; a field is absent when that issuer type has no such claim.
 */
export interface Workload {
  /** The token's `iss`, exactly as configured for the issuer. */
  readonly issuer: string;
  readonly issuerType: IssuerType;
  /** The token's `sub`. */
  readonly subject: string;
  /**
   * The identity as a URI, used as the certificate SAN (Fulcio style), e.g.
   * `https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main`.
   */
  readonly identityUri: string;
  /** Immutable id of the source repository/project (GitHub `repository_id`, GitLab `project_id`). */
  readonly repositoryId?: string;
  /** Immutable id of its owner (GitHub `repository_owner_id`, GitLab `namespace_id`). */
  readonly ownerId?: string;
  /** Display name of the repository, e.g. `acme/payments`. For humans, never for matching. */
  readonly repository?: string;
  /** Git ref, e.g. `refs/heads/main`, `refs/tags/v1.2.3`. */
  readonly ref?: string;
  /** Whether the issuer says the ref is protected (GitLab `ref_protected`; GitHub: branch protection is not in the token). */
  readonly refProtected?: boolean;
  /** The workflow / pipeline definition reference, e.g. `acme/payments/.github/workflows/release.yml@refs/heads/main`. */
  readonly workflow?: string;
  /**
   * The top-level workflow that called `workflow` when that is a reusable workflow (GitHub
   * `workflow_ref`); equal to `workflow` when the job's own workflow is the top-level one.
   */
  readonly callerWorkflow?: string;
  /** Deployment environment, e.g. `production`. */
  readonly environment?: string;
  /** Triggering event, e.g. `push`, `workflow_dispatch`, `merge_request_event`. */
  readonly event?: string;
  /** Commit SHA the job built. */
  readonly commitSha?: string;
  /** `github-hosted` / `self-hosted` and equivalents. */
  readonly runnerEnvironment?: string;
  /**
   * The people who started the job, as the issuer names them (GitHub `actor` and
   * `triggering_actor` logins, GitLab `user_login` and `user_email`). They never approve its
   * signing requests (separation of duties); governance users match by id or e-mail.
   */
  readonly actors?: readonly string[];
  /** Run / job id, for the evidence trail. */
  readonly runId?: string;
  /** The token's `jti`, when present. */
  readonly tokenId?: string;
  /**
   * Until when the token could still be accepted (its `exp` plus the issuer's clock leeway): how
   * long a consumed `jti` must be remembered. Set for purposes `sign` and `sign-later`.
   */
  readonly tokenExpiresAt?: Date;
  /** Kubernetes namespace and service account, for `kubernetes` issuers. */
  readonly namespace?: string;
  readonly serviceAccount?: string;
  /** Immutable uid of the Kubernetes service account (a re-created account gets a new one). */
  readonly serviceAccountUid?: string;
  /**
   * True when a person may have had an interactive shell in the job (CircleCI `ssh-rerun`), so
   * the job's identity is no longer only the pipeline's. Absent when the issuer does not say.
   */
  readonly isInteractive?: boolean;
}
