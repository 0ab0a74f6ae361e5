/**
 * Signing (DESIGN.md §6): authenticate the workload, decide by entitlement and policy, sign with
 * a per-request ephemeral key certified for minutes by the channel's CA, commit the log entry,
 * and only then hand out the Sigstore bundle (threat-model INV-1: no signature without its log
 * entry). The bundle carries the SET, the inclusion proof with its checkpoint, and an RFC 3161
 * timestamp, the shape sigstore-js and sigstore-go both verify (specs/sigstore-interop.md §0.1).
 */
import { AppError } from '../core/errors.ts';
import type {
  Clock,
  EphemeralKeyFactory,
  KeyHandle,
  Random,
  SigningRepository,
} from '../core/ports.ts';
import {
  BUNDLE_V03_MEDIA_TYPE,
  serializeBundle,
  type Bundle,
  type BundleContent,
} from '../core/sigstore/bundle.ts';
import { encodeDssePae, IN_TOTO_PAYLOAD_TYPE, type DsseEnvelope } from '../core/sigstore/dsse.ts';
import type { HashAlgorithm } from '../core/sigstore/hash-algorithm.ts';
import { hasSubjectDigest, parseInTotoStatement } from '../core/sigstore/in-toto-statement.ts';
import { createDsseBody, createHashedRekordBody } from '../core/sigstore/rekor-body.ts';
import { createSetPayload } from '../core/sigstore/signed-entry-timestamp.ts';
import {
  createLeafCertificate,
  DEFAULT_LEAF_VALIDITY_SECONDS,
} from '../core/x509/create-leaf-certificate.ts';
import type { SigningDecisions, DecidedSigning } from './decide-signing.ts';
import type { TimestampAuthority } from './issue-timestamp.ts';
import { openChannelCa, type OpenChannelCa, type PkiDeps } from './pki.ts';
import { buildTrustedRoot, type TrustedRootDeps } from './trusted-root.ts';
import type { TrustedRoot } from '../core/sigstore/trusted-root.ts';
import type { TransparencyLog } from './open-transparency-log.ts';

/** What can be signed: a message signature over the artifact, or a DSSE in-toto attestation. */
export type SigningKind = 'artifact' | 'attestation';

/** Entry kinds, as the log and the bundle's `kindVersion` name them (interop §2.2, §2.3). */
const HASHEDREKORD = { kind: 'hashedrekord', version: '0.0.1' } as const;
const DSSE = { kind: 'dsse', version: '0.0.1' } as const;

export interface SignRequest {
  /** The workload's OIDC token. Attacker-controlled; never stored or logged. */
  readonly identityToken: string;
  readonly product: string;
  readonly channel: string;
  readonly subject: {
    readonly name: string;
    readonly digest: { readonly algorithm: HashAlgorithm; readonly value: string };
  };
  readonly kind: SigningKind;
  /** For `attestation`: the in-toto Statement v1 (JSON bytes) whose subjects include the digest. */
  readonly statement?: Uint8Array;
}

export interface SignResult {
  /** The signing record's id. */
  readonly id: string;
  readonly bundle: Bundle;
  readonly logIndex: bigint;
  readonly decision: DecidedSigning;
}

export interface SignDeps {
  readonly decisions: SigningDecisions;
  /** The CA of a product/channel (cached by the caller). Throws NOT_FOUND when there is none. */
  readonly channelCa: (product: string, channel: string) => Promise<OpenChannelCa>;
  readonly ephemeralKeys: EphemeralKeyFactory;
  readonly log: Pick<TransparencyLog, 'append'>;
  /** The log key (purpose `log`), for the SET. */
  readonly logKey: KeyHandle;
  /** SHA-256 of the log key's SPKI. */
  readonly logId: Uint8Array;
  readonly timestamps: Pick<TimestampAuthority, 'timestampSignature'>;
  /** Where the bundle is kept once the log has answered. */
  readonly signings: Pick<SigningRepository, 'attachBundle'>;
  readonly clock: Clock;
  readonly random: Random;
  /** Leaf certificate lifetime (default 10 minutes). */
  readonly leafValiditySeconds?: number;
}

/**
 * Signs one subject for a workload, or refuses.
 *
 * @throws {@link AppError} UNAUTHENTICATED (bad token), POLICY_DENIED (with the reasons),
 *   INVALID_INPUT (bad digest or statement), NOT_FOUND (the channel has no CA), KEY_UNAVAILABLE,
 *   STORAGE_UNAVAILABLE (nothing was signed).
 */
