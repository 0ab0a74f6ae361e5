/**
 * The Cedar policy engine (DESIGN.md §4): wraps `@cedar-policy/cedar-wasm` behind `PolicyEngine`.
 *
 * Loading parses the schema and every policy source once, validates the policies against the
 * schema in strict mode, checks Countersign's own rules (every policy has a unique `@id`, reasons
 * are well-formed, no templates), and pre-parses the set into the Cedar runtime under its policy
 * hash. Evaluation then only converts the request and asks Cedar: nothing is re-parsed per call
 * (DESIGN.md §8 "parse policies once").
 */
import {
  checkParseSchema,
  policySetTextToParts,
  policyToJson,
  preparsePolicySet,
  preparseSchema,
  statefulIsAuthorized,
  validate,
} from '@cedar-policy/cedar-wasm/nodejs';
import type {
  AuthorizationAnswer,
  CedarValueJson,
  DetailedError,
  EntityJson,
  EntityUidJson,
  PolicyJson,
} from '@cedar-policy/cedar-wasm/nodejs';
import { AppError } from '../../core/errors.ts';
import type { FieldError } from '../../core/errors.ts';
import { computePolicyHash } from '../../core/policy/compute-policy-hash.ts';
import { CEDAR_NAMESPACE, POLICY_ACTIONS } from '../../core/policy/policy-engine.ts';
import type {
  ChannelResource,
  GroupRef,
  PolicyDecision,
  PolicyEngine,
  PolicyEvaluationError,
  PolicyAction,
  PolicyInfo,
  PolicyRequest,
  PolicySource,
  ProductResource,
  UserPrincipal,
  WorkloadPrincipal,
} from '../../core/policy/policy-engine.ts';
import { checkReasonTemplate, renderReason } from '../../core/policy/render-reason.ts';
import type { ReasonValues } from '../../core/policy/render-reason.ts';

/** What a policy engine is built from. */
export interface CedarPolicySet {
  /** `policies/schema.cedarschema`. */
  readonly schema: PolicySource;
  /** The shipped defaults and any extra sources, each a Cedar policy set text. */
  readonly policies: readonly PolicySource[];
  /**
   * Also validate every request (principal, resource, context, entities) against the schema when
   * evaluating. Off in the service: requests are built by typed code from the same schema, a
   * policy that errors on an ill-typed value denies (fail closed), and validation costs a quarter
   * of a decision. The test suite turns it on to prove the request builder fits the schema.
   */
  readonly validateRequests?: boolean;
}

/** `@id` values: short, printable, safe in logs and URLs. */
const POLICY_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;

/**
 * Engines by policy hash and source locations. Cedar's pre-parse cache is process-global and keyed
 * by name, so the engine for one policy set is built once per process and shared: equal input,
 * same engine. Locations are part of the key only so `explain` never shows stale line numbers.
 * Entries are never evicted: a process sees a handful of policy sets (one per applied change).
 */
const ENGINES = new Map<string, CedarPolicyEngine>();

/** A loaded, validated Cedar policy set. */
export interface CedarPolicyEngine extends PolicyEngine {
  /** The sources it was built from, in the order given. */
  readonly sources: readonly PolicySource[];
}

/**
 * Builds (or returns the cached) engine for `set`.
 *
 * @throws AppError CONFIG_INVALID when the schema or any policy does not parse, a policy does not
 *   validate against the schema, a policy lacks a unique `@id`, a `@reason` is malformed, or a
 *   template is present. Every problem is reported at once in `errors`, each with `source` set to
 *   `file:line`.
 */
