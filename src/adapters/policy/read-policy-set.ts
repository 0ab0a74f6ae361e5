/**
 * Reads the Cedar sources a governance snapshot refers to: the shipped schema and default
 * policies (from the package's `policies/` directory) and the operator's extra files and inline
 * policies. The only file I/O of the policy machinery.
 */
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { join, resolve, sep } from 'node:path';
import { AppError } from '../../core/errors.ts';
import type { FieldError } from '../../core/errors.ts';
import type { Governance } from '../../core/governance/governance.ts';
import type { PolicySource } from '../../core/policy/policy-engine.ts';
import type { CedarPolicySet } from './cedar-policy-engine.ts';

/** The package's `policies/` directory. */
export const SHIPPED_POLICY_DIR = fileURLToPath(new URL('../../../policies/', import.meta.url));

/** Names under which the shipped sources enter the policy set (and its hash). */
export const SHIPPED_SCHEMA_NAME = 'countersign:schema.cedarschema';
export const SHIPPED_DEFAULTS_NAME = 'countersign:default.cedar';

/** The shipped Cedar schema and default policies. Throws INTERNAL if the package is incomplete. */
export async function readShippedPolicies(): Promise<{
  readonly schema: PolicySource;
  readonly defaults: PolicySource;
}> {
  try {
    const [schema, defaults] = await Promise.all([
      readFile(join(SHIPPED_POLICY_DIR, 'schema.cedarschema'), 'utf8'),
      readFile(join(SHIPPED_POLICY_DIR, 'default.cedar'), 'utf8'),
    ]);
    return {
      schema: {
        name: SHIPPED_SCHEMA_NAME,
        text: schema,
        location: { file: 'policies/schema.cedarschema', line: 1 },
      },
      defaults: {
        name: SHIPPED_DEFAULTS_NAME,
        text: defaults,
        location: { file: 'policies/default.cedar', line: 1 },
      },
    };
  } catch (error) {
    throw new AppError('INTERNAL', 'the shipped Cedar policies are missing from the package', {
      cause: error,
    });
  }
}

/** Where the governance file lives, so its relative policy paths and inline lines resolve. */
export interface GovernanceFileLocation {
  /** Directory that `policies.files` are relative to. */
  readonly baseDir: string;
  /** Name used in error locations for inline policies, e.g. `governance.yaml`. */
  readonly fileName: string;
}

/**
 * The complete policy set of `governance`: shipped schema, shipped defaults (unless
 * `policies.defaults` is false), extra files and inline policies.
 *
 * @throws AppError CONFIG_INVALID when a policy file cannot be read (all such files reported at
 *   once) or resolves outside `baseDir`.
 */
export async function readPolicySet(
  governance: Governance,
  location: GovernanceFileLocation,
): Promise<CedarPolicySet> {
  const shipped = await readShippedPolicies();
  const policies: PolicySource[] = governance.policies.defaults ? [shipped.defaults] : [];
  const problems: FieldError[] = [];
  const base = resolve(location.baseDir);
  const files = await Promise.all(
    governance.policies.files.map(async (file, index) => {
      const path = resolve(base, file);
      // The parser already refuses `..` and absolute paths; this is the belt to those braces.
      if (path !== base && !path.startsWith(base + sep)) {
        problems.push({
          path: `policies.files[${String(index)}]`,
          message: `${file} is outside ${base}`,
        });
        return undefined;
      }
      try {
        return { name: file, text: await readFile(path, 'utf8') };
      } catch (error) {
        const reason =
          error instanceof Error && 'code' in error ? String(error.code) : 'unreadable';
        problems.push({
          path: `policies.files[${String(index)}]`,
          message: `cannot read ${file} (${reason})`,
        });
        return undefined;
      }
    }),
  );
  if (problems.length > 0) {
    throw new AppError(
      'CONFIG_INVALID',
      problems.map((p) => `${p.path}: ${p.message}`).join('\n'),
      {
        errors: problems.map((p) => ({ ...p, source: location.fileName })),
      },
    );
  }
  for (const file of files) if (file !== undefined) policies.push(file);
  for (const inline of governance.policies.inline) {
    policies.push({
      name: `inline:${inline.name}`,
      text: inline.cedar,
      location: { file: location.fileName, line: inline.line },
    });
  }
  return { schema: shipped.schema, policies };
}
