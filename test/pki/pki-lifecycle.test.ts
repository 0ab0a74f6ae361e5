import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  channelCaKeyId,
  initializePki,
  issueChannelCa,
  openChannelCa,
  openTimestampAuthority,
  type PkiDeps,
} from '../../src/app/pki.ts';
import type { KeyBackend } from '../../src/core/ports.ts';
import { createLeafCertificate } from '../../src/core/x509/create-leaf-certificate.ts';
import { parseCertificate } from '../../src/core/x509/parse-certificate.ts';
import { createMemoryPkiStore } from '../support/memory-pki-store.ts';
import {
  createEphemeralSpki,
  createTempDir,
  createTestKeyBackend,
  fixedClock,
  openssl,
  testRandom,
  unixSeconds,
  writePemFile,
} from './support.ts';

const NOW = new Date('2031-01-10T08:00:00.250Z');
const LATER = new Date(NOW.getTime() + 3_600_000);

describe('PKI lifecycle', () => {
  let dir: string;
  let remove: () => Promise<void>;
  let deps: PkiDeps;
  let offlineRoot: KeyBackend;

  before(async () => {
    ({ dir, remove } = await createTempDir());
    offlineRoot = createTestKeyBackend();
    deps = {
      serviceKeys: createTestKeyBackend(),
      store: createMemoryPkiStore(),
      clock: fixedClock(NOW),
      random: testRandom,
    };
  });
  after(() => remove());

  it('refuses to issue a channel CA before the PKI exists with NOT_FOUND', async () => {
    await assert.rejects(
      issueChannelCa(deps, { rootKeys: offlineRoot, product: 'payments-api', channel: 'prod' }),
      { code: 'NOT_FOUND' },
    );
  });

  describe('initializePki with an offline root', () => {
    it('creates the root key only in the offline backend and the TSA key in the service', async () => {
      const { root, tsa } = await initializePki(deps, {
        rootKeys: offlineRoot,
        organization: 'Acme',
      });
      assert.deepEqual(
        (await offlineRoot.listKeys()).map((key) => key.id),
        ['root-ca'],
      );
      assert.deepEqual(
        (await deps.serviceKeys.listKeys()).map((key) => `${key.id}:${key.purpose}`),
        ['tsa:tsa'],
      );
      assert.equal(root.role, 'root-ca');
      assert.equal(tsa.role, 'tsa');
      assert.equal(root.notBefore.toISOString(), '2031-01-10T08:00:00.000Z');
      assert.equal(parseCertificate(tsa.certificate).notAfter <= root.notAfter, true);
      await writePemFile(join(dir, 'root.pem'), root.certificate);
      await writePemFile(join(dir, 'tsa.pem'), tsa.certificate);
      const verified = await openssl(
        ['verify', '-attime', unixSeconds(LATER), '-CAfile', 'root.pem', 'tsa.pem'],
        dir,
      );
      assert.equal(verified.stdout.trim(), 'tsa.pem: OK', verified.stderr);
    });

    it('refuses a second root with CONFLICT', async () => {
      await assert.rejects(
        initializePki(deps, { rootKeys: createTestKeyBackend(), organization: 'Acme' }),
        { code: 'CONFLICT' },
      );
    });
  });

  describe('issueChannelCa', () => {
    it('issues a CA for one product and channel with a key of its own', async () => {
      const prod = await issueChannelCa(deps, {
        rootKeys: offlineRoot,
        product: 'payments-api',
        channel: 'prod',
      });
      const dev = await issueChannelCa(deps, {
        rootKeys: offlineRoot,
        product: 'payments-api',
        channel: 'dev',
      });
      assert.equal(prod.keyId, 'channel-ca.payments-api.prod');
      assert.notDeepEqual(
        parseCertificate(prod.certificate).subjectPublicKeySpki,
        parseCertificate(dev.certificate).subjectPublicKeySpki,
      );
      await writePemFile(join(dir, 'prod.pem'), prod.certificate);
      const verified = await openssl(
        ['verify', '-attime', unixSeconds(LATER), '-CAfile', 'root.pem', 'prod.pem'],
        dir,
      );
      assert.equal(verified.stdout.trim(), 'prod.pem: OK', verified.stderr);
    });

    it('refuses a second CA for the same product and channel with CONFLICT', async () => {
      await assert.rejects(
        issueChannelCa(deps, { rootKeys: offlineRoot, product: 'payments-api', channel: 'prod' }),
        { code: 'CONFLICT' },
      );
    });

    it('fails with KEY_UNAVAILABLE when the offline root is not brought', async () => {
      await assert.rejects(
        issueChannelCa(deps, {
          rootKeys: deps.serviceKeys,
          product: 'payments-api',
          channel: 'staging',
        }),
        { code: 'KEY_UNAVAILABLE' },
      );
    });

    it('caps the validity at the root expiry', async () => {
      const record = await issueChannelCa(deps, {
        rootKeys: offlineRoot,
        product: 'billing',
        channel: 'prod',
        validityDays: 30 * 365,
      });
      const root = await deps.store.find('root-ca');
      assert.equal(record.notAfter.getTime(), root?.notAfter.getTime());
    });

    it('reuses a key left uncertified by an interrupted run', async () => {
      const left = await deps.serviceKeys.createKey(channelCaKeyId('ledger', 'prod'), 'channel-ca');
      const record = await issueChannelCa(deps, {
        rootKeys: offlineRoot,
        product: 'ledger',
        channel: 'prod',
      });
      assert.deepEqual(
        parseCertificate(record.certificate).subjectPublicKeySpki,
        left.publicKeySpki,
      );
    });

    it('keeps key ids within 64 characters for long names', () => {
      const id = channelCaKeyId('p'.repeat(63), 'c'.repeat(63));
      assert.equal(id.length <= 64, true);
      assert.notEqual(id, channelCaKeyId('p'.repeat(63), 'd'.repeat(63)));
    });
  });

  describe('openChannelCa', () => {
    it('issues leaves that chain to the root through the channel CA', async () => {
      const ca = await openChannelCa(deps, 'payments-api', 'prod');
      const leaf = await createLeafCertificate({
        issuerKey: ca.key,
        issuerCertificate: ca.certificate,
        subjectPublicKeySpki: createEphemeralSpki(),
        workload: {
          issuer: 'https://issuer.example.com',
          issuerType: 'generic',
          subject: 'https://issuer.example.com/jobs/1',
          identityUri: 'https://issuer.example.com/jobs/1',
        },
        notBefore: LATER,
        random: testRandom,
      });
      await writePemFile(join(dir, 'leaf.pem'), leaf);
      await writePemFile(join(dir, 'chain.pem'), ...ca.chain.slice(0, 1));
      const verified = await openssl(
        [
          'verify',
          '-attime',
          unixSeconds(new Date(LATER.getTime() + 1000)),
          '-CAfile',
          'root.pem',
          '-untrusted',
          'chain.pem',
          'leaf.pem',
        ],
        dir,
      );
      assert.equal(verified.stdout.trim(), 'leaf.pem: OK', verified.stderr);
    });

    it('answers NOT_FOUND for a channel without a CA', async () => {
      await assert.rejects(openChannelCa(deps, 'payments-api', 'canary'), { code: 'NOT_FOUND' });
    });
  });

  describe('openTimestampAuthority', () => {
    it('timestamps signatures that openssl verifies against the root', async () => {
      const authority = await openTimestampAuthority(deps);
      const signature = new Uint8Array([1, 2, 3, 4]);
      await writeFile(join(dir, 'sig.bin'), signature);
      await writeFile(join(dir, 'sig.tsr'), await authority.timestampSignature(signature));
      const verified = await openssl(
        [
          'ts',
          '-verify',
          '-in',
          'sig.tsr',
          '-data',
          'sig.bin',
          '-CAfile',
          'root.pem',
          '-attime',
          unixSeconds(LATER),
        ],
        dir,
      );
      assert.match(verified.stdout, /Verification: OK/, verified.stderr);
      assert.equal(authority.certificateChain.length, 2);
    });
  });
});
