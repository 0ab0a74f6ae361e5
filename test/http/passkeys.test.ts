/**
 * Passkeys over HTTP (issue #6, threat-model B): enrolment links, registration, sign-in, sessions
 * and sign-out, with a software authenticator written here (P-256, `none` attestation) so every
 * byte the server checks can be made wrong on purpose. The browser path is in
 * test/web/approve-with-passkey.test.ts.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, randomBytes, sign } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isoCBOR } from '@simplewebauthn/server/helpers';
import { readEvents, governanceYaml } from '../governance/governance-fixture.ts';
import { runInProcess } from '../cli/cli-harness.ts';
import { jsonOf, startTestServer, type TestServer } from './fixture.ts';

const ORIGIN = 'http://localhost:8080';
const RP_ID = 'localhost';

const b64u = (bytes: Uint8Array | Buffer) => Buffer.from(bytes).toString('base64url');
const sha256 = (bytes: Uint8Array | string) => createHash('sha256').update(bytes).digest();

/** A platform authenticator in software: one P-256 credential, a signature counter, UV on. */
function softAuthenticator() {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
  const credentialId = randomBytes(16);
  const jwk = publicKey.export({ format: 'jwk' });
  let counter = 0;
  const cose = new Map<number, number | Uint8Array>([
    [1, 2],
    [3, -7],
    [-1, 1],
    [-2, Buffer.from(jwk.x ?? '', 'base64url')],
    [-3, Buffer.from(jwk.y ?? '', 'base64url')],
  ]);
  return {
    id: b64u(credentialId),
    register(challenge: string, origin = ORIGIN) {
      const clientDataJSON = Buffer.from(
        JSON.stringify({ type: 'webauthn.create', challenge, origin, crossOrigin: false }),
      );
      const idLength = Buffer.alloc(2);
      idLength.writeUInt16BE(credentialId.length);
      const authData = Buffer.concat([
        sha256(RP_ID),
        Buffer.from([0x45]), // UP | UV | AT
        Buffer.alloc(4), // counter 0
        Buffer.alloc(16), // AAGUID
        idLength,
        credentialId,
        isoCBOR.encode(cose),
      ]);
      const attestationObject = isoCBOR.encode(
        new Map<string, unknown>([
          ['fmt', 'none'],
          ['attStmt', new Map()],
          ['authData', new Uint8Array(authData)],
        ]) as never,
      );
      return {
        id: b64u(credentialId),
        clientDataJSON: b64u(clientDataJSON),
        attestationObject: b64u(attestationObject),
      };
    },
    assert(
      challenge: string,
      options: { origin?: string; flags?: number; counter?: number; userHandle?: string } = {},
    ) {
      counter = options.counter ?? counter + 1;
      const clientDataJSON = Buffer.from(
        JSON.stringify({ type: 'webauthn.get', challenge, origin: options.origin ?? ORIGIN }),
      );
      const count = Buffer.alloc(4);
      count.writeUInt32BE(counter);
      const authenticatorData = Buffer.concat([
        sha256(RP_ID),
        Buffer.from([options.flags ?? 0x05]),
        count,
      ]);
      const signature = sign('sha256', Buffer.concat([authenticatorData, sha256(clientDataJSON)]), {
        key: privateKey,
        dsaEncoding: 'der',
      });
      return {
        id: b64u(credentialId),
        clientDataJSON: b64u(clientDataJSON),
        authenticatorData: b64u(authenticatorData),
        signature: b64u(signature),
        ...(options.userHandle === undefined ? {} : { userHandle: options.userHandle }),
      };
    },
  };
}

let server: TestServer;

before(async () => {
  server = await startTestServer();
  await server.service.services.governance.apply(
    { file: { name: 'governance.yaml', text: governanceYaml('http://127.0.0.1:1') }, policies: [] },
    { kind: 'system', id: 'test', name: 'passkeys test' },
  );
});
after(() => server.close());

async function post(url: string, payload: unknown, headers: Record<string, string> = {}) {
  return server.service.server.inject({ method: 'POST', url, payload: payload as object, headers });
}

async function enrolmentFor(userId: string): Promise<string> {
  const response = await post('/v1/enrolments', { userId }, server.bearer());
  assert.equal(response.statusCode, 201, response.body);
  return String(jsonOf(response)['token']);
}

