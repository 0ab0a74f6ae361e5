import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { policyToJson, statefulIsAuthorized } from '@cedar-policy/cedar-wasm/nodejs';
import { AppError } from '../../core/errors.ts';
import { computePolicyHash } from '../../core/policy/compute-policy-hash.ts';
import type {
  ChannelResource,
  PolicyRequest,
  PolicySource,
  SignContext,
  UserPrincipal,
  WorkloadPrincipal,
} from '../../core/policy/policy-engine.ts';
import { createCedarPolicyEngine, readAttributeNames } from './cedar-policy-engine.ts';
import { readShippedPolicies } from './read-policy-set.ts';

const shipped = await readShippedPolicies();
// Validating every request against the schema: each test here also proves the request builder
// fits it. The service runs without (`fast`), which must decide identically.
const defaults = createCedarPolicyEngine({
  schema: shipped.schema,
  policies: [shipped.defaults],
  validateRequests: true,
});
const fast = createCedarPolicyEngine({ schema: shipped.schema, policies: [shipped.defaults] });

const workload: WorkloadPrincipal = {
  issuer: 'https://token.actions.githubusercontent.com',
  issuerType: 'github-actions',
  issuerName: 'github',
  subject: 'repo:acme/payments-api:ref:refs/tags/v1.0.0',
  identityUri:
    'https://github.com/acme/payments-api/.github/workflows/release.yml@refs/tags/v1.0.0',
  repositoryId: '812345678',
  repository: 'acme/payments-api',
  ref: 'refs/tags/v1.0.0',
  refProtected: true,
};

const prod: ChannelResource = {
  kind: 'channel',
  product: { kind: 'product', name: 'payments-api', owner: 'payments-team' },
  name: 'prod',
  signingMode: 'managed',
  requiredEvidence: ['provenance'],
  approvalGroup: { name: 'payments-approvers', purpose: 'approvers' },
  emergencyGroup: { name: 'emergency', purpose: 'emergency' },
};

const satisfied: SignContext = {
  entitled: true,
  entitlementIds: ['payments-api-release'],
  evidence: { provenance: { present: true, builderTrusted: true }, checksPassed: true },
  approvals: { count: 2, required: 2 },
  changeWindow: { open: true },
  exception: { active: false, waives: [] },
};

function sign(
  context: Partial<SignContext> = {},
  principal: Partial<WorkloadPrincipal> = {},
): PolicyRequest {
  return {
    action: 'sign',
    principal: { ...workload, ...principal },
    resource: prod,
    context: { ...satisfied, ...context },
  };
}

function user(
  id: string,
  roles: UserPrincipal['roles'],
  groups: UserPrincipal['groups'] = [],
): UserPrincipal {
  return { id, email: `${id}@acme.example`, roles, groups };
}

const APPROVERS = { name: 'payments-approvers', purpose: 'approvers' } as const;
const EMERGENCY = { name: 'emergency', purpose: 'emergency' } as const;

/** An engine over the shipped schema and the given policy text. */
function engineWith(text: string, name = 'test.cedar'): ReturnType<typeof createCedarPolicyEngine> {
  return createCedarPolicyEngine({ schema: shipped.schema, policies: [{ name, text }] });
}

function policyJson(text: string): Parameters<typeof readAttributeNames>[0][number] {
  const answer = policyToJson(text);
  assert.equal(answer.type, 'success', JSON.stringify(answer));
  return answer.type === 'success' ? answer.json : ({} as never);
}

function loadError(policies: PolicySource[]): AppError {
  try {
    createCedarPolicyEngine({ schema: shipped.schema, policies });
  } catch (error) {
    assert.ok(error instanceof AppError, String(error));
    assert.equal(error.code, 'CONFIG_INVALID');
    return error;
  }
  assert.fail('expected CONFIG_INVALID');
}

