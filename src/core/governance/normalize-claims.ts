/**
 * Claim normalisation: turns the verified claims of a workload token into a `Workload`, reading
 * each claim only with the meaning its own issuer type gives it (threat model A10, Fulcio's
 * per-provider claim mapping). A token shaped like another issuer type's fails on its first
 * missing claim instead of being mapped. Immutable ids are required and kept exactly; display
 * names are carried for humans only (INV-5, C1).
 */

import { AppError } from '../errors.ts';
import type { IssuerConfig } from './issuer.ts';
import type { Workload } from './workload.ts';

/** Canonical decimal id as GitHub and GitLab issue them: digits, no sign, no leading zero. */
const DECIMAL_ID = /^(?:0|[1-9][0-9]{0,19})$/;
const UUID = /^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$/;
/** A Git object id: SHA-1 or SHA-256, lowercase hex. */
const COMMIT_SHA = /^(?:[0-9a-f]{40}|[0-9a-f]{64})$/;
const GITHUB_REPOSITORY = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+$/;
/** `owner/repo/path/to/workflow.yml@ref`: the reusable workflow may live in another repository. */
const GITHUB_WORKFLOW_REF = /^[A-Za-z0-9_.-]+\/[A-Za-z0-9_.-]+\/[^\s@]+@\S+$/;
const FULL_GIT_REF = /^refs\/\S+$/;
const EVENT_NAME = /^[a-z][a-z0-9_]{0,63}$/;
const RUNNER_ENVIRONMENT = /^[a-z0-9][a-z0-9_-]{0,63}$/;
const GITLAB_PROJECT_PATH = /^[A-Za-z0-9_.-]+(?:\/[A-Za-z0-9_.-]+)+$/;
const NO_WHITESPACE = /^\S+$/;
const BUILDKITE_SLUG = /^[a-z0-9][a-z0-9_-]{0,99}$/;
/** RFC 1123 label (Kubernetes namespace) and subdomain (service account name). */
const K8S_NAMESPACE = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const K8S_NAME = /^[a-z0-9](?:[a-z0-9.-]{0,251}[a-z0-9])?$/;
const SPIFFE_TRUST_DOMAIN = /^[a-z0-9._-]+$/;
const SPIFFE_PATH_SEGMENT = /^[A-Za-z0-9._-]+$/;
/** C0/C1 controls and DEL: never legitimate in a claim we keep, and dangerous in logs. */
const CONTROL_CHARS = /[\u0000-\u001f\u007f-\u009f]/u;

/** Length bounds: ids and hashes are short; paths, refs and URIs may be long but not unbounded. */
const MAX_NAME_CHARS = 255;
const MAX_REF_CHARS = 1024;
const MAX_URI_CHARS = 2048;
const MAX_TOKEN_ID_CHARS = 256;

interface StringRule {
  /** Upper bound in UTF-16 code units. */
  readonly max: number;
  readonly pattern?: RegExp;
  /** What the claim should look like, for the error message. */
  readonly expected: string;
}

const ID_RULE: StringRule = { max: 20, pattern: DECIMAL_ID, expected: 'a string of digits' };
const UUID_RULE: StringRule = { max: 36, pattern: UUID, expected: 'a UUID string' };
const SHA_RULE: StringRule = { max: 64, pattern: COMMIT_SHA, expected: 'a hex commit SHA' };
const NAME_RULE: StringRule = { max: MAX_NAME_CHARS, expected: 'a short string' };
const SUBJECT_RULE: StringRule = { max: MAX_URI_CHARS, expected: 'a string' };

/** Reads claims of one token for one issuer, failing with messages that name both. */
class ClaimReader {
  readonly #issuer: IssuerConfig;
  readonly #claims: Record<string, unknown>;

  constructor(issuer: IssuerConfig, claims: Record<string, unknown>) {
    this.#issuer = issuer;
    this.#claims = claims;
  }

  fail(detail: string): AppError {
    return new AppError('UNAUTHENTICATED', `token from issuer ${this.#issuer.name} ${detail}`);
  }

