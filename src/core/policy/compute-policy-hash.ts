/**
 * The policy version: one hash over everything that decides, recorded with every decision and
 * bound into approvals (INV-7, threat model D4 and E4).
 */
import { createHash } from 'node:crypto';
import type { PolicySource } from './policy-engine.ts';

/** Domain separator so this hash can never be confused with another SHA-256 in the system. */
const POLICY_HASH_DOMAIN = 'countersign.policy-set/v1';

/**
 * Returns `sha256:<hex>` over the schema and the policy sources. Canonical: sources are taken in
 * order of name (Cedar gives policy order no meaning), each framed by its name and UTF-8 byte
 * length, so any change to any byte of any source, its name, or the schema changes the hash while
 * the order in which files are listed does not. `location` is presentation and is not hashed.
 */
export function computePolicyHash(schema: PolicySource, policies: readonly PolicySource[]): string {
  const hash = createHash('sha256');
  const frame = (kind: string, source: PolicySource): void => {
    const text = Buffer.from(source.text, 'utf8');
    const name = Buffer.from(source.name, 'utf8');
    hash.update(`${kind} ${String(name.length)} `);
    hash.update(name);
    hash.update(` ${String(text.length)}\n`);
    hash.update(text);
    hash.update('\n');
  };
  hash.update(`${POLICY_HASH_DOMAIN}\n`);
  frame('schema', schema);
  const sorted = [...policies].sort((a, b) => compareStrings(a.name, b.name));
  for (const source of sorted) frame('policy', source);
  return `sha256:${hash.digest('hex')}`;
}

/** Code-unit order: locale-independent, so every machine computes the same hash. */
function compareStrings(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