describe('createCedarPolicyEngine', () => {
  describe('with the shipped defaults', () => {
    it('indexes every policy by @id with its file and line', () => {
      const ids = defaults.policies.map((p) => p.id);
      assert.ok(ids.includes('sign-entitled-workload'));
      assert.equal(new Set(ids).size, ids.length);
      const approvals = defaults.policies.find((p) => p.id === 'sign-requires-approvals');
      assert.equal(approvals?.effect, 'forbid');
      assert.match(approvals?.source ?? '', /^policies\/default\.cedar:\d+$/);
      const line = Number(approvals?.source.split(':')[1]);
      assert.match(
        shipped.defaults.text.split('\n')[line - 1] ?? '',
        /@id\("sign-requires-approvals"\)/,
      );
    });

    it('applies policies on every action, or on a list of actions, to each action they name', () => {
      const engine = createCedarPolicyEngine({
        schema: shipped.schema,
        policies: [
          shipped.defaults,
          {
            name: 'inline:freeze',
            text: '@id("freeze")\n@reason("frozen")\nforbid (principal, action, resource);',
          },
        ],
      });
      assert.deepEqual(engine.evaluate(sign()).determiningPolicies, ['freeze']);
      const listed = createCedarPolicyEngine({
        schema: shipped.schema,
        policies: [
          shipped.defaults,
          {
            name: 'inline:listed',
            text: '@id("listed")\n@reason("listed")\nforbid (principal, action in [Countersign::Action::"approve", Countersign::Action::"sign"], resource);',
          },
        ],
      });
      assert.deepEqual(listed.evaluate(sign()).determiningPolicies, ['listed']);
    });

    it('allows an entitled workload on a protected ref when every condition holds', () => {
      const decision = defaults.evaluate(sign());
      assert.equal(decision.decision, 'allow');
      assert.deepEqual(decision.determiningPolicies, ['sign-entitled-workload']);
      assert.equal(decision.policyHash, defaults.policyHash);
    });

    it('denies by default: no entitlement, no signature, and says so in words', () => {
      const decision = defaults.evaluate(sign({ entitled: false, entitlementIds: [] }));
      assert.equal(decision.decision, 'deny');
      assert.deepEqual(decision.reasons, [
        'no entitlement for repository 812345678 (acme/payments-api) on payments-api/prod',
      ]);
    });

    it('lets a forbid win over the permit, with the forbid as determining policy and its reason', () => {
      const decision = defaults.evaluate(
        sign({
          approvals: { count: 0, required: 2 },
          evidence: { provenance: { present: true, builderTrusted: false }, checksPassed: true },
        }),
      );
      assert.equal(decision.decision, 'deny');
      assert.deepEqual(decision.determiningPolicies, [
        'sign-requires-approvals',
        'sign-requires-trusted-provenance',
      ]);
      assert.deepEqual(decision.reasons, [
        'needs 2 approvals, has 0',
        'provenance from a trusted builder required on prod',
      ]);
    });

    it('refuses unprotected refs and interactive jobs', () => {
      assert.deepEqual(defaults.evaluate(sign({}, { refProtected: false })).reasons, [
        'ref refs/tags/v1.0.0 is not protected: sign from a protected branch or tag',
      ]);
      assert.deepEqual(defaults.evaluate(sign({}, { isInteractive: true })).determiningPolicies, [
        'sign-not-interactive',
      ]);
    });

    it('lets an active exception waive exactly the checks it names', () => {
      const closed = { changeWindow: { open: false }, approvals: { count: 0, required: 2 } };
      assert.equal(defaults.evaluate(sign(closed)).decision, 'deny');
      const waived = defaults.evaluate(
        sign({ ...closed, exception: { active: true, waives: ['changeWindow', 'approvals'] } }),
      );
      assert.equal(waived.decision, 'allow');
      const partly = defaults.evaluate(
        sign({ ...closed, exception: { active: true, waives: ['approvals'] } }),
      );
      assert.deepEqual(partly.reasons, ['the change window for payments-api/prod is closed']);
      const inactive = defaults.evaluate(
        sign({ ...closed, exception: { active: false, waives: ['changeWindow', 'approvals'] } }),
      );
      assert.equal(inactive.decision, 'deny');
    });

    it('never lets an exception stand in for an entitlement', () => {
      const decision = defaults.evaluate(
        sign({
          entitled: false,
          exception: {
            active: true,
            waives: ['approvals', 'provenance', 'checks', 'changeWindow'],
          },
        }),
      );
      assert.equal(decision.decision, 'deny');
    });

    it('decides the role-based actions', () => {
      const admin = user('alice', ['admin']);
      const auditor = user('frank', ['auditor']);
      const approver = user('bob', ['approver'], [APPROVERS]);
      const outsider = user('mallory', ['approver']);
      const product = prod.product;
      const decide = (request: PolicyRequest): string => defaults.evaluate(request).decision;
      assert.equal(
        decide({ action: 'manageGovernance', principal: admin, resource: product }),
        'allow',
      );
      assert.equal(decide({ action: 'manageKeys', principal: admin, resource: prod }), 'allow');
      assert.equal(decide({ action: 'manageKeys', principal: auditor, resource: prod }), 'deny');
      assert.equal(decide({ action: 'readAudit', principal: auditor, resource: product }), 'allow');
      assert.equal(decide({ action: 'readAudit', principal: approver, resource: product }), 'deny');
      const approve = (principal: UserPrincipal, isRequester = false): PolicyRequest => ({
        action: 'approve',
        principal,
        resource: prod,
        context: { isRequester, isChangeAuthor: false },
      });
      assert.equal(decide(approve(approver)), 'allow');
      assert.equal(decide(approve(outsider)), 'deny');
      assert.equal(decide(approve(user('carol', [], [APPROVERS]))), 'deny');
      const own = defaults.evaluate(approve(approver, true));
      assert.equal(own.decision, 'deny');
      assert.deepEqual(own.determiningPolicies, ['approve-not-own-request']);
      const oncall = user('erin', ['security'], [EMERGENCY]);
      const approveException = (isRequester: boolean): PolicyRequest => ({
        action: 'approveException',
        principal: oncall,
        resource: prod,
        context: { isRequester },
      });
      assert.equal(decide(approveException(false)), 'allow');
      assert.equal(decide(approveException(true)), 'deny');
      assert.equal(
        decide({ action: 'requestException', principal: oncall, resource: prod }),
        'allow',
      );
      assert.equal(
        decide({ action: 'requestException', principal: auditor, resource: prod }),
        'deny',
      );
    });

    it('decides without request validation exactly as with it', () => {
      const approver = user('bob', ['approver'], [APPROVERS]);
      const oncall = user('erin', ['security'], [EMERGENCY]);
      const requests: PolicyRequest[] = [
        sign(),
        sign({ entitled: false, entitlementIds: [] }),
        sign({}, { refProtected: false }),
        sign({}, { isInteractive: true }),
        sign({ changeWindow: { open: false } }),
        sign({
          changeWindow: { open: false },
          exception: { active: true, waives: ['changeWindow'] },
        }),
        { action: 'manageKeys', principal: user('alice', ['admin']), resource: prod },
        { action: 'readAudit', principal: approver, resource: prod.product },
        {
          action: 'approve',
          principal: approver,
          resource: prod,
          context: { isRequester: false, isChangeAuthor: false },
        },
        {
          action: 'approveException',
          principal: oncall,
          resource: prod,
          context: { isRequester: true },
        },
        { action: 'requestException', principal: oncall, resource: prod },
      ];
      for (const request of requests) {
        assert.deepEqual(fast.evaluate(request), defaults.evaluate(request), request.action);
      }
    });

    it('explains a denial nothing permits', () => {
      const decision = defaults.evaluate({
        action: 'manageGovernance',
        principal: user('frank', ['auditor']),
        resource: prod.product,
      });
      assert.deepEqual(decision, {
        decision: 'deny',
        policyHash: defaults.policyHash,
        determiningPolicies: [],
        reasons: ['no policy permits user frank to manageGovernance on payments-api'],
        errors: [],
      });
    });

    it('denies, without throwing, a request that does not fit the schema', () => {
      for (const bad of [
        sign({ approvals: { count: 1.5, required: 2 } }),
        sign({ approvals: { count: Number.NaN, required: 0 } }),
        { ...sign(), context: {} } as unknown as PolicyRequest,
        { ...sign(), action: 'launchMissiles' } as unknown as PolicyRequest,
        null as unknown as PolicyRequest,
      ]) {
        const decision = defaults.evaluate(bad);
        assert.equal(decision.decision, 'deny');
        assert.ok(decision.reasons.length > 0);
        assert.ok(decision.errors.length > 0);
      }
    });
  });

  it('denies when any policy fails to evaluate, even though a permit matched', () => {
    const engine = engineWith(`
@id("permit-all-signing")
permit (principal, action == Countersign::Action::"sign", resource);

@id("overflowing-forbid")
forbid (principal, action == Countersign::Action::"sign", resource)
when { context.approvals.count * 4611686018427387904 > 0 };
`);
    assert.equal(engine.evaluate(sign({ approvals: { count: 0, required: 0 } })).decision, 'allow');
    const decision = engine.evaluate(sign({ approvals: { count: 4, required: 0 } }));
    assert.equal(decision.decision, 'deny');
    assert.deepEqual(decision.determiningPolicies, []);
    assert.equal(decision.errors[0]?.policyId, 'overflowing-forbid');
    assert.match(
      decision.reasons.join('\n'),
      /policy overflowing-forbid could not be evaluated .*denied to fail closed/,
    );
  });

  it('answers a repeated call as the first time, and any differing value anew', () => {
    // Answers are kept by their exact call: each variant below differs from the allowed request
    // in one place Cedar sees, and alternating them must never hand one the other's answer.
    const engine = engineWith(`
@id("tagged-prod-in-window")
permit (principal, action == Countersign::Action::"sign", resource)
when { principal has ref && principal.ref == "refs/tags/v1.0.0" && resource.name == "prod" && context.changeWindow.open };
`);
    const allowed = sign();
    const variants: PolicyRequest[] = [
      sign({}, { ref: 'refs/heads/feature' }),
      sign({ changeWindow: { open: false } }),
      { ...sign(), resource: { ...prod, name: 'dev' } },
    ];
    for (let round = 0; round < 3; round += 1) {
      assert.equal(engine.evaluate(allowed).decision, 'allow', `round ${String(round)}`);
      for (const variant of variants) {
        assert.equal(engine.evaluate(variant).decision, 'deny', `round ${String(round)}`);
      }
    }
    // A token's own values (its jti and expiry) are not in the call, and an attribute no policy
    // reads does not change the answer: the same answer serves them.
    const again = engine.evaluate(
      sign({}, { tokenId: 'another-jti', tokenExpiresAt: new Date(0), commitSha: 'f'.repeat(40) }),
    );
    assert.deepEqual(again, engine.evaluate(allowed));
  });

  it('answers anew when an attribute a policy only tests with `has` appears or goes', () => {
    const engine = engineWith(`
@id("needs-an-environment")
permit (principal, action == Countersign::Action::"sign", resource)
when { principal has environment };
`);
    for (let round = 0; round < 3; round += 1) {
      assert.equal(engine.evaluate(sign({}, { environment: 'production' })).decision, 'allow');
      assert.equal(engine.evaluate(sign()).decision, 'deny');
    }
  });

  it('collects every attribute a condition reads or tests, however nested', () => {
    const names = readAttributeNames([
      policyJson(`permit (principal, action, resource) when {
        principal has a.b && principal["odd name"] == "x" && resource.group.purpose == "y" &&
        (if principal has q then principal.q else false) && principal.s like "*x*" &&
        [principal.t].contains("1") && {k: principal.u} == {k: "2"} &&
        decimal(principal.v) > decimal("1.0") && context.c.d
      } unless { resource.owner.hasTag("tag") };`),
    ]);
    assert.deepEqual([...(names ?? [])].sort(), [
      'a',
      'b',
      'c',
      'd',
      'group',
      'odd name',
      'owner',
      'purpose',
      'q',
      's',
      't',
      'u',
      'v',
    ]);
    // An access of a shape this code does not know: every attribute counts.
    assert.equal(readAttributeNames([{ '.': { left: { Var: 'principal' } } } as never]), undefined);
  });

  it('denies when nothing permits, even with no forbid at all', () => {
    const engine = engineWith(`
@id("admins-only")
permit (principal, action == Countersign::Action::"manageGovernance", resource)
when { principal.roles.contains("admin") };
`);
    const decision = engine.evaluate(sign());
    assert.equal(decision.decision, 'deny');
    assert.deepEqual(decision.reasons, [
      'no policy permits repository 812345678 (acme/payments-api) to sign on payments-api/prod',
    ]);
  });

  it('refuses a policy using a misspelt context attribute, with file, line and suggestion', () => {
    const error = loadError([
      {
        name: 'inline:freeze',
        text: `@id("freeze")\nforbid (principal, action == Countersign::Action::"sign", resource)\nwhen { context.aprovals.count < 1 };\n`,
        location: { file: 'governance.yaml', line: 40 },
      },
    ]);
    assert.equal(error.errors.length, 1);
    assert.equal(error.errors[0]?.source, 'governance.yaml:42');
    assert.equal(error.errors[0]?.path, 'freeze');
    assert.match(error.errors[0]?.message ?? '', /aprovals.*did you mean `approvals`/);
    assert.match(error.message, /^governance\.yaml:42: freeze: /m);
  });

  it('refuses policies without @id, with a duplicate @id, with a template, or that do not parse', () => {
    const error = loadError([
      { name: 'a.cedar', text: '@id("same")\npermit (principal, action, resource);\n' },
      {
        name: 'b.cedar',
        text: [
          '// b',
          'permit (principal, action, resource);',
          '@id("same")',
          'forbid (principal, action, resource);',
          '@id("tpl")',
          'permit (principal == ?principal, action, resource);',
        ].join('\n'),
      },
      {
        name: 'c.cedar',
        text: '@id("broken")\npermit (principal, action, resource) when { 1 + };',
      },
    ]);
    const lines = error.errors.map((e) => `${e.source ?? ''} ${e.message}`);
    assert.ok(
      lines.includes('b.cedar:2 policy has no @id("…") annotation: every policy needs a unique id'),
      lines.join('\n'),
    );
    assert.ok(
      lines.includes('b.cedar:3 duplicate policy id (first defined at a.cedar:1)'),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => l.startsWith('b.cedar:5 policy templates')),
      lines.join('\n'),
    );
    assert.ok(
      lines.some((l) => l.startsWith('c.cedar:2 ')),
      lines.join('\n'),
    );
  });

  it('refuses reasons with malformed placeholders', () => {
    const error = loadError([
      {
        name: 'r.cedar',
        text: '@id("r")\n@reason("needs {action.id}")\nforbid (principal, action, resource);',
      },
    ]);
    assert.deepEqual(
      error.errors.map((e) => e.message),
      ['@reason: placeholder {action.id} must start with principal, resource or context'],
    );
  });

  it('hashes exactly the schema and policy sources it was built from', () => {
    assert.equal(defaults.policyHash, computePolicyHash(shipped.schema, [shipped.defaults]));
    const edited = createCedarPolicyEngine({
      schema: shipped.schema,
      policies: [{ ...shipped.defaults, text: `${shipped.defaults.text}\n` }],
    });
    assert.notEqual(edited.policyHash, defaults.policyHash);
  });

  it('builds each policy set once and reuses it for every evaluation', () => {
    const again = createCedarPolicyEngine({ schema: shipped.schema, policies: [shipped.defaults] });
    assert.equal(again, fast);
    // The parsed sets live in the Cedar runtime under the policy hash, one per action (only the
    // policies that can apply to it): evaluation only names it.
    const answer = statefulIsAuthorized({
      principal: { type: 'Countersign::User', id: 'alice' },
      action: { type: 'Countersign::Action', id: 'manageKeys' },
      resource: { type: 'Countersign::Product', id: 'p' },
      context: {},
      entities: [
        {
          uid: { type: 'Countersign::User', id: 'alice' },
          attrs: { email: 'a@x', roles: ['admin'] },
          parents: [],
        },
        { uid: { type: 'Countersign::Product', id: 'p' }, attrs: { owner: 'x' }, parents: [] },
      ],
      preparsedPolicySetId: `${defaults.policyHash}#manageKeys`,
      preparsedSchemaName: defaults.policyHash,
      validateRequest: true,
    });
    assert.equal(answer.type, 'success');
    assert.equal(answer.type === 'success' ? answer.response.decision : undefined, 'allow');
  });
});
