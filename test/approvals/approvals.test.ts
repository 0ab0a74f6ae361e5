/**
 * Approvals bound to the artifact (issue "Approvals bound to the artifact" acceptance): a real
 * service on SQLite, workloads from its development issuer, people with API tokens and approver
 * keys. Replays across digests, channels, requests and policy versions never count; workloads do
 * not approve; racing signers spend a quorum once; expired approvals do not count; and the
 * decision attestation of an approved signature verifies offline with `countersign verify`.
 */
import assert from 'node:assert/strict';
import { generateKeyPairSync } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import type { SqlStorage } from '../../src/adapters/storage/sql-storage.ts';
import { runInProcess } from '../cli/cli-harness.ts';
import {
  answer,
  approvalsGovernance,
  createTestClock,
  signBody,
  startApprovalsService,
  submit,
  type ApprovalsService,
} from '../support/approvals-service.ts';

interface RequestJson {
  readonly id: string;
  readonly state: string;
  readonly approvals: {
    readonly count: number;
    readonly notCounted: readonly { readonly reason: string }[];
  };
}

async function requestSigning(
  app: ApprovalsService,
  channel: string,
  content: string,
): Promise<{ statusCode: number; body: string; json: () => unknown }> {
  return app.inject({
    method: 'POST',
    url: '/v1/sign',
    token: await app.workloadToken(),
    payload: signBody(channel, content),
  });
}

async function openRequest(app: ApprovalsService, channel: string, content: string) {
  const response = await requestSigning(app, channel, content);
  assert.equal(response.statusCode, 202, response.body);
  return (response.json() as { request: RequestJson }).request;
}

async function getRequest(app: ApprovalsService, id: string, token: string): Promise<RequestJson> {
  const response = await app.inject({ method: 'GET', url: `/v1/requests/${id}`, token });
  assert.equal(response.statusCode, 200, response.body);
  return response.json() as RequestJson;
}

