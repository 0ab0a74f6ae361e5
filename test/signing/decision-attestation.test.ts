/**
 * The decision attestation end to end (issue #6): the demo service signs an artifact, then attests
 * its decision with two approvals (an ECDSA approver key and a passkey) through the real PKI, log
 * and TSA. Unmodified sigstore-js 3.x and 4.x accept the decision bundle with the service's
 * trusted root and identity; `countersign verify --require-approvals` accepts it, counts the
 * approvers, and refuses a decision bundle for another signature or signed by a workload.
 */
import assert from 'node:assert/strict';
import { createHash, generateKeyPairSync, sign } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { bundleFromJSON } from '@sigstore/bundle';
import { TrustedRoot } from '@sigstore/protobuf-specs';
import * as sigstoreV4 from '@sigstore/verify';
import * as sigstoreV3 from 'sigstore-verify-v3';
import { createEphemeralKeyFactory } from '../../src/adapters/keys/ephemeral-key.ts';
import {
  attestSigningDecision,
  type AttestSigningDecisionDeps,
  type AttestSigningDecisionInput,
} from '../../src/app/decision-attestation.ts';
import { ensurePki, openChannelCa, openTimestampAuthorityLazily } from '../../src/app/pki.ts';
import { issueBundle, signArtifactDigest, signDsse } from '../../src/app/issue-bundle.ts';
import { verifyArtifact } from '../../src/app/verify-artifact.ts';
import { verifyDecision } from '../../src/app/verify-decision.ts';
import { verifyCommand } from '../../src/cli/commands/verify.ts';
import { createKeyBackend } from '../../src/adapters/keys/create-key-backend.ts';
import { ensureKekFile } from '../../src/adapters/keys/kek-file.ts';
import { openStorage } from '../../src/adapters/storage/open-storage.ts';
import { cryptoRandom } from '../../src/adapters/system/crypto-random.ts';
import { systemClock } from '../../src/adapters/system/system-clock.ts';
import { defaultLogOrigin } from '../../src/app/log-keys.ts';
import { openTransparencyLog, type TransparencyLog } from '../../src/app/open-transparency-log.ts';
import { buildTrustedRoot } from '../../src/app/trusted-root.ts';
import type { KeyBackend, Storage } from '../../src/core/ports.ts';
import { encodeApprovalStatement } from '../../src/core/approvals/approval-statement.ts';
import {
  createSigningDecisionApprover,
  createSigningDecisionStatement,
  SIGNING_DECISION_PREDICATE_TYPE,
  toSigningDecisionRequester,
  type SigningDecisionApprover,
} from '../../src/core/attestation/signing-decision.ts';
import type { Workload } from '../../src/core/governance/workload.ts';
import { parseBundle, serializeBundle, type Bundle } from '../../src/core/sigstore/bundle.ts';
import { createLeafCertificate } from '../../src/core/x509/create-leaf-certificate.ts';
import {
  serializeTrustedRoot,
  type TrustedRoot as OurTrustedRoot,
} from '../../src/core/sigstore/trusted-root.ts';
import { runCommand } from '../support/run-command.ts';

const PUBLIC_URL = 'https://countersign.example.com';

let dataDir: string;
let storage: Storage;
let keys: KeyBackend;
let log: TransparencyLog;
let deps: AttestSigningDecisionDeps;
let rootJson: unknown;
let trustedRoot: OurTrustedRoot;

