/**
 * Entitlement resolution, step 2 of the signing flow (DESIGN.md §6): which entitlements let this
 * workload request a signature on this product and channel. No entitlement, no signature.
 */
import type { Entitlement, EntitlementSelector } from './governance.ts';
import type { Workload } from './workload.ts';

/** The outcome of `findEntitlements`. */
export interface EntitlementMatch {
  /** Live entitlements that cover the request. Empty means the request must be denied. */
  readonly matched: readonly Entitlement[];
  /**
   * Entitlements that would cover the request had they not expired. They never grant anything;
   * they are reported so a denial can say "entitlement X expired on …" instead of a bare "no".
   */
  readonly expired: readonly Entitlement[];
}

/** Selector fields compared with `===` against the workload field of the same name. */
const EXACT_FIELDS = [
  'subject',
  'repositoryId',
  'ownerId',
  'workflow',
  'environment',
  'event',
  'serviceAccountUid',
] as const satisfies readonly (keyof EntitlementSelector & keyof Workload)[];

/**
 * Finds the entitlements that cover `workload` signing on `product`/`channel` at `now`.
 *
 * Matching is exact on every selector field the entitlement sets (no case folding, no trimming,
 * no Unicode normalisation): a repository renamed or re-registered under the same name has a new
 * `repositoryId` and does not match (threat model C1). A field the selector sets but the workload
 * lacks never matches (C6). `ref` may be a glob, see `matchRefPattern`. An entitlement whose
 * `expiresAt` is at or before `now` never matches and is reported in `expired`.
 *
 * @param workload - the verified, normalised identity (claims are attacker-influenced: compared,
 *   never interpreted).
 */
export function findEntitlements(
  workload: Workload,
  product: string,
  channel: string,
  entitlements: readonly Entitlement[],
  now: Date,
): EntitlementMatch {
  const matched: Entitlement[] = [];
  const expired: Entitlement[] = [];
  for (const entitlement of candidatesFor(workload, entitlements)) {
    if (!grantsChannel(entitlement, product, channel)) continue;
    if (!selectsWorkload(entitlement.selector, workload)) continue;
    if (entitlement.expiresAt.getTime() <= now.getTime()) expired.push(entitlement);
    else matched.push(entitlement);
  }
  return { matched, expired };
}

/**
 * Entitlements are indexed once per governance snapshot by issuer and repository id, the fields
 * nearly every selector sets: a decision then looks only at the entitlements of the workload's
 * own repository and at those that name no repository, instead of every entitlement of the
 * organisation. The candidates keep the file's order; `selectsWorkload` still checks every field.
 */
const CANDIDATE_INDEX = new WeakMap<
  readonly Entitlement[],
  ReadonlyMap<string, readonly (readonly [number, Entitlement])[]>
>();

function candidatesFor(workload: Workload, entitlements: readonly Entitlement[]): Entitlement[] {
  let index = CANDIDATE_INDEX.get(entitlements);
  if (index === undefined) {
    const built = new Map<string, (readonly [number, Entitlement])[]>();
    entitlements.forEach((entitlement, position) => {
      const key = indexKey(entitlement.selector.issuerUrl, entitlement.selector.repositoryId);
      const bucket = built.get(key);
      if (bucket === undefined) built.set(key, [[position, entitlement]]);
      else bucket.push([position, entitlement]);
    });
    index = built;
    CANDIDATE_INDEX.set(entitlements, index);
  }
  const general = index.get(indexKey(workload.issuer, undefined)) ?? [];
  const specific =
    workload.repositoryId === undefined
      ? []
      : (index.get(indexKey(workload.issuer, workload.repositoryId)) ?? []);
  return [...general, ...specific]
    .sort((a, b) => a[0] - b[0])
    .map(([, entitlement]) => entitlement);
}

function indexKey(issuerUrl: string, repositoryId: string | undefined): string {
  return JSON.stringify([issuerUrl, repositoryId ?? null]);
}

function grantsChannel(entitlement: Entitlement, product: string, channel: string): boolean {
  return entitlement.grants.product === product && entitlement.grants.channels.includes(channel);
}

function selectsWorkload(selector: EntitlementSelector, workload: Workload): boolean {
  if (workload.issuer !== selector.issuerUrl) return false;
  for (const field of EXACT_FIELDS) {
    const wanted = selector[field];
    if (wanted !== undefined && workload[field] !== wanted) return false;
  }
  if (selector.ref !== undefined) {
    if (workload.ref === undefined || !matchRefPattern(selector.ref, workload.ref)) return false;
  }
  return true;
}

/**
 * True when `ref` matches `pattern`. A pattern without `*` matches only the identical ref, so
 * `refs/heads/main` never matches `refs/tags/main` or `main` (threat model C4). `*` matches any
 * run of characters within one path segment, never a `/`: `refs/tags/v*` matches
 * `refs/tags/v1.2.3` but not `refs/tags/v1/evil`. No regular expressions: at worst
 * O(pattern length × ref length), and refs are size-bounded before they get here.
 */
export function matchRefPattern(pattern: string, ref: string): boolean {
  const patternSegments = pattern.split('/');
  const refSegments = ref.split('/');
  if (patternSegments.length !== refSegments.length) return false;
  return patternSegments.every((segment, i) => matchSegment(segment, refSegments[i] ?? ''));
}

/** Wildcard match of one segment, greedy with one backtrack point (the last `*`). */
function matchSegment(pattern: string, text: string): boolean {
  let p = 0;
  let t = 0;
  let star = -1;
  let starText = 0;
  while (t < text.length) {
    if (p < pattern.length && pattern[p] !== '*' && pattern[p] === text[t]) {
      p += 1;
      t += 1;
    } else if (p < pattern.length && pattern[p] === '*') {
      star = p;
      starText = t;
      p += 1;
    } else if (star !== -1) {
      p = star + 1;
      starText += 1;
      t = starText;
    } else {
      return false;
    }
  }
  while (p < pattern.length && pattern[p] === '*') p += 1;
  return p === pattern.length;
}