describe('approvals bound to the artifact', () => {
  let app: ApprovalsService;
  before(async () => {
    app = await startApprovalsService();
  });
  after(() => app.close());

  it('signs on prod once two people approved, and the decision attestation verifies offline', async () => {
    const bob = await app.person('bob');
    const carol = await app.person('carol');
    const pending = await openRequest(app, 'prod', 'release-1');
    assert.equal(pending.state, 'pending');
    // People see who asked, not the token's bookkeeping.
    const shown = await getRequest(app, pending.id, bob.token);
    assert.equal(JSON.stringify(shown).includes('tokenId'), false);

    // The same workload asking again gets the same request, not a second one.
    assert.equal((await openRequest(app, 'prod', 'release-1')).id, pending.id);

    let answered = await answer(app, bob, pending.id);
    assert.equal(answered.statusCode, 200, answered.body);
    assert.equal((answered.json() as RequestJson).state, 'pending');
    answered = await answer(app, carol, pending.id);
    assert.equal((answered.json() as RequestJson).state, 'approved');

    const signed = await requestSigning(app, 'prod', 'release-1');
    assert.equal(signed.statusCode, 201, signed.body);
    const { bundle, decisionBundle } = signed.json() as {
      bundle: unknown;
      decisionBundle: unknown;
    };
    assert.equal((await getRequest(app, pending.id, bob.token)).state, 'signed');

    const work = await mkdtemp(join(tmpdir(), 'countersign-approved-'));
    try {
      const root = await app.inject({ method: 'GET', url: '/v1/trust/trusted-root.json' });
      await writeFile(join(work, 'release-1.tar.gz'), 'release-1');
      await writeFile(join(work, 'release-1.tar.gz.sigstore.json'), JSON.stringify(bundle));
      await writeFile(join(work, 'decision.json'), JSON.stringify(decisionBundle));
      await writeFile(join(work, 'root.json'), root.body);
      const verify = (required: number) =>
        runInProcess([
          'verify',
          join(work, 'release-1.tar.gz'),
          '--trusted-root',
          join(work, 'root.json'),
          '--decision-bundle',
          join(work, 'decision.json'),
          '--require-approvals',
          String(required),
          '--json',
        ]);
      const ok = await verify(2);
      assert.equal(ok.code, 0, ok.stderr);
      const summary = JSON.stringify(JSON.parse(ok.stdout));
      assert.match(summary, /"bob"/);
      assert.match(summary, /"carol"/);
      const tooMany = await verify(3);
      assert.equal(tooMany.code, 1, tooMany.stdout);
      assert.match(tooMany.stderr + tooMany.stdout, /needs 3 approvals/);
    } finally {
      await rm(work, { recursive: true, force: true });
    }

    // The quorum was spent: the next signature of the same digest needs new approvals.
    assert.equal((await requestSigning(app, 'prod', 'release-1')).statusCode, 202);
  });

  it('never counts an approval of digest X on a request for digest Y', async () => {
    const bob = await app.person('bob');
    const x = await openRequest(app, 'prod', 'digest-x');
    const y = await openRequest(app, 'prod', 'digest-y');
    const draft = await app.inject({
      method: 'POST',
      url: `/v1/requests/${x.id}/approval-statement`,
      token: bob.token,
      payload: { decision: 'approve', comment: '' },
    });
    const forX = Buffer.from((draft.json() as { statement: string }).statement, 'base64url');
    const replayed = await submit(app, bob, y.id, forX);
    assert.equal(replayed.statusCode, 403, replayed.body);
    assert.match(replayed.body, /was for request/);

    // Re-pointing the statement at Y while it still names X's digest does not help either.
    const retargeted = await answer(app, bob, y.id, 'approve', (statement) =>
      Buffer.from(
        statement.toString('utf8').replace(/"value":"[0-9a-f]{64}"/, `"value":"${'0'.repeat(64)}"`),
      ),
    );
    assert.equal(retargeted.statusCode, 403, retargeted.body);
    assert.match(retargeted.body, /digest/);
    assert.equal((await getRequest(app, y.id, bob.token)).approvals.count, 0);
  });

  it('refuses comments that would not read as they are (terminal escapes, bidi overrides)', async () => {
    const bob = await app.person('bob');
    const request = await openRequest(app, 'prod', 'comment-escapes');
    for (const comment of ['ok\u001b[2K', 'fine \u202Eexe.tgz']) {
      const draft = await app.inject({
        method: 'POST',
        url: `/v1/requests/${request.id}/approval-statement`,
        token: bob.token,
        payload: { decision: 'approve', comment },
      });
      assert.equal(draft.statusCode, 400, draft.body);
      assert.match(draft.body, /control or format characters/);
    }
  });

  it('registers each key under one encoding only, so it cannot be registered twice', async () => {
    const bob = await app.person('bob');
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const der = publicKey.export({ format: 'der', type: 'spki' });
    const { x = '', y = '' } = publicKey.export({ format: 'jwk' });
    const yBytes = Buffer.from(y, 'base64url');
    const compressed = Buffer.concat([
      Buffer.from('3039301306072a8648ce3d020106082a8648ce3d030107032200', 'hex'),
      Buffer.from([0x02 + ((yBytes.at(-1) ?? 0) & 1)]),
      Buffer.from(x, 'base64url'),
    ]);
    const register = (spki: Buffer) =>
      app.inject({
        method: 'POST',
        url: '/v1/approver-keys',
        token: bob.token,
        payload: { publicKey: spki.toString('base64'), label: 'second encoding' },
      });
    const refused = await register(compressed);
    assert.equal(refused.statusCode, 400, refused.body);
    assert.match(refused.body, /uncompressed point/);
    assert.equal((await register(der)).statusCode, 201);
    assert.equal((await register(der)).statusCode, 409);
  });

  it('never counts an approval for staging on prod', async () => {
    const bob = await app.person('bob');
    const prod = await openRequest(app, 'prod', 'channel-hop');
    const hopped = await answer(app, bob, prod.id, 'approve', (statement) =>
      Buffer.from(statement.toString('utf8').replace('"channel":"prod"', '"channel":"staging"')),
    );
    assert.equal(hopped.statusCode, 403, hopped.body);
    assert.match(hopped.body, /staging cannot count on prod/);
  });

  it('voids approvals when the request is changed after approval', async () => {
    const bob = await app.person('bob');
    const request = await openRequest(app, 'staging', 'changed-later');
    assert.equal((await answer(app, bob, request.id)).statusCode, 200);
    assert.equal((await getRequest(app, request.id, bob.token)).state, 'approved');
    // Someone with database access changes what the request is for.
    await (app.service.storage as SqlStorage).db
      .updateTable('signing_requests')
      .set({ digest_value: 'ee'.repeat(32) })
      .where('id', '=', request.id)
      .execute();
    const after = await getRequest(app, request.id, bob.token);
    assert.equal(after.state, 'pending');
    assert.equal(after.approvals.count, 0);
    assert.match(after.approvals.notCounted[0]?.reason ?? '', /digest/);
  });

  it('voids approvals when the policy changes after approval', async () => {
    const bob = await app.person('bob');
    const request = await openRequest(app, 'staging', 'policy-changes');
    assert.equal((await answer(app, bob, request.id)).statusCode, 200);
    assert.equal((await getRequest(app, request.id, bob.token)).state, 'approved');
    const devIssuerUrl = app.service.devIssuer?.url ?? '';
    // Any change to the policy set is a new policy version (an added forbid, here).
    await app.applyGovernance(
      [
        approvalsGovernance(devIssuerUrl),
        'policies:',
        '  inline:',
        '    - name: nothing-for-other',
        '      cedar: |',
        '        @id("nothing-for-other")',
        '        @reason("nothing is signed for product other")',
        '        forbid (principal, action, resource) when { resource has product && resource.product == "other" };',
        '',
      ].join('\n'),
    );
    const after = await getRequest(app, request.id, bob.token);
    assert.equal(after.state, 'pending');
    assert.match(after.approvals.notCounted[0]?.reason ?? '', /policy changed since the approval/);
    // The workload still cannot sign with the old approval.
    assert.equal((await requestSigning(app, 'staging', 'policy-changes')).statusCode, 202);
    // A fresh approval under the new policy counts.
    assert.equal((await answer(app, bob, request.id)).statusCode, 200);
    assert.equal((await requestSigning(app, 'staging', 'policy-changes')).statusCode, 201);
    await app.applyGovernance(approvalsGovernance(devIssuerUrl));
  });

  it('does not let the person who started the job approve its request', async () => {
    const bob = await app.person('bob');
    const response = await app.inject({
      method: 'POST',
      url: '/v1/sign',
      token: await app.workloadToken('bob'),
      payload: signBody('staging', 'started-by-bob'),
    });
    assert.equal(response.statusCode, 202, response.body);
    const { id } = (response.json() as { request: RequestJson }).request;
    const own = await answer(app, bob, id);
    assert.equal(own.statusCode, 403, own.body);
    assert.match(own.body, /bob started the job/);
    // Someone else in the group may.
    assert.equal((await answer(app, await app.person('carol'), id)).statusCode, 200);
  });

  it('does not let a workload approve', async () => {
    const request = await openRequest(app, 'staging', 'workload-approves');
    const token = await app.workloadToken();
    for (const url of [
      `/v1/requests/${request.id}/approval-statement`,
      `/v1/requests/${request.id}/approvals`,
    ]) {
      const response = await app.inject({
        method: 'POST',
        url,
        token,
        payload: url.endsWith('statement')
          ? { decision: 'approve', comment: '' }
          : { statement: 'e30', credentialId: 'x', signature: 'AA' },
      });
      assert.equal(response.statusCode, 401, response.body);
    }
  });

  it('does not count people outside the approval group, nor tokens acting for nobody', async () => {
    const erin = await app.person('erin');
    const request = await openRequest(app, 'staging', 'outsider');
    const refused = await answer(app, erin, request.id);
    assert.equal(refused.statusCode, 403, refused.body);
    assert.match(refused.body, /not a member of release-approvers/);
    const anonymous = await app.inject({
      method: 'POST',
      url: `/v1/requests/${request.id}/approval-statement`,
      token: app.adminToken,
      payload: { decision: 'approve', comment: '' },
    });
    assert.equal(anonymous.statusCode, 403, anonymous.body);
  });

  it('refuses a spent workload token before it can open a request', async () => {
    const token = await app.workloadToken();
    const signed = await app.inject({
      method: 'POST',
      url: '/v1/sign',
      token,
      payload: signBody('dev', 'spent-token'),
    });
    assert.equal(signed.statusCode, 201, signed.body);
    const replayed = await app.inject({
      method: 'POST',
      url: '/v1/sign',
      token,
      payload: signBody('prod', 'spent-token-replay'),
    });
    assert.equal(replayed.statusCode, 401, replayed.body);
    assert.match(replayed.body, /already used/);
  });

  it('lets only the requesting workload or an admin cancel, not an auditor', async () => {
    const request = await openRequest(app, 'staging', 'cancel-me');
    const auditor = await app.inject({
      method: 'POST',
      url: '/v1/tokens',
      token: app.adminToken,
      payload: { name: 'audit', role: 'auditor' },
    });
    const auditorToken = (auditor.json() as { token: string }).token;
    const refused = await app.inject({
      method: 'POST',
      url: `/v1/requests/${request.id}/cancel`,
      token: auditorToken,
    });
    assert.equal(refused.statusCode, 403, refused.body);
    const cancelled = await app.inject({
      method: 'POST',
      url: `/v1/requests/${request.id}/cancel`,
      token: await app.workloadToken(),
    });
    assert.equal(cancelled.statusCode, 200, cancelled.body);
    assert.equal((cancelled.json() as RequestJson).state, 'cancelled');
  });

  it('stops counting an approval once its credential is revoked', async () => {
    const dave = await app.person('dave');
    const request = await openRequest(app, 'staging', 'revoked-key');
    assert.equal((await answer(app, dave, request.id)).statusCode, 200);
    assert.equal((await getRequest(app, request.id, dave.token)).state, 'approved');
    const someoneElse = await app.inject({
      method: 'DELETE',
      url: `/v1/approver-keys/${dave.credentialId}`,
      token: (await app.person('carol')).token,
    });
    assert.equal(someoneElse.statusCode, 404, someoneElse.body);
    const revoked = await app.inject({
      method: 'DELETE',
      url: `/v1/approver-keys/${dave.credentialId}`,
      token: dave.token,
    });
    assert.equal(revoked.statusCode, 200, revoked.body);
    assert.equal((await getRequest(app, request.id, dave.token)).state, 'pending');
    assert.equal((await requestSigning(app, 'staging', 'revoked-key')).statusCode, 202);
  });

  it('lets one rejection end the request', async () => {
    const bob = await app.person('bob');
    const request = await openRequest(app, 'prod', 'rejected');
    const rejected = await answer(app, bob, request.id, 'reject');
    assert.equal((rejected.json() as RequestJson).state, 'rejected');
    // The veto holds: asking again for the same artifact is refused, naming the request.
    const again = await requestSigning(app, 'prod', 'rejected');
    assert.equal(again.statusCode, 403, again.body);
    assert.match(again.body, new RegExp(`${request.id} .* was rejected`));
  });

  it('spends one quorum on exactly one of 50 racing signatures', async () => {
    const bob = await app.person('bob');
    const request = await openRequest(app, 'staging', 'race');
    assert.equal((await answer(app, bob, request.id)).statusCode, 200);
    const tokens = await Promise.all(Array.from({ length: 50 }, () => app.workloadToken()));
    const before = (await app.service.storage.signings.list({ limit: 1000 })).length;
    const results = await Promise.all(
      tokens.map((token) =>
        app.inject({
          method: 'POST',
          url: '/v1/sign',
          token,
          payload: signBody('staging', 'race'),
        }),
      ),
    );
    const statuses = results.map((r) => r.statusCode);
    assert.equal(statuses.filter((s) => s === 201).length, 1, statuses.join(','));
    assert.ok(
      statuses.every((s) => s === 201 || s === 202 || s === 409),
      statuses.join(','),
    );
    const after = (await app.service.storage.signings.list({ limit: 1000 })).length;
    assert.equal(after - before, 1);
  });
});