  /** The raw value at a claim path (`['kubernetes.io', 'namespace']`); own properties only. */
  #lookup(path: readonly string[]): unknown {
    let current: unknown = this.#claims;
    for (const key of path) {
      if (!isRecord(current) || !Object.hasOwn(current, key)) return undefined;
      current = current[key];
    }
    return current;
  }

  /** A present, well-formed string claim, or undefined when absent (null and "" count as absent). */
  optionalString(path: readonly string[], rule: StringRule): string | undefined {
    const value = this.#lookup(path);
    if (value === undefined || value === null || value === '') return undefined;
    const name = path.join('.');
    if (typeof value !== 'string') {
      throw this.fail(`has claim ${name} of the wrong type (expected ${rule.expected})`);
    }
    // Attacker-influenced text (branch names, environment names) ends up in certificates, logs
    // and policy input: bound it and keep it printable and well-formed (threat model I6).
    if (value.length > rule.max) {
      throw this.fail(`has claim ${name} longer than ${rule.max} characters`);
    }
    if (CONTROL_CHARS.test(value) || !value.isWellFormed()) {
      throw this.fail(`has claim ${name} with control characters or invalid Unicode`);
    }
    if (rule.pattern !== undefined && !rule.pattern.test(value)) {
      throw this.fail(`has a malformed claim ${name} (expected ${rule.expected})`);
    }
    return value;
  }

  /** A string claim that must be present: a missing claim never matches anything (C6). */
  requiredString(path: readonly string[], rule: StringRule): string {
    const value = this.optionalString(path, rule);
    if (value === undefined) throw this.fail(`lacks required claim ${path.join('.')}`);
    return value;
  }

  optionalBoolean(path: readonly string[]): boolean | undefined {
    const value = this.#lookup(path);
    if (value === undefined || value === null) return undefined;
    if (typeof value !== 'boolean') {
      throw this.fail(`has claim ${path.join('.')} of the wrong type (expected true or false)`);
    }
    return value;
  }

  /** A non-negative integer claim issued as a JSON number (Buildkite `build_number`). */
  requiredCount(path: readonly string[]): string {
    const value = this.#lookup(path);
    const name = path.join('.');
    if (value === undefined || value === null) throw this.fail(`lacks required claim ${name}`);
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw this.fail(`has claim ${name} of the wrong type (expected a non-negative integer)`);
    }
    return String(value);
  }
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** `{ [key]: value }` when value is defined, `{}` otherwise (exactOptionalPropertyTypes). */
/** A login or e-mail naming who started a job. */
const ACTOR_RULE: StringRule = {
  max: 256,
  pattern: /^[^\p{Cc}\s]+$/u,
  expected: 'a login or e-mail',
};

function optional<K extends string, V>(key: K, value: V | undefined): { [P in K]?: V } {
  return (value === undefined ? {} : { [key]: value }) as { [P in K]?: V };
}

/** Lower-cases a UUID so that exact comparison in policy is also canonical. */
function lowerUuid(value: string): string;
function lowerUuid(value: string | undefined): string | undefined;
function lowerUuid(value: string | undefined): string | undefined {
  return value?.toLowerCase();
}

type Common = Pick<Workload, 'issuer' | 'issuerType' | 'subject' | 'tokenId'>;
type TypeSpecific = Omit<Workload, keyof Common>;