export function createCedarPolicyEngine(set: CedarPolicySet): CedarPolicyEngine {
  const policyHash = computePolicyHash(set.schema, set.policies);
  const validateRequests = set.validateRequests ?? false;
  const cacheKey = `${policyHash} ${String(validateRequests)} ${JSON.stringify(set.policies.map((p) => p.location ?? null))}`;
  const cached = ENGINES.get(cacheKey);
  if (cached !== undefined) return cached;

  const problems: FieldError[] = [];
  const schemaOk = checkSchema(set.schema, problems);
  const policies: Record<string, PolicyJson> = {};
  const infos: PolicyInfo[] = [];
  const seenNames = new Set<string>();
  for (const source of set.policies) {
    if (seenNames.has(source.name)) {
      problems.push({ path: source.name, message: 'policy source listed twice' });
      continue;
    }
    seenNames.add(source.name);
    loadSource(source, set.schema, schemaOk, policies, infos, problems);
  }
  if (problems.length > 0) {
    throw new AppError('CONFIG_INVALID', describeProblems(problems), { errors: problems });
  }

  // Pre-parse under the hash: the name is unique to this exact content, so two engines never
  // overwrite each other's entries.
  const schemaAnswer = preparseSchema(policyHash, set.schema.text);
  // One pre-parsed set per action, holding the policies whose action scope can match it (those
  // naming it, and those on every action): a request is evaluated against only those, which
  // decides exactly as the whole set does, since a policy scoped to other actions never applies.
  const setAnswers = POLICY_ACTIONS.map((action) =>
    preparsePolicySet(actionSetId(policyHash, action), {
      staticPolicies: Object.fromEntries(
        Object.entries(policies).filter(([, policy]) => appliesToAction(policy, action)),
      ),
    }),
  );
  if (schemaAnswer.type === 'failure' || setAnswers.some((a) => a.type === 'failure')) {
    const errors = [
      ...(schemaAnswer.type === 'failure' ? schemaAnswer.errors : []),
      ...setAnswers.flatMap((a) => (a.type === 'failure' ? a.errors : [])),
    ];
    throw new AppError('CONFIG_INVALID', 'the policy set could not be loaded', {
      errors: errors.map((e) => ({ path: 'policies', message: describeCedarError(e) })),
    });
  }

  const byId = new Map(infos.map((info, index) => [info.id, { ...info, index }]));
  const answers = new AnswerMemo(
    ANSWER_MEMO_SIZE,
    // With request validation every attribute counts (an ill-typed one fails the call).
    validateRequests ? undefined : readAttributeNames(Object.values(policies)),
  );
  const engine: CedarPolicyEngine = {
    policyHash,
    policies: Object.freeze(infos),
    sources: Object.freeze([...set.policies]),
    evaluate: (request) => evaluateRequest(request, policyHash, byId, validateRequests, answers),
  };
  ENGINES.set(cacheKey, Object.freeze(engine));
  return engine;
}

function checkSchema(schema: PolicySource, problems: FieldError[]): boolean {
  const answer = checkParseSchema(schema.text);
  if (answer.type === 'success') return true;
  for (const error of answer.errors) {
    problems.push({
      path: 'schema',
      message: describeCedarError(error),
      source: locate(schema, firstOffset(error)),
    });
  }
  return false;
}

