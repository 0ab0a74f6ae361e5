/**
 * Offline verification of a decision attestation's meaning (DESIGN.md §6 step 8; threat-model
 * INV-7): that it speaks of this artifact and this signature, and that the approvals it lists are
 * real approvals, each signed by the approver's credential over a statement bound to this request,
 * product, channel, artifact digest and policy version, counted once per person.
 *
 * The caller has already verified the DSSE envelope (`verifyBundle` against the trusted root, and
 * the signer identity `<service>/attestation/signing-decision`), so the predicate is the service's
 * word; what is checked here is that the service's word is consistent with the approvers' own
 * signatures and with the artifact bundle. Everything in the predicate is still parsed as hostile
 * input: a compromised or buggy signer must not be able to crash the verifier.
 */
import { AppError, isAppError } from '../errors.ts';
import { parseApprovalStatement, type ApprovalStatement } from '../approvals/approval-statement.ts';
import {
  COSE_ALGORITHMS,
  verifyApprovalSignature,
  type ApproverKey,
} from '../approvals/verify-approval.ts';
import type { HashAlgorithm } from '../sigstore/hash-algorithm.ts';
import { decodeBase64Strict } from '../tlog/bytes.ts';
import {
  parseSigningDecisionStatement,
  type SigningDecisionApprover,
  type SigningDecisionChangeWindow,
  type SigningDecisionException,
  type SigningDecisionKind,
  type SigningDecisionPredicate,
  type SigningDecisionRequester,
} from './signing-decision.ts';

/** What to check the attestation against. */
export interface VerifySigningDecisionInput {
  /** The DSSE payload of the decision bundle, already DSSE-verified by the caller. */
  readonly statement: Uint8Array;
  /** The artifact's digest, as verified against the artifact bundle. */
  readonly artifactDigest: { readonly algorithm: HashAlgorithm; readonly value: Uint8Array };
  /** The log index of the artifact bundle's entry (verified by `verifyBundle`). */
  readonly artifactLogIndex: bigint;
  /** Distinct approvers the consumer requires (0: approvals are reported, not required). */
  readonly requireApprovals: number;
  /** The product and channel the consumer expects the signing to be on. */
  readonly expected?: { readonly product?: string; readonly channel?: string };
}

/** One approver that counted. */
export interface VerifiedApprover {
  readonly userId: string;
  readonly group: string;
}

/** What a verified decision attestation says. */
export interface SigningDecisionSummary {
  readonly service: string;
  readonly signingId: string;
  readonly product: string;
  readonly channel: string;
  readonly kind: SigningDecisionKind;
  readonly requester: SigningDecisionRequester;
  readonly policyHash: string;
  readonly governanceVersion: number;
  /** RFC 3339 UTC. */
  readonly decidedAt: string;
  readonly requestId: string | null;
  /** Approvals the service's rule required. */
  readonly requiredByPolicy: number;
  /** Each distinct person whose approval verified, once. */
  readonly approvers: readonly VerifiedApprover[];
  readonly exception: SigningDecisionException | null;
  readonly changeWindow: SigningDecisionChangeWindow;
}

/**
 * Verifies a decision attestation against the artifact it claims to be about.
 *
 * Checks, in order: the statement parses; its subject digest is the artifact's digest; its
 * `signing.logIndex` is the artifact bundle's log index (so an attestation for one signing of a
 * digest cannot stand in for another); product and channel are the expected ones; every approver
 * entry is a well-formed approval statement whose signature verifies with the included credential
 * (ECDSA P-256 or WebAuthn), says `approve`, names the attestation's request id, product, channel,
 * kind and policy hash, and includes the artifact digest among its subjects; a credential serves
 * one person only; then at least `requireApprovals` distinct people approved.
 *
 * @throws {@link AppError} VERIFICATION_FAILED with a message starting `decision: ` naming the
 *   failed check, e.g. `decision: needs 2 approvals, the attestation holds 1`;
 *   INVALID_INPUT when `requireApprovals` is not a non-negative integer.
 */
export function verifySigningDecision(input: VerifySigningDecisionInput): SigningDecisionSummary {
  if (!Number.isSafeInteger(input.requireApprovals) || input.requireApprovals < 0) {
    throw new AppError('INVALID_INPUT', 'the number of required approvals must be 0 or more', {
      errors: [{ path: '--require-approvals', message: 'must be a non-negative integer' }],
    });
  }
  let parsed;
  try {
    parsed = parseSigningDecisionStatement(input.statement);
  } catch (error) {
    if (!isAppError(error, 'INVALID_INPUT')) throw error;
    fail(`the attestation is malformed: ${error.message}`);
  }
  const { subject, predicate } = parsed;

  const wanted = `${input.artifactDigest.algorithm}:${Buffer.from(input.artifactDigest.value).toString('hex')}`;
  const named = `${subject.digest.algorithm}:${subject.digest.value}`;
  if (named !== wanted) {
    fail(`the attestation is about ${named}, not the artifact ${wanted}`);
  }
  if (predicate.signing.logIndex !== input.artifactLogIndex.toString()) {
    fail(
      `the attestation is for the signature at log index ${predicate.signing.logIndex}, not the artifact bundle's ${input.artifactLogIndex.toString()}`,
    );
  }
  const { product, channel } = predicate.signing;
  const expected = input.expected ?? {};
  if (expected.product !== undefined && expected.product !== product) {
    fail(`the signing was on product ${product}, not ${expected.product}`);
  }
  if (expected.channel !== undefined && expected.channel !== channel) {
    fail(`the signing was on channel ${channel}, not ${expected.channel}`);
  }

  const approvers = verifyApprovers(predicate, input.artifactDigest);
  if (approvers.length < input.requireApprovals) {
    fail(
      `needs ${String(input.requireApprovals)} approval${input.requireApprovals === 1 ? '' : 's'}, the attestation holds ${String(approvers.length)}`,
    );
  }
  return {
    service: predicate.service,
    signingId: predicate.signing.id,
    product,
    channel,
    kind: predicate.signing.kind,
    requester: predicate.requester,
    policyHash: predicate.decision.policyHash,
    governanceVersion: predicate.decision.governanceVersion,
    decidedAt: predicate.decision.decidedAt,
    requestId: predicate.approvals.requestId,
    requiredByPolicy: predicate.approvals.required,
    approvers,
    exception: predicate.exception,
    changeWindow: predicate.changeWindow,
  };
}

