import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { X509Certificate } from '@sigstore/core';
import type { Workload } from '../../src/core/governance/workload.ts';
import { createChannelCaCertificate } from '../../src/core/x509/create-channel-ca-certificate.ts';
import { createLeafCertificate } from '../../src/core/x509/create-leaf-certificate.ts';
import { createRootCaCertificate } from '../../src/core/x509/create-root-ca-certificate.ts';
import { createTsaCertificate } from '../../src/core/x509/create-tsa-certificate.ts';
import { decodeUtf8String, parseDer } from '../../src/core/asn1/der.ts';
import { FULCIO_OID } from '../../src/core/x509/oids.ts';
import { parseCertificate } from '../../src/core/x509/parse-certificate.ts';
import {
  createEphemeralSpki,
  createTempDir,
  createTestKey,
  describeCertificate,
  openssl,
  testRandom,
  unixSeconds,
  writePemFile,
} from './support.ts';

const START = new Date('2030-03-01T10:00:00.000Z');
const YEAR = 365 * 86_400_000;

const GITHUB_WORKLOAD: Workload = {
  issuer: 'https://token.actions.githubusercontent.com',
  issuerType: 'github-actions',
  subject: 'repo:acme/payments:ref:refs/heads/main',
  identityUri: 'https://github.com/acme/payments/.github/workflows/release.yml@refs/heads/main',
  repositoryId: '123456',
  ownerId: '7890',
  repository: 'acme/payments',
  ref: 'refs/heads/main',
  workflow: 'acme/payments/.github/workflows/release.yml@refs/heads/main',
  callerWorkflow: 'acme/payments/.github/workflows/release.yml@refs/heads/main',
  event: 'push',
  commitSha: 'a'.repeat(40),
  runnerEnvironment: 'github-hosted',
  runId: '42',
};

function fulcioValue(der: Uint8Array, oid: string): string | undefined {
  const extension = parseCertificate(der).extensions.get(oid);
  return extension === undefined ? undefined : decodeUtf8String(parseDer(extension.value), oid);
}