/** Parses, validates and indexes one source; adds its policies to `policies` and `infos`. */
function loadSource(
  source: PolicySource,
  schema: PolicySource,
  schemaOk: boolean,
  policies: Record<string, PolicyJson>,
  infos: PolicyInfo[],
  problems: FieldError[],
): void {
  const parts = policySetTextToParts(source.text);
  if (parts.type === 'failure') {
    for (const error of parts.errors) {
      problems.push({
        path: source.name,
        message: describeCedarError(error),
        source: locate(source, firstOffset(error)),
      });
    }
    return;
  }
  for (const template of parts.policy_templates) {
    problems.push({
      path: source.name,
      message: 'policy templates (?principal, ?resource) are not supported: write a static policy',
      source: locate(source, byteOffsetOf(source.text, template)),
    });
  }

  // Cedar names unnamed policies policy0, policy1, … in source order; sorting the parts by
  // position recovers that order, so validation messages can be mapped back to our `@id`s.
  const located = locateParts(source.text, parts.policies);
  const autoIdToId = new Map<string, string>();
  located.forEach((part, index) => {
    const where = locate(source, part.offset);
    const json = policyToJson(part.text);
    if (json.type === 'failure') {
      for (const error of json.errors)
        problems.push({ path: source.name, message: describeCedarError(error), source: where });
      return;
    }
    const annotations = normaliseAnnotations(json.json.annotations);
    const id = annotations['id'];
    if (id === undefined || !POLICY_ID.test(id)) {
      problems.push({
        path: source.name,
        message:
          id === undefined
            ? 'policy has no @id("…") annotation: every policy needs a unique id'
            : `@id("${id}") must be 1-128 letters, digits, ".", "_", ":" or "-", starting with a letter or digit`,
        source: where,
      });
      return;
    }
    autoIdToId.set(`policy${String(index)}`, id);
    const previous = infos.find((info) => info.id === id);
    if (previous !== undefined) {
      problems.push({
        path: id,
        message: `duplicate policy id (first defined at ${previous.source})`,
        source: where,
      });
      return;
    }
    for (const name of ['reason', 'description'] as const) {
      const template = annotations[name];
      if (template === undefined) continue;
      for (const message of checkReasonTemplate(template)) {
        problems.push({ path: id, message: `@${name}: ${message}`, source: where });
      }
    }
    policies[id] = json.json;
    infos.push({ id, effect: json.json.effect, annotations, source: where });
  });

  // Cedar validates a text with templates only as a template set; they were refused above.
  if (!schemaOk || parts.policy_templates.length > 0) return;
  const answer = validate({
    schema: schema.text,
    policies: { staticPolicies: source.text },
    validationSettings: { mode: 'strict' },
  });
  if (answer.type === 'failure') {
    for (const error of answer.errors) {
      problems.push({
        path: source.name,
        message: describeCedarError(error),
        source: locate(source, firstOffset(error)),
      });
    }
    return;
  }
  for (const { policyId, error } of answer.validationErrors) {
    const id = autoIdToId.get(policyId) ?? policyId;
    const message = describeCedarError(error).replace(`for policy \`${policyId}\`, `, '');
    problems.push({ path: id, message, source: locate(source, firstOffset(error)) });
  }
}

/** Finds each part's position in the source text (Cedar returns the original text of each policy). */
function locateParts(text: string, parts: readonly string[]): { text: string; offset: number }[] {
  const taken = new Set<number>();
  const located = parts.map((part) => {
    let index = text.indexOf(part);
    while (index !== -1 && taken.has(index)) index = text.indexOf(part, index + 1);
    if (index !== -1) taken.add(index);
    return { text: part, index };
  });
  return located
    .sort((a, b) => a.index - b.index)
    .map(({ text: partText, index }) => ({
      text: partText,
      offset: index === -1 ? 0 : Buffer.byteLength(text.slice(0, index), 'utf8'),
    }));
}

function byteOffsetOf(text: string, part: string): number {
  const index = text.indexOf(part);
  return index === -1 ? 0 : Buffer.byteLength(text.slice(0, index), 'utf8');
}

/** `file:line` for a UTF-8 byte offset into `source.text` (Cedar reports byte offsets). */
function locate(source: PolicySource, byteOffset: number): string {
  const before = Buffer.from(source.text, 'utf8').subarray(0, byteOffset);
  let line = 1;
  for (const byte of before) if (byte === 0x0a) line += 1;
  if (source.location !== undefined)
    return `${source.location.file}:${String(source.location.line + line - 1)}`;
  return `${source.name}:${String(line)}`;
}

function firstOffset(error: DetailedError): number {
  return error.sourceLocations?.[0]?.start ?? 0;
}

function describeCedarError(error: DetailedError): string {
  return error.help === null ? error.message : `${error.message} (${error.help})`;
}

