/**
 * Signing end to end (issue "Sign and verify" acceptance): the demo service signs artifacts and
 * attestations for a workload token from its development issuer; every bundle verifies with our
 * offline verifier and with unmodified sigstore-js 3.x and 4.x against the service's own trusted
 * root, and every RFC 3161 timestamp passes `openssl ts -verify`.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import * as sigstoreV4 from '@sigstore/verify';
import * as sigstoreV3 from 'sigstore-verify-v3';
import { composeService, type ComposedService } from '../../src/compose.ts';
import { loadConfig } from '../../src/config/load-config.ts';
import { parseBundle } from '../../src/core/sigstore/bundle.ts';
import { parseTrustedRoot } from '../../src/core/sigstore/trusted-root.ts';
import { verifyBundle } from '../../src/core/verify/verify-bundle.ts';
import { runInProcess } from '../cli/cli-harness.ts';

let dataDir: string;
let service: ComposedService;

before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'countersign-sign-e2e-'));
  service = await composeService(
    loadConfig({
      env: {},
      argv: ['--demo', '--port', '0', '--data-dir', dataDir, '--log-level', 'silent'],
      cwd: dataDir,
    }),
    { migrate: true },
  );
});
after(async () => {
  await service.close();
  await rm(dataDir, { recursive: true, force: true });
});

async function devToken(...args: string[]): Promise<string> {
  const result = await runInProcess(['dev', 'token', '--data-dir', dataDir, ...args]);
  assert.equal(result.code, 0, result.stderr);
  return result.stdout.trim();
}

async function signRequest(token: string, payload: Record<string, unknown>) {
  return service.server.inject({
    method: 'POST',
    url: '/v1/sign',
    headers: { authorization: `Bearer ${token}` },
    payload,
  });
}

async function trustedRootJson(): Promise<unknown> {
  const response = await service.server.inject({
    method: 'GET',
    url: '/v1/trust/trusted-root.json',
  });
  assert.equal(response.statusCode, 200, response.body);
  return JSON.parse(response.body);
}

/** Verifies with an unmodified sigstore-js (`ctlogThreshold: 0`: our CA embeds no SCTs, interop G3). */
function verifyWithSigstoreJs(
  lib: typeof sigstoreV4 | typeof sigstoreV3,
  bundleJson: unknown,
  rootJson: unknown,
  artifact: Buffer | undefined,
): void {
  const trustMaterial = lib.toTrustMaterial(TrustedRoot.fromJSON(rootJson));
  const verifier = new lib.Verifier(trustMaterial as never, {
    ctlogThreshold: 0,
    tlogThreshold: 1,
  });
  const entity = lib.toSignedEntity(bundleFromJSON(bundleJson), artifact);
  verifier.verify(entity as never);
}

interface BundleTimestamps {
  readonly verificationMaterial: {
    readonly timestampVerificationData: {
      readonly rfc3161Timestamps: readonly { readonly signedTimestamp: string }[];
    };
  };
}
interface RootTsaChain {
  readonly timestampAuthorities: readonly {
    readonly certChain: { readonly certificates: readonly { readonly rawBytes: string }[] };
  }[];
}

/** `openssl ts -verify` on the bundle's timestamp over `signature`, chained to the exported root. */
async function verifyTimestampWithOpenssl(
  bundle: BundleTimestamps,
  signature: Buffer,
  root: RootTsaChain,
): Promise<string> {
  const work = await mkdtemp(join(tmpdir(), 'countersign-tsr-'));
  try {
    const tsr =
      bundle.verificationMaterial.timestampVerificationData.rfc3161Timestamps[0]?.signedTimestamp ??
      '';
    const [tsa, rootCa] = root.timestampAuthorities[0]?.certChain.certificates ?? [];
    const pem = (b64: string | undefined) =>
      `-----BEGIN CERTIFICATE-----\n${(b64 ?? '').match(/.{1,64}/g)?.join('\n') ?? ''}\n-----END CERTIFICATE-----\n`;
    await writeFile(join(work, 'resp.tsr'), Buffer.from(tsr, 'base64'));
    await writeFile(join(work, 'sig.bin'), signature);
    await writeFile(join(work, 'tsa.pem'), pem(tsa?.rawBytes));
    await writeFile(join(work, 'root.pem'), pem(rootCa?.rawBytes));
    const args = [
      'ts',
      '-verify',
      '-in',
      'resp.tsr',
      '-data',
      'sig.bin',
      '-CAfile',
      'root.pem',
      '-untrusted',
      'tsa.pem',
    ];
    return execFileSync('openssl', args, { cwd: work, encoding: 'utf8' });
  } finally {
    await rm(work, { recursive: true, force: true });
  }
}

