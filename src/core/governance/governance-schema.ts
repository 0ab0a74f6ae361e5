/**
 * The shape of `governance.yaml`, as TypeBox schemas. One source of truth for three things: the
 * strict YAML reader (`parseGovernanceFile` walks these schemas to report errors with line
 * numbers), the committed JSON Schema `schemas/governance.schema.json` (editor completion and CI
 * validation), and the TypeScript type of a parsed document.
 *
 * Where a field has a `pattern`, its `description` says the rule in words: the reader's message
 * for a mismatch is "must be <description>".
 */
import { Type } from '@sinclair/typebox';
import type { Static, TLiteral, TUnion } from '@sinclair/typebox';
import {
  ASYMMETRIC_JWS_ALGORITHMS,
  MAX_CLOCK_LEEWAY_SECONDS,
  MAX_TOKEN_BYTES,
  MIN_TOKEN_BYTES,
} from './issuer.ts';
import { EVIDENCE_KINDS, GROUP_PURPOSES, ROLES, SIGNING_MODES, WEEKDAYS } from './governance.ts';
import { ISSUER_TYPES } from './workload.ts';

/** The `apiVersion` this code reads. */
export const GOVERNANCE_API_VERSION = 'countersign.dev/v1';
/** The `kind` of a governance document. */
export const GOVERNANCE_KIND = 'Governance';
/** Where the generated JSON Schema is published and committed. */
export const GOVERNANCE_SCHEMA_ID = 'https://countersign.dev/schemas/governance.schema.json';

/** A union of string literals that keeps the literal types for `Static`. */
type Literals<T extends readonly string[]> = { -readonly [K in keyof T]: TLiteral<T[K]> };

function oneOf<const T extends readonly string[]>(
  values: T,
  description: string,
  options: { default?: T[number] } = {},
): TUnion<Literals<T>> {
  return Type.Union(
    values.map((value) => Type.Literal(value)),
    { description, ...options },
  ) as unknown as TUnion<Literals<T>>;
}

const NAME = Type.String({
  pattern: '^[a-z0-9][a-z0-9-]{0,62}$',
  description: '1-63 lowercase letters, digits or "-", starting with a letter or digit',
});
const ID = Type.String({
  pattern: '^[a-z0-9][a-z0-9._-]{0,127}$',
  description: '1-128 lowercase letters, digits, ".", "_" or "-", starting with a letter or digit',
});
const TEXT = Type.String({ minLength: 1, maxLength: 2000 });
/** A user id or a group name. */
const OWNER = Type.String({
  pattern: '^[a-z0-9][a-z0-9._-]{0,127}$',
  description: 'a user id or group name defined in this file',
});
const TIMESTAMP = Type.String({
  pattern: '^\\d{4}-\\d{2}-\\d{2}T\\d{2}:\\d{2}:\\d{2}(\\.\\d{1,9})?(Z|[+-]\\d{2}:\\d{2})$',
  description: 'an RFC 3339 timestamp with a time zone, e.g. 2026-06-30T00:00:00Z',
});
const FULL_REF_PATTERN = Type.String({
  pattern: '^refs/[^\\s\\u0000-\\u001f\\u007f]{1,1019}$',
  description:
    'a full Git ref starting with refs/ (e.g. refs/heads/main, refs/tags/v*); "*" matches within one path segment',
});
const TOKEN = Type.String({
  pattern: '^[^\\s\\u0000-\\u001f\\u007f]{1,1024}$',
  description: 'a non-empty value without whitespace or control characters',
});
const HH_MM = Type.String({
  pattern: '^([01]\\d|2[0-3]):[0-5]\\d$',
  description: 'a 24-hour time HH:MM',
});

/** One trusted OIDC issuer; the authority on its rules is `validateIssuerConfig`. */
export const IssuerEntrySchema = Type.Object(
  {
    name: NAME,
    type: oneOf(ISSUER_TYPES, 'how the issuer’s claims are read'),
    issuer: Type.String({ description: 'the exact `iss` of the issuer’s tokens (https URL)' }),
    jwksUrl: Type.String({ description: 'pinned URL of the issuer’s JSON Web Key Set (https)' }),
    audiences: Type.Array(Type.String({ minLength: 1, maxLength: 256 }), {
      minItems: 1,
      maxItems: 16,
      description: 'accepted `aud` values',
    }),
    algorithms: Type.Array(oneOf(ASYMMETRIC_JWS_ALGORITHMS, 'an asymmetric JWS algorithm'), {
      minItems: 1,
      description: 'JWS algorithms accepted from this issuer',
    }),
    maxTokenBytes: Type.Optional(
      Type.Integer({
        minimum: MIN_TOKEN_BYTES,
        maximum: MAX_TOKEN_BYTES,
        default: MAX_TOKEN_BYTES,
      }),
    ),
    clockLeewaySeconds: Type.Optional(
      Type.Integer({ minimum: 0, maximum: MAX_CLOCK_LEEWAY_SECONDS, default: 30 }),
    ),
    allowInsecureLoopback: Type.Optional(
      Type.Boolean({ default: false, description: 'development only: http:// on loopback' }),
    ),
  },
  { additionalProperties: false },
);

