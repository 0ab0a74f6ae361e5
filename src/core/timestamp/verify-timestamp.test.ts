import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { AppError } from '../errors.ts';
import type { CertificateAuthority } from '../sigstore/trusted-root.ts';
import {
  FIXTURE_TIME,
  createTestCertificate,
  createTestSigstore,
  createTimestampResponse,
  generateTestKey,
  type TestCertificate,
  type TimestampOptions,
} from '../../../test/support/sigstore-fixtures.ts';
import { requireComponent } from '../../../test/support/components.ts';
import { verifyTimestamp } from './verify-timestamp.ts';

const sigstore = createTestSigstore();
const SIGNATURE = new TextEncoder().encode('the signature bytes being timestamped');
const authorities = sigstore.trustedRoot.timestampAuthorities;
const YEAR = 365 * 24 * 3_600_000;

function respond(
  options: TimestampOptions = {},
  leaf: TestCertificate = sigstore.tsaLeaf,
): Uint8Array {
  return createTimestampResponse(SIGNATURE, leaf, options);
}

function assertRejected(
  response: Uint8Array,
  pattern: RegExp,
  trusted: readonly CertificateAuthority[] = authorities,
  data: Uint8Array = SIGNATURE,
): void {
  assert.throws(
    () => verifyTimestamp(response, data, trusted),
    (error: unknown) => {
      assert.ok(error instanceof AppError);
      assert.equal(error.code, 'VERIFICATION_FAILED');
      assert.match(error.message, pattern);
      return true;
    },
  );
}

function tsaLeaf(
  options: Partial<Parameters<typeof createTestCertificate>[0]> = {},
): TestCertificate {
  return createTestCertificate({
    subject: [['2.5.4.3', 'Another TSA']],
    issuer: sigstore.tsaRoot,
    notBefore: new Date(FIXTURE_TIME.getTime() - YEAR),
    notAfter: new Date(FIXTURE_TIME.getTime() + YEAR),
    extendedKeyUsage: { oids: ['1.3.6.1.5.5.7.3.8'], critical: true },
    ...options,
  });
}

function authorityFor(
  leaf: TestCertificate,
  validFor: CertificateAuthority['validFor'] = undefined,
): CertificateAuthority[] {
  return [
    {
      certChain: [leaf.der, sigstore.tsaRoot.der],
      ...(validFor === undefined ? {} : { validFor }),
    },
  ];
}

