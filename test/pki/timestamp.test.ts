import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { createPublicKey } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { RFC3161Timestamp } from '@sigstore/core';
import {
  createTimestampAuthority,
  type TimestampAuthority,
} from '../../src/app/issue-timestamp.ts';
import { createTimestampResponse } from '../../src/core/timestamp/create-timestamp.ts';
import { createChannelCaCertificate } from '../../src/core/x509/create-channel-ca-certificate.ts';
import { createRootCaCertificate } from '../../src/core/x509/create-root-ca-certificate.ts';
import { createTsaCertificate } from '../../src/core/x509/create-tsa-certificate.ts';
import { COUNTERSIGN_TSA_POLICY_OID } from '../../src/core/x509/oids.ts';
import { parseCertificate } from '../../src/core/x509/parse-certificate.ts';
import { computeMessageImprint } from '../../src/core/timestamp/timestamp-request.ts';
import {
  createTempDir,
  createTestKey,
  fixedClock,
  openssl,
  testRandom,
  unixSeconds,
  writePemFile,
} from './support.ts';

const START = new Date('2030-03-01T10:00:00Z');
/** Mid-second on purpose: the token must still say whole seconds (G16). */
const NOW = new Date('2030-06-15T12:34:56.789Z');
const YEAR = 365 * 86_400_000;

