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
  SigningRequestRecord,
  StorageSession,
} from '../core/ports.ts';
import { serializeBundle, type Bundle } from '../core/sigstore/bundle.ts';
import type { HashAlgorithm } from '../core/sigstore/hash-algorithm.ts';
import { soleSubjectMismatch, parseInTotoStatement } from '../core/sigstore/in-toto-statement.ts';
import {
  createLeafCertificate,
  DEFAULT_LEAF_VALIDITY_SECONDS,
} from '../core/x509/create-leaf-certificate.ts';
import type { SigningDecisions, DecidedSigning } from './decide-signing.ts';
import { attestSigningDecision, decisionAttestationWorkload } from './decision-attestation.ts';
import { issueBundle, signArtifactDigest, signDsse } from './issue-bundle.ts';
import type { ActiveGovernance } from './active-governance.ts';
import {
  APPROVALS_POLICY_ID,
  approvalCountForPolicy,
  type ConsumedRequest,
  type SigningRequests,
  type SigningRequestView,
} from './signing-requests.ts';
import type { ApprovalEvaluation } from '../core/approvals/count-approvals.ts';
import {
  toSigningDecisionRequester,
  type SigningDecisionPredicate,
} from '../core/attestation/signing-decision.ts';
import { findChannel } from '../core/governance/governance.ts';
import type { Workload } from '../core/governance/workload.ts';
import type { UsableException } from './exceptions.ts';
import type { TimestampAuthority } from './issue-timestamp.ts';
import { openChannelCa, type OpenChannelCa, type PkiDeps } from './pki.ts';
import { buildTrustedRoot, type TrustedRootDeps } from './trusted-root.ts';
import type { TrustedRoot } from '../core/sigstore/trusted-root.ts';
import type { TransparencyLog } from './open-transparency-log.ts';

/** What can be signed: a message signature over the artifact, or a DSSE in-toto attestation. */
export type SigningKind = 'artifact' | 'attestation';

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
  /**
   * The approved signing request this call completes. Optional: without it the workload's
   * pending request for exactly this subject is used.
   */
  readonly requestId?: string;
}

/** A signature, logged, with its decision attestation. */
export interface SignResult {
  readonly status: 'signed';
  /** The signing record's id. */
  readonly id: string;
  readonly bundle: Bundle;
  /** The decision attestation: why the service signed, under which policy and approvals. */
  readonly decisionBundle: Bundle;
  readonly logIndex: bigint;
  readonly decision: DecidedSigning;
}

/** Nothing was signed yet: approvals are missing and a signing request waits for them. */
export interface PendingSignature {
  readonly status: 'pending';
  readonly request: SigningRequestView;
  readonly decision: DecidedSigning;
}

/** What `sign` answers. */
export type SignOutcome = SignResult | PendingSignature;

/** What the signing path needs of exceptions (break-glass). */
export interface ExceptionsForSigning {
  /** The usable exception of product/channel now, read before the decision. */
  findUsable(product: string, channel: string, now: Date): Promise<UsableException | undefined>;
  /** Consumes one use inside the signing transaction; throws CONFLICT when none is left. */
  consume(session: StorageSession, id: string, now: Date): Promise<number>;
  /** After the signing committed: logs the `exception.used` events of spent uses. */
  logUses(): Promise<void>;
}