/** Registers a fresh software passkey for `userId`. */
async function registered(userId: string) {
  const authenticator = softAuthenticator();
  const enrolmentToken = await enrolmentFor(userId);
  const options = await post('/v1/passkeys/registration/options', { enrolmentToken });
  assert.equal(options.statusCode, 200, options.body);
  const { challenge } = jsonOf(options)['options'] as { challenge: string };
  const verify = await post('/v1/passkeys/registration/verify', {
    enrolmentToken,
    credential: authenticator.register(challenge),
    label: 'soft key',
  });
  assert.equal(verify.statusCode, 201, verify.body);
  return authenticator;
}

async function signInChallenge(): Promise<string> {
  const response = await post('/v1/passkeys/sign-in/options', {});
  assert.equal(response.statusCode, 200, response.body);
  return String(jsonOf(response)['challenge']);
}

describe('POST /v1/enrolments', () => {
  it('is for admins only, and only for users of the governance in force', async () => {
    const approver = await server.service.services.apiTokens.createToken({
      name: 'approver',
      role: 'approver',
    });
    const forbidden = await post(
      '/v1/enrolments',
      { userId: 'bob' },
      server.bearer(approver.token),
    );
    assert.equal(forbidden.statusCode, 403);
    const unknown = await post('/v1/enrolments', { userId: 'mallory' }, server.bearer());
    assert.equal(unknown.statusCode, 400);
    assert.match(String(jsonOf(unknown)['detail']), /not a user of the governance/);
  });

  it('answers a one-time URL carrying the token in its fragment, and logs enrolment.created', async () => {
    const response = await post('/v1/enrolments', { userId: 'bob' }, server.bearer());
    const body = jsonOf(response);
    assert.equal(response.headers['cache-control'], 'no-store');
    assert.equal(body['url'], `${ORIGIN}/ui/enrol.html#token=${String(body['token'])}`);
    const events = await readEvents(server.service.storage);
    const created = events.find(
      (event) => event.kind === 'enrolment.created' && event.body['enrolmentId'] === body['id'],
    );
    assert.equal(created?.body['userId'], 'bob');
    const secret = String(body['token']).split('.')[1] ?? '';
    assert.ok(secret.length > 0 && !created.raw.includes(secret), 'no secret in the log');
  });
});

describe('passkey registration', () => {
  it('registers a passkey for the link user, logs passkey.registered, and uses the link up', async () => {
    const authenticator = softAuthenticator();
    const enrolmentToken = await enrolmentFor('bob');
    const options = jsonOf(await post('/v1/passkeys/registration/options', { enrolmentToken }));
    const creation = options['options'] as {
      challenge: string;
      rp: { id: string };
      authenticatorSelection: { userVerification: string };
    };
    assert.equal(options['userId'], 'bob');
    assert.equal(creation.rp.id, RP_ID);
    assert.equal(creation.authenticatorSelection.userVerification, 'required');
    assert.ok(Buffer.from(creation.challenge, 'base64url').length >= 16, 'a 128-bit challenge');
    const verify = await post('/v1/passkeys/registration/verify', {
      enrolmentToken,
      credential: authenticator.register(creation.challenge),
    });
    assert.equal(verify.statusCode, 201, verify.body);
    const stored = await server.service.storage.approverCredentials.findById(authenticator.id);
    assert.equal(stored?.userId, 'bob');
    assert.equal(stored.kind, 'webauthn');
    assert.equal(stored.rpId, RP_ID);
    const events = await readEvents(server.service.storage);
    assert.ok(
      events.some(
        (event) =>
          event.kind === 'passkey.registered' && event.body['credentialId'] === authenticator.id,
      ),
    );
    // The link is spent: no more options, no second registration.
    const again = await post('/v1/passkeys/registration/options', { enrolmentToken });
    assert.equal(again.statusCode, 401);
  });

  it('refuses an attestation made for another origin, and a replayed registration challenge', async () => {
    const authenticator = softAuthenticator();
    const enrolmentToken = await enrolmentFor('bob');
    const options = jsonOf(await post('/v1/passkeys/registration/options', { enrolmentToken }));
    const { challenge } = options['options'] as { challenge: string };
    const phished = await post('/v1/passkeys/registration/verify', {
      enrolmentToken,
      credential: authenticator.register(challenge, 'http://evil.example'),
    });
    assert.equal(phished.statusCode, 422, phished.body);
    // The challenge died with the failed attempt.
    const replayed = await post('/v1/passkeys/registration/verify', {
      enrolmentToken,
      credential: authenticator.register(challenge),
    });
    assert.equal(replayed.statusCode, 401, replayed.body);
  });

  it('refuses a made-up or malformed enrolment token', async () => {
    for (const enrolmentToken of ['x', `${'a'.repeat(16)}.${'A'.repeat(43)}`]) {
      const response = await post('/v1/passkeys/registration/options', { enrolmentToken });
      assert.equal(response.statusCode, 401);
    }
  });
});

