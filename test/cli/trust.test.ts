/**
 * `countersign trust export` against a loopback server that serves
 * `GET /v1/trust/trusted-root.json[?product=&channel=]`.
 */
import { after, afterEach, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { trustCommand } from '../../src/cli/commands/trust.ts';
import { verifyCommand } from '../../src/cli/commands/verify.ts';
import { serializeBundle } from '../../src/core/sigstore/bundle.ts';
import { encodeTrustedRoot, type TrustedRoot } from '../../src/core/sigstore/trusted-root.ts';
import { createChannelCa, trustedRootWith } from '../support/channel-fixtures.ts';
import { runCommand } from '../support/run-command.ts';
import {
  buildMessageSignatureBundle,
  createTestSigstore,
  type TestCertificate,
  type TestSigstore,
} from '../support/sigstore-fixtures.ts';

describe('countersign trust export', () => {
  let dir: string;
  let server: Server;
  let url: string;
  let sigstore: TestSigstore;
  let devCa: TestCertificate;
  let cas: Record<string, TestCertificate>;
  const queries: string[] = [];
  let answer: ((query: URLSearchParams) => { status: number; body: unknown }) | undefined;

  const rootFor = (query: URLSearchParams): TrustedRoot => {
    const key = `${query.get('product') ?? ''}/${query.get('channel') ?? ''}`;
    const ca = cas[key];
    return trustedRootWith(
      sigstore,
      key === '/' ? Object.values(cas) : ca === undefined ? [] : [ca],
    );
  };

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'countersign-trust-'));
    sigstore = createTestSigstore();
    devCa = createChannelCa(sigstore, 'demo', 'dev');
    cas = {
      'demo/dev': devCa,
      'payments-api/prod': createChannelCa(sigstore, 'payments-api', 'prod'),
    };
    server = createServer((request, response) => {
      const target = new URL(request.url ?? '/', 'http://x');
      if (target.pathname !== '/v1/trust/trusted-root.json') {
        response.writeHead(404).end();
        return;
      }
      queries.push(target.search);
      const { status, body } = answer?.(target.searchParams) ?? {
        status: 200,
        body: encodeTrustedRoot(rootFor(target.searchParams)),
      };
      response.writeHead(status, { 'content-type': 'application/json' });
      response.end(JSON.stringify(body));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    url = `http://127.0.0.1:${String((server.address() as AddressInfo).port)}`;
  });
  after(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await rm(dir, { recursive: true, force: true });
  });
  afterEach(() => {
    queries.length = 0;
    answer = undefined;
  });
  const run = (args: readonly string[]) =>
    runCommand(trustCommand, ['export', ...args], { cwd: dir, env: { COUNTERSIGN_SERVER: url } });

  it('prints the whole trusted root, pretty, on stdout', async () => {
    const result = await run([]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(queries[0], '');
    const root = JSON.parse(result.stdout) as {
      mediaType: string;
      certificateAuthorities: unknown[];
    };
    assert.equal(root.mediaType, 'application/vnd.dev.sigstore.trustedroot+json;version=0.1');
    assert.equal(root.certificateAuthorities.length, 2);
    assert.ok(result.stdout.split('\n').length > 3);
  });

  it('writes one compact line ending in a newline with --jsonl --out (for gh)', async () => {
    const result = await run([
      '--product',
      'demo',
      '--channel',
      'dev',
      '--jsonl',
      '--out',
      'root.jsonl',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.equal(queries[0], '?product=demo&channel=dev');
    assert.equal(result.stdout, '');
    assert.match(
      result.stderr,
      /wrote the trusted root of .* for demo\/dev to root\.jsonl: 1 certificate authority, 1 log, 1 timestamp authority/,
    );
    const text = await readFile(join(dir, 'root.jsonl'), 'utf8');
    assert.equal(text.indexOf('\n'), text.length - 1);
    assert.equal(
      (JSON.parse(text) as { certificateAuthorities: unknown[] }).certificateAuthorities.length,
      1,
    );

    // The exported file is what `countersign verify` reads.
    const artifact = new TextEncoder().encode('release');
    await writeFile(join(dir, 'release.txt'), artifact);
    const bundle = buildMessageSignatureBundle(sigstore, artifact, {
      leaf: sigstore.issueLeaf({ issuer: devCa }),
    });
    await writeFile(join(dir, 'release.txt.sigstore.json'), serializeBundle(bundle));
    const verified = await runCommand(
      verifyCommand,
      ['release.txt', '--trusted-root', 'root.jsonl', '--product', 'demo', '--channel', 'dev'],
      { cwd: dir },
    );
    assert.equal(verified.code, 0, verified.stderr);
  });

  it('prints a summary with --json --out', async () => {
    const result = await run(['--out', 'root.json', '--json']);
    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(JSON.parse(result.stdout), {
      file: 'root.json',
      certificateAuthorities: 2,
      tlogs: 1,
      timestampAuthorities: 1,
    });
  });

  it('exits 4 when the channel has no CA', async () => {
    answer = () => ({ status: 404, body: { code: 'NOT_FOUND', detail: 'no such channel' } });
    const result = await run(['--product', 'demo', '--channel', 'nope']);
    assert.equal(result.code, 4);
    assert.match(result.stderr, /^error: the server has no CA for demo\/nope\nhint: /);
  });

  it('refuses an answer that is not a trusted root', async () => {
    answer = () => ({ status: 200, body: { mediaType: 'something/else' } });
    const result = await run(['--out', 'bad.json']);
    assert.equal(result.code, 70);
    assert.match(result.stderr, /answered with an invalid trusted root/);
    await assert.rejects(readFile(join(dir, 'bad.json')));
  });

  it('exits 2 on a lone --product', async () => {
    const result = await run(['--product', 'demo']);
    assert.equal(result.code, 2);
    assert.equal(queries.length, 0);
  });
});
