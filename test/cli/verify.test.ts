/**
 * `countersign verify`: offline verification against bundles and trusted roots from the test
 * Sigstore (test/support/sigstore-fixtures.ts), with channel CAs shaped like the service's
 * (`O=<org>, OU=<product>, CN=<product>/<channel>`).
 */
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { hash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { verifyCommand } from '../../src/cli/commands/verify.ts';
import { serializeBundle } from '../../src/core/sigstore/bundle.ts';
import { serializeTrustedRoot } from '../../src/core/sigstore/trusted-root.ts';
import {
  buildDsseBundle,
  buildMessageSignatureBundle,
  createTestSigstore,
  FIXTURE_IDENTITY,
  FIXTURE_ISSUER,
  FIXTURE_TIME,
  type TestSigstore,
} from '../support/sigstore-fixtures.ts';
import { createChannelCa, trustedRootWith } from '../support/channel-fixtures.ts';
import { runCommand } from '../support/run-command.ts';
import { requireSharedData, sharedPath } from '../support/shared-data.ts';

describe('countersign verify', () => {
  let dir: string;
  let sigstore: TestSigstore;
  let logIndex: bigint;
  const artifact = new TextEncoder().encode('hello, release 1.0\n');
  const run = (args: readonly string[]) => runCommand(verifyCommand, args, { cwd: dir });

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'countersign-verify-'));
    sigstore = createTestSigstore();
    const devCa = createChannelCa(sigstore, 'demo', 'dev');
    const prodCa = createChannelCa(sigstore, 'payments-api', 'prod');
    await writeFile(
      join(dir, 'trusted_root.json'),
      serializeTrustedRoot(trustedRootWith(sigstore, [devCa, prodCa])),
    );
    await writeFile(
      join(dir, 'prod_root.json'),
      serializeTrustedRoot(trustedRootWith(sigstore, [prodCa])),
    );
    await writeFile(join(dir, 'fixture_root.json'), serializeTrustedRoot(sigstore.trustedRoot));
    await writeFile(join(dir, 'hello.txt'), artifact);
    const bundle = buildMessageSignatureBundle(sigstore, artifact, {
      leaf: sigstore.issueLeaf({ issuer: devCa }),
    });
    logIndex = bundle.verificationMaterial.tlogEntries[0]?.logIndex ?? -1n;
    await writeFile(join(dir, 'hello.txt.sigstore.json'), serializeBundle(bundle));
    await writeFile(join(dir, 'tampered.txt'), 'hello, release 1.1\n');
    await writeFile(join(dir, 'tampered.txt.sigstore.json'), serializeBundle(bundle));

    // An attestation whose statement names the artifact by sha512 only.
    const statement = JSON.stringify({
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'hello.txt', digest: { sha512: hash('sha512', artifact) } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: {},
    });
    const dsse = buildDsseBundle(sigstore, new TextEncoder().encode(statement), {
      leaf: sigstore.issueLeaf({ issuer: devCa }),
    });
    await writeFile(join(dir, 'hello.txt.intoto.sigstore.json'), serializeBundle(dsse));

    // Signed by the fixture's generic intermediate: a CA, but no channel's.
    const generic = buildMessageSignatureBundle(sigstore, artifact, { leaf: sigstore.issueLeaf() });
    await writeFile(join(dir, 'generic.sigstore.json'), serializeBundle(generic));
  });
  after(() => rm(dir, { recursive: true, force: true }));

  describe('a good bundle', () => {
    it('verifies and says who signed, on which channel, when, at which log index', async () => {
      const result = await run([
        'hello.txt',
        '--trusted-root',
        'trusted_root.json',
        '--product',
        'demo',
        '--channel',
        'dev',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(
        result.stdout,
        `verified: hello.txt signed by ${FIXTURE_IDENTITY} (issuer ${FIXTURE_ISSUER}) on demo/dev at ${FIXTURE_TIME.toISOString()} (log), log index ${logIndex.toString()}\n`,
      );
      assert.equal(result.stderr, '');
    });

    it('takes --bundle explicitly and lists every check with --verbose', async () => {
      const result = await run([
        'hello.txt',
        '--bundle',
        'hello.txt.sigstore.json',
        '--trusted-root',
        'trusted_root.json',
        '--identity',
        FIXTURE_IDENTITY,
        '--issuer',
        FIXTURE_ISSUER,
        '--verbose',
      ]);
      assert.equal(result.code, 0, result.stderr);
      for (const check of [
        'artifact',
        'signature',
        'tlog body',
        'SET',
        'checkpoint',
        'inclusion proof',
        'timestamp',
        'certificate chain',
        'identity',
      ]) {
        assert.match(result.stdout, new RegExp(`^  ok ${check}: `, 'm'));
      }
    });

    it('warns on stderr when no signer is required', async () => {
      const result = await run(['hello.txt', '--trusted-root', 'trusted_root.json']);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stderr, /warning: no --product\/--channel or --identity/);
    });

    it('verifies from --digest alone', async () => {
      const result = await run([
        '--digest',
        `sha256:${hash('sha256', artifact)}`,
        '--bundle',
        'hello.txt.sigstore.json',
        '--trusted-root',
        'trusted_root.json',
        '--product',
        'demo',
        '--channel',
        'dev',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(result.stdout, /^verified: sha256:[0-9a-f]{64} signed by /);
    });

    it('prints one JSON document with --json', async () => {
      const result = await run([
        'hello.txt',
        '--trusted-root',
        'trusted_root.json',
        '--product',
        'demo',
        '--channel',
        'dev',
        '--json',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.equal(result.stderr, '');
      const document = JSON.parse(result.stdout) as Record<string, unknown>;
      assert.deepEqual(
        { ...document, checks: undefined },
        {
          verified: true,
          artifact: {
            file: 'hello.txt',
            digest: { algorithm: 'sha256', value: hash('sha256', artifact) },
          },
          subject: 'hello.txt',
          bundle: 'hello.txt.sigstore.json',
          kind: 'artifact',
          signer: {
            identity: FIXTURE_IDENTITY,
            issuer: FIXTURE_ISSUER,
            product: 'demo',
            channel: 'dev',
            certificateAuthority: 'demo/dev',
          },
          signedAt: FIXTURE_TIME.toISOString(),
          timestamps: [
            { source: 'tlog', time: FIXTURE_TIME.toISOString() },
            { source: 'rfc3161', time: FIXTURE_TIME.toISOString() },
          ],
          logIndex: logIndex.toString(),
          tlogEntries: [{ logIndex: logIndex.toString(), baseUrl: 'https://log.example.com' }],
          checks: undefined,
        },
      );
      const checks = document['checks'] as { check: string; detail: string }[];
      assert.ok(checks.some((c) => c.check === 'channel' && /demo\/dev/.test(c.detail)));
    });

    it('verifies an attestation whose statement names the file by sha512', async () => {
      const result = await run([
        'hello.txt',
        '--bundle',
        'hello.txt.intoto.sigstore.json',
        '--trusted-root',
        'trusted_root.json',
        '--product',
        'demo',
        '--channel',
        'dev',
      ]);
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        /^verified: hello\.txt attested \(https:\/\/slsa\.dev\/provenance\/v1\) by /,
      );
    });
  });

  describe('a tampered artifact', () => {
    it('exits 1 naming the artifact check', async () => {
      const result = await run(['tampered.txt', '--trusted-root', 'trusted_root.json']);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /^error: tampered\.txt did not verify \(artifact\): /m);
      assert.match(result.stderr, /hint: the file is not the one that was signed/);
      assert.equal(result.stdout, '');
    });

    it('with --digest of other content, exits 1 too', async () => {
      const result = await run([
        '--digest',
        `sha256:${hash('sha256', 'something else')}`,
        '--bundle',
        'hello.txt.sigstore.json',
        '--trusted-root',
        'trusted_root.json',
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /did not verify \(artifact\)/);
    });

    it('is reported in the --json error document', async () => {
      const result = await run(['tampered.txt', '--trusted-root', 'trusted_root.json', '--json']);
      assert.equal(result.code, 1);
      const { error } = JSON.parse(result.stdout) as {
        error: { code: string; message: string; exitCode: number };
      };
      assert.equal(error.code, 'VERIFICATION_FAILED');
      assert.equal(error.exitCode, 1);
      assert.match(error.message, /\(artifact\)/);
    });
  });

  describe('the wrong signer', () => {
    it('a different --identity exits 1 naming the identity check', async () => {
      const result = await run([
        'hello.txt',
        '--trusted-root',
        'trusted_root.json',
        '--identity',
        'https://ci.example.com/org/other/.github/workflows/release.yml@refs/heads/main',
        '--issuer',
        FIXTURE_ISSUER,
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /did not verify \(identity\): certificate identity /);
    });

    it('a different --issuer exits 1', async () => {
      const result = await run([
        'hello.txt',
        '--trusted-root',
        'trusted_root.json',
        '--issuer',
        'https://token.actions.githubusercontent.com',
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /\(identity\): certificate OIDC issuer/);
    });

    it('--identity-regexp must match the whole identity', async () => {
      const partial = await run([
        'hello.txt',
        '--trusted-root',
        'trusted_root.json',
        '--identity-regexp',
        'https://ci\\.example\\.com/org/',
      ]);
      assert.equal(partial.code, 1);
      const whole = await run([
        'hello.txt',
        '--trusted-root',
        'trusted_root.json',
        '--identity-regexp',
        'https://ci\\.example\\.com/org/app/.*@refs/heads/main',
      ]);
      assert.equal(whole.code, 0, whole.stderr);
    });

    it('another --product/--channel exits 1 naming the channel check', async () => {
      const result = await run([
        'hello.txt',
        '--trusted-root',
        'trusted_root.json',
        '--product',
        'payments-api',
        '--channel',
        'prod',
      ]);
      assert.equal(result.code, 1);
      assert.match(
        result.stderr,
        /did not verify \(channel\): signed by the CA "demo\/dev", not by the CA of payments-api\/prod/,
      );
    });

    it("a trusted root without the signer's CA exits 1 at the certificate chain", async () => {
      const result = await run([
        'hello.txt',
        '--trusted-root',
        'prod_root.json',
        '--product',
        'payments-api',
        '--channel',
        'prod',
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /did not verify \(certificate chain\)/);
    });

    it('a CA that is no channel CA fails --product/--channel', async () => {
      const result = await run([
        'hello.txt',
        '--bundle',
        'generic.sigstore.json',
        '--trusted-root',
        'fixture_root.json',
        '--product',
        'demo',
        '--channel',
        'dev',
      ]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /\(channel\): signed by the CA "Example Signing Intermediate"/);
      const unconstrained = await run([
        'hello.txt',
        '--bundle',
        'generic.sigstore.json',
        '--trusted-root',
        'fixture_root.json',
      ]);
      assert.equal(unconstrained.code, 0, unconstrained.stderr);
      assert.match(unconstrained.stdout, / by CA "Example Signing Intermediate" at /);
    });
  });

  describe('bad input', () => {
    it('a missing file exits 2 with a hint', async () => {
      const result = await run(['nope.txt', '--trusted-root', 'trusted_root.json']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /^error: bundle file nope\.txt\.sigstore\.json: no such file\n/m);
      assert.match(result.stderr, /hint: `countersign sign` writes/);
      const artifactMissing = await run([
        'nope.txt',
        '--bundle',
        'hello.txt.sigstore.json',
        '--trusted-root',
        'trusted_root.json',
      ]);
      assert.equal(artifactMissing.code, 2);
      assert.match(artifactMissing.stderr, /nope\.txt: no such file\nhint: /);
    });

    it('a missing trusted root exits 2 saying how to export one', async () => {
      const result = await run(['hello.txt', '--trusted-root', 'missing_root.json']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /error: trusted root file missing_root\.json: no such file/);
      assert.match(result.stderr, /hint: export it with `countersign trust export --out/);
    });

    it('no --trusted-root exits 2', async () => {
      const result = await run(['hello.txt']);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /--trusted-root is required/);
    });

    it('a file that is not a bundle exits 2 naming the shape', async () => {
      const result = await run([
        'hello.txt',
        '--bundle',
        'hello.txt',
        '--trusted-root',
        'trusted_root.json',
      ]);
      assert.equal(result.code, 2);
      assert.match(result.stderr, /shape: .*hello\.txt is not a Sigstore bundle/);
    });

    it('a malformed --digest, both a file and --digest, or a lone --product exit 2', async () => {
      for (const args of [
        ['--digest', 'sha256:abc', '--bundle', 'b', '--trusted-root', 'trusted_root.json'],
        ['hello.txt', '--digest', `sha256:${'0'.repeat(64)}`, '--trusted-root', 'x'],
        ['hello.txt', '--trusted-root', 'trusted_root.json', '--product', 'demo'],
      ]) {
        const result = await run(args);
        assert.equal(result.code, 2, args.join(' '));
      }
    });
  });

  describe('with --trusted-root sigstore-public-good', () => {
    const caseDir = sharedPath('conformance', 'sigstore', 'bundle-verify', 'happy-path-v0.3');
    if (!requireSharedData(caseDir, 'the sigstore-conformance happy-path-v0.3 case')) return;
    it('verifies a public-good bundle offline', async () => {
      assert.ok(existsSync(join(caseDir, 'bundle.sigstore.json')));
      const result = await runCommand(
        verifyCommand,
        [
          join(caseDir, '..', 'a.txt'),
          '--bundle',
          join(caseDir, 'bundle.sigstore.json'),
          '--trusted-root',
          'sigstore-public-good',
          '--identity',
          'https://github.com/sigstore-conformance/extremely-dangerous-public-oidc-beacon/.github/workflows/extremely-dangerous-oidc-beacon.yml@refs/heads/main',
          '--issuer',
          'https://token.actions.githubusercontent.com',
        ],
        { cwd: dir },
      );
      assert.equal(result.code, 0, result.stderr);
      assert.match(
        result.stdout,
        /^verified: .*a\.txt signed by https:\/\/github\.com\/sigstore-conformance\//,
      );
    });
  });
});