describe('timestamp authority', () => {
  const rootKey = createTestKey('root-ca');
  const tsaKey = createTestKey('tsa');
  let dir: string;
  let remove: () => Promise<void>;
  let root: Uint8Array;
  let tsaCertificate: Uint8Array;
  let authority: TimestampAuthority;
  const signature = new Uint8Array(Buffer.from('3045022100aabbccdd', 'hex'));

  before(async () => {
    ({ dir, remove } = await createTempDir());
    root = await createRootCaCertificate({
      key: rootKey,
      subject: { organization: 'Acme', commonName: 'Acme Root' },
      notBefore: START,
      notAfter: new Date(START.getTime() + 10 * YEAR),
      random: testRandom,
    });
    tsaCertificate = await createTsaCertificate({
      issuerKey: rootKey,
      issuerCertificate: root,
      subjectPublicKeySpki: tsaKey.publicKeySpki,
      notBefore: START,
      notAfter: new Date(START.getTime() + 2 * YEAR),
      random: testRandom,
    });
    authority = createTimestampAuthority({
      tsaKey,
      tsaCertificate,
      chain: [root],
      clock: fixedClock(NOW),
      random: testRandom,
    });
    await writePemFile(join(dir, 'root.pem'), root);
    await writePemFile(join(dir, 'tsa.pem'), tsaCertificate);
    await writeFile(join(dir, 'sig.bin'), signature);
  });
  after(() => remove());

  async function tsVerify(args: readonly string[]) {
    return openssl(
      [
        'ts',
        '-verify',
        ...args,
        '-CAfile',
        'root.pem',
        '-untrusted',
        'tsa.pem',
        '-attime',
        unixSeconds(NOW),
      ],
      dir,
    );
  }

  describe('answering an OpenSSL request', () => {
    it('grants a token that openssl ts -verify accepts against the query (nonce, certReq)', async () => {
      const query = await openssl(
        ['ts', '-query', '-data', 'sig.bin', '-sha256', '-cert', '-out', 'req.tsq'],
        dir,
      );
      assert.equal(query.code, 0, query.stderr);
      const outcome = await authority.issue(await readFile(join(dir, 'req.tsq')));
      assert.equal(outcome.status, 'granted');
      await writeFile(join(dir, 'resp.tsr'), outcome.response);
      const verified = await tsVerify(['-in', 'resp.tsr', '-queryfile', 'req.tsq']);
      assert.match(verified.stdout, /Verification: OK/, verified.stderr);
      const byData = await tsVerify(['-in', 'resp.tsr', '-data', 'sig.bin']);
      assert.match(byData.stdout, /Verification: OK/, byData.stderr);
    });

    it('writes genTime in whole seconds and the Countersign policy', async () => {
      const outcome = await authority.issue(await readFile(join(dir, 'req.tsq')));
      await writeFile(join(dir, 'text.tsr'), outcome.response);
      const text = await openssl(['ts', '-reply', '-in', 'text.tsr', '-text'], dir);
      assert.match(text.stdout, /Status: Granted\./);
      assert.match(text.stdout, /Time stamp: Jun 15 12:34:56 2030 GMT\n/);
      assert.match(
        text.stdout,
        new RegExp(`Policy OID: ${COUNTERSIGN_TSA_POLICY_OID.replaceAll('.', '\\.')}`),
      );
      assert.match(text.stdout, /Nonce: 0x/);
      const token = RFC3161Timestamp.parse(Buffer.from(outcome.response));
      assert.equal(token.tstInfo.genTime.toISOString(), '2030-06-15T12:34:56.000Z');
    });

    it('leaves the certificates out when the request does not ask for them', async () => {
      await openssl(
        ['ts', '-query', '-data', 'sig.bin', '-sha512', '-no_nonce', '-out', 'bare.tsq'],
        dir,
      );
      const outcome = await authority.issue(await readFile(join(dir, 'bare.tsq')));
      assert.equal(outcome.status, 'granted');
      await writeFile(join(dir, 'bare.tsr'), outcome.response);
      const verified = await tsVerify(['-in', 'bare.tsr', '-queryfile', 'bare.tsq']);
      assert.match(verified.stdout, /Verification: OK/, verified.stderr);
      const text = await openssl(
        ['ts', '-reply', '-in', 'bare.tsr', '-token_out', '-out', 'bare.tst'],
        dir,
      );
      assert.equal(text.code, 0, text.stderr);
      const certs = await openssl(
        ['pkcs7', '-inform', 'DER', '-in', 'bare.tst', '-print_certs'],
        dir,
      );
      assert.doesNotMatch(certs.stdout, /BEGIN CERTIFICATE/);
    });

    it('is not accepted by openssl for other data', async () => {
      await writeFile(join(dir, 'other.bin'), 'other');
      const verified = await tsVerify(['-in', 'resp.tsr', '-data', 'other.bin']);
      assert.doesNotMatch(verified.stdout, /Verification: OK/);
      assert.match(verified.stderr, /message imprint mismatch/);
    });

    it('answers a request with a SHA-1 imprint with an RFC 3161 rejection (badAlg)', async () => {
      await openssl(['ts', '-query', '-data', 'sig.bin', '-sha1', '-out', 'sha1.tsq'], dir);
      const outcome = await authority.issue(await readFile(join(dir, 'sha1.tsq')));
      assert.equal(outcome.status, 'rejected');
      assert.equal(outcome.status === 'rejected' && outcome.failure, 'badAlg');
      await writeFile(join(dir, 'sha1.tsr'), outcome.response);
      const text = await openssl(['ts', '-reply', '-in', 'sha1.tsr', '-text'], dir);
      assert.match(text.stdout, /Status: Rejected/);
      assert.match(text.stdout, /unrecognized or unsupported algorithm identifier/);
    });
  });

  describe('timestampSignature', () => {
    it('stamps SHA-256 of the signature bytes with the TSA certificate inside', async () => {
      const response = await authority.timestampSignature(signature);
      await writeFile(join(dir, 'signature.tsr'), response);
      const verified = await openssl(
        [
          'ts',
          '-verify',
          '-in',
          'signature.tsr',
          '-data',
          'sig.bin',
          '-CAfile',
          'root.pem',
          '-attime',
          unixSeconds(NOW),
        ],
        dir,
      );
      assert.match(verified.stdout, /Verification: OK/, verified.stderr);
    });

    it('verifies under sigstore-js, whose parser is strict DER (G17, G22)', async () => {
      const response = await authority.timestampSignature(signature);
      const token = RFC3161Timestamp.parse(Buffer.from(response));
      assert.equal(token.status, 0n);
      const tsa = parseCertificate(tsaCertificate);
      const serial = new Uint8Array(token.signerSerialNumber);
      assert.deepEqual(serial[0] === 0 ? serial.subarray(1) : serial, tsa.serialNumber);
      // sigstore-js exposes the issuer Name's content (its RDNs), without the SEQUENCE header.
      assert.deepEqual(new Uint8Array(token.signerIssuer), tsa.issuerDer.subarray(2));
      assert.equal(token.signatureAlgorithm, 'sha256');
      token.verify(
        Buffer.from(signature),
        createPublicKey({ key: Buffer.from(tsaKey.publicKeySpki), format: 'der', type: 'spki' }),
      );
      assert.throws(() =>
        token.verify(
          Buffer.from('different'),
          createPublicKey({ key: Buffer.from(tsaKey.publicKeySpki), format: 'der', type: 'spki' }),
        ),
      );
    });
  });

  describe('createTimestampResponse', () => {
    const base = () => ({
      tsaKey,
      tsaCertificate,
      policyOid: COUNTERSIGN_TSA_POLICY_OID,
      imprint: computeMessageImprint(signature),
      includeCertificates: true,
      genTime: NOW,
      serialNumber: new Uint8Array(16).fill(7),
    });

    it('refuses a key whose purpose is not tsa with KEY_UNAVAILABLE', async () => {
      await assert.rejects(createTimestampResponse({ ...base(), tsaKey: rootKey }), {
        code: 'KEY_UNAVAILABLE',
      });
    });

    it('refuses a certificate without a critical timeStamping-only EKU (G18)', async () => {
      const notATsa = await createChannelCaCertificate({
        issuerKey: rootKey,
        issuerCertificate: root,
        subjectPublicKeySpki: tsaKey.publicKeySpki,
        product: 'payments-api',
        channel: 'prod',
        notBefore: START,
        notAfter: new Date(START.getTime() + YEAR),
        random: testRandom,
      });
      await assert.rejects(createTimestampResponse({ ...base(), tsaCertificate: notATsa }), {
        code: 'KEY_UNAVAILABLE',
      });
    });

    it('refuses to stamp a time outside the TSA certificate validity (G21)', async () => {
      await assert.rejects(
        createTimestampResponse({ ...base(), genTime: new Date(START.getTime() + 3 * YEAR) }),
        { code: 'KEY_UNAVAILABLE' },
      );
    });
  });
});
