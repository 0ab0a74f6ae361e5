/**
 * The last steps of every signature the service makes, once its log entry is durably committed
 * (threat-model INV-1: no signature leaves without its log entry): the SET over the entry, the
 * RFC 3161 timestamp over the signature bytes, and the Sigstore bundle v0.3 carrying both with
 * the inclusion proof and checkpoint — the shape sigstore-js and sigstore-go both verify
 * (specs/sigstore-interop.md §0.1, §1). Shared by artifact signing (`sign`) and the decision
 * attestation (`attestSigningDecision`), so both bundles are built the same way.
 */
import type { EphemeralKey, KeyHandle } from '../core/ports.ts';
import { BUNDLE_V03_MEDIA_TYPE, type Bundle, type BundleContent } from '../core/sigstore/bundle.ts';
import { encodeDssePae, IN_TOTO_PAYLOAD_TYPE, type DsseEnvelope } from '../core/sigstore/dsse.ts';
import type { HashAlgorithm } from '../core/sigstore/hash-algorithm.ts';
import { createDsseBody, createHashedRekordBody } from '../core/sigstore/rekor-body.ts';
import { createSetPayload } from '../core/sigstore/signed-entry-timestamp.ts';
import type { TimestampAuthority } from './issue-timestamp.ts';
import type { LogAppendResult } from './log-sequencer.ts';

/** The `dsse/0.0.1` entry kind, as the log and the bundle's `kindVersion` name it (interop §2.3). */
export const DSSE_KIND_VERSION = { kind: 'dsse', version: '0.0.1' } as const;
/** The `hashedrekord/0.0.1` entry kind of message signatures (interop §2.2). */
export const HASHEDREKORD_KIND_VERSION = { kind: 'hashedrekord', version: '0.0.1' } as const;

/** A signature whose log entry has committed. */
export interface LoggedSignature {
  /** The log's answer for the entry. */
  readonly entry: Pick<
    LogAppendResult,
    'index' | 'integratedTime' | 'inclusionProof' | 'treeSize' | 'rootHash' | 'checkpoint'
  >;
  /** The entry body (the canonicalized Rekor body that became the leaf). */
  readonly body: Uint8Array;
  readonly kindVersion: { readonly kind: string; readonly version: string };
  /** The signature bytes (message signature, or the DSSE signature), for the timestamp. */
  readonly signature: Uint8Array;
  /** DER leaf certificate of the signing key. */
  readonly certificate: Uint8Array;
  readonly content: BundleContent;
}

/** What finishing a bundle needs. */
export interface IssueBundleDeps {
  /** The log key (purpose `log`), for the SET. */
  readonly logKey: KeyHandle;
  /** SHA-256 of the log key's SPKI. */
  readonly logId: Uint8Array;
  readonly timestamps: Pick<TimestampAuthority, 'timestampSignature'>;
}

/**
 * Signs the SET, obtains the RFC 3161 timestamp over the signature and assembles the bundle.
 * Call only after the log committed the entry.
 *
 * @throws {@link AppError} KEY_UNAVAILABLE when the log or TSA key cannot sign;
 *   UPSTREAM_UNAVAILABLE as the timestamp authority.
 */
export async function issueBundle(logged: LoggedSignature, deps: IssueBundleDeps): Promise<Bundle> {
  const { entry, body } = logged;
  const integratedTime = BigInt(entry.integratedTime);
  const signedEntryTimestamp = await deps.logKey.sign(
    createSetPayload({ body, integratedTime, logId: deps.logId, logIndex: entry.index }),
  );
  const timestamp = await deps.timestamps.timestampSignature(logged.signature);
  return {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    version: '0.3',
    verificationMaterial: {
      content: { type: 'certificate', certificate: logged.certificate },
      tlogEntries: [
        {
          logIndex: entry.index,
          logId: deps.logId,
          kindVersion: logged.kindVersion,
          integratedTime,
          inclusionPromise: { signedEntryTimestamp },
          inclusionProof: {
            logIndex: entry.index,
            rootHash: entry.rootHash,
            treeSize: entry.treeSize,
            hashes: entry.inclusionProof,
            checkpoint: entry.checkpoint,
          },
          canonicalizedBody: body,
        },
      ],
      rfc3161Timestamps: [timestamp],
    },
    content: logged.content,
  };
}

/** A signature ready to be logged: its entry body, kind and bundle content. */
export type UnloggedSignature = Omit<LoggedSignature, 'entry'>;

/**
 * Signs an artifact's digest as a Sigstore message signature with `key` and builds its
 * `hashedrekord/0.0.1` log entry body, naming `certificate` as the verifier.
 */
export function signArtifactDigest(
  key: Pick<EphemeralKey, 'signDigest'>,
  digest: { readonly algorithm: HashAlgorithm; readonly value: Uint8Array },
  certificate: Uint8Array,
): UnloggedSignature {
  const signature = key.signDigest(digest.value);
  return {
    body: createHashedRekordBody({
      digest,
      signature,
      verifier: { type: 'certificate', der: certificate },
    }),
    kindVersion: HASHEDREKORD_KIND_VERSION,
    signature,
    certificate,
    content: {
      type: 'messageSignature',
      messageSignature: {
        messageDigest: { algorithm: digest.algorithm, digest: digest.value },
        signature,
      },
    },
  };
}

/**
 * Signs `statement` (in-toto JSON bytes) as a DSSE envelope with `key` and builds its `dsse/0.0.1`
 * log entry body, naming `certificate` as the verifier.
 *
 * @throws {@link AppError} INVALID_INPUT when the certificate is not DER.
 */
export function signDsse(
  key: Pick<EphemeralKey, 'sign'>,
  statement: Uint8Array,
  certificate: Uint8Array,
): UnloggedSignature {
  const signature = key.sign(encodeDssePae(IN_TOTO_PAYLOAD_TYPE, statement));
  const envelope: DsseEnvelope = {
    payload: statement,
    payloadType: IN_TOTO_PAYLOAD_TYPE,
    signatures: [{ sig: signature, keyid: '' }],
  };
  return {
    body: createDsseBody({ envelope, verifier: { type: 'certificate', der: certificate } }),
    kindVersion: DSSE_KIND_VERSION,
    signature,
    certificate,
    content: { type: 'dsseEnvelope', dsseEnvelope: envelope },
  };
}