/** Every entry must verify (one bad entry is a bad attestation); people are counted once. */
function verifyApprovers(
  predicate: SigningDecisionPredicate,
  artifactDigest: VerifySigningDecisionInput['artifactDigest'],
): VerifiedApprover[] {
  const { approvals } = predicate;
  const counted: VerifiedApprover[] = [];
  /** Credential public key (base64) → the person it belongs to. */
  const owners = new Map<string, string>();
  approvals.approvers.forEach((approver, index) => {
    const who = `approver ${String(index)} (${approver.userId})`;
    const statement = verifyApprover(approver, who);
    if (statement.decision !== 'approve') fail(`${who}: the statement says ${statement.decision}`);
    if (approvals.requestId === null) {
      fail(`${who}: the attestation lists approvers but names no signing request`);
    }
    if (statement.requestId !== approvals.requestId) {
      fail(
        `${who}: the approval is for request ${statement.requestId}, not ${approvals.requestId}`,
      );
    }
    const signing = predicate.signing;
    if (statement.product !== signing.product || statement.channel !== signing.channel) {
      fail(
        `${who}: the approval is for ${statement.product}/${statement.channel}, not ${signing.product}/${signing.channel}`,
      );
    }
    if (statement.kind !== signing.kind) {
      fail(`${who}: the approval is for an ${statement.kind}, not an ${signing.kind}`);
    }
    const hex = Buffer.from(artifactDigest.value).toString('hex');
    if (
      !statement.subjects.some(
        (s) => s.digest.algorithm === artifactDigest.algorithm && s.digest.value === hex,
      )
    ) {
      fail(`${who}: the approval does not name the artifact ${artifactDigest.algorithm}:${hex}`);
    }
    if (statement.policyHash !== predicate.decision.policyHash) {
      fail(
        `${who}: the approval was given under policy ${statement.policyHash}, not ${predicate.decision.policyHash}`,
      );
    }
    // One credential is one person's: the same key under two names would count one person twice
    // (strict base64 is canonical, so equal keys have equal text).
    const owner = owners.get(approver.credential.publicKey);
    if (owner !== undefined && owner !== approver.userId) {
      fail(`${who}: the same credential is listed for ${owner}`);
    }
    owners.set(approver.credential.publicKey, approver.userId);
    if (!counted.some((c) => c.userId === approver.userId)) {
      counted.push({ userId: approver.userId, group: approver.group });
    }
  });
  return counted;
}

/** The approver's statement, once its signature verified with the included credential. */
function verifyApprover(approver: SigningDecisionApprover, who: string): ApprovalStatement {
  const statementBytes = bytes(approver.statement);
  let statement: ApprovalStatement;
  try {
    statement = parseApprovalStatement(statementBytes);
  } catch (error) {
    if (!isAppError(error, 'INVALID_INPUT')) throw error;
    fail(`${who}: the approval statement is malformed: ${error.message}`);
  }
  const { credential } = approver;
  const spki = bytes(credential.publicKey);
  let approverKey: ApproverKey;
  switch (credential.kind) {
    case 'ecdsa-p256':
      if (credential.algorithm !== COSE_ALGORITHMS.ES256) {
        fail(`${who}: an ecdsa-p256 credential must use ES256 (-7)`);
      }
      approverKey = { kind: 'ecdsa-p256', spki };
      break;
    case 'webauthn':
      if (credential.rpId === undefined) fail(`${who}: a passkey needs its rpId`);
      approverKey = {
        kind: 'webauthn',
        spki,
        algorithm: credential.algorithm,
        rpId: credential.rpId,
      };
      break;
  }
  try {
    verifyApprovalSignature({
      statementBytes,
      signature: bytes(approver.signature),
      approverKey,
      ...(approver.webauthn === undefined
        ? {}
        : {
            webauthn: {
              authenticatorData: bytes(approver.webauthn.authenticatorData),
              clientDataJSON: bytes(approver.webauthn.clientDataJSON),
            },
          }),
    });
  } catch (error) {
    if (!isAppError(error, 'VERIFICATION_FAILED')) throw error;
    fail(`${who}: ${error.message}`);
  }
  return statement;
}

/** Base64 the parser already accepted. */
function bytes(text: string): Uint8Array {
  const decoded = decodeBase64Strict(text);
  if (decoded === undefined) throw new AppError('INTERNAL', 'unparsed base64 in a statement');
  return decoded;
}

function fail(message: string): never {
  throw new AppError('VERIFICATION_FAILED', `decision: ${message}`);
}
