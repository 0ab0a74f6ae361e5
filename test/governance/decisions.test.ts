/**
 * `POST /v1/decisions` end to end: the real service (SQLite), a real loopback JWKS server for
 * the issuer, tokens signed like GitHub Actions ones, and the decisions read back from the log.
 */
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import {
  createEcKey,
  gitHubClaims,
  signToken,
  startJwksServer,
  type JwksServer,
  type TestKey,
} from '../identity/test-issuer.ts';
import { jsonOf, startTestServer, type TestServer } from '../http/fixture.ts';
import { governanceYaml, readEvents } from './governance-fixture.ts';

const DIGEST = 'a'.repeat(64);

describe('POST /v1/decisions', () => {
  let t: TestServer;
  let jwks: JwksServer;
  let key: TestKey;

  before(async () => {
    t = await startTestServer();
    jwks = await startJwksServer();
    key = await createEcKey('k1');
    jwks.serve('/jwks', { kind: 'json', body: { keys: [key.jwk] } });
  });
  after(async () => {
    await t.close();
    await jwks.close();
  });

  const token = (overrides: Record<string, unknown> = {}, signer = key) =>
    signToken(signer, gitHubClaims(jwks.url, t.clock.now(), overrides));
  const decide = (body: Record<string, unknown>, headers: Record<string, string> = {}) =>
    t.service.server.inject({ method: 'POST', url: '/v1/decisions', headers, payload: body });
  const decideWith = async (jwt: string, body: Record<string, unknown>) =>
    decide(body, { authorization: `Bearer ${jwt}` });
  const apply = async (text: string) => {
    const response = await t.service.server.inject({
      method: 'POST',
      url: '/v1/governance/apply',
      headers: t.bearer(),
      payload: { file: { name: 'governance.yaml', text } },
    });
    assert.equal(response.statusCode, 200, response.body);
    return jsonOf(response);
  };

  describe('before any governance is applied', () => {
    it('answers 401: no issuer is trusted yet', async () => {
      const response = await decideWith(await token(), { product: 'payments', channel: 'dev' });
      assert.equal(response.statusCode, 401, response.body);
      assert.equal(jsonOf(response)['code'], 'UNAUTHENTICATED');
      assert.match(String(jsonOf(response)['detail']), /no workload token issuer is trusted/);
    });
  });

  describe('with governance in force', () => {
    before(async () => {
      await apply(governanceYaml(jwks.url));
    });

    it('allows an entitled workload on its channel, answers why, and logs the decision', async () => {
      const jwt = await token();
      const response = await decideWith(jwt, {
        product: 'payments',
        channel: 'dev',
        subject: { name: 'payments.tar.gz', digest: { algorithm: 'sha256', value: DIGEST } },
      });
      assert.equal(response.statusCode, 200, response.body);
      const body = jsonOf(response);
      assert.equal(body['decision'], 'allow');
      assert.deepEqual(body['entitlements'], { matched: ['payments-main'], expired: [] });
      assert.equal(body['governanceVersion'], 1);
      assert.deepEqual(body['identity'], {
        issuer: jwks.url,
        subject: 'repo:acme/payments:ref:refs/heads/main',
        identityUri:
          'https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main',
        repository: 'acme/payments',
        repositoryId: '7001',
        ref: 'refs/heads/main',
      });

      const event = (await readEvents(t.service.storage)).find(
        (e) => String(e.index) === body['logIndex'],
      );
      assert.equal(event?.kind, 'signing.decided');
      assert.equal(event.body['decision'], 'allow');
      assert.equal(event.body['purpose'], 'read');
      assert.equal(event.body['policyHash'], body['policyHash']);
      assert.deepEqual(event.body['subject'], {
        name: 'payments.tar.gz',
        digest: { algorithm: 'sha256', value: DIGEST },
      });
      const workload = event.body['workload'] as Record<string, unknown>;
      assert.equal(workload['repositoryId'], '7001');
      assert.equal(workload['issuerName'], 'ci');
      // Evidence holds the normalised identity, never the token or any part of it.
      for (const segment of jwt.split('.')) assert.equal(event.raw.includes(segment), false);
    });

    it('does not consume the token: a decision check can be repeated', async () => {
      const jwt = await token();
      for (let i = 0; i < 2; i += 1) {
        const response = await decideWith(jwt, { product: 'payments', channel: 'dev' });
        assert.equal(jsonOf(response)['decision'], 'allow', response.body);
      }
    });

    it('denies a channel the workload is not entitled to, saying so', async () => {
      const response = await decideWith(await token(), { product: 'payments', channel: 'prod' });
      assert.equal(response.statusCode, 200, response.body);
      const body = jsonOf(response);
      assert.equal(body['decision'], 'deny');
      assert.ok(
        (body['reasons'] as string[]).includes(
          'no entitlement for repository 7001 (acme/payments) on payments/prod',
        ),
        response.body,
      );
      const event = (await readEvents(t.service.storage)).at(-1);
      assert.equal(event?.kind, 'signing.decided');
      assert.equal(event.body['decision'], 'deny');
      assert.deepEqual(event.body['reasons'], body['reasons']);
    });

    it('denies another repository, even under the entitled name', async () => {
      const response = await decideWith(await token({ repository_id: '9999' }), {
        product: 'payments',
        channel: 'dev',
      });
      const body = jsonOf(response);
      assert.equal(body['decision'], 'deny');
      assert.match((body['reasons'] as string[]).join('\n'), /no entitlement for repository 9999/);
    });

    it('accepts the token in the identityToken field instead of the header', async () => {
      const response = await decide({
        product: 'payments',
        channel: 'dev',
        identityToken: await token(),
      });
      assert.equal(jsonOf(response)['decision'], 'allow', response.body);
    });

    it('refuses a token sent twice (header and body) with 400', async () => {
      const jwt = await token();
      const response = await decideWith(jwt, {
        product: 'payments',
        channel: 'dev',
        identityToken: jwt,
      });
      assert.equal(response.statusCode, 400, response.body);
    });

    it('answers 401 without a token, with a non-bearer header, or with a forged token, and logs nothing', async () => {
      const size = await t.service.storage.log.treeSize();
      const forged = await token({}, await createEcKey('k1'));
      const responses = [
        await decide({ product: 'payments', channel: 'dev' }),
        await decide(
          { product: 'payments', channel: 'dev' },
          { authorization: 'Basic dXNlcjpwdw==' },
        ),
        await decideWith(forged, { product: 'payments', channel: 'dev' }),
        await decideWith('not.a.token', { product: 'payments', channel: 'dev' }),
      ];
      for (const response of responses) {
        assert.equal(response.statusCode, 401, response.body);
        assert.equal(jsonOf(response)['code'], 'UNAUTHENTICATED');
      }
      assert.equal(await t.service.storage.log.treeSize(), size);
    });

    it('refuses unknown fields and malformed digests with 400 before looking at the token', async () => {
      const jwt = await token();
      const unknown = await decideWith(jwt, { product: 'payments', channel: 'dev', force: true });
      assert.equal(unknown.statusCode, 400, unknown.body);
      const digest = await decideWith(jwt, {
        product: 'payments',
        channel: 'dev',
        subject: { name: 'x', digest: { algorithm: 'sha256', value: 'abc' } },
      });
      assert.equal(digest.statusCode, 400, digest.body);
      assert.equal(jsonOf(digest)['code'], 'INVALID_INPUT');
    });

    it('fetches the issuer keys once per governance version, and decides under the newest one', async () => {
      const before = jwks.hits('/jwks');
      for (let i = 0; i < 3; i += 1) {
        await decideWith(await token(), { product: 'payments', channel: 'dev' });
      }
      assert.equal(jwks.hits('/jwks'), before, 'the verifier of version 1 keeps its keys');

      await apply(
        governanceYaml(jwks.url, {
          extraEntitlements: `  - id: payments-prod
    selector: { issuer: ci, repositoryId: '7001', ref: refs/heads/main }
    grants: { product: payments, channels: [prod] }
    owner: payments-team
    justification: Main goes to prod after approval.
    expiresAt: 2099-01-01T00:00:00Z
    reviewAt: 2098-01-01T00:00:00Z
`,
        }),
      );
      const response = await decideWith(await token(), { product: 'payments', channel: 'prod' });
      const body = jsonOf(response);
      assert.equal(body['governanceVersion'], 2);
      assert.equal(body['decision'], 'deny');
      assert.deepEqual(body['reasons'], ['needs 1 approvals, has 0']);
      assert.equal(jwks.hits('/jwks'), before + 1, 'version 2 has its own verifier');

      const approved = await decideWith(await token(), {
        product: 'payments',
        channel: 'prod',
        context: { approvals: { count: 1 } },
      });
      assert.equal(jsonOf(approved)['decision'], 'allow', approved.body);
      const event = (await readEvents(t.service.storage)).at(-1);
      assert.deepEqual(event?.body['context'], { approvals: { count: 1 } });
    });
  });
});
