/**
 * "Did you mean …?" for misspelt field names and references in configuration files.
 */

/**
 * The candidate closest to `input` by edit distance, when it is close enough to be a plausible
 * typo (at most a third of the longer word, and at least 2 edits allowed); otherwise undefined.
 * Case differences count as edits but are tried first, so `RepositoryId` suggests `repositoryId`.
 */
export function suggestName(input: string, candidates: Iterable<string>): string | undefined {
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const candidate of candidates) {
    if (candidate === input) continue;
    if (candidate.toLowerCase() === input.toLowerCase()) return candidate;
    const distance = editDistance(input, candidate);
    const allowed = Math.max(2, Math.ceil(Math.max(input.length, candidate.length) / 3));
    if (distance <= allowed && distance < bestDistance) {
      best = candidate;
      bestDistance = distance;
    }
  }
  return best;
}

/** `message` with " (did you mean X?)" appended when a suggestion exists. */
export function withSuggestion(
  message: string,
  input: string,
  candidates: Iterable<string>,
): string {
  const suggestion = suggestName(input, candidates);
  return suggestion === undefined ? message : `${message} (did you mean ${suggestion}?)`;
}

/** Levenshtein distance; inputs are short field and object names. */
function editDistance(a: string, b: string): number {
  if (a.length > 256 || b.length > 256) return Number.POSITIVE_INFINITY;
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i += 1) {
    const current = [i];
    for (let j = 1; j <= b.length; j += 1) {
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      current.push(
        Math.min((previous[j] ?? 0) + 1, (current[j - 1] ?? 0) + 1, (previous[j - 1] ?? 0) + cost),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? Number.POSITIVE_INFINITY;
}
