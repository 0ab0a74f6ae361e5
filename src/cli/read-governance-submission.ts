/**
 * Reads a governance file and the Cedar files it lists from disk, as `plan`, `apply` and the
 * offline `policy` commands send or compile them. The server never reads the operator's disk: the
 * CLI sends every file's content.
 */
import { readFile, stat } from 'node:fs/promises';
import { dirname, relative, resolve, sep } from 'node:path';
import { MAX_POLICY_FILE_BYTES, type GovernanceSubmission } from '../app/compile-governance.ts';
import { AppError } from '../core/errors.ts';
import { parseGovernanceFile } from '../core/governance/governance-file.ts';
import { MAX_CONFIG_FILE_BYTES } from '../core/governance/read-yaml-document.ts';

/** The governance file `plan`, `apply` and `policy` read when none is named. */
export const DEFAULT_GOVERNANCE_FILE = 'governance.yaml';

/**
 * Reads `path` (relative to `cwd`) and every file under its `policies.files` (relative to the
 * governance file). The governance file is parsed here first, so its problems are reported with
 * their lines before anything is sent.
 *
 * @throws AppError INVALID_INPUT when a file cannot be read, is too large, or a policy path leaves
 *   the governance file's directory; CONFIG_INVALID when the governance file has problems.
 */
export async function readGovernanceSubmission(
  path: string,
  cwd: string,
): Promise<GovernanceSubmission> {
  const absolute = resolve(cwd, path);
  // Messages name the file as the operator wrote it, relative to where they are.
  const fileName = relative(cwd, absolute) || path;
  const text = await readBoundedText(absolute, path, MAX_CONFIG_FILE_BYTES);
  const { governance } = parseGovernanceFile(text, { fileName });
  const base = dirname(absolute);
  const policies = await Promise.all(
    governance.policies.files.map(async (name) => {
      const policyPath = resolve(base, name);
      // The parser already refuses `..` and absolute paths; this is the belt to those braces.
      if (!policyPath.startsWith(base + sep)) {
        throw new AppError('INVALID_INPUT', `policy file ${name} is outside ${base}`);
      }
      return { name, text: await readBoundedText(policyPath, name, MAX_POLICY_FILE_BYTES) };
    }),
  );
  return { file: { name: fileName, text }, policies };
}

/** Reads a UTF-8 text file of at most `maxBytes`. */
export async function readBoundedText(
  absolute: string,
  shown: string,
  maxBytes: number,
): Promise<string> {
  try {
    const info = await stat(absolute);
    if (!info.isFile()) throw new AppError('INVALID_INPUT', `${shown} is not a file`);
    if (info.size > maxBytes) {
      throw new AppError('INVALID_INPUT', `${shown} is larger than ${String(maxBytes)} bytes`);
    }
    return new TextDecoder('utf-8', { fatal: true }).decode(await readFile(absolute));
  } catch (error) {
    if (error instanceof AppError) throw error;
    const code = (error as NodeJS.ErrnoException).code;
    throw new AppError(
      'INVALID_INPUT',
      code === 'ENOENT'
        ? `${shown} does not exist`
        : `cannot read ${shown} (${code ?? 'not UTF-8'})`,
      { cause: error },
    );
  }
}
