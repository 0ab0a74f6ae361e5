/**
 * `countersign sign` against a loopback server that implements the `POST /v1/sign` contract with
 * bundles from the test Sigstore, and stands in for the GitHub Actions token endpoint. The real
 * service end to end is test/e2e's business.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { signCommand } from '../../src/cli/commands/sign.ts';
import { verifyCommand } from '../../src/cli/commands/verify.ts';
import { encodeBundle, type Bundle } from '../../src/core/sigstore/bundle.ts';
import { serializeTrustedRoot } from '../../src/core/sigstore/trusted-root.ts';
import {
  buildDsseBundle,
  buildMessageSignatureBundle,
  createTestSigstore,
  type TestCertificate,
  type TestSigstore,
} from '../support/sigstore-fixtures.ts';
import { runCommand, type CommandResult } from '../support/run-command.ts';
import { createChannelCa, trustedRootWith } from '../support/channel-fixtures.ts';

/** A JWT-shaped token (the CLI only passes it on; the stand-in server does not check it). */
function fakeJwt(claims: Record<string, unknown>): string {
  const part = (value: unknown) => Buffer.from(JSON.stringify(value)).toString('base64url');
  return `${part({ alg: 'ES256' })}.${part(claims)}.${randomBytes(16).toString('base64url')}`;
}

const TOKEN = fakeJwt({ iss: 'https://issuer.example', sub: 'repo:demo/hello', jti: 'one' });
const REQUEST_TOKEN = 'request-token-do-not-print';

interface SignRequestBody {
  product: string;
  channel: string;
  subject: { name: string; digest: { algorithm: string; value: string } };
  kind: string;
  statement?: unknown;
}

type Mode = 'ok' | 'deny' | 'unauthenticated' | 'no-channel' | 'wrong-digest' | 'pending';

/** The POST /v1/sign contract, answered with fixture bundles, plus a GitHub token endpoint. */
class FakeSigningServer {
  readonly requests: { authorization: string | undefined; body: SignRequestBody }[] = [];
  readonly tokensMinted: string[] = [];
  mode: Mode = 'ok';
  inFlight = 0;
  maxInFlight = 0;
  url = '';
  /** Artifact bytes by sha256/384/512 hex, so message signatures can be made over them. */
  readonly artifacts = new Map<string, Uint8Array>();
  private server: Server | undefined;

  private readonly sigstore: TestSigstore;
  private readonly ca: TestCertificate;

  constructor(sigstore: TestSigstore, ca: TestCertificate) {
    this.sigstore = sigstore;
    this.ca = ca;
  }

  addArtifact(bytes: Uint8Array): void {
    for (const algorithm of ['sha256', 'sha384', 'sha512']) {
      this.artifacts.set(hash(algorithm, bytes), bytes);
    }
  }