/**
 * A period when signing is allowed (`products[].channels[].changeWindows[]`): weekly (`days`,
 * `start`, `end`) or a cron-like `schedule`, never both; `governance-file.ts` checks which.
 */
export const ChangeWindowSchema = Type.Object(
  {
    days: Type.Optional(
      Type.Array(oneOf(WEEKDAYS, 'a day of the week'), { minItems: 1, uniqueItems: true }),
    ),
    start: Type.Optional(HH_MM),
    end: Type.Optional({
      ...HH_MM,
      description: 'a 24-hour time HH:MM; before start means the window ends the next day',
    }),
    schedule: Type.Optional(
      Type.String({
        minLength: 1,
        maxLength: 200,
        description:
          '5-field cron expression (minute hour day-of-month month day-of-week), open every minute it matches, e.g. "* 9-16 * * mon-fri"; instead of days/start/end',
      }),
    ),
    timeZone: Type.Optional(
      Type.String({ minLength: 1, maxLength: 64, default: 'UTC', description: 'IANA time zone' }),
    ),
  },
  { additionalProperties: false },
);

/** How many people of which group approve (`products[].channels[].approval`). */
export const ApprovalRuleSchema = Type.Object(
  {
    required: Type.Integer({
      minimum: 0,
      maximum: 10,
      description: 'distinct approvals needed; 0 means none',
    }),
    group: Type.Optional(
      Type.String({
        ...NAME,
        description: 'a group with purpose "approvers" defined in this file',
      }),
    ),
    secondGroup: Type.Optional(
      Type.Object(
        {
          group: Type.String({
            ...NAME,
            description: 'another group with purpose "approvers"; its people count separately',
          }),
          required: Type.Integer({ minimum: 1, maximum: 10 }),
        },
        { additionalProperties: false },
      ),
    ),
    lifetime: Type.Optional(
      Type.String({
        pattern: '^(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?$',
        minLength: 2,
        maxLength: 32,
        default: '24h',
        description:
          'how long an approval stays valid and a request waits for approvals, e.g. 8h or 2d',
      }),
    ),
    minCredentialAge: Type.Optional(
      Type.String({
        pattern: '^(\\d+w)?(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?$',
        minLength: 2,
        maxLength: 32,
        description:
          'a newly registered approver key or passkey counts only once it is this old, e.g. 24h',
      }),
    ),
  },
  { additionalProperties: false },
);

/** One release channel (`products[].channels[]`). */
export const ChannelEntrySchema = Type.Object(
  {
    name: NAME,
    signingMode: Type.Optional(
      oneOf(SIGNING_MODES, 'ephemeral: per-job key and certificate; managed: the channel key', {
        default: 'ephemeral',
      }),
    ),
    approval: Type.Optional(ApprovalRuleSchema),
    emergencyGroup: Type.Optional(
      Type.String({
        ...NAME,
        description: 'a group with purpose "emergency" defined in this file',
      }),
    ),
    changeWindows: Type.Optional(Type.Array(ChangeWindowSchema, { maxItems: 50, default: [] })),
    requiredEvidence: Type.Optional(
      Type.Array(oneOf(EVIDENCE_KINDS, 'an evidence kind'), { uniqueItems: true, default: [] }),
    ),
  },
  { additionalProperties: false },
);

/** One product with its channels (`products[]`). */
export const ProductEntrySchema = Type.Object(
  {
    name: NAME,
    owner: OWNER,
    description: Type.Optional(Type.String({ maxLength: 2000, default: '' })),
    protectedRefs: Type.Optional(
      Type.Array(FULL_REF_PATTERN, { maxItems: 100, uniqueItems: true, default: [] }),
    ),
    channels: Type.Array(ChannelEntrySchema, { minItems: 1, maxItems: 50 }),
  },
  { additionalProperties: false },
);

/** Which workloads an entitlement covers (`entitlements[].selector`). */
export const EntitlementSelectorSchema = Type.Object(
  {
    issuer: Type.String({ ...NAME, description: 'the name of an issuer defined in this file' }),
    subject: Type.Optional(TOKEN),
    repositoryId: Type.Optional(TOKEN),
    ownerId: Type.Optional(TOKEN),
    ref: Type.Optional(FULL_REF_PATTERN),
    workflow: Type.Optional(TOKEN),
    environment: Type.Optional(
      Type.String({
        pattern: '^[^\\u0000-\\u001f\\u007f]{1,255}$',
        description: '1-255 characters without control characters',
      }),
    ),
    event: Type.Optional(
      Type.String({
        pattern: '^[a-z][a-z0-9_]{0,63}$',
        description: 'an event name such as push or workflow_dispatch',
      }),
    ),
    serviceAccountUid: Type.Optional(TOKEN),
  },
  { additionalProperties: false },
);