describe('certificate issuing', () => {
  const rootKey = createTestKey('root-ca');
  const channelKey = createTestKey('channel-ca');
  const tsaKey = createTestKey('tsa');
  let dir: string;
  let remove: () => Promise<void>;
  let root: Uint8Array;
  let channelCa: Uint8Array;
  let tsa: Uint8Array;
  let leaf: Uint8Array;

  before(async () => {
    ({ dir, remove } = await createTempDir());
    root = await createRootCaCertificate({
      key: rootKey,
      subject: { organization: 'Acme', commonName: 'Acme Signing Root' },
      notBefore: START,
      notAfter: new Date(START.getTime() + 10 * YEAR),
      random: testRandom,
    });
    channelCa = await createChannelCaCertificate({
      issuerKey: rootKey,
      issuerCertificate: root,
      subjectPublicKeySpki: channelKey.publicKeySpki,
      product: 'payments-api',
      channel: 'prod',
      notBefore: START,
      notAfter: new Date(START.getTime() + 2 * YEAR),
      random: testRandom,
    });
    tsa = await createTsaCertificate({
      issuerKey: rootKey,
      issuerCertificate: root,
      subjectPublicKeySpki: tsaKey.publicKeySpki,
      notBefore: START,
      notAfter: new Date(START.getTime() + 2 * YEAR),
      random: testRandom,
    });
    leaf = await createLeafCertificate({
      issuerKey: channelKey,
      issuerCertificate: channelCa,
      subjectPublicKeySpki: createEphemeralSpki(),
      workload: GITHUB_WORKLOAD,
      notBefore: new Date(START.getTime() + 86_400_000 + 123),
      random: testRandom,
    });
    await writePemFile(join(dir, 'root.pem'), root);
    await writePemFile(join(dir, 'channel.pem'), channelCa);
    await writePemFile(join(dir, 'tsa.pem'), tsa);
    await writePemFile(join(dir, 'leaf.pem'), leaf);
  });
  after(() => remove());

  describe('createRootCaCertificate', () => {
    it('makes a self-signed CA with critical basicConstraints pathlen 1 and keyCertSign + cRLSign', async () => {
      const text = await describeCertificate(dir, root);
      assert.match(text, /Issuer: O = Acme, CN = Acme Signing Root/);
      assert.match(text, /Subject: O = Acme, CN = Acme Signing Root/);
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:1/);
      assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
      assert.match(text, /X509v3 Subject Key Identifier:/);
      assert.match(text, /Signature Algorithm: ecdsa-with-SHA256/);
      assert.match(text, /Not Before: Mar {2}1 10:00:00 2030 GMT/);
      const verified = await openssl(
        ['verify', '-attime', unixSeconds(START), '-CAfile', 'root.pem', 'root.pem'],
        dir,
      );
      assert.equal(verified.stdout.trim(), 'root.pem: OK', verified.stderr);
    });

    it('uses a positive serial number of 16 random bytes', async () => {
      const allOnes = await createRootCaCertificate({
        key: rootKey,
        subject: { organization: 'Acme', commonName: 'Root' },
        notBefore: START,
        notAfter: new Date(START.getTime() + YEAR),
        random: { bytes: (n) => new Uint8Array(n).fill(0xff) },
      });
      assert.deepEqual(parseCertificate(allOnes).serialNumber, new Uint8Array(16).fill(0xff));
      const text = await describeCertificate(dir, allOnes);
      assert.match(text, /Serial Number:\s+(ff:){15}ff/);
      assert.equal(parseCertificate(root).serialNumber.length >= 15, true);
    });

    it('refuses a key whose purpose is not root-ca with KEY_UNAVAILABLE', async () => {
      await assert.rejects(
        createRootCaCertificate({
          key: tsaKey,
          subject: { organization: 'Acme', commonName: 'Root' },
          notBefore: START,
          notAfter: new Date(START.getTime() + YEAR),
          random: testRandom,
        }),
        { code: 'KEY_UNAVAILABLE' },
      );
    });
  });

  describe('createChannelCaCertificate', () => {
    it('names the product and channel and limits the path to leaves', async () => {
      const text = await describeCertificate(dir, channelCa);
      assert.match(text, /Subject: O = Acme, OU = payments-api, CN = payments-api\/prod/);
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:TRUE, pathlen:0/);
      assert.match(text, /X509v3 Key Usage: critical\s+Certificate Sign, CRL Sign\n/);
      assert.match(text, /X509v3 Extended Key Usage: \n\s+Code Signing\n/);
      const rootSki = parseCertificate(root).subjectKeyIdentifier;
      assert.ok(rootSki);
      const hex = Buffer.from(rootSki).toString('hex').toUpperCase().match(/../g)?.join(':');
      assert.match(text, new RegExp(`X509v3 Authority Key Identifier: \\n\\s+(keyid:)?${hex}`));
    });

    it('chains to the root', async () => {
      const verified = await openssl(
        ['verify', '-attime', unixSeconds(START), '-CAfile', 'root.pem', 'channel.pem'],
        dir,
      );
      assert.equal(verified.stdout.trim(), 'channel.pem: OK', verified.stderr);
    });

    it('refuses a channel-ca key as issuer with KEY_UNAVAILABLE', async () => {
      await assert.rejects(
        createChannelCaCertificate({
          issuerKey: channelKey,
          issuerCertificate: root,
          subjectPublicKeySpki: createEphemeralSpki(),
          product: 'payments-api',
          channel: 'dev',
          notBefore: START,
          notAfter: new Date(START.getTime() + YEAR),
          random: testRandom,
        }),
        { code: 'KEY_UNAVAILABLE' },
      );
    });

    it('refuses a root key that does not belong to the issuer certificate', async () => {
      await assert.rejects(
        createChannelCaCertificate({
          issuerKey: createTestKey('root-ca', 'other-root'),
          issuerCertificate: root,
          subjectPublicKeySpki: createEphemeralSpki(),
          product: 'payments-api',
          channel: 'dev',
          notBefore: START,
          notAfter: new Date(START.getTime() + YEAR),
          random: testRandom,
        }),
        { code: 'KEY_UNAVAILABLE' },
      );
    });

    it('refuses to certify the root key itself as a channel CA', async () => {
      await assert.rejects(
        createChannelCaCertificate({
          issuerKey: rootKey,
          issuerCertificate: root,
          subjectPublicKeySpki: rootKey.publicKeySpki,
          product: 'payments-api',
          channel: 'dev',
          notBefore: START,
          notAfter: new Date(START.getTime() + YEAR),
          random: testRandom,
        }),
        { code: 'INVALID_INPUT' },
      );
    });

    it('refuses product names that are not governance names', async () => {
      await assert.rejects(
        createChannelCaCertificate({
          issuerKey: rootKey,
          issuerCertificate: root,
          subjectPublicKeySpki: createEphemeralSpki(),
          product: '../etc',
          channel: 'dev',
          notBefore: START,
          notAfter: new Date(START.getTime() + YEAR),
          random: testRandom,
        }),
        { code: 'INVALID_INPUT' },
      );
    });

    it('refuses a validity that outlives the root with KEY_UNAVAILABLE', async () => {
      await assert.rejects(
        createChannelCaCertificate({
          issuerKey: rootKey,
          issuerCertificate: root,
          subjectPublicKeySpki: createEphemeralSpki(),
          product: 'payments-api',
          channel: 'dev',
          notBefore: START,
          notAfter: new Date(START.getTime() + 11 * YEAR),
          random: testRandom,
        }),
        { code: 'KEY_UNAVAILABLE' },
      );
    });
  });

  describe('createTsaCertificate', () => {
    it('has a critical extendedKeyUsage of timeStamping only (G18) and is not a CA', async () => {
      const text = await describeCertificate(dir, tsa);
      assert.match(text, /X509v3 Extended Key Usage: critical\s+Time Stamping\n/);
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
      assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\n/);
      assert.match(text, /Subject: O = Acme, CN = Countersign Timestamp Authority/);
      const verified = await openssl(
        [
          'verify',
          '-attime',
          unixSeconds(START),
          '-purpose',
          'timestampsign',
          '-CAfile',
          'root.pem',
          'tsa.pem',
        ],
        dir,
      );
      assert.equal(verified.stdout.trim(), 'tsa.pem: OK', verified.stderr);
    });
  });

  describe('createLeafCertificate', () => {
    it('follows the Fulcio shape: empty subject, critical URI SAN, codeSigning, digitalSignature', async () => {
      const text = await describeCertificate(dir, leaf);
      assert.match(text, /Subject: ?\n/);
      assert.match(text, /Issuer: O = Acme, OU = payments-api, CN = payments-api\/prod/);
      assert.match(
        text,
        /X509v3 Subject Alternative Name: critical\s+URI:https:\/\/github\.com\/acme\/payments\/\.github\/workflows\/release\.yml@refs\/heads\/main\n/,
      );
      assert.match(text, /X509v3 Extended Key Usage: \n\s+Code Signing\n/);
      assert.match(text, /X509v3 Key Usage: critical\s+Digital Signature\n/);
      assert.match(text, /X509v3 Basic Constraints: critical\s+CA:FALSE/);
      assert.match(text, /X509v3 Authority Key Identifier:/);
      assert.match(text, /1\.3\.6\.1\.4\.1\.57264\.1\.8: \n/);
      assert.doesNotMatch(text, /1\.3\.6\.1\.4\.1\.57264\.1\.8: critical/);
    });

    it('is valid for ten minutes from the whole second it starts', () => {
      const parsed = parseCertificate(leaf);
      assert.equal(parsed.notBefore.toISOString(), '2030-03-02T10:00:00.000Z');
      assert.equal(parsed.notAfter.getTime() - parsed.notBefore.getTime(), 600_000);
    });

    it('chains through the channel CA to the root inside its validity only', async () => {
      const inside = unixSeconds(new Date(START.getTime() + 86_400_000 + 60_000));
      const args = (at: string) => [
        'verify',
        '-attime',
        at,
        '-CAfile',
        'root.pem',
        '-untrusted',
        'channel.pem',
        'leaf.pem',
      ];
      const ok = await openssl(args(inside), dir);
      assert.equal(ok.stdout.trim(), 'leaf.pem: OK', ok.stderr);
      const expired = await openssl(
        args(unixSeconds(new Date(START.getTime() + 86_400_000 + 601_000))),
        dir,
      );
      assert.notEqual(expired.code, 0);
      assert.match(expired.stderr + expired.stdout, /certificate has expired/);
    });

    it('does not chain to the root without the channel CA', async () => {
      const result = await openssl(
        ['verify', '-attime', unixSeconds(START), '-CAfile', 'root.pem', 'leaf.pem'],
        dir,
      );
      assert.notEqual(result.code, 0);
    });

    it('carries the workload issuer as a DER UTF8String in 1.3.6.1.4.1.57264.1.8', () => {
      assert.equal(fulcioValue(leaf, FULCIO_OID.ISSUER), GITHUB_WORKLOAD.issuer);
      // sigstore-js's own strict parser reads it the way its verifier does (key/index.ts).
      const certificate = X509Certificate.parse(Buffer.from(leaf));
      const extension = certificate.extension(FULCIO_OID.ISSUER);
      assert.equal(extension?.critical, false);
      assert.equal(extension?.value[0], 0x0c);
      assert.equal(extension?.valueObj.subs[0]?.value.toString('ascii'), GITHUB_WORKLOAD.issuer);
      assert.equal(certificate.extSubjectAltName?.uri, GITHUB_WORKLOAD.identityUri);
      const legacy = parseCertificate(leaf).extensions.get(FULCIO_OID.ISSUER_V1);
      assert.equal(Buffer.from(legacy?.value ?? []).toString('utf8'), GITHUB_WORKLOAD.issuer);
    });

    it('carries the GitHub source and build extensions that gh and cosign compare', () => {
      assert.equal(
        fulcioValue(leaf, FULCIO_OID.SOURCE_REPOSITORY_URI),
        'https://github.com/acme/payments',
      );
      assert.equal(
        fulcioValue(leaf, FULCIO_OID.SOURCE_REPOSITORY_OWNER_URI),
        'https://github.com/acme',
      );
      assert.equal(fulcioValue(leaf, FULCIO_OID.SOURCE_REPOSITORY_IDENTIFIER), '123456');
      assert.equal(fulcioValue(leaf, FULCIO_OID.SOURCE_REPOSITORY_OWNER_IDENTIFIER), '7890');
      assert.equal(fulcioValue(leaf, FULCIO_OID.SOURCE_REPOSITORY_REF), 'refs/heads/main');
      assert.equal(fulcioValue(leaf, FULCIO_OID.SOURCE_REPOSITORY_DIGEST), 'a'.repeat(40));
      assert.equal(fulcioValue(leaf, FULCIO_OID.RUNNER_ENVIRONMENT), 'github-hosted');
      assert.equal(fulcioValue(leaf, FULCIO_OID.BUILD_TRIGGER), 'push');
      assert.equal(fulcioValue(leaf, FULCIO_OID.BUILD_SIGNER_URI), GITHUB_WORKLOAD.identityUri);
      assert.equal(fulcioValue(leaf, FULCIO_OID.BUILD_CONFIG_URI), GITHUB_WORKLOAD.identityUri);
      // Values the token does not state are left out, not guessed.
      assert.equal(fulcioValue(leaf, FULCIO_OID.RUN_INVOCATION_URI), undefined);
      assert.equal(fulcioValue(leaf, FULCIO_OID.BUILD_SIGNER_DIGEST), undefined);
    });

    it('refuses a root-ca key with KEY_UNAVAILABLE: only channel CAs sign leaves', async () => {
      await assert.rejects(
        createLeafCertificate({
          issuerKey: rootKey,
          issuerCertificate: root,
          subjectPublicKeySpki: createEphemeralSpki(),
          workload: GITHUB_WORKLOAD,
          notBefore: START,
          random: testRandom,
        }),
        { code: 'KEY_UNAVAILABLE' },
      );
    });

    it('refuses a tsa key with KEY_UNAVAILABLE', async () => {
      await assert.rejects(
        createLeafCertificate({
          issuerKey: tsaKey,
          issuerCertificate: tsa,
          subjectPublicKeySpki: createEphemeralSpki(),
          workload: GITHUB_WORKLOAD,
          notBefore: START,
          random: testRandom,
        }),
        { code: 'KEY_UNAVAILABLE' },
      );
    });

    it('refuses to issue past the channel CA expiry with KEY_UNAVAILABLE', async () => {
      await assert.rejects(
        createLeafCertificate({
          issuerKey: channelKey,
          issuerCertificate: channelCa,
          subjectPublicKeySpki: createEphemeralSpki(),
          workload: GITHUB_WORKLOAD,
          notBefore: new Date(START.getTime() + 2 * YEAR - 60_000),
          random: testRandom,
        }),
        { code: 'KEY_UNAVAILABLE' },
      );
    });

    it('refuses a subject key that is not P-256 with INVALID_INPUT', async () => {
      await assert.rejects(
        createLeafCertificate({
          issuerKey: channelKey,
          issuerCertificate: channelCa,
          subjectPublicKeySpki: new Uint8Array([0x30, 0x03, 0x02, 0x01, 0x01]),
          workload: GITHUB_WORKLOAD,
          notBefore: START,
          random: testRandom,
        }),
        { code: 'INVALID_INPUT' },
      );
    });

    it('refuses an identity URI that cannot be an IA5String SAN', async () => {
      await assert.rejects(
        createLeafCertificate({
          issuerKey: channelKey,
          issuerCertificate: channelCa,
          subjectPublicKeySpki: createEphemeralSpki(),
          workload: { ...GITHUB_WORKLOAD, identityUri: 'https://github.com/acme/zürich' },
          notBefore: START,
          random: testRandom,
        }),
        { code: 'INVALID_INPUT' },
      );
    });
  });
});

