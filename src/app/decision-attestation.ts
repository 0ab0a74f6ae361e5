/**
 * The decision attestation (DESIGN.md §6 step 8): the service's own signed statement of why it
 * signed an artifact, returned as a second Sigstore bundle beside the artifact's. It is signed
 * like any attestation the service makes — a fresh ephemeral P-256 key, a short-lived leaf
 * certificate from the channel's CA, a `dsse/0.0.1` log entry, its SET and an RFC 3161
 * timestamp — but the certificate names the service itself, `<publicUrl>/attestation/signing-decision`
 * with issuer `<publicUrl>`, so a consumer can tell it from a workload's attestation and require it
 * (`countersign verify --require-approvals N`).
 */
import { AppError } from '../core/errors.ts';
import {
  createSigningDecisionStatement,
  normalizeServiceUrl,
  signingDecisionIdentity,
  type SigningDecisionPredicate,
  type SigningDecisionSubject,
} from '../core/attestation/signing-decision.ts';
import type { Workload } from '../core/governance/workload.ts';
import type { Clock, EphemeralKeyFactory, Random } from '../core/ports.ts';
import type { Bundle } from '../core/sigstore/bundle.ts';
import {
  createLeafCertificate,
  DEFAULT_LEAF_VALIDITY_SECONDS,
} from '../core/x509/create-leaf-certificate.ts';
import { issueBundle, signDsse, type IssueBundleDeps } from './issue-bundle.ts';
import type { LogAppend } from './log-sequencer.ts';
import type { TransparencyLog } from './open-transparency-log.ts';
import type { OpenChannelCa } from './pki.ts';

/** What the decision attestation states (the service URL comes from the deps). */
export interface AttestSigningDecisionInput {
  /** The artifact subject, exactly as signed (digest value in lowercase hex). */
  readonly subject: SigningDecisionSubject;
  /** Everything but `service`, which is the deps' `publicUrl`. */
  readonly predicate: Omit<SigningDecisionPredicate, 'service'>;
  /** Work to commit atomically with the attestation's log entry (e.g. recording it). */
  readonly effect?: LogAppend['effect'];
}

/** What attesting needs: the signing service's deps, plus its public URL. */
export interface AttestSigningDecisionDeps extends IssueBundleDeps {
  /** `server.publicUrl`: the attestation's `service`, and its certificate identity's base. */
  readonly publicUrl: string;
  /** The CA of a product/channel. Throws NOT_FOUND when there is none. */
  readonly channelCa: (product: string, channel: string) => Promise<OpenChannelCa>;
  readonly ephemeralKeys: EphemeralKeyFactory;
  readonly log: Pick<TransparencyLog, 'append'>;
  readonly clock: Clock;
  readonly random: Random;
  /** Leaf certificate lifetime (default 10 minutes). */
  readonly leafValiditySeconds?: number;
}

/** The synthetic workload naming the service as the signer of its decision attestations. */
export function decisionAttestationWorkload(publicUrl: string): Workload {
  const service = normalizeServiceUrl(publicUrl);
  const identityUri = signingDecisionIdentity(service);
  return { issuer: service, issuerType: 'generic', subject: identityUri, identityUri };
}

/**
 * Builds, signs, logs and timestamps the decision attestation of one signing, and returns its
 * Sigstore bundle v0.3 (DSSE, in-toto Statement v1, predicate type
 * `https://countersign.dev/attestation/signing-decision/v1`). Call it after the artifact's own
 * log entry committed: the predicate names that entry's index.
 *
 * @throws {@link AppError} INVALID_INPUT when the predicate is malformed (nothing is logged);
 *   NOT_FOUND when the channel has no CA; KEY_UNAVAILABLE; STORAGE_UNAVAILABLE (nothing was
 *   logged); UPSTREAM_UNAVAILABLE from the timestamp authority (the entry is logged, no bundle).
 */
export async function attestSigningDecision(
  input: AttestSigningDecisionInput,
  deps: AttestSigningDecisionDeps,
): Promise<Bundle> {
  const workload = decisionAttestationWorkload(deps.publicUrl);
  const statement = createSigningDecisionStatement({
    subject: input.subject,
    predicate: { service: workload.issuer, ...input.predicate },
  });
  const { product, channel } = input.predicate.signing;
  const ca = await deps.channelCa(product, channel);
  const key = deps.ephemeralKeys.create();
  const certificate = await createLeafCertificate({
    issuerKey: ca.key,
    issuerCertificate: ca.certificate,
    subjectPublicKeySpki: key.publicKeySpki,
    workload,
    notBefore: deps.clock.now(),
    validitySeconds: deps.leafValiditySeconds ?? DEFAULT_LEAF_VALIDITY_SECONDS,
    random: deps.random,
  });
  const signed = signDsse(key, statement, certificate);
  // As for every signature: nothing leaves this function before the log has committed the entry.
  const [entry] = await deps.log.append([
    {
      kind: `${signed.kindVersion.kind}/${signed.kindVersion.version}`,
      body: signed.body,
      ...(input.effect === undefined ? {} : { effect: input.effect }),
    },
  ]);
  if (entry === undefined) throw new AppError('INTERNAL', 'the log returned no entry');
  return issueBundle({ ...signed, entry }, deps);
}