/** One entitlement (`entitlements[]`). */
export const EntitlementEntrySchema = Type.Object(
  {
    id: ID,
    selector: EntitlementSelectorSchema,
    grants: Type.Object(
      {
        product: NAME,
        channels: Type.Array(NAME, { minItems: 1, maxItems: 50, uniqueItems: true }),
      },
      { additionalProperties: false },
    ),
    owner: OWNER,
    justification: TEXT,
    expiresAt: TIMESTAMP,
    reviewAt: TIMESTAMP,
  },
  { additionalProperties: false },
);

/** One person (`users[]`). */
export const UserEntrySchema = Type.Object(
  {
    id: ID,
    email: Type.String({
      pattern: '^[^\\s@]{1,64}@[^\\s@]{1,189}$',
      description: 'an e-mail address',
    }),
    roles: Type.Array(oneOf(ROLES, 'a role'), { uniqueItems: true }),
  },
  { additionalProperties: false },
);

/** One group (`groups[]`). */
export const GroupEntrySchema = Type.Object(
  {
    name: NAME,
    purpose: oneOf(GROUP_PURPOSES, 'what the group is for'),
    description: Type.Optional(Type.String({ maxLength: 2000, default: '' })),
    members: Type.Array(ID, { maxItems: 1000, uniqueItems: true }),
  },
  { additionalProperties: false },
);

/** Which Cedar policies join the shipped defaults (`policies`). */
export const PoliciesSchema = Type.Object(
  {
    defaults: Type.Optional(
      Type.Boolean({ default: true, description: 'include the shipped default policies' }),
    ),
    files: Type.Optional(
      Type.Array(
        Type.String({
          pattern: '^(?!/)(?!.*(^|/)\\.\\.(/|$))[A-Za-z0-9._/-]{1,250}\\.cedar$',
          description:
            'a relative path ending in .cedar, without "..", using letters, digits, ".", "_", "-" and "/"',
        }),
        { maxItems: 100, uniqueItems: true, default: [] },
      ),
    ),
    inline: Type.Optional(
      Type.Array(
        Type.Object(
          { name: NAME, cedar: Type.String({ minLength: 1, maxLength: 100_000 }) },
          { additionalProperties: false },
        ),
        { maxItems: 100, default: [] },
      ),
    ),
  },
  { additionalProperties: false },
);

/** How exceptions (break-glass) are approved, bounded and reviewed (`exceptions`). */
export const ExceptionRulesSchema = Type.Object(
  {
    required: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 10,
        default: 1,
        description:
          'distinct members of the channel’s emergency group who must approve; the requester never counts',
      }),
    ),
    maxDuration: Type.Optional(
      Type.String({
        pattern: '^(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?$',
        minLength: 2,
        maxLength: 32,
        default: '24h',
        description: 'a duration such as 2h or 1d (the longest an approved exception stays usable)',
      }),
    ),
    maxUses: Type.Optional(
      Type.Integer({
        minimum: 1,
        maximum: 1000,
        default: 10,
        description: 'the most signatures one exception may allow',
      }),
    ),
    reviewWithin: Type.Optional(
      Type.String({
        pattern: '^(\\d+d)?(\\d+h)?(\\d+m)?(\\d+s)?$',
        minLength: 2,
        maxLength: 32,
        default: '72h',
        description:
          'a duration such as 72h or 3d (when the review is due after the exception’s notAfter)',
      }),
    ),
    blockWhenReviewOverdue: Type.Optional(
      Type.Boolean({
        default: true,
        description: 'refuse new exceptions for a product while one of its reviews is overdue',
      }),
    ),
  },
  { additionalProperties: false },
);

/** The whole `governance.yaml` document. */
export const GovernanceFileSchema = Type.Object(
  {
    apiVersion: Type.Literal(GOVERNANCE_API_VERSION),
    kind: Type.Literal(GOVERNANCE_KIND),
    issuers: Type.Optional(Type.Array(IssuerEntrySchema, { maxItems: 100, default: [] })),
    products: Type.Optional(Type.Array(ProductEntrySchema, { maxItems: 1000, default: [] })),
    entitlements: Type.Optional(
      Type.Array(EntitlementEntrySchema, { maxItems: 10_000, default: [] }),
    ),
    users: Type.Optional(Type.Array(UserEntrySchema, { maxItems: 10_000, default: [] })),
    groups: Type.Optional(Type.Array(GroupEntrySchema, { maxItems: 1000, default: [] })),
    policies: Type.Optional(PoliciesSchema),
    exceptions: Type.Optional(ExceptionRulesSchema),
  },
  { additionalProperties: false },
);

/** A governance document as written (before references are resolved). */
export type GovernanceFileDocument = Static<typeof GovernanceFileSchema>;

/**
 * The JSON Schema (draft 2020-12) committed at `schemas/governance.schema.json`. Plain data:
 * TypeBox's internal markers are symbols and do not survive `JSON.stringify`.
 */
export function generateGovernanceJsonSchema(): Record<string, unknown> {
  const body = JSON.parse(JSON.stringify(GovernanceFileSchema)) as Record<string, unknown>;
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    $id: GOVERNANCE_SCHEMA_ID,
    title: 'Countersign governance file',
    description:
      'Products, channels, entitlements, users, groups, issuers and extra Cedar policies (docs/governance.md).',
    ...body,
  };
}