function normaliseAnnotations(
  annotations: Record<string, string | null> | undefined,
): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(annotations ?? {})) out[key] = value ?? '';
  return out;
}

function describeProblems(problems: readonly FieldError[]): string {
  const lines = problems.map((p) => `${p.source ?? p.path}: ${p.path}: ${p.message}`);
  const count = problems.length === 1 ? '1 problem' : `${String(problems.length)} problems`;
  return `the policy set has ${count}:\n${lines.join('\n')}`;
}

// ---- Evaluation ---------------------------------------------------------------------------

/** What `statefulIsAuthorized` is called with. */
type StatefulAuthorizationCall = Parameters<typeof statefulIsAuthorized>[0];

/** Answers kept per engine (a few MB at most: a call is a few hundred bytes of JSON). */
const ANSWER_MEMO_SIZE = 1024;

/**
 * Cedar's answers by their call, per engine. An authorization is a pure function of the call and
 * the engine's pre-parsed policies and schema (both fixed for the engine's lifetime; Cedar has no
 * clock, and time-dependent facts such as the change window are in the call's context), so the
 * same call always gets the same answer: the many signatures of one workload under one context
 * are decided by Cedar once.
 *
 * The key is the whole call as JSON, except for entity attributes that no policy of the engine
 * names: Cedar reads an entity's attributes only through `.` and `has`, so an attribute no
 * policy reads cannot change the answer (such as a token's commit SHA when no policy looks at
 * it). Two calls therefore share an answer only when every context value and every attribute a
 * policy can read are equal. Only successful answers are kept; the oldest goes first.
 */
class AnswerMemo {
  readonly #answers = new Map<string, AuthorizationAnswer>();
  readonly #size: number;
  readonly #attributeNames: ReadonlySet<string> | undefined;

  /** `attributeNames`: the entity attributes the policies can read; `undefined` keys on all. */
  constructor(size: number, attributeNames: ReadonlySet<string> | undefined) {
    this.#size = size;
    this.#attributeNames = attributeNames;
  }

  /** The key of `call`. */
  keyOf(call: StatefulAuthorizationCall): string {
    const names = this.#attributeNames;
    if (names === undefined) return JSON.stringify(call);
    return JSON.stringify({
      ...call,
      entities: call.entities.map((entity) => ({
        ...entity,
        attrs: Object.fromEntries(Object.entries(entity.attrs).filter(([name]) => names.has(name))),
      })),
    });
  }

  get(key: string): AuthorizationAnswer | undefined {
    return this.#answers.get(key);
  }

  /** Keeps a successful answer (a failure is computed again, so it can never stick) and returns it. */
  remember(key: string, answer: AuthorizationAnswer): AuthorizationAnswer {
    if (answer.type !== 'success') return answer;
    if (this.#answers.size >= this.#size) {
      const oldest = this.#answers.keys().next();
      if (oldest.done !== true) this.#answers.delete(oldest.value);
    }
    this.#answers.set(key, answer);
    return answer;
  }
}

/**
 * Every attribute name `policies` read with `.` or test with `has` (a single name, or a path such
 * as `principal has a.b`), wherever in a condition: the only two ways Cedar reaches an entity's
 * attributes. Over-collecting is harmless (a name read only from the context, or a record field,
 * is kept on entities too); the walk visits every value of the policy JSON, so no nesting of
 * expressions can hide an access. `undefined` (key on every attribute) when an access has a
 * shape this code does not know.
 */
export function readAttributeNames(policies: readonly PolicyJson[]): Set<string> | undefined {
  const names = new Set<string>();
  let understood = true;
  const visit = (node: unknown): void => {
    if (Array.isArray(node)) {
      for (const item of node) visit(item);
      return;
    }
    if (node === null || typeof node !== 'object') return;
    for (const [key, value] of Object.entries(node)) {
      if (key === '.' || key === 'has') {
        const attr: unknown =
          value !== null && typeof value === 'object' ? (value as { attr?: unknown }).attr : null;
        const path = Array.isArray(attr) ? (attr as unknown[]) : [attr];
        for (const name of path) {
          if (typeof name === 'string') names.add(name);
          else understood = false;
        }
      }
      visit(value);
    }
  };
  visit(policies);
  return understood ? names : undefined;
}