export interface SignDeps {
  readonly decisions: SigningDecisions;
  /** The CA of a product/channel (cached by the caller). Throws NOT_FOUND when there is none. */
  readonly channelCa: (product: string, channel: string) => Promise<OpenChannelCa>;
  readonly ephemeralKeys: EphemeralKeyFactory;
  readonly log: Pick<TransparencyLog, 'append' | 'write'>;
  /** The log key (purpose `log`), for the SET. */
  readonly logKey: KeyHandle;
  /** SHA-256 of the log key's SPKI. */
  readonly logId: Uint8Array;
  readonly timestamps: Pick<TimestampAuthority, 'timestampSignature'>;
  /** Where the bundle is kept once the log has answered. */
  readonly signings: Pick<SigningRepository, 'attachBundle'>;
  /** Signing requests and their approvals. */
  readonly requests: SigningRequests;
  readonly exceptions: ExceptionsForSigning;
  /** `server.publicUrl`: names the service in decision attestations. */
  readonly publicUrl: string;
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
export async function sign(request: SignRequest, deps: SignDeps): Promise<SignOutcome> {
  const digest = decodeDigest(request.subject.digest.algorithm, request.subject.digest.value);
  const statement = request.kind === 'attestation' ? checkStatement(request, digest) : undefined;
  let active: ActiveGovernance | undefined;
  let pending: { record: SigningRequestRecord; evaluation: ApprovalEvaluation } | undefined;
  let exception: UsableException | undefined;

  const decision = await deps.decisions.decide(
    {
      identityToken: request.identityToken,
      product: request.product,
      channel: request.channel,
      subject: request.subject,
    },
    {
      // The token's jti is consumed in the signing transaction below, not now: a call that only
      // opens a signing request leaves the job's token usable for completing it (GitLab jobs
      // have one token), and a signature's token is spent atomically with its log entry.
      purpose: 'sign-later',
      // Approvals and the exception are read for the workload the token names, from the
      // governance in force; both are checked again and consumed in the signing transaction.
      resolveContext: async (workload, current) => {
        active = current;
        const required =
          findChannel(current.governance, request.product, request.channel)?.approval.required ?? 0;
        // Channels without approvals (most signatures) skip the signing-request lookup.
        pending =
          required === 0 && request.requestId === undefined
            ? undefined
            : await deps.requests.findForSigning(
                {
                  workload,
                  product: request.product,
                  channel: request.channel,
                  kind: request.kind,
                  subject: request.subject,
                  ...(statement === undefined ? {} : { statement }),
                },
                current,
                request.requestId,
              );
        exception = await deps.exceptions.findUsable(
          request.product,
          request.channel,
          deps.clock.now(),
        );
        return {
          approvals: {
            count: pending === undefined ? 0 : approvalCountForPolicy(pending.evaluation, required),
          },
          ...(exception === undefined
            ? {}
            : { exception: { active: true, waives: exception.waives } }),
        };
      },
    },
  );
  // The service's own identity signs decision attestations; no workload may be certified as it
  // (a generic issuer on the service's URL could otherwise mint look-alike attestations).
  const service = decisionAttestationWorkload(deps.publicUrl);
  if (
    decision.workload.issuer === service.issuer ||
    decision.workload.identityUri.startsWith(`${service.issuer}/`)
  ) {
    throw new AppError(
      'POLICY_DENIED',
      `workload identity ${decision.workload.identityUri} is reserved for the service's own decision attestations`,
      { hint: 'trust no issuer on the service’s own URL in governance' },
    );
  }
  if (
    decision.decision !== 'allow' &&
    decision.determiningPolicies.length > 0 &&
    decision.determiningPolicies.every((policy) => policy === APPROVALS_POLICY_ID) &&
    pending?.evaluation.rejectedBy === undefined
  ) {
    // Only approvals are missing: open (or return) the request people approve.
    const opened = await deps.requests.open({
      workload: decision.workload,
      product: request.product,
      channel: request.channel,
      kind: request.kind,
      subject: request.subject,
      ...(statement === undefined ? {} : { statement }),
      reasons: decision.reasons,
      policyHash: decision.policyHash,
      governanceVersion: decision.governanceVersion,
      decisionLogIndex: decision.logEntry.index,
    });
    return { status: 'pending', request: opened, decision };
  }
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
  const signed =
    statement === undefined
      ? signArtifactDigest(
          key,
          { algorithm: request.subject.digest.algorithm, value: digest },
          certificate,
        )
      : signDsse(key, statement, certificate);

  // The signature exists only in memory until the log has durably committed its entry.
  // The signing record commits in the same transaction as the entry (threat-model INV-2).
  const id = Buffer.from(deps.random.bytes(16)).toString('base64url');
  const createdAt = deps.clock.now();
  let consumed: ConsumedRequest | undefined;
  let exceptionUse: number | undefined;
  const [entry] = await deps.log.append([
    {
      kind: `${signed.kindVersion.kind}/${signed.kindVersion.version}`,
      body: signed.body,
      effect: async (session, logged) => {
        // Check-consume-sign-log is one step (INV-8): of racing signers exactly one consumes
        // the request or the exception's last use; the others' entries never commit.
        const now = deps.clock.now();
        await consumeTokenId(session, decision.workload, now);
        // The decision holds only for the governance it was taken under: a change applied since
        // (a revoked entitlement, a removed approver, a stricter rule) aborts this signature.
        const inForce = await session.governance.latestVersion();
        if (inForce !== decision.governanceVersion) {
          throw new AppError(
            'CONFLICT',
            `governance changed while signing (version ${String(decision.governanceVersion)} decided, ${String(inForce)} in force); nothing was signed`,
            { hint: 'sign again with a fresh token: the new governance decides' },
          );
        }
        if (pending?.evaluation.satisfied === true && active !== undefined) {
          consumed = await deps.requests.consumeForSigning(session, pending.record.id, id, active);
        }
        if (decision.exceptionUsed && exception !== undefined) {
          exceptionUse = await deps.exceptions.consume(session, exception.id, now);
        }
        await session.signings.insert({
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
        });
      },
    },
  ]);
  if (entry === undefined) throw new AppError('INTERNAL', 'the log returned no entry');

  const bundle = await issueBundle({ ...signed, entry }, deps);
  if (exceptionUse !== undefined) {
    // Best effort now; the periodic sweep logs it otherwise (the use itself is already durable).
    await deps.exceptions.logUses().catch(() => undefined);
  }
  const decisionBundle = await attestSigningDecision(
    {
      subject: { name: request.subject.name, digest: { ...request.subject.digest } },
      predicate: decisionPredicate({
        id,
        request,
        decision,
        logIndex: entry.index,
        consumed,
        exception:
          exception !== undefined && exceptionUse !== undefined
            ? { ...exception, use: exceptionUse }
            : undefined,
        now: createdAt,
      }),
    },
    { ...deps, channelCa: deps.channelCa },
  );
  await deps.signings.attachBundle(id, serializeBundle(bundle), serializeBundle(decisionBundle));
  return { status: 'signed', id, bundle, decisionBundle, logIndex: entry.index, decision };
}

/** Spends the workload token's `jti` (threat-model A-series: single-use signing tokens). */
async function consumeTokenId(
  session: StorageSession,
  workload: Workload,
  now: Date,
): Promise<void> {
  const { tokenId, tokenExpiresAt } = workload;
  if (tokenId === undefined || tokenExpiresAt === undefined) {
    throw new AppError('INTERNAL', 'a signing token was verified without its token id');
  }
  if (!(await session.usedTokenIds.consume(workload.issuer, tokenId, tokenExpiresAt, now))) {
    throw new AppError('UNAUTHENTICATED', 'the identity token was already used (replayed jti)', {
      hint: 'each signature needs a fresh token from the CI job',
    });
  }
}

/** The predicate of the decision attestation of one signing (DESIGN.md §6 step 8). */
function decisionPredicate(input: {
  readonly id: string;
  readonly request: SignRequest;
  readonly decision: DecidedSigning;
  readonly logIndex: bigint;
  readonly consumed: ConsumedRequest | undefined;
  readonly exception: (UsableException & { readonly use: number }) | undefined;
  readonly now: Date;
}): Omit<SigningDecisionPredicate, 'service'> {
  const { decision, consumed, exception } = input;
  return {
    signing: {
      id: input.id,
      product: input.request.product,
      channel: input.request.channel,
      kind: input.request.kind,
      logIndex: input.logIndex.toString(),
    },
    requester: toSigningDecisionRequester(decision.workload),
    decision: {
      policyHash: decision.policyHash,
      governanceVersion: decision.governanceVersion,
      decisionLogIndex: decision.logEntry.index.toString(),
      decidedAt: decision.evidence.decidedAt,
      determiningPolicies: [...decision.determiningPolicies],
      reasons: [...decision.reasons],
    },
    evidence: [],
    approvals: {
      requestId: consumed?.record.id ?? null,
      required: consumed?.rule.required ?? 0,
      group: consumed === undefined || consumed.rule.required === 0 ? null : consumed.rule.group,
      approvers: (consumed?.approvals ?? []).map((approval) => ({
        userId: approval.userId,
        group: approval.group,
        credential: {
          id: approval.credential.id,
          kind: approval.credential.kind,
          algorithm: approval.credential.algorithm,
          publicKey: base64(approval.credential.publicKeySpki),
          ...(approval.credential.rpId === null ? {} : { rpId: approval.credential.rpId }),
        },
        statement: base64(approval.record.statement),
        signature: base64(approval.record.signature),
        ...(approval.record.authenticatorData !== null && approval.record.clientDataJson !== null
          ? {
              webauthn: {
                authenticatorData: base64(approval.record.authenticatorData),
                clientDataJSON: base64(approval.record.clientDataJson),
              },
            }
          : {}),
      })),
    },
    exception:
      exception === undefined
        ? null
        : {
            id: exception.id,
            waives: [...exception.waives],
            reason: exception.reason,
            requestedBy: exception.requestedBy,
            approvedBy: [...exception.approvedBy],
            notAfter: exception.notAfter.toISOString(),
            maxUses: exception.maxUses,
            use: exception.use,
          },
    changeWindow: {
      // As evaluated for the decision (the caller's statement, or the channel's windows now).
      open: decision.evidence.changeWindow?.open ?? decision.context?.changeWindow?.open ?? true,
      evaluatedAt: input.now.toISOString(),
    },
  };
}

function base64(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('base64');
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

/**
 * The statement must be an in-toto Statement v1 about exactly the requested subject (G20: js does
 * not check): one subject, the request's name and digest, no other digest. Anything more would be
 * signed without being decided, approved or recorded.
 */
function checkStatement(request: SignRequest, digest: Uint8Array): Uint8Array {
  if (request.statement === undefined) {
    throw new AppError('INVALID_INPUT', 'an attestation needs an in-toto statement', {
      errors: [{ path: '/statement', message: 'required for kind attestation' }],
    });
  }
  const parsed = parseInTotoStatement(request.statement);
  const mismatch = soleSubjectMismatch(parsed, {
    name: request.subject.name,
    algorithm: request.subject.digest.algorithm,
    digest,
  });
  if (mismatch !== undefined) {
    throw new AppError(
      'INVALID_INPUT',
      `the statement is not about the subject signed: it ${mismatch}`,
      {
        errors: [{ path: '/statement/subject', message: mismatch }],
        hint: 'send one statement per artifact whose only subject is the request subject (countersign sign --attest does this for each file)',
      },
    );
  }
  return request.statement;
}

/** Signing as the service offers it: one object for the HTTP layer. */
export interface SigningService {
  /** See `sign`. */
  sign(request: SignRequest): Promise<SignOutcome>;
  /** See `buildTrustedRoot`. */
  trustedRoot(scope?: { readonly product: string; readonly channel: string }): Promise<TrustedRoot>;
}

export interface SigningServiceDeps extends Omit<SignDeps, 'channelCa' | 'signings'> {
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
  // A bundle is stored with the log's next batch: concurrent signings' bundles share the commit
  // the log makes anyway instead of paying for their own.
  const signings: SignDeps['signings'] = {
    attachBundle: (...args) => deps.log.write((session) => session.signings.attachBundle(...args)),
  };
  return {
    sign: (request) => sign(request, { ...deps, channelCa, signings }),
    trustedRoot: (scope) => buildTrustedRoot(deps.trust, scope),
  };
}
