import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../errors.ts';
import {
  FIXTURE_TIME,
  KEY_USAGE,
  createTestCertificate,
  createTestSigstore,
  type TestCertificate,
} from '../../../test/support/sigstore-fixtures.ts';
import { encodeTlv } from '../asn1/der.ts';
import { parseCertificate } from './certificate.ts';
import { verifyCertificateChain } from './certificate-chain.ts';

const sigstore = createTestSigstore();
const YEAR = 365 * 24 * 3_600_000;
const notBefore = new Date(FIXTURE_TIME.getTime() - YEAR);
const notAfter = new Date(FIXTURE_TIME.getTime() + YEAR);
const authority = [
  parseCertificate(sigstore.intermediate.der),
  parseCertificate(sigstore.root.der),
];

function intermediate(
  options: Partial<Parameters<typeof createTestCertificate>[0]> = {},
): TestCertificate {
  return createTestCertificate({
    subject: [['2.5.4.3', 'Another Intermediate']],
    issuer: sigstore.root,
    notBefore,
    notAfter,
    ca: {},
    ...options,
  });
}

function assertChainFails(
  leaf: TestCertificate,
  chain: readonly TestCertificate[],
  pattern: RegExp,
  time = FIXTURE_TIME,
): void {
  assert.throws(
    () =>
      verifyCertificateChain(
        parseCertificate(leaf.der),
        chain.map((c) => parseCertificate(c.der)),
        time,
        'codeSigning',
      ),
    (error: unknown) => {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, 'VERIFICATION_FAILED');
      assert.match(error.message, pattern);
      return true;
    },
  );
}

describe('verifyCertificateChain', () => {
  it('returns the path from the leaf to the root', () => {
    const leaf = parseCertificate(sigstore.issueLeaf().der);
    const { path } = verifyCertificateChain(leaf, authority, FIXTURE_TIME, 'codeSigning');
    assert.deepEqual(path, [leaf, ...authority]);
  });

  it('accepts the boundaries of the leaf validity (inclusive)', () => {
    const leaf = sigstore.issueLeaf({
      notBefore: FIXTURE_TIME,
      notAfter: new Date(FIXTURE_TIME.getTime() + 60_000),
    });
    const parsed = parseCertificate(leaf.der);
    verifyCertificateChain(parsed, authority, FIXTURE_TIME, 'codeSigning');
    verifyCertificateChain(
      parsed,
      authority,
      new Date(FIXTURE_TIME.getTime() + 60_000),
      'codeSigning',
    );
  });

  it('rejects a time after the leaf expired, naming the time', () => {
    const leaf = sigstore.issueLeaf();
    assertChainFails(
      leaf,
      [sigstore.intermediate, sigstore.root],
      /leaf was not valid at the signing time 2026-03-01T13:00:00\.000Z/,
      new Date(FIXTURE_TIME.getTime() + 3_600_000),
    );
  });

  it('rejects an intermediate that was not valid at the time', () => {
    const expired = intermediate({ notAfter: new Date(FIXTURE_TIME.getTime() - 1000), ca: {} });
    const leaf = sigstore.issueLeaf({ issuer: expired });
    assertChainFails(leaf, [expired, sigstore.root], /intermediate 1 was not valid/);
  });

  it('rejects an issuer that is not a CA', () => {
    const notCa = createTestCertificate({
      subject: [['2.5.4.3', 'Not a CA']],
      issuer: sigstore.root,
      notBefore,
      notAfter,
      keyUsage: KEY_USAGE.keyCertSign,
    });
    const leaf = sigstore.issueLeaf({ issuer: notCa });
    assertChainFails(leaf, [notCa, sigstore.root], /is not a CA certificate/);
  });

  it('rejects an issuer whose key usage lacks keyCertSign', () => {
    const limited = intermediate({ keyUsage: KEY_USAGE.digitalSignature });
    const leaf = sigstore.issueLeaf({ issuer: limited });
    assertChainFails(leaf, [limited, sigstore.root], /lacks keyCertSign/);
  });

  it('rejects an issuer whose extended key usage excludes codeSigning', () => {
    const serverOnly = intermediate({
      extendedKeyUsage: { oids: ['1.3.6.1.5.5.7.3.1'], critical: false },
    });
    const leaf = sigstore.issueLeaf({ issuer: serverOnly });
    assertChainFails(leaf, [serverOnly, sigstore.root], /does not allow codeSigning/);
  });

  it('enforces the path length constraint', () => {
    const first = intermediate({ ca: { pathLength: 0 } });
    const second = createTestCertificate({
      subject: [['2.5.4.3', 'Second']],
      issuer: first,
      notBefore,
      notAfter,
      ca: {},
    });
    const leaf = sigstore.issueLeaf({ issuer: second });
    assertChainFails(leaf, [second, first, sigstore.root], /path length constraint 0 is exceeded/);
  });

  it('rejects a leaf that is a CA', () => {
    const caLeaf = intermediate({
      extendedKeyUsage: { oids: ['1.3.6.1.5.5.7.3.3'], critical: false },
    });
    assertChainFails(caLeaf, [sigstore.root], /leaf is a CA certificate/);
  });

  it('rejects an unhandled critical extension', () => {
    const leaf = sigstore.issueLeaf({
      extraExtensions: [
        { oid: '1.2.3.4', critical: true, value: encodeTlv(0x05, new Uint8Array()) },
      ],
    });
    assertChainFails(
      leaf,
      [sigstore.intermediate, sigstore.root],
      /unhandled critical extension 1\.2\.3\.4/,
    );
  });

  it('rejects a leaf from another authority', () => {
    const stranger = createTestSigstore().issueLeaf();
    assertChainFails(
      stranger,
      [sigstore.intermediate, sigstore.root],
      /not issued by this certificate authority/,
    );
  });

  it('rejects a path that stops short of the authority root', () => {
    const leaf = sigstore.issueLeaf();
    const otherRoot = createTestSigstore().root;
    assertChainFails(
      leaf,
      [sigstore.intermediate, otherRoot],
      /no issuer in the certificate authority/,
    );
  });
});
