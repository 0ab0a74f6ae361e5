/**
 * Reasons are the sentences a denied engineer reads. Policies carry them as `@reason("…")`
 * templates whose `{principal.x}`, `{resource.x}` and `{context.a.b}` placeholders are filled
 * from the request.
 */

/** Roots a placeholder may start with: the parts of a Cedar request. */
export const REASON_PLACEHOLDER_ROOTS = ['principal', 'resource', 'context'] as const;

/** Longest rendering of one placeholder value; longer values are cut with `…`. */
export const MAX_REASON_VALUE_LENGTH = 200;

const PLACEHOLDER = /\{([^{}]*)\}/g;
const PLACEHOLDER_PATH = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)+$/;

/** The values placeholders read: the request's principal and resource attributes and context. */
export interface ReasonValues {
  readonly principal: Readonly<Record<string, unknown>>;
  readonly resource: Readonly<Record<string, unknown>>;
  readonly context: Readonly<Record<string, unknown>>;
}

/**
 * Checks the placeholders of a reason template. Returns one message per malformed placeholder
 * (empty when the template is fine); the policy loader turns them into CONFIG_INVALID.
 */
export function checkReasonTemplate(template: string): string[] {
  const problems: string[] = [];
  for (const match of template.matchAll(PLACEHOLDER)) {
    const path = match[1] ?? '';
    const root = path.split('.')[0] ?? '';
    if (!PLACEHOLDER_PATH.test(path)) {
      problems.push(
        `placeholder {${path}} is not a dotted attribute path like {context.approvals.count}`,
      );
    } else if (!(REASON_PLACEHOLDER_ROOTS as readonly string[]).includes(root)) {
      problems.push(`placeholder {${path}} must start with principal, resource or context`);
    }
  }
  return problems;
}

/**
 * Fills a reason template. A missing value renders as `(none)`. Values can come from token claims
 * (attacker-controlled: a branch name is chosen by whoever pushes it), so control characters are
 * replaced and each value is length-capped before it reaches a terminal, a log or a web page.
 */
export function renderReason(template: string, values: ReasonValues): string {
  return template.replace(PLACEHOLDER, (whole, path: string) => {
    if (!PLACEHOLDER_PATH.test(path)) return whole;
    const [root, ...rest] = path.split('.');
    let value: unknown =
      root === 'principal' || root === 'resource' || root === 'context' ? values[root] : undefined;
    for (const key of rest) {
      value = isRecord(value) && Object.hasOwn(value, key) ? value[key] : undefined;
    }
    return formatValue(value);
  });
}

function formatValue(value: unknown): string {
  let text: string;
  if (value === undefined || value === null) text = '(none)';
  else if (typeof value === 'string') text = value;
  else if (typeof value === 'number' || typeof value === 'boolean') text = String(value);
  else if (Array.isArray(value)) text = value.map(formatValue).join(', ') || '(none)';
  else if (isRecord(value) && typeof value['name'] === 'string') text = value['name'];
  else text = '(complex value)';
  return sanitize(text);
}

/** Replaces C0/C1 controls and bidi overrides, then caps the length. */
function sanitize(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g, '\uFFFD');
  return clean.length > MAX_REASON_VALUE_LENGTH
    ? `${clean.slice(0, MAX_REASON_VALUE_LENGTH)}…`
    : clean;
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