export async function sign(request: SignRequest, deps: SignDeps): Promise<SignResult> {
  const digest = decodeDigest(request.subject.digest.algorithm, request.subject.digest.value);
  const statement = request.kind === 'attestation' ? checkStatement(request, digest) : undefined;

  const decision = await deps.decisions.decide(
    {
      identityToken: request.identityToken,
      product: request.product,
      channel: request.channel,
      subject: request.subject,
    },
    { purpose: 'sign' },
  );
  if (decision.decision !== 'allow') {
    throw new AppError(
      'POLICY_DENIED',
      `signing on ${request.product}/${request.channel} denied: ${decision.reasons.join('; ')}`,
      {
        errors: decision.reasons.map((reason) => ({ path: '/decision', message: reason })),
      },
    );
  }

  const ca = await deps.channelCa(request.product, request.channel);
  const key = deps.ephemeralKeys.create();
  const certificate = await createLeafCertificate({
    issuerKey: ca.key,
    issuerCertificate: ca.certificate,
    subjectPublicKeySpki: key.publicKeySpki,
    workload: decision.workload,
    notBefore: deps.clock.now(),
    validitySeconds: deps.leafValiditySeconds ?? DEFAULT_LEAF_VALIDITY_SECONDS,
    random: deps.random,
  });
  const verifier = { type: 'certificate', der: certificate } as const;

  let content: BundleContent;
  let signature: Uint8Array;
  let body: Uint8Array;
  let kindVersion: { readonly kind: string; readonly version: string };
  if (statement === undefined) {
    signature = key.signDigest(digest);
    body = createHashedRekordBody({
      digest: { algorithm: request.subject.digest.algorithm, value: digest },
      signature,
      verifier,
    });
    kindVersion = HASHEDREKORD;
    content = {
      type: 'messageSignature',
      messageSignature: {
        messageDigest: { algorithm: request.subject.digest.algorithm, digest },
        signature,
      },
    };
  } else {
    signature = key.sign(encodeDssePae(IN_TOTO_PAYLOAD_TYPE, statement));
    const envelope: DsseEnvelope = {
      payload: statement,
      payloadType: IN_TOTO_PAYLOAD_TYPE,
      signatures: [{ sig: signature, keyid: '' }],
    };
    body = createDsseBody({ envelope, verifier });
    kindVersion = DSSE;
    content = { type: 'dsseEnvelope', dsseEnvelope: envelope };
  }

  // The signature exists only in memory until the log has durably committed its entry.
  // The signing record commits in the same transaction as the entry (threat-model INV-2).
  const id = Buffer.from(deps.random.bytes(16)).toString('base64url');
  const createdAt = deps.clock.now();
  const [entry] = await deps.log.append([
    {
      kind: `${kindVersion.kind}/${kindVersion.version}`,
      body,
      effect: (session, logged) =>
        session.signings.insert({
          id,
          product: request.product,
          channel: request.channel,
          kind: request.kind,
          subjectName: request.subject.name,
          digestAlgorithm: request.subject.digest.algorithm,
          digestValue: request.subject.digest.value,
          identity: decision.workload.identityUri,
          issuer: decision.workload.issuer,
          logIndex: logged.index,
          decisionLogIndex: decision.logEntry.index,
          createdAt,
        }),
    },
  ]);
  if (entry === undefined) throw new AppError('INTERNAL', 'the log returned no entry');

  const integratedTime = BigInt(entry.integratedTime);
  const signedEntryTimestamp = await deps.logKey.sign(
    createSetPayload({ body, integratedTime, logId: deps.logId, logIndex: entry.index }),
  );
  const timestamp = await deps.timestamps.timestampSignature(signature);
  const bundle: Bundle = {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    version: '0.3',
    verificationMaterial: {
      content: { type: 'certificate', certificate },
      tlogEntries: [
        {
          logIndex: entry.index,
          logId: deps.logId,
          kindVersion,
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
    content,
  };
  await deps.signings.attachBundle(id, serializeBundle(bundle));
  return { id, bundle, logIndex: entry.index, decision };
}

function decodeDigest(algorithm: HashAlgorithm, hex: string): Uint8Array {
  const length = { sha256: 32, sha384: 48, sha512: 64 }[algorithm];
  if (!new RegExp(`^[0-9a-f]{${length * 2}}$`).test(hex)) {
    throw new AppError(
      'INVALID_INPUT',
      `subject digest must be ${length * 2} lower-case hex characters for ${algorithm}`,
      {
        errors: [
          {
            path: '/subject/digest/value',
            message: `expected ${length * 2} lower-case hex characters`,
          },
        ],
      },
    );
  }
  return new Uint8Array(Buffer.from(hex, 'hex'));
}

/** The statement must be an in-toto Statement v1 naming the subject digest (G20: js does not check). */
function checkStatement(request: SignRequest, digest: Uint8Array): Uint8Array {
  if (request.statement === undefined) {
    throw new AppError('INVALID_INPUT', 'an attestation needs an in-toto statement', {
      errors: [{ path: '/statement', message: 'required for kind attestation' }],
    });
  }
  const parsed = parseInTotoStatement(request.statement);
  if (!hasSubjectDigest(parsed, request.subject.digest.algorithm, digest)) {
    throw new AppError(
      'INVALID_INPUT',
      `the statement's subjects do not include ${request.subject.digest.algorithm}:${request.subject.digest.value}`,
      {
        errors: [{ path: '/statement/subject', message: 'must include the subject digest' }],
      },
    );
  }
  return request.statement;
}

/** Signing as the service offers it: one object for the HTTP layer. */
export interface SigningService {
  /** See `sign`. */
  sign(request: SignRequest): Promise<SignResult>;
  /** See `buildTrustedRoot`. */
  trustedRoot(scope?: { readonly product: string; readonly channel: string }): Promise<TrustedRoot>;
}

export interface SigningServiceDeps extends Omit<SignDeps, 'channelCa'> {
  readonly pki: Pick<PkiDeps, 'serviceKeys' | 'store'>;
  readonly trust: TrustedRootDeps;
}

/**
 * The signing service. Channel CAs are opened once and kept (their keys stay in the backend); a
 * failed open is not cached, so an operator issuing the CA later needs no restart.
 */
export function createSigningService(deps: SigningServiceDeps): SigningService {
  const cas = new Map<string, Promise<OpenChannelCa>>();
  const channelCa = (product: string, channel: string): Promise<OpenChannelCa> => {
    const key = `${product}/${channel}`;
    let ca = cas.get(key);
    if (ca === undefined) {
      ca = openChannelCa(deps.pki, product, channel);
      cas.set(key, ca);
      ca.catch(() => cas.delete(key));
    }
    return ca;
  };
  return {
    sign: (request) => sign(request, { ...deps, channelCa }),
    trustedRoot: (scope) => buildTrustedRoot(deps.trust, scope),
  };
}