// The real components the service composes (SQLite storage, keystore backend, the log with its
// sequencer, PKI and TSA), assembled here rather than through `composeService`, so this suite
// exercises the attestation steps on their own.
before(async () => {
  dataDir = await mkdtemp(join(tmpdir(), 'countersign-decision-'));
  storage = await openStorage({ engine: 'sqlite', dataDir }, { migrate: true });
  const kekFile = join(dataDir, 'kek');
  ensureKekFile(kekFile);
  keys = await createKeyBackend({ kind: 'keystore', dir: join(dataDir, 'keys'), kekFile });
  const logKey = await keys.createKey('log', 'log');
  log = await openTransparencyLog({
    storage,
    clock: systemClock,
    logKey,
    origin: defaultLogOrigin(new URL(PUBLIC_URL).hostname, logKey.publicKeySpki),
  });
  const pki = { serviceKeys: keys, store: storage.pki, clock: systemClock, random: cryptoRandom };
  await ensurePki(pki, {
    organization: 'Countersign Test',
    channels: [{ product: 'demo', channel: 'dev' }],
  });
  deps = {
    publicUrl: `${PUBLIC_URL}/`,
    channelCa: (product, channel) => openChannelCa(pki, product, channel),
    ephemeralKeys: createEphemeralKeyFactory(),
    log,
    logKey,
    logId: log.reader.info.logId,
    timestamps: openTimestampAuthorityLazily(pki),
    clock: systemClock,
    random: cryptoRandom,
  };
  trustedRoot = await buildTrustedRoot({
    pki: storage.pki,
    log: storage.log,
    logInfo: log.reader.info,
    publicUrl: PUBLIC_URL,
  });
  rootJson = JSON.parse(serializeTrustedRoot(trustedRoot));
});
after(async () => {
  await log.close();
  await keys.close();
  await storage.close();
  await rm(dataDir, { recursive: true, force: true });
});

const RP_ID = 'countersign.example.com';
const aliceKey = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const bobPasskey = generateKeyPairSync('ec', { namedCurve: 'P-256' });

/** The CI workload the artifact signatures name. */
const WORKLOAD: Workload = {
  issuer: 'https://ci.example.com',
  issuerType: 'generic',
  subject: 'acme/hello:main',
  identityUri: 'https://ci.example.com/acme/hello/release@refs/heads/main',
  ref: 'refs/heads/main',
};
const POLICY_HASH = `sha256:${'5'.repeat(64)}`;

/** What the sign flow hands over: the signature's bundle and log index. */
interface Signed {
  readonly id: string;
  readonly bundle: Bundle;
  readonly logIndex: bigint;
}

/**
 * Signs on demo/dev as the service's sign flow does once a decision allowed it (ephemeral key,
 * leaf from the channel CA, log entry, then `issueBundle`), without the decision itself: this
 * suite is about what comes after.
 */
async function signDirectly(
  statementOrArtifact: { artifact: Buffer } | { statement: Uint8Array },
): Promise<Signed> {
  const ca = await deps.channelCa('demo', 'dev');
  const key = deps.ephemeralKeys.create();
  const certificate = await createLeafCertificate({
    issuerKey: ca.key,
    issuerCertificate: ca.certificate,
    subjectPublicKeySpki: key.publicKeySpki,
    workload: WORKLOAD,
    notBefore: deps.clock.now(),
    random: deps.random,
  });
  const signed =
    'statement' in statementOrArtifact
      ? signDsse(key, statementOrArtifact.statement, certificate)
      : signArtifactDigest(
          key,
          {
            algorithm: 'sha256',
            value: new Uint8Array(
              createHash('sha256').update(statementOrArtifact.artifact).digest(),
            ),
          },
          certificate,
        );
  const [entry] = await deps.log.append([
    { kind: `${signed.kindVersion.kind}/${signed.kindVersion.version}`, body: signed.body },
  ]);
  assert.ok(entry);
  return {
    id: `signing-${entry.index.toString()}`,
    bundle: await issueBundle({ ...signed, entry }, deps),
    logIndex: entry.index,
  };
}

async function signArtifact(artifact: Buffer): Promise<Signed> {
  return signDirectly({ artifact });
}

