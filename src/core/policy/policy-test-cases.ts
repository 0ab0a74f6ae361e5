/**
 * The offline policy test file (`countersign policy test -f cases.yaml`): signing requests with
 * the decision the organisation expects. Pure: parsing and validation only; `runPolicyTests` in
 * `src/app/test-policy.ts` evaluates them.
 */
import { Type } from '@sinclair/typebox';
import type { Static } from '@sinclair/typebox';
import { AppError } from '../errors.ts';
import type { FieldError } from '../errors.ts';
import type { Governance, WaivableCheck } from '../governance/governance.ts';
import { WAIVABLE_CHECKS } from '../governance/governance.ts';
import { formatFieldErrors, readYamlDocument } from '../governance/read-yaml-document.ts';
import { withSuggestion } from '../governance/suggest-name.ts';
import type { Workload } from '../governance/workload.ts';

const TIMESTAMP = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$',
  description: 'an RFC 3339 timestamp with a time zone, e.g. 2026-03-01T12:00:00Z',
});
const VALUE = Type.String({ minLength: 1, maxLength: 1024 });

const CaseWorkloadSchema = Type.Object(
  {
    issuer: Type.String({
      minLength: 1,
      description: 'an issuer name from governance.yaml, or its exact iss',
    }),
    subject: Type.Optional(VALUE),
    identityUri: Type.Optional(VALUE),
    repositoryId: Type.Optional(VALUE),
    ownerId: Type.Optional(VALUE),
    repository: Type.Optional(VALUE),
    ref: Type.Optional(VALUE),
    refProtected: Type.Optional(Type.Boolean()),
    workflow: Type.Optional(VALUE),
    environment: Type.Optional(VALUE),
    event: Type.Optional(VALUE),
    commitSha: Type.Optional(VALUE),
    runnerEnvironment: Type.Optional(VALUE),
    runId: Type.Optional(VALUE),
    namespace: Type.Optional(VALUE),
    serviceAccount: Type.Optional(VALUE),
    serviceAccountUid: Type.Optional(VALUE),
    callerWorkflow: Type.Optional(VALUE),
    isInteractive: Type.Optional(Type.Boolean()),
  },
  { additionalProperties: false },
);

const CaseContextSchema = Type.Object(
  {
    evidence: Type.Optional(
      Type.Object(
        {
          provenance: Type.Optional(
            Type.Object(
              { present: Type.Boolean(), builderTrusted: Type.Boolean() },
              { additionalProperties: false },
            ),
          ),
          checksPassed: Type.Optional(Type.Boolean()),
        },
        { additionalProperties: false },
      ),
    ),
    approvals: Type.Optional(
      Type.Object(
        { count: Type.Integer({ minimum: 0, maximum: 1000 }) },
        { additionalProperties: false },
      ),
    ),
    changeWindow: Type.Optional(
      Type.Object({ open: Type.Boolean() }, { additionalProperties: false }),
    ),
    exception: Type.Optional(
      Type.Object(
        {
          active: Type.Boolean(),
          waives: Type.Array(
            Type.Union(
              WAIVABLE_CHECKS.map((c) => Type.Literal(c)),
              { description: 'a check an exception may waive' },
            ),
            { uniqueItems: true },
          ),
        },
        { additionalProperties: false },
      ),
    ),
  },
  { additionalProperties: false },
);

const CaseSchema = Type.Object(
  {
    name: Type.String({ minLength: 1, maxLength: 200 }),
    at: Type.Optional(TIMESTAMP),
    workload: CaseWorkloadSchema,
    product: Type.String({ minLength: 1, maxLength: 63 }),
    channel: Type.String({ minLength: 1, maxLength: 63 }),
    context: Type.Optional(CaseContextSchema),
    expect: Type.Union([Type.Literal('allow'), Type.Literal('deny')]),
    reasonContains: Type.Optional(Type.String({ minLength: 1, maxLength: 500 })),
  },
  { additionalProperties: false },
);

const CaseListSchema = Type.Array(CaseSchema, { minItems: 1, maxItems: 10_000 });

