import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { AppError } from '../errors.ts';
import {
  FIXTURE_IDENTITY,
  FIXTURE_ISSUER,
  FIXTURE_TIME,
  createTestCertificate,
  createTestSigstore,
  encodeUtf8String,
} from '../../../test/support/sigstore-fixtures.ts';
import { encodeTlv } from '../asn1/der.ts';
import {
  parseCertificate,
  readCertificateIdentity,
  readCertificateIssuerClaim,
} from './certificate.ts';

const sigstore = createTestSigstore();
const HOUR = 3_600_000;

function leafWith(options: Partial<Parameters<typeof createTestCertificate>[0]>) {
  return parseCertificate(
    createTestCertificate({
      subject: [['2.5.4.10', 'example.com']],
      issuer: sigstore.intermediate,
      notBefore: FIXTURE_TIME,
      notAfter: new Date(FIXTURE_TIME.getTime() + HOUR),
      ...options,
    }).der,
  );
}

describe('parseCertificate', () => {
  it('reads the fields chain building and identity checks use', () => {
    const certificate = parseCertificate(sigstore.issueLeaf().der);
    assert.equal(certificate.isCa, false);
    assert.deepEqual(certificate.keyUsage, { digitalSignature: true, keyCertSign: false });
    assert.deepEqual(certificate.extendedKeyUsage, {
      oids: ['1.3.6.1.5.5.7.3.3'],
      critical: false,
    });
    assert.deepEqual(certificate.subjectAlternativeNames, [
      { type: 'uri', value: FIXTURE_IDENTITY },
    ]);
    assert.ok(certificate.subjectKeyId !== undefined && certificate.authorityKeyId !== undefined);
    assert.deepEqual(certificate.unhandledCriticalExtensions, []);
  });

  it('reads CA flags and the path length constraint', () => {
    const intermediate = parseCertificate(sigstore.intermediate.der);
    assert.equal(intermediate.isCa, true);
    assert.equal(intermediate.pathLength, 0);
  });

  it('lists critical extensions it does not implement', () => {
    const certificate = leafWith({
      extensions: [{ oid: '1.2.3.4', critical: true, value: encodeTlv(0x05, new Uint8Array()) }],
    });
    assert.deepEqual(certificate.unhandledCriticalExtensions, ['1.2.3.4']);
  });

  it('rejects an extension that appears twice', () => {
    const value = encodeUtf8String('x');
    assert.throws(
      () =>
        leafWith({
          extensions: [
            { oid: '1.3.6.1.4.1.57264.1.8', critical: false, value },
            { oid: '1.3.6.1.4.1.57264.1.8', critical: false, value },
          ],
        }),
      (error: unknown) => error instanceof AppError && /appears twice/.test(error.message),
    );
  });

  it('rejects bytes that are not a certificate', () => {
    assert.throws(() => parseCertificate(Uint8Array.of(0x30, 0x00)), { code: 'INVALID_INPUT' });
  });
});

describe('readCertificateIdentity', () => {
  it('prefers the URI SAN', () => {
    assert.equal(
      readCertificateIdentity(parseCertificate(sigstore.issueLeaf().der)),
      FIXTURE_IDENTITY,
    );
  });

  it('falls back to the email SAN', () => {
    assert.equal(
      readCertificateIdentity(leafWith({ san: { type: 'email', value: 'ci@example.com' } })),
      'ci@example.com',
    );
  });

  it('is undefined without a usable SAN', () => {
    assert.equal(readCertificateIdentity(leafWith({})), undefined);
  });
});

describe('readCertificateIssuerClaim', () => {
  it('reads the DER UTF8String of 1.3.6.1.4.1.57264.1.8', () => {
    assert.equal(
      readCertificateIssuerClaim(parseCertificate(sigstore.issueLeaf().der)),
      FIXTURE_ISSUER,
    );
  });

  it('falls back to the raw bytes of the legacy 1.3.6.1.4.1.57264.1.1', () => {
    const legacy = leafWith({
      extensions: [
        {
          oid: '1.3.6.1.4.1.57264.1.1',
          critical: false,
          value: new TextEncoder().encode('https://legacy.example.com'),
        },
      ],
    });
    assert.equal(readCertificateIssuerClaim(legacy), 'https://legacy.example.com');
  });

  it('prefers 1.8 when both are present', () => {
    const both = leafWith({
      extensions: [
        {
          oid: '1.3.6.1.4.1.57264.1.1',
          critical: false,
          value: new TextEncoder().encode('https://legacy.example.com'),
        },
        {
          oid: '1.3.6.1.4.1.57264.1.8',
          critical: false,
          value: encodeUtf8String('https://new.example.com'),
        },
      ],
    });
    assert.equal(readCertificateIssuerClaim(both), 'https://new.example.com');
  });
});
