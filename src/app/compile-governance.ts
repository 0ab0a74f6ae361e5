/**
 * Governance as submitted → governance ready to decide with: the file parsed and validated, its
 * policy set assembled (shipped schema, shipped defaults, the operator's policy files and inline
 * policies) and compiled by the policy engine, which validates every policy against the schema.
 * Shared by `plan`, `apply`, the demo workspace and the offline `policy test`, so a policy set
 * hashes the same wherever it is assembled.
 */
import { isDisplaySafe } from '../core/display-text.ts';
import { createHash } from 'node:crypto';
import { canonicalizeJson } from '../core/canonical-json.ts';
import { AppError, type FieldError } from '../core/errors.ts';
import type { Governance } from '../core/governance/governance.ts';
import { parseGovernanceFile } from '../core/governance/governance-file.ts';
import { MAX_CONFIG_FILE_BYTES } from '../core/governance/read-yaml-document.ts';
import type { PolicyEngine, PolicySource } from '../core/policy/policy-engine.ts';

/** A file as submitted: its name (for messages and policy lookups) and its text. */
export interface SubmittedFile {
  readonly name: string;
  readonly text: string;
}

/**
 * What an operator applies: `governance.yaml` and the content of every Cedar file it lists
 * under `policies.files` (the CLI reads them; the server never reads the operator's disk).
 */
export interface GovernanceSubmission {
  readonly file: SubmittedFile;
  /** Named exactly as in `policies.files`, e.g. `policies/payments.cedar`. */
  readonly policies: readonly SubmittedFile[];
}

/**
 * Compiles Cedar policy sets. The adapter (`createCedarPolicyEngine`) is wired in by the
 * composition root; `schema` and `defaults` are the sources shipped with Countersign.
 */
export interface PolicyCompiler {
  readonly schema: PolicySource;
  readonly defaults: PolicySource;
  /**
   * Parses and validates `set`, returning an engine whose `policyHash` covers schema and policies.
   * Throws CONFIG_INVALID listing every problem with `file:line`.
   */
  compile(set: {
    readonly schema: PolicySource;
    readonly policies: readonly PolicySource[];
  }): PolicyEngine;
}

/** A submission that passed every check, ready to plan or apply. */
export interface CompiledGovernance {
  readonly governance: Governance;
  /** Valid but worth attention: expired entitlements, overdue reviews. */
  readonly warnings: readonly FieldError[];
  readonly schema: PolicySource;
  readonly policies: readonly PolicySource[];
  readonly policyEngine: PolicyEngine;
  /** `sha256:<hex>` of the governance file's UTF-8 bytes, as applied. */
  readonly fileSha256: string;
  /** RFC 8785 canonical JSON of `governance`, as stored. */
  readonly document: string;
}

// Bounds on a submission (every input is bounded); the governance file's own bound is the parser's.
/** At most this many policy files per submission, as `policies.files` allows. */
export const MAX_SUBMITTED_POLICY_FILES = 100;
/** Largest policy file accepted. */
export const MAX_POLICY_FILE_BYTES = 1024 * 1024;
const FILE_NAME_MAX_CHARS = 255;
/** Same rule as `policies.files` in governance.yaml: relative, no `..`, ends in `.cedar`. */
const POLICY_FILE_NAME = /^(?!\/)(?!.*(^|\/)\.\.(\/|$))[A-Za-z0-9._/-]{1,250}\.cedar$/;

/**
 * Checks and compiles a submission. Nothing is stored.
 *
 * @param submission - operator input (size-capped, strictly checked).
 * @param now - when given, expired entitlements and overdue reviews become warnings.
 * @throws AppError INVALID_INPUT for a malformed submission (bad names, oversized texts, policy
 *   files sent twice or not referenced by the governance file); CONFIG_INVALID when the governance
 *   file or a policy has problems (every one, each with `file:line`) or a referenced policy file
 *   was not sent.
 */
export function compileGovernance(
  submission: GovernanceSubmission,
  compiler: PolicyCompiler,
  options: { readonly now?: Date } = {},
): CompiledGovernance {
  checkSubmission(submission);
  const fileName = submission.file.name;
  const { governance, warnings } = parseGovernanceFile(submission.file.text, {
    fileName,
    ...(options.now === undefined ? {} : { now: options.now }),
  });
  const policies = assemblePolicies(governance, submission, compiler.defaults);
  const policyEngine = compiler.compile({ schema: compiler.schema, policies });
  return {
    governance,
    warnings,
    schema: compiler.schema,
    policies,
    policyEngine,
    fileSha256: sha256Text(submission.file.text),
    document: serializeGovernance(governance),
  };
}

