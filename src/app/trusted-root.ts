/**
 * The Sigstore TrustedRoot of this service (issue "Sign and verify" item 5): what a verifier
 * needs to check our bundles offline — the channel CAs with the root, the log key, the TSA chain
 * (specs/sigstore-interop.md §4: v0.1 media type, no checkpointKeyId, every log key with
 * `validFor.start`, no CT logs).
 */
import { AppError } from '../core/errors.ts';
import type { LogRepository, PkiCertificateRecord, PkiStore } from '../core/ports.ts';
import {
  createTransparencyLogInstance,
  TRUSTED_ROOT_MEDIA_TYPE,
  type CertificateAuthority,
  type TrustedRoot,
} from '../core/sigstore/trusted-root.ts';
import type { LogInfo } from './read-log.ts';

export interface TrustedRootDeps {
  readonly pki: Pick<PkiStore, 'list'>;
  readonly log: Pick<LogRepository, 'checkpoint'>;
  readonly logInfo: LogInfo;
  /** The service's public URL: the log's `baseUrl`, whose host is the checkpoint key name. */
  readonly publicUrl: string;
}

/**
 * Builds the TrustedRoot, for every channel or for one (`scope`): a verifier given a channel's
 * root accepts only that channel's signatures.
 *
 * @throws {@link AppError} NOT_FOUND when the PKI has no root or TSA yet, or the channel has no CA.
 */
export async function buildTrustedRoot(
  deps: TrustedRootDeps,
  scope?: { readonly product: string; readonly channel: string },
): Promise<TrustedRoot> {
  const records = await deps.pki.list();
  const root = records.find((r) => r.role === 'root-ca');
  const tsa = records.find((r) => r.role === 'tsa');
  if (root === undefined || tsa === undefined) {
    throw new AppError('NOT_FOUND', 'the PKI is not set up yet', {
      hint: 'create it with `countersign ca init`',
    });
  }
  const channelCas = records.filter(
    (r) =>
      r.role === 'channel-ca' &&
      (scope === undefined || (r.product === scope.product && r.channel === scope.channel)),
  );
  if (scope !== undefined && channelCas.length === 0) {
    throw new AppError('NOT_FOUND', `${scope.product}/${scope.channel} has no CA`);
  }
  // The log key has signed since the log's first checkpoint; SET times are checked against this.
  const first = await deps.log.checkpoint(1n);
  const logSince = first?.createdAt ?? root.notBefore;
  return {
    mediaType: TRUSTED_ROOT_MEDIA_TYPE,
    tlogs: [
      createTransparencyLogInstance({
        baseUrl: deps.publicUrl.replace(/\/+$/, ''),
        publicKeySpki: deps.logInfo.publicKeySpki,
        validFor: { start: earlier(logSince, root.notBefore) },
      }),
    ],
    certificateAuthorities: channelCas.map((ca) => authorityOf(ca, root, 'channel')),
    ctlogs: [],
    timestampAuthorities: [authorityOf(tsa, root, 'tsa')],
  };
}

function authorityOf(
  record: PkiCertificateRecord,
  root: PkiCertificateRecord,
  kind: 'channel' | 'tsa',
): CertificateAuthority {
  return {
    subject: {
      organization: 'Countersign',
      commonName:
        kind === 'tsa'
          ? 'Countersign timestamp authority'
          : `${record.product ?? ''}/${record.channel ?? ''}`,
    },
    certChain: [record.certificate, root.certificate],
    validFor: { start: record.notBefore, end: record.notAfter },
  };
}

function earlier(a: Date, b: Date): Date {
  return a.getTime() <= b.getTime() ? a : b;
}