/** The name of the pre-parsed policy set of `action` under `policyHash`. */
function actionSetId(policyHash: string, action: PolicyAction): string {
  return `${policyHash}#${action}`;
}

/** Whether `policy`'s action scope can match `action` (anything unusual counts as "can"). */
function appliesToAction(policy: PolicyJson, action: PolicyAction): boolean {
  const scope = policy.action;
  const names = (uid: EntityUidJson): boolean => {
    const typed = '__entity' in uid ? uid.__entity : uid;
    return typed.type === `${CEDAR_NAMESPACE}::Action` && typed.id === action;
  };
  switch (scope.op) {
    case '==':
      return 'entity' in scope ? names(scope.entity) : true;
    case 'in':
      return 'entities' in scope ? scope.entities.some(names) : names(scope.entity);
    case 'All':
      return true;
  }
  return true; // a scope shape this code does not know: keep the policy (never drop a forbid)
}

function evaluateRequest(
  request: PolicyRequest,
  policyHash: string,
  byId: ReadonlyMap<string, PolicyInfo & { readonly index: number }>,
  validateRequests: boolean,
  answers: AnswerMemo,
): PolicyDecision {
  let cedarRequest: CedarRequest;
  let answer: AuthorizationAnswer;
  try {
    cedarRequest = toCedarRequest(request);
    const call: StatefulAuthorizationCall = {
      principal: cedarRequest.principal,
      action: { type: `${CEDAR_NAMESPACE}::Action`, id: request.action },
      resource: cedarRequest.resource,
      context: cedarRequest.context,
      entities: cedarRequest.entities,
      ...(validateRequests ? { preparsedSchemaName: policyHash } : {}),
      preparsedPolicySetId: actionSetId(policyHash, request.action),
      validateRequest: validateRequests,
    };
    const key = answers.keyOf(call);
    answer = answers.get(key) ?? answers.remember(key, statefulIsAuthorized(call));
  } catch (error) {
    // The Cedar runtime itself failed (it should not). Fail closed, say so, keep no detail
    // beyond the message: reasons are shown to the caller.
    const message = error instanceof Error ? error.message : 'unknown failure';
    return failClosed(policyHash, [{ message: `policy engine failure: ${message}` }]);
  }
  if (answer.type === 'failure') {
    return failClosed(
      policyHash,
      answer.errors.map((e) => ({
        message: `the request does not fit the policy schema: ${describeCedarError(e)}`,
      })),
    );
  }

  const { decision, diagnostics } = answer.response;
  const errors: PolicyEvaluationError[] = diagnostics.errors.map((e) => ({
    policyId: e.policyId,
    message: describeCedarError(e.error),
  }));
  // In policy-set order (file order), so reasons read like the policies that produced them.
  const order = (id: string): number => byId.get(id)?.index ?? Number.MAX_SAFE_INTEGER;
  const determiningPolicies = [...diagnostics.reason].sort((a, b) => order(a) - order(b));
  const values = cedarRequest.reasonValues;
  const reasons: string[] = [];

  // Any policy that errored makes the decision a denial, even if a permit matched: a forbid that
  // could not be evaluated might have applied (threat model C7).
  const isAllowed = decision === 'allow' && errors.length === 0;
  if (!isAllowed) {
    if (request.action === 'sign' && !request.context.entitled)
      reasons.push(describeNoEntitlement(request));
    if (decision === 'deny') {
      for (const id of determiningPolicies) {
        const info = byId.get(id);
        const template = info?.annotations['reason'];
        reasons.push(
          template === undefined ? `denied by policy ${id}` : renderReason(template, values),
        );
      }
    }
    for (const error of errors) {
      reasons.push(
        `policy ${error.policyId ?? '(unknown)'} could not be evaluated (${error.message}): denied to fail closed`,
      );
    }
    if (reasons.length === 0) reasons.push(describeNoPermit(request));
  } else {
    for (const id of determiningPolicies) reasons.push(`allowed by policy ${id}`);
  }
  return {
    decision: isAllowed ? 'allow' : 'deny',
    policyHash,
    determiningPolicies: isAllowed || decision === 'deny' ? determiningPolicies : [],
    reasons,
    errors,
  };
}