describe('passkey sign-in', () => {
  it('starts a session in an HttpOnly SameSite=Strict cookie; the same assertion never works twice', async () => {
    const authenticator = await registered('alice');
    const credential = authenticator.assert(await signInChallenge());
    const response = await post('/v1/passkeys/sign-in/verify', { credential }, { origin: ORIGIN });
    assert.equal(response.statusCode, 200, response.body);
    const cookie = String(response.headers['set-cookie']);
    assert.match(cookie, /^countersign_session=[A-Za-z0-9_-]{43}; /);
    assert.match(cookie, /HttpOnly/);
    assert.match(cookie, /SameSite=Strict/);
    assert.doesNotMatch(cookie, /Secure/, 'plain http: a Secure cookie would never come back');
    const value = cookie.split(';')[0] ?? '';

    const session = await server.service.server.inject({
      method: 'GET',
      url: '/v1/passkeys/session',
      headers: { cookie: value },
    });
    assert.equal(session.statusCode, 200, session.body);
    assert.equal(jsonOf(session)['userId'], 'alice');
    assert.equal(jsonOf(session)['rpId'], RP_ID);
    assert.deepEqual(
      (jsonOf(session)['passkeys'] as { id: string }[]).map((passkey) => passkey.id),
      [authenticator.id],
    );
    assert.deepEqual(
      await server.service.services.webSessions.authenticate(value.split('=')[1] ?? ''),
      {
        userId: 'alice',
      },
    );

    const replay = await post('/v1/passkeys/sign-in/verify', { credential }, { origin: ORIGIN });
    assert.equal(replay.statusCode, 401);
    assert.match(String(jsonOf(replay)['detail']), /challenge is unknown, used or expired/);

    // Sign-out ends the session for good.
    const out = await post('/v1/passkeys/sign-out', {}, { origin: ORIGIN, cookie: value });
    assert.equal(out.statusCode, 204);
    assert.match(String(out.headers['set-cookie']), /Max-Age=0/);
    const gone = await server.service.server.inject({
      method: 'GET',
      url: '/v1/passkeys/session',
      headers: { cookie: value },
    });
    assert.equal(gone.statusCode, 401);
  });

  it('needs our Origin header, and an assertion made on our origin (B2)', async () => {
    const authenticator = await registered('alice');
    const noOrigin = await post('/v1/passkeys/sign-in/verify', {
      credential: authenticator.assert(await signInChallenge()),
    });
    assert.equal(noOrigin.statusCode, 403);
    const phished = await post(
      '/v1/passkeys/sign-in/verify',
      {
        credential: authenticator.assert(await signInChallenge(), {
          origin: 'https://evil.example',
        }),
      },
      { origin: ORIGIN },
    );
    assert.equal(phished.statusCode, 401);
  });

  it('needs user verification (B3)', async () => {
    const authenticator = await registered('alice');
    const response = await post(
      '/v1/passkeys/sign-in/verify',
      { credential: authenticator.assert(await signInChallenge(), { flags: 0x01 }) },
      { origin: ORIGIN },
    );
    assert.equal(response.statusCode, 401);
    assert.match(String(jsonOf(response)['detail']), /user verification/);
  });

  it('refuses a signature counter that went backwards: a cloned authenticator (B4)', async () => {
    const authenticator = await registered('alice');
    const first = await post(
      '/v1/passkeys/sign-in/verify',
      { credential: authenticator.assert(await signInChallenge(), { counter: 10 }) },
      { origin: ORIGIN },
    );
    assert.equal(first.statusCode, 200, first.body);
    const clone = await post(
      '/v1/passkeys/sign-in/verify',
      { credential: authenticator.assert(await signInChallenge(), { counter: 4 }) },
      { origin: ORIGIN },
    );
    assert.equal(clone.statusCode, 401);
    assert.match(String(jsonOf(clone)['detail']), /counter went backwards .* cloned/);
  });

  it('refuses a user handle naming someone else than the passkey owner (B5)', async () => {
    const authenticator = await registered('alice');
    const response = await post(
      '/v1/passkeys/sign-in/verify',
      {
        credential: authenticator.assert(await signInChallenge(), {
          userHandle: b64u(sha256('countersign user bob')),
        }),
      },
      { origin: ORIGIN },
    );
    assert.equal(response.statusCode, 401);
    assert.match(String(jsonOf(response)['detail']), /another user/);
  });

  it('refuses a passkey that is not registered, and a revoked one', async () => {
    const stranger = softAuthenticator();
    const unknown = await post(
      '/v1/passkeys/sign-in/verify',
      { credential: stranger.assert(await signInChallenge()) },
      { origin: ORIGIN },
    );
    assert.equal(unknown.statusCode, 401);
    const authenticator = await registered('alice');
    await server.service.storage.approverCredentials.revoke(authenticator.id, new Date());
    const revoked = await post(
      '/v1/passkeys/sign-in/verify',
      { credential: authenticator.assert(await signInChallenge()) },
      { origin: ORIGIN },
    );
    assert.equal(revoked.statusCode, 401);
  });
});

