/**
 * `countersign plan`: what applying a governance file would change, object by object. Pure; the
 * apply step (storage, events, approvals for the change) is built on top of it.
 */
import type { Governance } from './governance.ts';

/** Object kinds a plan talks about, in the order a plan lists them. */
export const GOVERNANCE_OBJECT_KINDS = [
  'issuer',
  'user',
  'group',
  'product',
  'channel',
  'entitlement',
  'exceptions',
  'policy',
] as const;
export type GovernanceObjectKind = (typeof GOVERNANCE_OBJECT_KINDS)[number];

/** One field that differs between the current and the desired object. */
export interface FieldChange {
  /** Dotted path inside the object, e.g. `selector.ref`, `approval.required`. */
  readonly path: string;
  /** JSON of the value (ISO strings for dates); undefined when the field is absent. */
  readonly before?: string;
  readonly after?: string;
}

/** One line of a plan. */
export interface GovernanceChange {
  readonly action: 'add' | 'update' | 'remove';
  readonly kind: GovernanceObjectKind;
  /** The object's identity: issuer/product/group name, `product/channel`, entitlement or user id,
   * `defaults`, `file:<path>`, `inline:<name>` or `policy-set` for policies, `rules` for
   * exceptions. */
  readonly key: string;
  /** For updates, what differs; empty for add and remove. */
  readonly fields: readonly FieldChange[];
}

/** Options for `planGovernance`. */
export interface PlanOptions {
  /**
   * Hashes of the complete policy sets (see `computePolicyHash`). Files named in governance.yaml
   * are compared by path only, so their content changes show up here, as a `policy-set` update.
   */
  readonly currentPolicyHash?: string;
  readonly desiredPolicyHash?: string;
}

/**
 * The changes that turn `current` into `desired`: additions, updates (with the fields that
 * differ) and removals, ordered by kind (`GOVERNANCE_OBJECT_KINDS`) and then by key. An empty list
 * means there is nothing to apply.
 */
export function planGovernance(
  current: Governance,
  desired: Governance,
  options: PlanOptions = {},
): GovernanceChange[] {
  const changes: GovernanceChange[] = [
    ...diffList('issuer', current.issuers, desired.issuers, (i) => i.name),
    ...diffList('user', current.users, desired.users, (u) => u.id),
    ...diffList('group', current.groups, desired.groups, (g) => g.name),
    ...diffList('product', current.products, desired.products, (p) => p.name),
    ...diffList('channel', current.channels, desired.channels, (c) => `${c.product}/${c.name}`),
    ...diffList('entitlement', current.entitlements, desired.entitlements, (e) => e.id),
    ...diffList('exceptions', [current.exceptions], [desired.exceptions], () => 'rules'),
    ...diffPolicies(current, desired),
  ];
  if (
    options.currentPolicyHash !== undefined &&
    options.desiredPolicyHash !== undefined &&
    options.currentPolicyHash !== options.desiredPolicyHash
  ) {
    changes.push({
      action: 'update',
      kind: 'policy',
      key: 'policy-set',
      fields: [
        { path: 'hash', before: options.currentPolicyHash, after: options.desiredPolicyHash },
      ],
    });
  }
  return changes;
}

/** One line per change for humans, e.g. `~ entitlement payments-release: expiresAt "…" → "…"`. */
export function describeGovernanceChange(change: GovernanceChange): string {
  const sign = change.action === 'add' ? '+' : change.action === 'remove' ? '-' : '~';
  const head = `${sign} ${change.kind} ${change.key}`;
  if (change.fields.length === 0) return head;
  const fields = change.fields.map(
    (f) => `${f.path}: ${f.before ?? '(absent)'} → ${f.after ?? '(absent)'}`,
  );
  return `${head}: ${fields.join('; ')}`;
}

function diffList<T>(
  kind: GovernanceObjectKind,
  current: readonly T[],
  desired: readonly T[],
  keyOf: (item: T) => string,
): GovernanceChange[] {
  const before = new Map(current.map((item) => [keyOf(item), item]));
  const after = new Map(desired.map((item) => [keyOf(item), item]));
  const keys = [...new Set([...before.keys(), ...after.keys()])].sort(compareStrings);
  const changes: GovernanceChange[] = [];
  for (const key of keys) {
    const a = before.get(key);
    const b = after.get(key);
    if (a === undefined) changes.push({ action: 'add', kind, key, fields: [] });
    else if (b === undefined) changes.push({ action: 'remove', kind, key, fields: [] });
    else {
      const fields = diffValues(a, b, '');
      if (fields.length > 0) changes.push({ action: 'update', kind, key, fields });
    }
  }
  return changes;
}

function diffPolicies(current: Governance, desired: Governance): GovernanceChange[] {
  const changes: GovernanceChange[] = [];
  if (current.policies.defaults !== desired.policies.defaults) {
    changes.push({
      action: 'update',
      kind: 'policy',
      key: 'defaults',
      fields: [
        {
          path: 'defaults',
          before: String(current.policies.defaults),
          after: String(desired.policies.defaults),
        },
      ],
    });
  }
  changes.push(
    ...diffList('policy', current.policies.files, desired.policies.files, (f) => `file:${f}`),
    // The line an inline policy starts on is presentation, not content.
    ...diffList(
      'policy',
      current.policies.inline.map(({ name, cedar }) => ({ name, cedar })),
      desired.policies.inline.map(({ name, cedar }) => ({ name, cedar })),
      (p) => `inline:${p.name}`,
    ),
  );
  return changes;
}

/** Leaf-level differences; arrays and dates compare as whole values. */
function diffValues(a: unknown, b: unknown, path: string): FieldChange[] {
  if (isPlainObject(a) && isPlainObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort(compareStrings);
    return keys.flatMap((key) => diffValues(a[key], b[key], path === '' ? key : `${path}.${key}`));
  }
  const before = render(a);
  const after = render(b);
  if (before === after) return [];
  return [
    {
      path,
      ...(before === undefined ? {} : { before }),
      ...(after === undefined ? {} : { after }),
    },
  ];
}

/** JSON with object keys sorted, so equal values render equally whatever built them. */
function render(value: unknown): string | undefined {
  if (value === undefined) return undefined;
  return JSON.stringify(value, (_key, inner: unknown) =>
    isPlainObject(inner)
      ? Object.fromEntries(Object.entries(inner).sort(([x], [y]) => compareStrings(x, y)))
      : inner,
  );
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return (
    typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Date)
  );
}

function compareStrings(a: string, b: string): number {
  if (a < b) return -1;
  return a > b ? 1 : 0;
}