/** Alice (approver key) and Bob (passkey) approve request `req-1` for `digest`. */
function approvals(digest: string): SigningDecisionApprover[] {
  const workload = WORKLOAD;
  const policyHash = POLICY_HASH;
  const bytes = encodeApprovalStatement({
    apiVersion: 'countersign.dev/approval/v1',
    requestId: 'req-1',
    product: 'demo',
    channel: 'dev',
    subjects: [{ name: 'hello.txt', digest: { algorithm: 'sha256', value: digest } }],
    kind: 'artifact',
    requester: {
      issuer: workload.issuer,
      subject: workload.subject,
      identityUri: workload.identityUri,
    },
    policyHash,
    issuedAt: '2026-11-23T15:00:00Z',
    expiresAt: '2099-11-23T16:00:00Z',
    decision: 'approve',
    comment: 'ship it',
  });
  const alice = createSigningDecisionApprover({
    userId: 'alice',
    group: 'release-managers',
    credential: {
      id: 'alice-key',
      kind: 'ecdsa-p256',
      algorithm: -7,
      publicKeySpki: aliceKey.publicKey.export({ format: 'der', type: 'spki' }),
    },
    statementBytes: bytes,
    signature: sign('sha256', bytes, { key: aliceKey.privateKey, dsaEncoding: 'der' }),
  });
  // Bob's passkey: the assertion built as an authenticator and a browser would.
  const clientDataJSON = new TextEncoder().encode(
    JSON.stringify({
      type: 'webauthn.get',
      challenge: createHash('sha256').update(bytes).digest('base64url'),
      origin: `https://${RP_ID}`,
      crossOrigin: false,
    }),
  );
  const authenticatorData = new Uint8Array(37);
  authenticatorData.set(createHash('sha256').update(RP_ID).digest(), 0);
  authenticatorData[32] = 0x05; // UP | UV
  const assertion = Buffer.concat([
    authenticatorData,
    createHash('sha256').update(clientDataJSON).digest(),
  ]);
  const bob = createSigningDecisionApprover({
    userId: 'bob',
    group: 'release-managers',
    credential: {
      id: 'bob-passkey',
      kind: 'webauthn',
      algorithm: -7,
      publicKeySpki: bobPasskey.publicKey.export({ format: 'der', type: 'spki' }),
      rpId: RP_ID,
    },
    statementBytes: bytes,
    signature: sign('sha256', assertion, { key: bobPasskey.privateKey, dsaEncoding: 'der' }),
    webauthn: { authenticatorData, clientDataJSON },
  });
  return [alice, bob];
}

/** The attestation input the lead's sign flow builds, for one signing. */
function decisionInput(signed: Signed, digest: string): AttestSigningDecisionInput {
  return {
    subject: { name: 'hello.txt', digest: { algorithm: 'sha256', value: digest } },
    predicate: {
      signing: {
        id: signed.id,
        product: 'demo',
        channel: 'dev',
        kind: 'artifact',
        logIndex: signed.logIndex.toString(),
      },
      requester: toSigningDecisionRequester(WORKLOAD),
      decision: {
        policyHash: POLICY_HASH,
        governanceVersion: 1,
        decisionLogIndex: (signed.logIndex > 0n ? signed.logIndex - 1n : 0n).toString(),
        decidedAt: '2026-11-23T15:30:00.000Z',
        determiningPolicies: ['policy0'],
        reasons: [],
      },
      evidence: [],
      approvals: {
        requestId: 'req-1',
        required: 2,
        group: 'release-managers',
        approvers: approvals(digest),
      },
      exception: null,
      changeWindow: { open: true, evaluatedAt: '2026-11-23T15:30:00.000Z' },
    },
  };
}

function verifyWithSigstoreJs(
  lib: typeof sigstoreV4 | typeof sigstoreV3,
  bundle: Bundle,
  policy: { subjectAlternativeName: string; extensions: { issuer: string } },
): void {
  const trustMaterial = lib.toTrustMaterial(TrustedRoot.fromJSON(rootJson));
  const verifier = new lib.Verifier(trustMaterial as never, {
    ctlogThreshold: 0,
    tlogThreshold: 1,
  });
  const entity = lib.toSignedEntity(bundleFromJSON(JSON.parse(serializeBundle(bundle))));
  verifier.verify(entity as never, policy);
}

