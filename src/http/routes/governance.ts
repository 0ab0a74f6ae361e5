/**
 * Governance as code over the API: `POST /v1/governance/plan` (what would change),
 * `POST /v1/governance/apply` (apply it as a new version, logged) and `GET /v1/governance` (the
 * version in force). Plan and apply need an admin token; reading also an auditor or security one.
 */
import { Type } from '@sinclair/typebox';
import type { GovernancePlan } from '../../app/apply-governance.ts';
import { MAX_POLICY_FILE_BYTES, MAX_SUBMITTED_POLICY_FILES } from '../../app/compile-governance.ts';
import type { FieldError } from '../../core/errors.ts';
import { describeGovernanceChange } from '../../core/governance/plan-governance.ts';
import { MAX_CONFIG_FILE_BYTES } from '../../core/governance/read-yaml-document.ts';
import { principalOf, requireApiToken } from '../authenticate.ts';
import type { RouteModule } from '../server-deps.ts';
import { strictObject } from '../typebox.ts';

const SubmittedFileSchema = (maxLength: number, description: string) =>
  strictObject({
    name: Type.String({ minLength: 1, maxLength: 255, description }),
    text: Type.String({ maxLength, description: 'the file content, UTF-8' }),
  });

/** What `countersign plan` and `countersign apply` send. */
const SubmissionBody = strictObject({
  file: SubmittedFileSchema(
    MAX_CONFIG_FILE_BYTES,
    'the governance file name, as shown in messages (e.g. governance.yaml)',
  ),
  policies: Type.Optional(
    Type.Array(
      SubmittedFileSchema(
        MAX_POLICY_FILE_BYTES,
        'a Cedar file, named exactly as in policies.files of the governance file',
      ),
      { maxItems: MAX_SUBMITTED_POLICY_FILES },
    ),
  ),
});

const FieldErrorSchema = Type.Object({
  path: Type.String(),
  message: Type.String(),
  source: Type.Optional(Type.String({ description: 'file:line' })),
});

const ChangeSchema = Type.Object({
  action: Type.Union([Type.Literal('add'), Type.Literal('update'), Type.Literal('remove')]),
  kind: Type.String({
    description: 'issuer, user, group, product, channel, entitlement or policy',
  }),
  key: Type.String(),
  fields: Type.Array(
    Type.Object({
      path: Type.String(),
      before: Type.Optional(Type.String()),
      after: Type.Optional(Type.String()),
    }),
  ),
  description: Type.String({ description: 'one line for humans, e.g. "+ entitlement x"' }),
});

const PlanSchema = {
  currentVersion: Type.Integer({ description: 'the version in force (0: none applied yet)' }),
  changes: Type.Array(ChangeSchema),
  warnings: Type.Array(FieldErrorSchema),
  policyHash: Type.String({ description: 'sha256:<hex> of the policy set the file puts in force' }),
  fileSha256: Type.String({ description: 'sha256:<hex> of the governance file' }),
};

const Uint64String = Type.String({ pattern: '^(0|[1-9][0-9]{0,19})$' });

const ActorSchema = Type.Object({
  kind: Type.Union([Type.Literal('api-token'), Type.Literal('system')]),
  id: Type.String(),
  name: Type.String(),
});

const SECURITY = [{ bearerAuth: [] }];

export const governanceRoutes: RouteModule = {
  name: 'governance',
  register(server, { deps }) {
    const { apiTokens, governance } = deps.services;
    const adminOnly = requireApiToken(apiTokens, ['admin']);
    const readers = requireApiToken(apiTokens, ['admin', 'security', 'auditor']);
    // A governance file with a thousand entitlements is far larger than an ordinary JSON body.
    const bodyLimit = deps.config.limits.evidenceBodyBytes;

    server.post(
      '/v1/governance/plan',
      {
        onRequest: adminOnly,
        bodyLimit,
        schema: {
          tags: ['governance'],
          summary: 'Check a governance file and list what applying it would change',
          security: SECURITY,
          body: SubmissionBody,
          response: { 200: Type.Object(PlanSchema) },
        },
      },
      async (request) => {
        const { file, policies = [] } = request.body;
        return renderPlan(await governance.plan({ file, policies }));
      },
    );

    server.post(
      '/v1/governance/apply',
      {
        onRequest: adminOnly,
        bodyLimit,
        schema: {
          tags: ['governance'],
          summary: 'Apply a governance file as a new version, recorded in the transparency log',
          security: SECURITY,
          body: SubmissionBody,
          response: {
            200: Type.Object({
              ...PlanSchema,
              applied: Type.Boolean({ description: 'false when nothing changed' }),
              version: Type.Integer({ description: 'the version in force now' }),
              logIndex: Type.Union([Uint64String, Type.Null()], {
                description: 'index of the governance.applied event',
              }),
            }),
          },
        },
      },
      async (request) => {
        const { file, policies = [] } = request.body;
        const principal = principalOf(request);
        const result = await governance.apply(
          { file, policies },
          { kind: 'api-token', id: principal.tokenId, name: principal.name },
        );
        return {
          ...renderPlan(result),
          applied: result.applied,
          version: result.version,
          logIndex: result.logIndex?.toString() ?? null,
        };
      },
    );

    server.get(
      '/v1/governance',
      {
        onRequest: readers,
        schema: {
          tags: ['governance'],
          summary: 'The governance version in force',
          security: SECURITY,
          response: {
            200: Type.Object({
              version: Type.Integer({ description: '0 when no governance was applied' }),
              fileName: Type.Union([Type.String(), Type.Null()]),
              fileSha256: Type.Union([Type.String(), Type.Null()]),
              policyHash: Type.Union([Type.String(), Type.Null()]),
              appliedAt: Type.Union([Type.String({ format: 'date-time' }), Type.Null()]),
              appliedBy: Type.Union([ActorSchema, Type.Null()]),
              logIndex: Type.Union([Uint64String, Type.Null()]),
              governance: Type.Unknown({ description: 'the validated snapshot' }),
            }),
          },
        },
      },
      async () => {
        const view = await governance.describeCurrent();
        if (view === undefined) {
          return {
            version: 0,
            fileName: null,
            fileSha256: null,
            policyHash: null,
            appliedAt: null,
            appliedBy: null,
            logIndex: null,
            governance: null,
          };
        }
        return {
          version: view.version,
          fileName: view.fileName,
          fileSha256: view.fileSha256,
          policyHash: view.policyHash,
          appliedAt: view.appliedAt.toISOString(),
          appliedBy: view.appliedBy,
          logIndex: view.logIndex?.toString() ?? null,
          governance: view.document,
        };
      },
    );
  },
};

function renderPlan(plan: GovernancePlan) {
  return {
    currentVersion: plan.currentVersion,
    changes: plan.changes.map((change) => ({
      action: change.action,
      kind: change.kind,
      key: change.key,
      fields: change.fields.map((field) => ({ ...field })),
      description: describeGovernanceChange(change),
    })),
    warnings: plan.warnings.map(renderFieldError),
    policyHash: plan.policyHash,
    fileSha256: plan.fileSha256,
  };
}

function renderFieldError(error: FieldError) {
  return {
    path: error.path,
    message: error.message,
    ...(error.source === undefined ? {} : { source: error.source }),
  };
}