describe('the approval page', () => {
  it('is served under /ui/ with a strict Content-Security-Policy and nothing else', async () => {
    const page = await server.service.server.inject({ method: 'GET', url: '/ui/' });
    assert.equal(page.statusCode, 200);
    assert.match(String(page.headers['content-type']), /^text\/html/);
    const csp = String(page.headers['content-security-policy']);
    assert.match(csp, /default-src 'none'/);
    assert.match(csp, /script-src 'self'/);
    assert.match(csp, /frame-ancestors 'none'/);
    assert.doesNotMatch(page.body, /<script>(?!<)/, 'no inline script');
    const script = await server.service.server.inject({ method: 'GET', url: '/ui/app.js' });
    assert.match(String(script.headers['content-type']), /^text\/javascript/);
    for (const url of ['/ui/../package.json', '/ui/%2e%2e%2fpackage.json', '/ui/nope.js']) {
      const response = await server.service.server.inject({ method: 'GET', url });
      assert.equal(response.statusCode, 404, url);
    }
  });
});

describe('countersign passkey enrol-link', () => {
  it('prints the one-time link, or the whole answer with --json', async () => {
    await server.service.server.listen({ host: '127.0.0.1', port: 0 });
    const address = server.service.server.server.address();
    if (address === null || typeof address === 'string') throw new Error('not listening');
    const url = `http://127.0.0.1:${String(address.port)}`;
    const env = { COUNTERSIGN_TOKEN: server.adminToken, COUNTERSIGN_SERVER: url };
    const text = await runInProcess(['passkey', 'enrol-link', '--user', 'bob'], { env });
    assert.equal(text.code, 0, text.stderr);
    assert.match(
      text.stdout,
      /^http:\/\/localhost:8080\/ui\/enrol\.html#token=[a-z2-7]{16}\.\S{43}\n$/,
    );
    assert.match(text.stderr, /valid once until/);
    const json = await runInProcess(
      ['passkey', 'enrol-link', '--user', 'bob', '--expires-in', '30m', '--json'],
      { env },
    );
    assert.equal(json.code, 0, json.stderr);
    const body = JSON.parse(json.stdout) as { userId: string; expiresAt: string };
    assert.equal(body.userId, 'bob');
    assert.equal(Date.parse(body.expiresAt) - server.clock.now().getTime(), 30 * 60 * 1000);
    const unknown = await runInProcess(['passkey', 'enrol-link', '--user', 'mallory'], { env });
    assert.equal(unknown.code, 2, unknown.stderr);
  });
});