function normalizeGitHubActions(issuer: IssuerConfig, read: ClaimReader): TypeSpecific {
  // Immutable ids first: they are what policy matches, and what a foreign token lacks first.
  const repositoryId = read.requiredString(['repository_id'], ID_RULE);
  const ownerId = read.requiredString(['repository_owner_id'], ID_RULE);
  const repository = read.requiredString(['repository'], {
    max: MAX_NAME_CHARS,
    pattern: GITHUB_REPOSITORY,
    expected: 'owner/name',
  });
  const ref = read.requiredString(['ref'], {
    max: MAX_REF_CHARS,
    pattern: FULL_GIT_REF,
    expected: 'a full ref such as refs/heads/main',
  });
  const workflowRule: StringRule = {
    max: MAX_REF_CHARS,
    pattern: GITHUB_WORKFLOW_REF,
    expected: 'owner/repo/path@ref',
  };
  const jobWorkflowRef = read.requiredString(['job_workflow_ref'], workflowRule);
  const workflowRef = read.optionalString(['workflow_ref'], workflowRule);
  return {
    // Fulcio's SAN for GitHub: the workflow that actually ran the job (the reusable one when a
    // workflow calls another), on the GitHub server that issued the token.
    identityUri: `${gitHubServerUrl(issuer)}/${jobWorkflowRef}`,
    repositoryId,
    ownerId,
    repository,
    ref,
    workflow: jobWorkflowRef,
    ...optional('callerWorkflow', workflowRef),
    ...optional('environment', read.optionalString(['environment'], NAME_RULE)),
    event: read.requiredString(['event_name'], {
      max: 64,
      pattern: EVENT_NAME,
      expected: 'an event name',
    }),
    commitSha: read.requiredString(['sha'], SHA_RULE),
    ...optional(
      'runnerEnvironment',
      read.optionalString(['runner_environment'], {
        max: 64,
        pattern: RUNNER_ENVIRONMENT,
        expected: 'github-hosted or self-hosted',
      }),
    ),
    runId: read.requiredString(['run_id'], ID_RULE),
    ...optional('actors', actorsOf(read, ['actor'], ['triggering_actor'])),
  };
}

/** The distinct non-empty people named by the optional claims `paths`, or undefined. */
function actorsOf(read: ClaimReader, ...paths: (readonly string[])[]): string[] | undefined {
  const names = paths
    .map((path) => read.optionalString(path, ACTOR_RULE))
    .filter((name): name is string => name !== undefined && name !== '');
  const distinct = [...new Set(names)];
  return distinct.length === 0 ? undefined : distinct;
}

/**
 * github.com tokens come from `token.actions.githubusercontent.com` (optionally with an enterprise
 * suffix); GitHub Enterprise Server issues from `https://HOST/_services/token`, so its workflows
 * live on that host.
 */
function gitHubServerUrl(issuer: IssuerConfig): string {
  const url = new URL(issuer.issuer);
  return url.pathname === '/_services/token' ? url.origin : 'https://github.com';
}

function normalizeGitLab(issuer: IssuerConfig, read: ClaimReader): TypeSpecific {
  const repositoryId = read.requiredString(['project_id'], ID_RULE);
  const ownerId = read.requiredString(['namespace_id'], ID_RULE);
  const repository = read.requiredString(['project_path'], {
    max: MAX_REF_CHARS,
    pattern: GITLAB_PROJECT_PATH,
    expected: 'group/project',
  });
  const refName = read.requiredString(['ref'], {
    max: MAX_REF_CHARS,
    pattern: NO_WHITESPACE,
    expected: 'a branch or tag name',
  });
  const refType = read.requiredString(['ref_type'], {
    max: 6,
    pattern: /^(?:branch|tag)$/,
    expected: '"branch" or "tag"',
  });
  const refProtected = read.requiredString(['ref_protected'], {
    max: 5,
    pattern: /^(?:true|false)$/,
    expected: '"true" or "false"',
  });
  // ci_config_ref_uri is `<gitlab host>/<project path>//<config file>@<full ref>`. It must name
  // the host of the issuer that signed it; the identity URI is then `https://` + it (Fulcio).
  const host = new URL(issuer.issuer).host;
  const configRefUri = read.requiredString(['ci_config_ref_uri'], {
    max: MAX_URI_CHARS,
    pattern: /^\S+@\S+$/,
    expected: 'host/project//file@ref',
  });
  if (!configRefUri.startsWith(`${host}/`)) {
    throw read.fail('has claim ci_config_ref_uri on another host than the issuer');
  }
  return {
    identityUri: `https://${configRefUri}`,
    repositoryId,
    ownerId,
    repository,
    // GitLab sends the short name plus its type; the full ref keeps branch `v1` and tag `v1`
    // apart and compares exactly with other issuers' refs (threat model C4).
    ref: `${refType === 'tag' ? 'refs/tags/' : 'refs/heads/'}${refName}`,
    refProtected: refProtected === 'true',
    workflow: configRefUri,
    ...optional('environment', read.optionalString(['environment'], NAME_RULE)),
    event: read.requiredString(['pipeline_source'], {
      max: 64,
      pattern: EVENT_NAME,
      expected: 'a pipeline source',
    }),
    commitSha: read.requiredString(['sha'], SHA_RULE),
    ...optional(
      'runnerEnvironment',
      read.optionalString(['runner_environment'], {
        max: 64,
        pattern: RUNNER_ENVIRONMENT,
        expected: 'gitlab-hosted or self-hosted',
      }),
    ),
    runId: read.requiredString(['pipeline_id'], ID_RULE),
    ...optional('actors', actorsOf(read, ['user_login'], ['user_email'])),
  };
}