describe('POST /v1/sign on the demo workspace', () => {
  it('signs an artifact: our verifier, sigstore-js 3.x and 4.x and openssl all accept the result', async () => {
    const artifact = Buffer.from('hello from the demo repository\n');
    const digest = createHash('sha256').update(artifact).digest('hex');
    const response = await signRequest(await devToken(), {
      product: 'demo',
      channel: 'dev',
      subject: { name: 'hello.txt', digest: { algorithm: 'sha256', value: digest } },
      kind: 'artifact',
    });
    assert.equal(response.statusCode, 201, response.body);
    const { bundle, logIndex } = JSON.parse(response.body) as {
      bundle: { messageSignature: { signature: string } };
      logIndex: string;
    };
    const rootJson = await trustedRootJson();

    const ours = verifyBundle({
      bundle: parseBundle(bundle),
      artifact: { bytes: artifact },
      trustedRoot: parseTrustedRoot(rootJson),
    });
    assert.ok(ours.checks.length > 5);
    verifyWithSigstoreJs(sigstoreV4, bundle, rootJson, artifact);
    verifyWithSigstoreJs(sigstoreV3, bundle, rootJson, artifact);
    assert.throws(() =>
      verifyWithSigstoreJs(sigstoreV4, bundle, rootJson, Buffer.from('another artifact')),
    );
    assert.throws(
      () =>
        verifyBundle({
          bundle: parseBundle(bundle),
          artifact: { bytes: Buffer.from('x') },
          trustedRoot: parseTrustedRoot(rootJson),
        }),
      {
        code: 'VERIFICATION_FAILED',
      },
    );

    // The RFC 3161 token, checked by an independent implementation.
    const message = bundle.messageSignature;
    const out = await verifyTimestampWithOpenssl(
      bundle as never,
      Buffer.from(message.signature, 'base64'),
      rootJson as never,
    );
    assert.match(out, /Verification: OK/);

    // The signing is recorded with its bundle.
    const records = await service.storage.signings.list({ product: 'demo', limit: 10 });
    assert.equal(records[0]?.logIndex.toString(), logIndex);
  });

  it('signs an in-toto attestation as DSSE that sigstore-js 3.x and 4.x verify', async () => {
    const digest = createHash('sha256').update('the build output').digest('hex');
    const statement = {
      _type: 'https://in-toto.io/Statement/v1',
      subject: [{ name: 'app.tgz', digest: { sha256: digest } }],
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: { buildDefinition: { buildType: 'https://example.com/build/v1' } },
    };
    const response = await signRequest(await devToken(), {
      product: 'demo',
      channel: 'dev',
      subject: { name: 'app.tgz', digest: { algorithm: 'sha256', value: digest } },
      kind: 'attestation',
      statement,
    });
    assert.equal(response.statusCode, 201, response.body);
    const { bundle } = JSON.parse(response.body) as { bundle: Record<string, never> };
    const rootJson = await trustedRootJson();
    verifyWithSigstoreJs(sigstoreV4, bundle, rootJson, undefined);
    verifyWithSigstoreJs(sigstoreV3, bundle, rootJson, undefined);
    const ours = verifyBundle({
      bundle: parseBundle(bundle),
      artifact: {
        digest: { algorithm: 'sha256', value: new Uint8Array(Buffer.from(digest, 'hex')) },
      },
      trustedRoot: parseTrustedRoot(rootJson),
    });
    assert.ok(ours.checks.length > 5);
  });

  it('refuses a statement that does not name the digest', async () => {
    const response = await signRequest(await devToken(), {
      product: 'demo',
      channel: 'dev',
      subject: { name: 'a', digest: { algorithm: 'sha256', value: 'a'.repeat(64) } },
      kind: 'attestation',
      statement: {
        _type: 'https://in-toto.io/Statement/v1',
        subject: [{ name: 'b', digest: { sha256: 'b'.repeat(64) } }],
        predicateType: 'x',
      },
    });
    assert.equal(response.statusCode, 400, response.body);
  });

  it('refuses a statement that would sign more than the request subject: extra subjects, digests or another name', async () => {
    const digest = createHash('sha256').update('benign').digest('hex');
    const hidden = createHash('sha256').update('hidden').digest('hex');
    const statementWith = (subject: readonly unknown[]) => ({
      _type: 'https://in-toto.io/Statement/v1',
      subject,
      predicateType: 'https://slsa.dev/provenance/v1',
      predicate: {},
    });
    const cases = [
      // A second artifact riding along unseen: never decided, approved or recorded.
      [
        statementWith([
          { name: 'benign.bin', digest: { sha256: digest } },
          { name: 'evil.bin', digest: { sha256: hidden } },
        ]),
        /names 2 subjects/,
      ],
      // Another digest of the same subject: a sha512 verifier would accept another artifact.
      [
        statementWith([
          { name: 'benign.bin', digest: { sha256: digest, sha512: 'e'.repeat(128) } },
        ]),
        /subject digest must be exactly/,
      ],
      [
        statementWith([{ name: 'other.bin', digest: { sha256: digest } }]),
        /subject name must be "benign.bin"/,
      ],
    ] as const;
    const before = (await service.storage.signings.list({ limit: 1000 })).length;
    for (const [statement, message] of cases) {
      const response = await signRequest(await devToken(), {
        product: 'demo',
        channel: 'dev',
        subject: { name: 'benign.bin', digest: { algorithm: 'sha256', value: digest } },
        kind: 'attestation',
        statement,
      });
      assert.equal(response.statusCode, 400, response.body);
      const problem = JSON.parse(response.body) as { detail: string; hint?: string };
      assert.match(problem.detail, message);
      assert.match(problem.hint ?? '', /one statement per artifact/);
    }
    assert.equal((await service.storage.signings.list({ limit: 1000 })).length, before);
  });

  it('refuses subject names that would not read as they are (bidi overrides, escapes)', async () => {
    for (const name of ['app-\u202Eexe.tar.gz', 'app\u001b[2K.tgz', 'a\u200Bb.tgz']) {
      const response = await signRequest(await devToken(), {
        product: 'demo',
        channel: 'dev',
        subject: { name, digest: { algorithm: 'sha256', value: 'c'.repeat(64) } },
        kind: 'artifact',
      });
      assert.equal(response.statusCode, 400, response.body);
      assert.match(response.body, /\/subject\/name/);
    }
  });

  it('refuses a bad or spent token before reading the body', async () => {
    // The body is not even JSON: a 401 (not a 400) shows the token was checked first.
    const notJson = (authorization: string | undefined) =>
      service.server.inject({
        method: 'POST',
        url: '/v1/sign',
        headers: {
          'content-type': 'application/json',
          ...(authorization === undefined ? {} : { authorization }),
        },
        payload: '{"predicate": [[[[',
      });
    assert.equal((await notJson(undefined)).statusCode, 401);
    assert.equal((await notJson('Bearer a.b.c')).statusCode, 401);
    const token = await devToken();
    const signed = await signRequest(token, {
      product: 'demo',
      channel: 'dev',
      subject: { name: 'spent.bin', digest: { algorithm: 'sha256', value: 'e'.repeat(64) } },
      kind: 'artifact',
    });
    assert.equal(signed.statusCode, 201, signed.body);
    const replayed = await notJson(`Bearer ${token}`);
    assert.equal(replayed.statusCode, 401, replayed.body);
    assert.match(replayed.body, /already used/);
    assert.equal((await notJson(`Bearer ${await devToken()}`)).statusCode, 400);
  });

  it('denies with 403 and the reasons where policy says no, and signs nothing', async () => {
    const before = await service.storage.signings.list({ limit: 1000 });
    const response = await signRequest(await devToken(), {
      product: 'demo',
      channel: 'prod',
      subject: { name: 'x', digest: { algorithm: 'sha256', value: 'c'.repeat(64) } },
      kind: 'artifact',
    });
    assert.equal(response.statusCode, 403, response.body);
    assert.equal((JSON.parse(response.body) as { code: string }).code, 'POLICY_DENIED');
    assert.equal((await service.storage.signings.list({ limit: 1000 })).length, before.length);
  });

  it('refuses a replayed token: one token, one signature', async () => {
    const token = await devToken();
    const payload = {
      product: 'demo',
      channel: 'dev',
      subject: { name: 'r', digest: { algorithm: 'sha256', value: 'd'.repeat(64) } },
      kind: 'artifact',
    };
    assert.equal((await signRequest(token, payload)).statusCode, 201);
    const replay = await signRequest(token, payload);
    assert.equal(replay.statusCode, 401, replay.body);
  });

  it('refuses without a token with 401', async () => {
    const response = await service.server.inject({
      method: 'POST',
      url: '/v1/sign',
      payload: {
        product: 'demo',
        channel: 'dev',
        subject: { name: 'r', digest: { algorithm: 'sha256', value: 'd'.repeat(64) } },
        kind: 'artifact',
      },
    });
    assert.equal(response.statusCode, 401);
  });
});