function failClosed(policyHash: string, errors: PolicyEvaluationError[]): PolicyDecision {
  return {
    decision: 'deny',
    policyHash,
    determiningPolicies: [],
    reasons: errors.map((e) => `${e.message}: denied to fail closed`),
    errors,
  };
}

function describeNoEntitlement(request: Extract<PolicyRequest, { action: 'sign' }>): string {
  const { principal, resource } = request;
  const who = describeWorkload(principal);
  return `no entitlement for ${who} on ${resource.product.name}/${resource.name}`;
}

function describeWorkload(workload: WorkloadPrincipal): string {
  const values: ReasonValues = {
    principal: { ...workload },
    resource: {},
    context: {},
  };
  if (workload.repositoryId !== undefined) {
    return workload.repository === undefined
      ? renderReason('repository {principal.repositoryId}', values)
      : renderReason('repository {principal.repositoryId} ({principal.repository})', values);
  }
  return renderReason('workload {principal.subject} from issuer {principal.issuerName}', values);
}

function describeNoPermit(request: PolicyRequest): string {
  const where = describeResource(request.resource);
  if (request.action === 'sign') {
    return `no policy permits ${describeWorkload(request.principal)} to sign on ${where}`;
  }
  return `no policy permits user ${sanitizeName(request.principal.id)} to ${request.action} on ${where}`;
}

function describeResource(resource: ProductResource | ChannelResource): string {
  return resource.kind === 'product' ? resource.name : `${resource.product.name}/${resource.name}`;
}

function sanitizeName(name: string): string {
  return renderReason('{principal.id}', { principal: { id: name }, resource: {}, context: {} });
}

// ---- Request conversion -------------------------------------------------------------------

interface CedarRequest {
  readonly principal: EntityUidJson;
  readonly resource: EntityUidJson;
  readonly context: Record<string, CedarValueJson>;
  readonly entities: EntityJson[];
  readonly reasonValues: ReasonValues;
}

function uid(type: string, id: string): { type: string; id: string } {
  return { type: `${CEDAR_NAMESPACE}::${type}`, id };
}

/** Workload fields that become optional string attributes when present. */
const WORKLOAD_STRING_FIELDS = [
  'repositoryId',
  'ownerId',
  'repository',
  'ref',
  'workflow',
  'callerWorkflow',
  'environment',
  'event',
  'runnerEnvironment',
  'commitSha',
  'namespace',
  'serviceAccount',
  'serviceAccountUid',
] as const satisfies readonly (keyof WorkloadPrincipal)[];