function normalizeBuildkite(read: ClaimReader): TypeSpecific {
  const slug: StringRule = { max: 100, pattern: BUILDKITE_SLUG, expected: 'a slug' };
  const organization = read.requiredString(['organization_slug'], slug);
  const pipeline = read.requiredString(['pipeline_slug'], slug);
  const branch = read.optionalString(['build_branch'], {
    max: MAX_REF_CHARS,
    pattern: NO_WHITESPACE,
    expected: 'a branch name',
  });
  const tag = read.optionalString(['build_tag'], {
    max: MAX_REF_CHARS,
    pattern: NO_WHITESPACE,
    expected: 'a tag name',
  });
  // Slugs can be renamed and re-used; the UUIDs cannot. Buildkite adds them only on request
  // (`buildkite-agent oidc request-token --claims organization_id,pipeline_id`), and we insist.
  const ownerId = lowerUuid(read.requiredString(['organization_id'], UUID_RULE));
  const repositoryId = lowerUuid(read.requiredString(['pipeline_id'], UUID_RULE));
  read.requiredString(['job_id'], UUID_RULE);
  return {
    identityUri: `https://buildkite.com/${organization}/${pipeline}`,
    repositoryId,
    ownerId,
    repository: `${organization}/${pipeline}`,
    ...optional(
      'ref',
      tag !== undefined
        ? `refs/tags/${tag}`
        : branch !== undefined
          ? `refs/heads/${branch}`
          : undefined,
    ),
    commitSha: read.requiredString(['build_commit'], SHA_RULE),
    ...optional(
      'runnerEnvironment',
      read.optionalString(['runner_environment'], {
        max: 64,
        pattern: RUNNER_ENVIRONMENT,
        expected: 'a runner environment',
      }),
    ),
    runId: read.requiredCount(['build_number']),
  };
}

function normalizeCircleCi(read: ClaimReader): TypeSpecific {
  const projectId = lowerUuid(read.requiredString(['oidc.circleci.com/project-id'], UUID_RULE));
  const pipelineDefinitionId = lowerUuid(
    read.optionalString(['oidc.circleci.com/pipeline-definition-id'], UUID_RULE),
  );
  const projectUri = `https://circleci.com/api/v2/projects/${projectId}`;
  return {
    identityUri:
      pipelineDefinitionId === undefined
        ? projectUri
        : `${projectUri}/pipeline-definitions/${pipelineDefinitionId}`,
    repositoryId: projectId,
    ...optional('ownerId', lowerUuid(read.optionalString(['oidc.circleci.com/org-id'], UUID_RULE))),
    ...optional(
      'repository',
      read.optionalString(['oidc.circleci.com/vcs-origin'], {
        max: MAX_URI_CHARS,
        pattern: NO_WHITESPACE,
        expected: 'host/owner/repo',
      }),
    ),
    ...optional(
      'ref',
      read.optionalString(['oidc.circleci.com/vcs-ref'], {
        max: MAX_REF_CHARS,
        pattern: FULL_GIT_REF,
        expected: 'a full ref such as refs/heads/main',
      }),
    ),
    ...optional('workflow', pipelineDefinitionId),
    ...optional('isInteractive', read.optionalBoolean(['oidc.circleci.com/ssh-rerun'])),
  };
}