  async start(): Promise<void> {
    this.server = createServer((request, response) => {
      void this.handle(request, response);
    });
    await new Promise<void>((resolve) => this.server?.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${String((this.server.address() as AddressInfo).port)}`;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.server?.close(() => resolve()));
  }

  reset(): void {
    this.requests.length = 0;
    this.tokensMinted.length = 0;
    this.mode = 'ok';
    this.maxInFlight = 0;
  }

  private async handle(request: IncomingMessage, response: ServerResponse): Promise<void> {
    if (request.method === 'GET' && request.url?.startsWith('/github-token') === true) {
      assert.equal(request.headers.authorization, `bearer ${REQUEST_TOKEN}`);
      const token = fakeJwt({
        iss: 'https://token.actions.githubusercontent.com',
        jti: randomBytes(8).toString('hex'),
      });
      this.tokensMinted.push(token);
      return send(response, 200, { value: token });
    }
    if (request.method !== 'POST' || request.url !== '/v1/sign') return send(response, 404, {});
    const chunks: Buffer[] = [];
    for await (const chunk of request) chunks.push(chunk as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as SignRequestBody;
    this.requests.push({ authorization: request.headers.authorization, body });
    this.inFlight += 1;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    // Hold the request open a moment so concurrent requests overlap.
    await new Promise((resolve) => setTimeout(resolve, 15));
    this.inFlight -= 1;
    switch (this.mode) {
      case 'deny':
        return problem(
          response,
          403,
          'POLICY_DENIED',
          'signing on demo/dev denied: no entitlement',
          [{ path: '/decision', message: 'no entitlement matches workload repo:demo/hello' }],
        );
      case 'unauthenticated':
        return problem(response, 401, 'UNAUTHENTICATED', 'the identity token was already used');
      case 'no-channel':
        return problem(response, 404, 'NOT_FOUND', 'channel demo/nope has no CA');
      case 'pending':
        return problem(response, 202, 'APPROVAL_PENDING', 'demo/dev needs 2 approvals');
      case 'ok':
      case 'wrong-digest':
        break;
    }
    const bytes = this.artifacts.get(body.subject.digest.value);
    if (bytes === undefined) return problem(response, 400, 'INVALID_INPUT', 'unknown digest');
    const leaf = this.sigstore.issueLeaf({ issuer: this.ca });
    let bundle: Bundle;
    if (body.kind === 'attestation') {
      bundle = buildDsseBundle(
        this.sigstore,
        new TextEncoder().encode(JSON.stringify(body.statement)),
        { leaf },
      );
    } else {
      const signed = this.mode === 'wrong-digest' ? new TextEncoder().encode('other') : bytes;
      bundle = buildMessageSignatureBundle(this.sigstore, signed, {
        leaf,
        digestAlgorithm: body.subject.digest.algorithm as 'sha256',
      });
    }
    const logIndex = bundle.verificationMaterial.tlogEntries[0]?.logIndex.toString();
    return send(response, 201, {
      id: `sig-${String(logIndex)}`,
      logIndex,
      bundle: encodeBundle(bundle),
    });
  }
}

function send(response: ServerResponse, status: number, body: unknown): void {
  response.writeHead(status, {
    'content-type': status >= 400 ? 'application/problem+json' : 'application/json',
  });
  response.end(JSON.stringify(body));
}

function problem(
  response: ServerResponse,
  status: number,
  code: string,
  detail: string,
  errors?: unknown[],
): void {
  send(response, status, { type: 'about:blank', title: code, status, code, detail, errors });
}

describe('countersign sign', () => {
  let dir: string;
  let sigstore: TestSigstore;
  let server: FakeSigningServer;
  const files: Record<string, Uint8Array> = {};

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'countersign-sign-'));
    sigstore = createTestSigstore();
    const ca = createChannelCa(sigstore, 'demo', 'dev');
    await writeFile(
      join(dir, 'trusted_root.json'),
      serializeTrustedRoot(trustedRootWith(sigstore, [ca])),
    );
    server = new FakeSigningServer(sigstore, ca);
    await server.start();
    for (const [name, size] of [
      ['hello.tgz', 3 * 1024 * 1024 + 7],
      ['a.bin', 100],
      ['b.bin', 200],
      ['c.bin', 300],
      ['d.bin', 400],
      ['e.bin', 500],
    ] as const) {
      files[name] = new Uint8Array(randomBytes(size));
      server.addArtifact(files[name]);
      await writeFile(join(dir, name), files[name]);
    }
  });
  after(async () => {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(() => server.reset());

  const sign = (
    args: readonly string[],
    env: Record<string, string> = { COUNTERSIGN_IDENTITY_TOKEN: TOKEN },
    options: { stderrIsTty?: boolean } = {},
  ): Promise<CommandResult> =>
    runCommand(signCommand, [...args, '--server', server.url], { cwd: dir, env, ...options });
  const github = () => ({
    ACTIONS_ID_TOKEN_REQUEST_URL: `${server.url}/github-token?api-version=2.0`,
    ACTIONS_ID_TOKEN_REQUEST_TOKEN: REQUEST_TOKEN,
  });
  const noSecrets = (result: CommandResult) => {
    for (const secret of [TOKEN, REQUEST_TOKEN, ...server.tokensMinted]) {
      assert.ok(
        !result.stdout.includes(secret) && !result.stderr.includes(secret),
        'a token was printed',
      );
    }
  };

  describe('one file with COUNTERSIGN_IDENTITY_TOKEN', () => {
    it('sends the digest, writes <file>.sigstore.json and prints a summary', async () => {
      const result = await sign(['hello.tgz', '--product', 'demo', '--channel', 'dev']);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(server.requests.length, 1);
      const [request] = server.requests;
      assert.equal(request?.authorization, `Bearer ${TOKEN}`);
      const content = files['hello.tgz'] ?? new Uint8Array();
      assert.deepEqual(request?.body, {
        product: 'demo',
        channel: 'dev',
        subject: {
          name: 'hello.tgz',
          digest: { algorithm: 'sha256', value: hash('sha256', content) },
        },
        kind: 'artifact',
      });
      const written = JSON.parse(await readFile(join(dir, 'hello.tgz.sigstore.json'), 'utf8')) as {
        mediaType: string;
      };
      assert.equal(written.mediaType, 'application/vnd.dev.sigstore.bundle.v0.3+json');
      assert.match(
        result.stdout,
        new RegExp(
          `^signed hello\\.tgz \\(sha256:${hash('sha256', content)}\\) on demo/dev: log index \\d+, bundle hello\\.tgz\\.sigstore\\.json\\n$`,
        ),
      );
      assert.match(
        result.stderr,
        /identity token from COUNTERSIGN_IDENTITY_TOKEN as repo:demo\/hello/,
      );
      noSecrets(result);
      // No temporary files are left behind.
      assert.deepEqual(
        (await readdir(dir)).filter((name) => name.endsWith('.tmp')),
        [],
      );
    });

    it('writes a bundle `countersign verify` accepts for the file and the channel', async () => {
      assert.equal((await sign(['hello.tgz', '--product', 'demo', '--channel', 'dev'])).code, 0);
      const verified = await runCommand(
        verifyCommand,
        [
          'hello.tgz',
          '--trusted-root',
          'trusted_root.json',
          '--product',
          'demo',
          '--channel',
          'dev',
        ],
        { cwd: dir },
      );
      assert.equal(verified.code, 0, verified.stderr);
    });

    it('hashes with --digest-algorithm sha512 and writes into --out-dir', async () => {
      const result = await sign([
        'a.bin',
        '--product',
        'demo',
        '--channel',
        'dev',
        '--digest-algorithm',
        'sha512',
        '--out-dir',
        'bundles/x',
        '--json',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
      const document = JSON.parse(result.stdout) as {
        signed: {
          file: string;
          digest: { algorithm: string; value: string };
          logIndex: string;
          bundle: string;
          signingId: string;
        }[];
      };
      assert.deepEqual(Object.keys(document), ['product', 'channel', 'kind', 'signed']);
      const [entry] = document.signed;
      assert.equal(entry?.file, 'a.bin');
      assert.deepEqual(entry?.digest, {
        algorithm: 'sha512',
        value: hash('sha512', files['a.bin'] ?? ''),
      });
      assert.match(entry?.logIndex ?? '', /^\d+$/);
      assert.equal(entry?.signingId, `sig-${entry?.logIndex ?? ''}`);
      assert.equal(entry?.bundle, join('bundles', 'x', 'a.bin.sigstore.json'));
      await readFile(join(dir, 'bundles', 'x', 'a.bin.sigstore.json'));
      assert.equal(server.requests[0]?.body.subject.digest.value.length, 128);
    });
  });

  describe('many files on GitHub Actions', () => {
    it('mints a fresh token per file and keeps at most --concurrency requests in flight', async () => {
      const names = ['a.bin', 'b.bin', 'c.bin', 'd.bin', 'e.bin'];
      const result = await sign(
        [...names, '--product', 'demo', '--channel', 'dev', '--concurrency', '2'],
        github(),
      );
      assert.equal(result.code, 0, result.stderr);
      assert.equal(server.requests.length, 5);
      assert.equal(new Set(server.requests.map((r) => r.authorization)).size, 5);
      assert.deepEqual(
        server.requests.map((r) => r.authorization).sort(),
        server.tokensMinted.map((token) => `Bearer ${token}`).sort(),
      );
      assert.ok(server.maxInFlight <= 2, `max in flight ${String(server.maxInFlight)}`);
      assert.ok(server.maxInFlight >= 2, 'requests were not concurrent');
      assert.equal(result.stdout.trim().split('\n').length, 5);
      for (const name of names) await readFile(join(dir, `${name}.sigstore.json`));
      noSecrets(result);
    });
  });

  describe('many files, one failing', () => {
    it('reports with --json what was signed before the failure, and the error', async () => {
      await writeFile(join(dir, 'unknown.bin'), 'the server refuses this digest');
      const result = await sign(
        ['a.bin', 'unknown.bin', 'b.bin', '--product', 'demo', '--channel', 'dev', '--json'].concat(
          ['--concurrency', '1'],
        ),
        github(),
      );
      assert.equal(result.code, 2, result.stderr);
      const document = JSON.parse(result.stdout) as {
        signed: { file: string }[];
        error: { code: string; exitCode: number; message: string };
      };
      assert.deepEqual(
        document.signed.map((entry) => entry.file),
        ['a.bin'],
      );
      assert.equal(document.error.code, 'INVALID_INPUT');
      assert.equal(document.error.exitCode, 2);
      assert.match(document.error.message, /unknown\.bin/);
    });
  });

  describe('many files with a single token', () => {
    it('exits 2 before sending anything: each token signs once', async () => {
      const result = await sign(['a.bin', 'b.bin', '--product', 'demo', '--channel', 'dev']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /COUNTERSIGN_IDENTITY_TOKEN can sign one file, and 2 were given/);
      assert.match(result.stderr, /hint: .*checksums file/);
      assert.equal(server.requests.length, 0);
    });
  });

  describe('--attest', () => {
    const statementFor = (digest: string) => ({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'hello.tgz', digest: { sha256: digest } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: { buildDefinition: { buildType: 'https://example.com/build' } },
    });
    const attest = (statementFile: string) =>
      sign(['hello.tgz', '--attest', statementFile, '--product', 'demo', '--channel', 'dev']);

    it('signs the statement as an attestation when it names the file', async () => {
      const statement = statementFor(hash('sha256', files['hello.tgz'] ?? ''));
      await writeFile(join(dir, 'statement.json'), JSON.stringify(statement));
      const result = await attest('statement.json');
      assert.equal(result.code, 0, result.stderr);
      assert.equal(server.requests[0]?.body.kind, 'attestation');
      assert.deepEqual(server.requests[0]?.body.statement, statement);
      assert.match(result.stdout, /bundle hello\.tgz\.intoto\.sigstore\.json/);
      const verified = await runCommand(
        verifyCommand,
        [
          'hello.tgz',
          '--bundle',
          'hello.tgz.intoto.sigstore.json',
          '--trusted-root',
          'trusted_root.json',
        ],
        { cwd: dir },
      );
      assert.equal(verified.code, 0, verified.stderr);
    });

    it("signs each file's attestation narrowed to that file's subject and digest", async () => {
      const helloDigest = hash('sha256', files['hello.tgz'] ?? '');
      const statement = {
        _type: 'https://in-toto.io/Statement/v1',
        subject: [
          { name: 'dist/other.tgz', digest: { sha256: '0'.repeat(64) } },
          {
            name: 'dist/hello.tgz',
            digest: { sha256: helloDigest, sha512: 'f'.repeat(128) },
            annotations: { kept: true },
          },
        ],
        predicateType: 'https://slsa.dev/provenance/v1',
        predicate: { buildDefinition: { buildType: 'https://example.com/build' } },
      };
      await writeFile(join(dir, 'statement.json'), JSON.stringify(statement));
      const result = await attest('statement.json');
      assert.equal(result.code, 0, result.stderr);
      assert.deepEqual(server.requests[0]?.body.subject, {
        name: 'dist/hello.tgz',
        digest: { algorithm: 'sha256', value: helloDigest },
      });
      assert.deepEqual(server.requests[0]?.body.statement, {
        ...statement,
        subject: [
          { name: 'dist/hello.tgz', digest: { sha256: helloDigest }, annotations: { kept: true } },
        ],
      });
    });

    it('exits 2 before sending a statement with a member twice or a number parsers round', async () => {
      const digest = hash('sha256', files['hello.tgz'] ?? '');
      const base = JSON.stringify(statementFor(digest)).slice(0, -1);
      for (const [text, message] of [
        [`${base},"predicateType":"https://evil.example/v1"}`, /\/predicateType appears twice/],
        [`${base},"extra":9007199254740993}`, /\/extra \(9007199254740993\) is an integer beyond/],
      ] as const) {
        await writeFile(join(dir, 'odd.json'), text);
        const result = await attest('odd.json');
        assert.equal(result.code, 2, result.stderr);
        assert.match(result.stderr, message);
      }
      assert.equal(server.requests.length, 0);
    });

    it('exits 2 before sending when the statement does not name the file', async () => {
      await writeFile(join(dir, 'other.json'), JSON.stringify(statementFor('0'.repeat(64))));
      const result = await sign([
        'hello.tgz',
        '--attest',
        'other.json',
        '--product',
        'demo',
        '--channel',
        'dev',
      ]);
      assert.equal(result.code, 2);
      assert.match(
        result.stderr,
        /^error: the statement other\.json does not name this file among its subjects \(hello\.tgz\)$/m,
      );
      assert.match(
        result.stderr,
        /^ {2}- hello\.tgz: sha256:[0-9a-f]{64} is not a subject of the statement$/m,
      );
      assert.equal(server.requests.length, 0);
    });

    it('refuses a statement that is not in-toto v1, and --kind attestation without one', async () => {
      await writeFile(
        join(dir, 'old.json'),
        JSON.stringify({
          ...statementFor('0'.repeat(64)),
          _type: 'https://in-toto.io/Statement/v0.1',
        }),
      );
      const old = await sign([
        'hello.tgz',
        '--attest',
        'old.json',
        '--product',
        'demo',
        '--channel',
        'dev',
      ]);
      assert.equal(old.code, 2);
      assert.match(old.stderr, /is not an in-toto Statement v1/);
      const bare = await sign([
        'hello.tgz',
        '--kind',
        'attestation',
        '--product',
        'demo',
        '--channel',
        'dev',
      ]);
      assert.equal(bare.code, 2);
      assert.match(bare.stderr, /--kind attestation needs --attest/);
      assert.equal(server.requests.length, 0);
    });
  });

  describe('when the server says no', () => {
    it('a policy denial exits 1 with the reasons, naming the file, writing nothing', async () => {
      server.mode = 'deny';
      const result = await sign([
        'b.bin',
        '--product',
        'demo',
        '--channel',
        'dev',
        '--out-dir',
        'denied',
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^error: b\.bin: signing on demo\/dev denied: no entitlement$/m);
      assert.match(
        result.stderr,
        /^ {2}- \/decision: no entitlement matches workload repo:demo\/hello$/m,
      );
      assert.deepEqual(await readdir(join(dir, 'denied')), []);
      noSecrets(result);
    });

    it('a refused token exits 3 with a hint about the token', async () => {
      server.mode = 'unauthenticated';
      const result = await sign(['b.bin', '--product', 'demo', '--channel', 'dev']);
      assert.equal(result.code, 3);
      assert.match(
        result.stderr,
        /hint: each signature needs a fresh token: mint a new one \(COUNTERSIGN_IDENTITY_TOKEN gave one already spent\)/,
      );
      noSecrets(result);
    });

    it('an unknown channel exits 4', async () => {
      server.mode = 'no-channel';
      const result = await sign(['b.bin', '--product', 'demo', '--channel', 'nope']);
      assert.equal(result.code, 4);
      assert.match(result.stderr, /hint: check --product and --channel/);
    });

    it('a pending approval exits 5', async () => {
      server.mode = 'pending';
      const result = await sign(['b.bin', '--product', 'demo', '--channel', 'dev']);
      assert.equal(result.code, 5);
      assert.match(result.stderr, /^error: b\.bin: demo\/dev needs 2 approvals\nhint: approvers/m);
    });

    it('a bundle about another digest exits 1 and is not written', async () => {
      server.mode = 'wrong-digest';
      const result = await sign([
        'c.bin',
        '--product',
        'demo',
        '--channel',
        'dev',
        '--out-dir',
        'wrong',
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /not about c\.bin's sha256 digest/);
      assert.deepEqual(await readdir(join(dir, 'wrong')), []);
    });
  });

  describe('bad input', () => {
    it('no identity token exits 3 with a hint', async () => {
      const result = await sign(['a.bin', '--product', 'demo', '--channel', 'dev'], {});
      assert.equal(result.code, 3);
      assert.match(result.stderr, /^error: no identity token found for signing\nhint: /);
      assert.equal(server.requests.length, 0);
    });

    it('a missing file exits 2 before any token is used', async () => {
      const result = await sign(
        ['a.bin', 'missing.tgz', '--product', 'demo', '--channel', 'dev'],
        github(),
      );
      assert.equal(result.code, 2);
      assert.match(result.stderr, /^error: missing\.tgz: no such file\nhint: /);
      assert.equal(server.tokensMinted.length, 0);
      assert.equal(server.requests.length, 0);
    });

    it('missing --product, a bad --kind or --concurrency exit 2', async () => {
      for (const args of [
        ['a.bin', '--channel', 'dev'],
        ['a.bin', '--product', 'Demo', '--channel', 'dev'],
        ['a.bin', '--product', 'demo', '--channel', 'dev', '--kind', 'blob'],
        ['a.bin', '--product', 'demo', '--channel', 'dev', '--concurrency', '0'],
        ['--product', 'demo', '--channel', 'dev'],
      ]) {
        const result = await sign(args);
        assert.equal(result.code, 2, args.join(' '));
      }
      assert.equal(server.requests.length, 0);
    });
  });

  describe('progress', () => {
    it('shows hashing progress with --progress, as lines when stderr is not a terminal', async () => {
      const result = await sign([
        'hello.tgz',
        '--product',
        'demo',
        '--channel',
        'dev',
        '--progress',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /^hashing 3\.0 MiB\/3\.0 MiB \(1\/1 files\)$/m);
    });

    it('rewrites one line on a terminal, and is silent for small work', async () => {
      const tty = await sign(
        ['hello.tgz', '--product', 'demo', '--channel', 'dev', '--progress'],
        undefined,
        {
          stderrIsTty: true,
        },
      );
      assert.match(tty.stderr, /\rhashing .*\(1\/1 files\)/);
      const small = await sign(['a.bin', '--product', 'demo', '--channel', 'dev'], undefined, {
        stderrIsTty: true,
      });
      assert.doesNotMatch(small.stderr, /hashing/);
    });

    it('never appears with --json', async () => {
      const result = await sign([
        'hello.tgz',
        '--product',
        'demo',
        '--channel',
        'dev',
        '--progress',
        '--json',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
    });
  });
});
