/**
 * Channel CAs shaped like the service's (`O=<org>, OU=<product>, CN=<product>/<channel>`, issued
 * by the root), and trusted roots listing them, on top of the test Sigstore.
 */
import type { TrustedRoot } from '../../src/core/sigstore/trusted-root.ts';
import {
  createTestCertificate,
  FIXTURE_TIME,
  type TestCertificate,
  type TestSigstore,
} from './sigstore-fixtures.ts';

const YEAR = 365 * 24 * 3600 * 1000;
const CODE_SIGNING = '1.3.6.1.5.5.7.3.3';

/** A channel CA as the service makes it, issued by the test root. */
export function createChannelCa(
  sigstore: TestSigstore,
  product: string,
  channel: string,
): TestCertificate {
  return createTestCertificate({
    subject: [
      ['2.5.4.10', 'Example Org'],
      ['2.5.4.11', product],
      ['2.5.4.3', `${product}/${channel}`],
    ],
    issuer: sigstore.root,
    notBefore: new Date(FIXTURE_TIME.getTime() - YEAR),
    notAfter: new Date(FIXTURE_TIME.getTime() + YEAR),
    ca: { pathLength: 0 },
    extendedKeyUsage: { oids: [CODE_SIGNING], critical: false },
  });
}

/** The test trusted root with the given CAs (each chained to the test root). */
export function trustedRootWith(
  sigstore: TestSigstore,
  cas: readonly TestCertificate[],
): TrustedRoot {
  return {
    ...sigstore.trustedRoot,
    certificateAuthorities: cas.map((ca) => ({
      certChain: [ca.der, sigstore.root.der],
      validFor: { start: new Date(FIXTURE_TIME.getTime() - YEAR) },
    })),
  };
}