describe('attestSigningDecision on the demo service', () => {
  const artifact = Buffer.from('hello from the decision attestation test\n');
  const digest = createHash('sha256').update(artifact).digest('hex');
  let signed: Signed;
  let decisionBundle: Bundle;
  let dir: string;
  const run = (args: readonly string[]) => runCommand(verifyCommand, args, { cwd: dir });

  before(async () => {
    signed = await signArtifact(artifact);
    decisionBundle = await attestSigningDecision(decisionInput(signed, digest), deps);
    dir = await mkdtemp(join(tmpdir(), 'countersign-decision-verify-'));
    await writeFile(join(dir, 'trusted_root.json'), JSON.stringify(rootJson));
    await writeFile(join(dir, 'hello.txt'), artifact);
    await writeFile(join(dir, 'hello.txt.sigstore.json'), serializeBundle(signed.bundle));
    await writeFile(join(dir, 'hello.txt.decision.sigstore.json'), serializeBundle(decisionBundle));
    await writeFile(join(dir, 'alone.txt'), artifact);
    await writeFile(join(dir, 'alone.txt.sigstore.json'), serializeBundle(signed.bundle));
  });
  after(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('returns a DSSE bundle that sigstore-js 3.x and 4.x verify as the service identity', () => {
    const service = PUBLIC_URL;
    const policy = {
      subjectAlternativeName: `${service}/attestation/signing-decision`,
      extensions: { issuer: service },
    };
    verifyWithSigstoreJs(sigstoreV4, decisionBundle, policy);
    verifyWithSigstoreJs(sigstoreV3, decisionBundle, policy);
    assert.throws(() =>
      verifyWithSigstoreJs(sigstoreV4, decisionBundle, {
        ...policy,
        subjectAlternativeName: `${service}/other`,
      }),
    );
    assert.equal(decisionBundle.content.type, 'dsseEnvelope');
    const entry = decisionBundle.verificationMaterial.tlogEntries[0];
    assert.equal(entry?.kindVersion.kind, 'dsse');
    assert.ok((entry?.logIndex ?? 0n) > signed.logIndex);
    assert.equal(decisionBundle.verificationMaterial.rfc3161Timestamps.length, 1);
    if (decisionBundle.content.type === 'dsseEnvelope') {
      const statement = JSON.parse(
        new TextDecoder().decode(decisionBundle.content.dsseEnvelope.payload),
      ) as { predicateType: string; subject: unknown };
      assert.equal(statement.predicateType, SIGNING_DECISION_PREDICATE_TYPE);
      assert.deepEqual(statement.subject, [{ name: 'hello.txt', digest: { sha256: digest } }]);
    }
  });

  it('verifies with the artifact bundle and counts both approvers', () => {
    const artifactVerification = verifyArtifact({
      bundle: signed.bundle,
      artifact: {
        digest: { algorithm: 'sha256', value: new Uint8Array(Buffer.from(digest, 'hex')) },
      },
      trustedRoot,
    });
    const { summary } = verifyDecision({
      bundle: parseBundle(JSON.parse(serializeBundle(decisionBundle))),
      trustedRoot,
      artifact: artifactVerification,
      requireApprovals: 2,
    });
    assert.deepEqual(summary.approvers, [
      { userId: 'alice', group: 'release-managers' },
      { userId: 'bob', group: 'release-managers' },
    ]);
    assert.equal(summary.policyHash, POLICY_HASH);
    assert.equal(summary.requester.identityUri, WORKLOAD.identityUri);
  });

  it('countersign verify --require-approvals 2 prints who asked and who approved', async () => {
    const result = await run([
      'hello.txt',
      '--trusted-root',
      'trusted_root.json',
      '--product',
      'demo',
      '--channel',
      'dev',
      '--require-approvals',
      '2',
    ]);
    assert.equal(result.code, 0, result.stderr);
    assert.match(result.stdout, /^verified: hello\.txt signed by /m);
    assert.match(result.stdout, /^decision: requested by .* on demo\/dev$/m);
    assert.match(
      result.stdout,
      new RegExp(`policy ${POLICY_HASH.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`),
    );
    assert.match(
      result.stdout,
      /approvals: 2 verified .*alice \(release-managers\), bob \(release-managers\)/,
    );
    assert.match(result.stdout, /exception: none/);
    assert.match(result.stdout, /change window: open at /);
  });

  it('countersign verify --json carries the decision summary', async () => {
    const result = await run(['hello.txt', '--trusted-root', 'trusted_root.json', '--json']);
    assert.equal(result.code, 0, result.stderr);
    const document = JSON.parse(result.stdout) as {
      decision: {
        approvers: unknown[];
        policyHash: string;
        product: string;
        signer: { identity: string };
      };
    };
    assert.equal(document.decision.approvers.length, 2);
    assert.equal(document.decision.product, 'demo');
    assert.match(document.decision.signer.identity, /\/attestation\/signing-decision$/);
  });

  it('exits 1 when more approvals are required than the attestation holds', async () => {
    const result = await run([
      'hello.txt',
      '--trusted-root',
      'trusted_root.json',
      '--require-approvals',
      '3',
    ]);
    assert.equal(result.code, 1, result.stdout);
    assert.match(result.stderr, /needs 3 approvals, the attestation holds 2/);
  });

  it('exits 2 when approvals are required and there is no decision bundle', async () => {
    const result = await run([
      'alone.txt',
      '--trusted-root',
      'trusted_root.json',
      '--require-approvals',
      '1',
    ]);
    assert.equal(result.code, 2, result.stdout);
    assert.match(result.stderr, /no alone\.txt\.decision\.sigstore\.json/);
    const missing = await run([
      'alone.txt',
      '--trusted-root',
      'trusted_root.json',
      '--require-approvals',
      '1',
      '--decision-bundle',
      'nope.json',
    ]);
    assert.equal(missing.code, 2, missing.stdout);
    assert.match(missing.stderr, /decision bundle file nope\.json: no such file/);
  });

  it('refuses the decision attestation of another signing of the same file', async () => {
    const again = await signArtifact(artifact);
    await writeFile(join(dir, 'again.txt'), artifact);
    await writeFile(join(dir, 'again.txt.sigstore.json'), serializeBundle(again.bundle));
    await writeFile(join(dir, 'again.txt.decision.sigstore.json'), serializeBundle(decisionBundle));
    const result = await run([
      'again.txt',
      '--trusted-root',
      'trusted_root.json',
      '--require-approvals',
      '2',
    ]);
    assert.equal(result.code, 1, result.stdout);
    assert.match(
      result.stderr,
      new RegExp(
        `log index ${signed.logIndex.toString()}, not the artifact bundle's ${again.logIndex.toString()}`,
      ),
    );
  });

  it('refuses a decision attestation a workload signed itself', async () => {
    // The workload may sign any in-toto statement as an attestation, this predicate type included;
    // it is still the workload's identity on the certificate, never the service's.
    const input = decisionInput(signed, digest);
    const statement = createSigningDecisionStatement({
      subject: input.subject,
      predicate: { service: PUBLIC_URL, ...input.predicate },
    });
    const attestation = await signDirectly({ statement });
    await writeFile(join(dir, 'forged.txt'), artifact);
    await writeFile(join(dir, 'forged.txt.sigstore.json'), serializeBundle(signed.bundle));
    await writeFile(
      join(dir, 'forged.txt.decision.sigstore.json'),
      serializeBundle(attestation.bundle),
    );
    const result = await run([
      'forged.txt',
      '--trusted-root',
      'trusted_root.json',
      '--require-approvals',
      '2',
    ]);
    assert.equal(result.code, 1, result.stdout);
    assert.match(
      result.stderr,
      /decision bundle.*identity: signed by .* not .*\/attestation\/signing-decision/,
    );
  });
});