/** A cases file: a list of cases, or `{ at, cases }` to evaluate every case at one instant. */
export const PolicyTestFileSchema = Type.Union([
  CaseListSchema,
  Type.Object(
    { at: Type.Optional(TIMESTAMP), cases: CaseListSchema },
    { additionalProperties: false },
  ),
]);

type CaseDocument = Static<typeof CaseSchema>;

/** One expectation about one signing request. */
export interface PolicyTestCase {
  readonly name: string;
  /** `file:line` of the case, for reports. */
  readonly source: string;
  /** The instant to evaluate at; absent means "now" as the runner's clock says. */
  readonly at?: Date;
  readonly workload: Workload;
  readonly product: string;
  readonly channel: string;
  readonly context: {
    readonly evidence?: {
      readonly provenance?: { readonly present: boolean; readonly builderTrusted: boolean };
      readonly checksPassed?: boolean;
    };
    readonly approvals?: { readonly count: number };
    readonly changeWindow?: { readonly open: boolean };
    readonly exception?: { readonly active: boolean; readonly waives: readonly WaivableCheck[] };
  };
  readonly expect: 'allow' | 'deny';
  /** A substring one of the decision's reasons must contain. */
  readonly reasonContains?: string;
}

/**
 * Parses a policy test cases file. Issuers are named as in `governance` (or by their exact
 * `iss`); a missing `subject` or `identityUri` is filled with a placeholder naming the case.
 *
 * @throws AppError CONFIG_INVALID listing every problem with `file:line`.
 */
export function parsePolicyTestCases(
  text: string,
  governance: Governance,
  options: { readonly fileName?: string } = {},
): PolicyTestCase[] {
  const fileName = options.fileName ?? 'cases.yaml';
  const read = readYamlDocument(text, PolicyTestFileSchema, { fileName });
  const errors: FieldError[] = [...read.errors];
  const root = read.value;
  const isList = Array.isArray(root);
  const list: readonly (CaseDocument | undefined)[] = isList
    ? (root as (CaseDocument | undefined)[])
    : ((root as { cases?: (CaseDocument | undefined)[] } | undefined)?.cases ?? []);
  const fileAt = isList ? undefined : (root as { at?: string } | undefined)?.at;
  const prefix = isList ? '' : 'cases';
  const names = new Set<string>();
  const cases: PolicyTestCase[] = [];
  list.forEach((entry, index) => {
    const path = `${prefix}[${String(index)}]`;
    if (entry === undefined || errors.some((e) => e.path.startsWith(path))) return;
    const { issuer: issuerRef, ...claims } = entry.workload;
    const issuer = governance.issuers.find((i) => i.name === issuerRef || i.issuer === issuerRef);
    if (issuer === undefined) {
      errors.push({
        path: `${path}.workload.issuer`,
        message: withSuggestion(
          `unknown issuer ${entry.workload.issuer}`,
          entry.workload.issuer,
          governance.issuers.map((i) => i.name),
        ),
        source: read.sourceOf(`${path}.workload.issuer`),
      });
      return;
    }
    if (names.has(entry.name)) {
      errors.push({
        path: `${path}.name`,
        message: `case ${entry.name} is defined twice`,
        source: read.sourceOf(`${path}.name`),
      });
    }
    names.add(entry.name);
    const at = entry.at ?? fileAt;
    const workload: Workload = {
      ...claims,
      issuer: issuer.issuer,
      issuerType: issuer.type,
      subject: claims.subject ?? `policy-test:${entry.name}`,
      identityUri: claims.identityUri ?? `policy-test:${entry.name}`,
    };
    cases.push({
      name: entry.name,
      source: read.sourceOf(path),
      ...(at === undefined ? {} : { at: new Date(at) }),
      workload,
      product: entry.product,
      channel: entry.channel,
      context: entry.context ?? {},
      expect: entry.expect,
      ...(entry.reasonContains === undefined ? {} : { reasonContains: entry.reasonContains }),
    });
  });
  if (errors.length > 0) {
    throw new AppError(
      'CONFIG_INVALID',
      `${fileName} has problems:\n${formatFieldErrors(errors)}`,
      {
        errors,
      },
    );
  }
  return cases;
}