/** RFC 8785 canonical JSON of a governance snapshot: dates as ISO strings, absent fields omitted. */
export function serializeGovernance(governance: Governance): string {
  return canonicalizeJson(toPlainJson(governance));
}

/** `sha256:<hex>` of `text` as UTF-8. */
export function sha256Text(text: string): string {
  return `sha256:${createHash('sha256').update(text, 'utf8').digest('hex')}`;
}

/**
 * The policy set of `governance`: the shipped defaults (unless `policies.defaults` is false), the
 * submitted files it lists, in its order, and its inline policies. Names and order match
 * `readPolicySet`, which assembles the same set from disk, so both hash alike.
 */
function assemblePolicies(
  governance: Governance,
  submission: GovernanceSubmission,
  defaults: PolicySource,
): PolicySource[] {
  const sent = new Map(submission.policies.map((file) => [file.name, file.text]));
  const policies: PolicySource[] = governance.policies.defaults ? [defaults] : [];
  const missing: FieldError[] = [];
  governance.policies.files.forEach((name, index) => {
    const text = sent.get(name);
    if (text === undefined) {
      missing.push({
        path: `policies.files[${String(index)}]`,
        message: `${name} is listed but its content was not submitted`,
        source: submission.file.name,
      });
    } else {
      policies.push({ name, text });
    }
  });
  if (missing.length > 0) {
    throw new AppError('CONFIG_INVALID', missing.map((e) => `${e.path}: ${e.message}`).join('\n'), {
      errors: missing,
      hint: 'send every file named under policies.files (countersign plan and apply do)',
    });
  }
  const listed = new Set(governance.policies.files);
  const unlisted = submission.policies.filter((file) => !listed.has(file.name));
  if (unlisted.length > 0) {
    // A file that is sent but not listed would be believed to apply and would not.
    throw new AppError(
      'INVALID_INPUT',
      'policy files were submitted that the governance file does not list',
      {
        errors: unlisted.map((file) => ({
          path: '/policies',
          message: `${file.name} is not listed under policies.files`,
        })),
      },
    );
  }
  for (const inline of governance.policies.inline) {
    policies.push({
      name: `inline:${inline.name}`,
      text: inline.cedar,
      location: { file: submission.file.name, line: inline.line },
    });
  }
  return policies;
}

function checkSubmission(submission: GovernanceSubmission): void {
  const errors: FieldError[] = [];
  const { file, policies } = submission;
  if (
    file.name.length === 0 ||
    file.name.length > FILE_NAME_MAX_CHARS ||
    !isDisplaySafe(file.name)
  ) {
    errors.push({
      path: '/file/name',
      message: `must be 1 to ${String(FILE_NAME_MAX_CHARS)} printable characters`,
    });
  }
  if (Buffer.byteLength(file.text, 'utf8') > MAX_CONFIG_FILE_BYTES) {
    errors.push({
      path: '/file/text',
      message: `is larger than ${String(MAX_CONFIG_FILE_BYTES)} bytes`,
    });
  }
  if (policies.length > MAX_SUBMITTED_POLICY_FILES) {
    errors.push({
      path: '/policies',
      message: `must list at most ${String(MAX_SUBMITTED_POLICY_FILES)} files`,
    });
  }
  const seen = new Set<string>();
  policies.slice(0, MAX_SUBMITTED_POLICY_FILES).forEach((policy, index) => {
    const at = `/policies/${String(index)}`;
    if (!POLICY_FILE_NAME.test(policy.name)) {
      errors.push({
        path: `${at}/name`,
        message: 'must be a relative path ending in .cedar, without ".."',
      });
    } else if (seen.has(policy.name)) {
      errors.push({ path: `${at}/name`, message: `${policy.name} is submitted twice` });
    }
    seen.add(policy.name);
    if (Buffer.byteLength(policy.text, 'utf8') > MAX_POLICY_FILE_BYTES) {
      errors.push({
        path: `${at}/text`,
        message: `is larger than ${String(MAX_POLICY_FILE_BYTES)} bytes`,
      });
    }
  });
  if (errors.length > 0) {
    throw new AppError('INVALID_INPUT', 'the governance submission is malformed', { errors });
  }
}

/** Plain JSON data for canonicalisation: dates become ISO strings, undefined members vanish. */
function toPlainJson(value: unknown): unknown {
  if (value instanceof Date) return value.toISOString();
  if (Array.isArray(value)) return value.map(toPlainJson);
  if (typeof value === 'object' && value !== null) {
    const out: Record<string, unknown> = {};
    for (const [key, member] of Object.entries(value)) {
      if (member !== undefined) out[key] = toPlainJson(member);
    }
    return out;
  }
  return value;
}