function toCedarRequest(request: PolicyRequest): CedarRequest {
  const entities = new Map<string, EntityJson>();
  const add = (entity: EntityJson, key: string): void => {
    entities.set(key, entity);
  };

  let principal: EntityUidJson;
  let principalAttrs: Record<string, CedarValueJson>;
  if (request.action === 'sign') {
    principal = uid('Workload', request.principal.identityUri);
    principalAttrs = workloadAttributes(request.principal);
    add({ uid: principal, attrs: principalAttrs, parents: [] }, 'principal');
  } else {
    principal = uid('User', request.principal.id);
    principalAttrs = userAttributes(request.principal);
    add(
      {
        uid: principal,
        attrs: principalAttrs,
        parents: request.principal.groups.map((g) => uid('Group', g.name)),
      },
      'principal',
    );
    for (const group of request.principal.groups) addGroup(entities, group);
  }

  const resource = request.resource;
  const product = resource.kind === 'product' ? resource : resource.product;
  const productUid = uid('Product', product.name);
  const productAttrs: Record<string, CedarValueJson> = { owner: product.owner };
  add({ uid: productUid, attrs: productAttrs, parents: [] }, 'product');
  let resourceUid: EntityUidJson = productUid;
  let resourceAttrs: Record<string, CedarValueJson> = productAttrs;
  if (resource.kind === 'channel') {
    resourceUid = uid('Channel', `${resource.product.name}/${resource.name}`);
    resourceAttrs = {
      name: resource.name,
      product: resource.product.name,
      signingMode: resource.signingMode,
      requiredEvidence: [...resource.requiredEvidence],
    };
    if (resource.approvalGroup !== undefined) {
      resourceAttrs['approvalGroup'] = { __entity: uid('Group', resource.approvalGroup.name) };
      addGroup(entities, resource.approvalGroup);
    }
    if (resource.emergencyGroup !== undefined) {
      resourceAttrs['emergencyGroup'] = { __entity: uid('Group', resource.emergencyGroup.name) };
      addGroup(entities, resource.emergencyGroup);
    }
    add({ uid: resourceUid, attrs: resourceAttrs, parents: [productUid] }, 'resource');
  }

  const context = toContext(request);
  return {
    principal,
    resource: resourceUid,
    context,
    entities: [...entities.values()],
    reasonValues: {
      principal: principalAttrs,
      resource: {
        ...resourceAttrs,
        ...(resource.kind === 'channel'
          ? {
              approvalGroup: resource.approvalGroup?.name,
              emergencyGroup: resource.emergencyGroup?.name,
            }
          : { name: resource.name }),
      },
      context,
    },
  };
}

function addGroup(entities: Map<string, EntityJson>, group: GroupRef): void {
  entities.set(`group:${group.name}`, {
    uid: uid('Group', group.name),
    attrs: { purpose: group.purpose },
    parents: [],
  });
}

function workloadAttributes(workload: WorkloadPrincipal): Record<string, CedarValueJson> {
  const attrs: Record<string, CedarValueJson> = {
    issuerName: workload.issuerName,
    issuer: workload.issuer,
    issuerType: workload.issuerType,
    subject: workload.subject,
    identityUri: workload.identityUri,
    refProtected: workload.refProtected,
  };
  for (const field of WORKLOAD_STRING_FIELDS) {
    const value = workload[field];
    if (value !== undefined) attrs[field] = value;
  }
  if (workload.isInteractive !== undefined) attrs['isInteractive'] = workload.isInteractive;
  return attrs;
}

function userAttributes(user: UserPrincipal): Record<string, CedarValueJson> {
  return { email: user.email, roles: [...user.roles] };
}

function toContext(request: PolicyRequest): Record<string, CedarValueJson> {
  switch (request.action) {
    case 'sign': {
      const c = request.context;
      return {
        entitled: c.entitled,
        entitlementIds: [...c.entitlementIds],
        evidence: {
          provenance: {
            present: c.evidence.provenance.present,
            builderTrusted: c.evidence.provenance.builderTrusted,
          },
          checksPassed: c.evidence.checksPassed,
        },
        approvals: { count: c.approvals.count, required: c.approvals.required },
        changeWindow: { open: c.changeWindow.open },
        exception: { active: c.exception.active, waives: [...c.exception.waives] },
      };
    }
    case 'approve':
      return {
        isRequester: request.context.isRequester,
        isChangeAuthor: request.context.isChangeAuthor,
      };
    case 'approveException':
      return { isRequester: request.context.isRequester };
    case 'requestException':
    case 'manageGovernance':
    case 'manageKeys':
    case 'readAudit':
      return {};
  }
}