describe('verifyTimestamp', () => {
  describe('when the token is granted, over the data, by the trusted TSA', () => {
    it('returns the generation time and the authority', () => {
      const verified = verifyTimestamp(respond(), SIGNATURE, authorities);
      assert.equal(verified.time.toISOString(), FIXTURE_TIME.toISOString());
      assert.equal(verified.authority, authorities[0]);
      assert.equal(verified.policy, '1.3.6.1.4.1.57264.2');
    });

    for (const hashAlgorithm of ['sha384', 'sha512'] as const) {
      it(`accepts a ${hashAlgorithm} message imprint`, () => {
        verifyTimestamp(respond({ hashAlgorithm }), SIGNATURE, authorities);
      });
    }

    it('accepts a token that embeds the TSA certificate', () => {
      verifyTimestamp(respond({ includeCertificate: true }), SIGNATURE, authorities);
    });

    it('reads a genTime with milliseconds', () => {
      const verified = verifyTimestamp(
        respond({ genTimeText: '20260301120000.25Z' }),
        SIGNATURE,
        authorities,
      );
      assert.equal(verified.time.toISOString(), '2026-03-01T12:00:00.250Z');
    });
  });

  describe('when genTime is not DER', () => {
    it('rejects a fraction with a trailing zero', () => {
      assertRejected(respond({ genTimeText: '20260301120000.50Z' }), /genTime/);
    });

    it('rejects sub-millisecond precision', () => {
      assertRejected(respond({ genTimeText: '20260301120000.1234Z' }), /genTime/);
    });

    it('rejects a time without the Z', () => {
      assertRejected(respond({ genTimeText: '20260301120000' }), /genTime/);
    });
  });

  describe('when the response or token is malformed', () => {
    it('rejects a status other than granted', () => {
      assertRejected(respond({ status: 2 }), /status is 2/);
    });

    it('rejects trailing bytes after the response', () => {
      const response = respond();
      assertRejected(Uint8Array.from([...response, 0]), /trailing bytes/);
    });

    it('rejects a non-minimal DER length', () => {
      const response = respond();
      // Re-encode the outer length in long form with a leading zero byte.
      const header = response[1] ?? 0;
      const count = header & 0x7f;
      const patched = Uint8Array.from([
        response[0] ?? 0,
        0x80 | (count + 1),
        0,
        ...response.subarray(2),
      ]);
      assertRejected(patched, /not minimally encoded/);
    });

    it('rejects random bytes', () => {
      assertRejected(new TextEncoder().encode('not a timestamp'), /malformed/);
    });
  });

  describe('when the token does not cover the data', () => {
    it('rejects an imprint over other bytes', () => {
      assertRejected(
        respond(),
        /message imprint does not match/,
        authorities,
        new TextEncoder().encode('other'),
      );
    });

    it('rejects a messageDigest attribute that is not the TSTInfo hash', () => {
      assertRejected(respond({ messageDigest: new Uint8Array(32) }), /messageDigest attribute/);
    });
  });

  describe('when the signer is not the trusted TSA', () => {
    it('rejects a signature by another key', () => {
      assertRejected(respond({ signingKey: generateTestKey() }), /signature does not verify/);
    });

    it('rejects a signer that is not the leaf of any trusted authority', () => {
      const stranger = createTestSigstore().tsaLeaf;
      assertRejected(respond({}, stranger), /not the leaf of any timestamp authority/);
    });

    it('rejects a token without the ESS signing-certificate attribute', () => {
      assertRejected(respond({ essCertificateHash: 'omit' }), /ESS signing-certificate/);
    });

    it('rejects an ESS attribute naming another certificate', () => {
      assertRejected(
        respond({ essCertificateHash: new Uint8Array(32) }),
        /does not name the TSA certificate/,
      );
    });
  });

  describe('when time is outside what the trust allows', () => {
    it('rejects a genTime outside the authority validFor', () => {
      const trusted = authorityFor(sigstore.tsaLeaf, {
        end: new Date(FIXTURE_TIME.getTime() - 1000),
      });
      assertRejected(respond(), /outside the validity of the timestamp authority/, trusted);
    });

    it('accepts a genTime exactly at the end of validFor (closed interval)', () => {
      verifyTimestamp(respond(), SIGNATURE, authorityFor(sigstore.tsaLeaf, { end: FIXTURE_TIME }));
    });

    it('rejects a genTime after the TSA certificate expired', () => {
      const expired = tsaLeaf({ notAfter: new Date(FIXTURE_TIME.getTime() - 1000) });
      assertRejected(
        respond({}, expired),
        /leaf was not valid at the signing time/,
        authorityFor(expired),
      );
    });
  });

  describe('when the TSA certificate is not a timestamping certificate', () => {
    it('rejects a non-critical timeStamping EKU', () => {
      const leaf = tsaLeaf({ extendedKeyUsage: { oids: ['1.3.6.1.5.5.7.3.8'], critical: false } });
      assertRejected(respond({}, leaf), /must be critical/, authorityFor(leaf));
    });

    it('rejects an EKU with more than timeStamping', () => {
      const leaf = tsaLeaf({
        extendedKeyUsage: { oids: ['1.3.6.1.5.5.7.3.8', '1.3.6.1.5.5.7.3.3'], critical: true },
      });
      assertRejected(respond({}, leaf), /timeStamping only/, authorityFor(leaf));
    });

    it('rejects a chain that does not reach the authority root', () => {
      const other = createTestSigstore();
      const trusted = [{ certChain: [sigstore.tsaLeaf.der, other.tsaRoot.der] }];
      assertRejected(respond(), /not issued by this certificate authority/, trusted);
    });
  });

  describe('cross-checked with OpenSSL', () => {
    it('agrees that the fixture tokens verify (openssl ts -verify)', (t) => {
      const available = spawnSync('openssl', ['version'], { encoding: 'utf8' }).status === 0;
      if (!requireComponent(t, 'openssl', available, 'the openssl binary is not on PATH')) return;
      const dir = mkdtempSync(path.join(tmpdir(), 'countersign-tsa-'));
      try {
        const file = (name: string, data: Uint8Array | string) => {
          writeFileSync(path.join(dir, name), data);
          return path.join(dir, name);
        };
        const pem = (der: Uint8Array) =>
          `-----BEGIN CERTIFICATE-----\n${Buffer.from(der).toString('base64').replace(/.{64}/g, '$&\n')}\n-----END CERTIFICATE-----\n`;
        const args = [
          'ts',
          '-verify',
          '-in',
          file('resp.tsr', respond()),
          '-data',
          file('sig.bin', SIGNATURE),
          '-CAfile',
          file('root.pem', pem(sigstore.tsaRoot.der)),
          '-untrusted',
          file('leaf.pem', pem(sigstore.tsaLeaf.der)),
          '-attime',
          String(FIXTURE_TIME.getTime() / 1000),
        ];
        const result = spawnSync('openssl', args, { encoding: 'utf8' });
        assert.match(result.stdout, /Verification: OK/, result.stderr);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    });
  });
});