describe('parseCertificate', () => {
  it('reads a certificate made by openssl', async () => {
    const { dir, remove } = await createTempDir();
    try {
      const made = await openssl(
        [
          'req',
          '-x509',
          '-newkey',
          'ec',
          '-pkeyopt',
          'ec_paramgen_curve:P-256',
          '-nodes',
          '-keyout',
          'key.pem',
          '-out',
          'cert.der',
          '-outform',
          'DER',
          '-subj',
          '/O=Elsewhere/CN=Other',
          '-days',
          '1',
          '-addext',
          'extendedKeyUsage=critical,timeStamping',
        ],
        dir,
      );
      assert.equal(made.code, 0, made.stderr);
      const parsed = parseCertificate(new Uint8Array(await readFile(join(dir, 'cert.der'))));
      assert.deepEqual(
        parsed.subject.map((a) => a.value),
        ['Elsewhere', 'Other'],
      );
      assert.deepEqual(parsed.extendedKeyUsage, ['1.3.6.1.5.5.7.3.8']);
      assert.equal(parsed.extensions.get('2.5.29.37')?.critical, true);
      assert.equal(parsed.signatureAlgorithm, '1.2.840.10045.4.3.2');
    } finally {
      await remove();
    }
  });

  it('rejects trailing bytes after the certificate with INVALID_INPUT', async () => {
    const key = createTestKey('root-ca');
    const der = await createRootCaCertificate({
      key,
      subject: { organization: 'Acme', commonName: 'Root' },
      notBefore: START,
      notAfter: new Date(START.getTime() + YEAR),
      random: testRandom,
    });
    assert.throws(() => parseCertificate(Uint8Array.from([...der, 0])), { code: 'INVALID_INPUT' });
  });
});