describe('expired approvals', () => {
  const clock = createTestClock();
  let app: ApprovalsService;
  before(async () => {
    app = await startApprovalsService({ clock });
  });
  after(() => app.close());

  it('do not count once the request has expired, and a new request is opened', async () => {
    const bob = await app.person('bob');
    const request = await openRequest(app, 'staging', 'too-late');
    assert.equal((await answer(app, bob, request.id)).statusCode, 200);
    clock.advance(2 * 3600);
    const again = await requestSigning(app, 'staging', 'too-late');
    assert.equal(again.statusCode, 202, again.body);
    assert.notEqual((again.json() as { request: RequestJson }).request.id, request.id);
    assert.equal((await getRequest(app, request.id, bob.token)).state, 'expired');
  });
});

describe('break-glass exceptions in the signing path', () => {
  const clock = createTestClock();
  let app: ApprovalsService;
  before(async () => {
    app = await startApprovalsService({ clock });
  });
  after(() => app.close());

  async function activeException(maxUses: number, durationSeconds = 3600): Promise<string> {
    const bob = await app.person('bob');
    const erin = await app.person('erin');
    const requested = await app.inject({
      method: 'POST',
      url: '/v1/exceptions',
      token: bob.token,
      payload: {
        product: 'demo',
        channel: 'prod',
        waives: ['approvals'],
        reason: 'hotfix for incident 4711',
        durationSeconds,
        maxUses,
      },
    });
    assert.equal(requested.statusCode, 201, requested.body);
    const id = (requested.json() as { id: string }).id;
    // The requester cannot approve their own exception; the emergency group can.
    const own = await app.inject({
      method: 'POST',
      url: `/v1/exceptions/${id}/approvals`,
      token: bob.token,
      payload: { decision: 'approve' },
    });
    assert.equal(own.statusCode, 403, own.body);
    const approved = await app.inject({
      method: 'POST',
      url: `/v1/exceptions/${id}/approvals`,
      token: erin.token,
      payload: { decision: 'approve', comment: 'incident confirmed' },
    });
    assert.ok(approved.statusCode < 300, approved.body);
    return id;
  }

  it('signs without approvals once per use, records the exception, and never after its uses', async () => {
    const id = await activeException(1);
    const signed = await requestSigning(app, 'prod', 'hotfix-1');
    assert.equal(signed.statusCode, 201, signed.body);
    const decision = (signed.json() as { decisionBundle: { dsseEnvelope: { payload: string } } })
      .decisionBundle;
    const statement = JSON.parse(
      Buffer.from(decision.dsseEnvelope.payload, 'base64').toString(),
    ) as {
      predicate: { exception: { id: string; use: number } | null };
    };
    assert.equal(statement.predicate.exception?.id, id);
    assert.equal(statement.predicate.exception.use, 1);
    // Out of uses: back to approvals.
    assert.equal((await requestSigning(app, 'prod', 'hotfix-2')).statusCode, 202);
  });

  it('lets exactly one of 50 racing signatures spend a single-use exception', async () => {
    await activeException(1);
    const tokens = await Promise.all(Array.from({ length: 50 }, () => app.workloadToken()));
    const results = await Promise.all(
      tokens.map((token, i) =>
        app.inject({
          method: 'POST',
          url: '/v1/sign',
          token,
          payload: signBody('prod', `race-exception-${String(i)}`),
        }),
      ),
    );
    const statuses = results.map((r) => r.statusCode);
    assert.equal(statuses.filter((s) => s === 201).length, 1, statuses.join(','));
  });

  it('is not usable past its time', async () => {
    await activeException(5, 600);
    clock.advance(601);
    assert.equal((await requestSigning(app, 'prod', 'too-late-hotfix')).statusCode, 202);
  });
});

describe('new credentials', () => {
  const clock = createTestClock();
  let app: ApprovalsService;
  before(async () => {
    app = await startApprovalsService({ clock });
    await app.applyGovernance(
      approvalsGovernance(app.service.devIssuer?.url ?? '', {
        lifetime: '8h',
        minCredentialAge: '1h',
      }),
    );
  });
  after(() => app.close());

  it('count only after the channel’s cooling-off period', async () => {
    const bob = await app.person('bob');
    const request = await openRequest(app, 'staging', 'cooling-off');
    const early = await answer(app, bob, request.id);
    assert.equal(early.statusCode, 403, early.body);
    assert.match(early.body, /may approve from/);
    clock.advance(3601);
    const later = await answer(app, bob, request.id);
    assert.equal(later.statusCode, 200, later.body);
    assert.equal((later.json() as RequestJson).state, 'approved');
  });
});