function normalizeKubernetes(read: ClaimReader, subject: string): TypeSpecific {
  const namespace = read.requiredString(['kubernetes.io', 'namespace'], {
    max: 63,
    pattern: K8S_NAMESPACE,
    expected: 'a namespace name',
  });
  const serviceAccount = read.requiredString(['kubernetes.io', 'serviceaccount', 'name'], {
    max: 253,
    pattern: K8S_NAME,
    expected: 'a service account name',
  });
  const serviceAccountUid = lowerUuid(
    read.requiredString(['kubernetes.io', 'serviceaccount', 'uid'], UUID_RULE),
  );
  // The API server derives sub from the same service account; disagreement means the token was
  // not minted by a real API server.
  if (subject !== `system:serviceaccount:${namespace}:${serviceAccount}`) {
    throw read.fail('has a subject that does not match its kubernetes.io service account');
  }
  return {
    identityUri: `https://kubernetes.io/namespaces/${namespace}/serviceaccounts/${serviceAccount}`,
    namespace,
    serviceAccount,
    serviceAccountUid,
  };
}

/** Checks a SPIFFE ID (SPIFFE-ID spec §2): `spiffe://trust-domain/path`, canonical form only. */
function isSpiffeId(value: string): boolean {
  const prefix = 'spiffe://';
  if (!value.startsWith(prefix) || value.length > MAX_URI_CHARS) return false;
  const rest = value.slice(prefix.length);
  const slash = rest.indexOf('/');
  const trustDomain = slash === -1 ? rest : rest.slice(0, slash);
  if (trustDomain === '' || trustDomain.length > 255 || !SPIFFE_TRUST_DOMAIN.test(trustDomain)) {
    return false;
  }
  if (slash === -1) return true;
  return rest
    .slice(slash + 1)
    .split('/')
    .every((segment) => segment !== '.' && segment !== '..' && SPIFFE_PATH_SEGMENT.test(segment));
}

function normalizeSpiffe(read: ClaimReader, subject: string): TypeSpecific {
  if (!isSpiffeId(subject)) throw read.fail('has a subject that is not a SPIFFE ID');
  return { identityUri: subject };
}

function normalizeGeneric(issuer: IssuerConfig, subject: string): TypeSpecific {
  // A subject that is a URL on the issuer's own origin is its identity (Fulcio's URI issuers).
  // Anything else is placed under the issuer's URL, so a generic issuer can never produce an
  // identity URI in another issuer's namespace (for example https://github.com/...).
  const origin = new URL(issuer.issuer).origin;
  if (URL.canParse(subject) && new URL(subject).origin === origin && !/\s/.test(subject)) {
    return { identityUri: subject };
  }
  return { identityUri: `${issuer.issuer}#${encodeURIComponent(subject)}` };
}

/**
 * Normalises the verified claims of one token into a `Workload`, per the issuer's type.
 *
 * Call only with claims whose signature, issuer and audience were verified. Every claim is
 * attacker-influenced text even then (branch names, environment names are chosen by whoever can
 * push), so all strings are bounded and checked.
 *
 * @param issuer - the configured issuer the token was verified against
 * @param claims - the verified JWT claims set
 * @returns the workload principal, with only the fields this issuer type defines
 * @throws AppError UNAUTHENTICATED when `iss` is not this issuer's, or a required claim is
 *   missing, of the wrong JSON type or malformed (e.g. "token from issuer github lacks required
 *   claim repository_id")
 */
export function normalizeClaims(issuer: IssuerConfig, claims: Record<string, unknown>): Workload {
  const read = new ClaimReader(issuer, claims);
  if (claims['iss'] !== issuer.issuer) throw read.fail('was not issued by that issuer');
  const subject = read.requiredString(['sub'], SUBJECT_RULE);
  const common: Common = {
    issuer: issuer.issuer,
    issuerType: issuer.type,
    subject,
    ...optional(
      'tokenId',
      read.optionalString(['jti'], { max: MAX_TOKEN_ID_CHARS, expected: 'a string' }),
    ),
  };
  let specific: TypeSpecific;
  switch (issuer.type) {
    case 'github-actions':
      specific = normalizeGitHubActions(issuer, read);
      break;
    case 'gitlab':
      specific = normalizeGitLab(issuer, read);
      break;
    case 'buildkite':
      specific = normalizeBuildkite(read);
      break;
    case 'circleci':
      specific = normalizeCircleCi(read);
      break;
    case 'kubernetes':
      specific = normalizeKubernetes(read, subject);
      break;
    case 'spiffe':
      specific = normalizeSpiffe(read, subject);
      break;
    case 'generic':
      specific = normalizeGeneric(issuer, subject);
      break;
  }
  return Object.freeze({ ...common, ...specific });
}
