/**
 * Offline verification of a decision attestation beside the artifact bundle it explains
 * (`countersign verify --require-approvals N`). The decision bundle is verified like any bundle,
 * with the same trusted root as the artifact's; then it must be the service's own attestation —
 * certificate identity `<service>/attestation/signing-decision`, issued by the CA of the channel
 * it speaks of, logged in the same log as the artifact — and `verifySigningDecision` checks that
 * it is about this artifact's signature and that its approvals are real and enough.
 */
import { stat } from 'node:fs/promises';
import { resolve } from 'node:path';
import { AppError, isAppError } from '../core/errors.ts';
import {
  normalizeServiceUrl,
  parseSigningDecisionStatement,
  signingDecisionIdentity,
  type SigningDecisionStatement,
} from '../core/attestation/signing-decision.ts';
import {
  verifySigningDecision,
  type SigningDecisionSummary,
} from '../core/attestation/verify-signing-decision.ts';
import type { Bundle } from '../core/sigstore/bundle.ts';
import type { TrustedRoot } from '../core/sigstore/trusted-root.ts';
import { equalBytes } from '../core/tlog/bytes.ts';
import {
  loadBundle,
  loadTrustedRoot,
  verifyArtifact,
  verifyArtifactFiles,
  type ArtifactVerification,
  type VerifyArtifactFilesInput,
} from './verify-artifact.ts';

/** The decision bundle's file name next to the artifact: `<artifact>.decision.sigstore.json`. */
export const DECISION_BUNDLE_SUFFIX = '.decision.sigstore.json';

/** A verified decision attestation. */
export interface DecisionVerification {
  /** What the attestation says, once verified. */
  readonly summary: SigningDecisionSummary;
  /** The decision bundle's own verification (signer, times, log entry). */
  readonly bundle: ArtifactVerification;
}

/** What `verifyDecision` checks. */
export interface VerifyDecisionInput {
  /** The decision bundle (attacker-controlled until verified). */
  readonly bundle: Bundle;
  /** The trusted root the artifact bundle verified against. */
  readonly trustedRoot: TrustedRoot;
  /** The artifact bundle's verification. */
  readonly artifact: ArtifactVerification;
  /** Distinct approvers required (0: report them, require none). */
  readonly requireApprovals: number;
  /** The product and channel the consumer asked for, if any. */
  readonly expected?: { readonly product?: string; readonly channel?: string };
}

/**
 * Verifies a decision bundle against the artifact verification it explains.
 *
 * @throws {@link AppError} VERIFICATION_FAILED with a message starting `decision bundle: <check>: `
 *   when the bundle itself does not verify or is not the service's decision attestation, or
 *   `decision: ` when what it says does not bind to the artifact or holds too few approvals;
 *   INVALID_INPUT when `requireApprovals` is negative.
 */
export function verifyDecision(input: VerifyDecisionInput): DecisionVerification {
  const { bundle, artifact } = input;
  if (bundle.content.type !== 'dsseEnvelope') {
    fail('decision bundle: shape: it holds a message signature, not a DSSE attestation');
  }
  let statement: SigningDecisionStatement;
  try {
    statement = parseSigningDecisionStatement(bundle.content.dsseEnvelope.payload);
  } catch (error) {
    if (!isAppError(error, 'INVALID_INPUT')) throw error;
    fail(`decision: the attestation is malformed: ${error.message}`);
  }
  const { subject, predicate } = statement;

  // The envelope is verified for the digest it names; whether that is the artifact's is
  // `verifySigningDecision`'s first check, which says so in words.
  let verified: ArtifactVerification;
  try {
    verified = verifyArtifact({
      bundle,
      artifact: {
        digest: {
          algorithm: subject.digest.algorithm,
          value: new Uint8Array(Buffer.from(subject.digest.value, 'hex')),
        },
      },
      trustedRoot: input.trustedRoot,
      channel: { product: predicate.signing.product, channel: predicate.signing.channel },
    });
  } catch (error) {
    if (!isAppError(error, 'VERIFICATION_FAILED')) throw error;
    fail(`decision bundle: ${error.message}`);
  }

  const entry = verified.verification.tlogEntries[0];
  const artifactEntry = artifact.verification.tlogEntries[0];
  if (entry === undefined || artifactEntry === undefined || artifact.logIndex === undefined) {
    fail('decision: the artifact bundle has no log entry to bind the attestation to');
  }
  // The service is the one whose log the trusted root names: its baseUrl is the public URL.
  const service = normalizeServiceUrl(entry.baseUrl);
  const identity = signingDecisionIdentity(service);
  if (verified.identity !== identity || verified.issuer !== service) {
    fail(
      `decision bundle: identity: signed by ${verified.identity ?? '(no identity)'} (issuer ${verified.issuer ?? 'none'}), not ${identity} (issuer ${service})`,
    );
  }
  if (!equalBytes(entry.logId, artifactEntry.logId)) {
    fail('decision: the attestation is logged in another log than the artifact signature');
  }
  if (normalizeServiceUrl(predicate.service) !== service) {
    fail(`decision: the attestation names the service ${predicate.service}, not ${service}`);
  }

  const summary = verifySigningDecision({
    statement: bundle.content.dsseEnvelope.payload,
    artifactDigest: artifact.digest,
    artifactLogIndex: artifact.logIndex,
    requireApprovals: input.requireApprovals,
    expected: {
      ...optional('product', input.expected?.product ?? artifact.authority?.product),
      ...optional('channel', input.expected?.channel ?? artifact.authority?.channel),
    },
  });
  return { summary, bundle: verified };
}

/** What `verifyArtifactAndDecisionFiles` reads. */
export interface VerifyArtifactAndDecisionFilesInput extends VerifyArtifactFilesInput {
  /** The decision bundle file. */
  readonly decisionBundlePath: string;
  readonly requireApprovals: number;
}

/**
 * Reads the trusted root once, the decision bundle (before hashing anything, so a missing file
 * fails fast), verifies the artifact as `verifyArtifactFiles` and then the decision attestation.
 *
 * @throws {@link AppError} INVALID_INPUT when a file is missing, unreadable or malformed (the
 *   decision bundle's message starts `decision bundle file`); VERIFICATION_FAILED as
 *   `verifyArtifactFiles` and `verifyDecision`.
 */
export async function verifyArtifactAndDecisionFiles(
  input: VerifyArtifactAndDecisionFilesInput,
): Promise<{ readonly artifact: ArtifactVerification; readonly decision: DecisionVerification }> {
  const cwd = input.cwd ?? '.';
  const trustedRoot =
    typeof input.trustedRoot === 'string'
      ? await loadTrustedRoot(input.trustedRoot, cwd)
      : input.trustedRoot;
  let decisionBundle: Bundle;
  try {
    decisionBundle = await loadBundle(input.decisionBundlePath, cwd);
  } catch (error) {
    if (!isAppError(error, 'INVALID_INPUT')) throw error;
    throw new AppError('INVALID_INPUT', `decision ${error.message.replace(/^shape: /, '')}`, {
      errors: error.errors,
      hint: `the service returns the decision attestation beside the artifact bundle; \`countersign sign\` writes it as <file>${DECISION_BUNDLE_SUFFIX}, or name it with --decision-bundle`,
      cause: error,
    });
  }
  const artifact = await verifyArtifactFiles({
    artifact: input.artifact,
    bundlePath: input.bundlePath,
    trustedRoot,
    cwd,
    ...(input.policy === undefined ? {} : { policy: input.policy }),
    ...(input.channel === undefined ? {} : { channel: input.channel }),
    ...(input.onProgress === undefined ? {} : { onProgress: input.onProgress }),
  });
  const decision = verifyDecision({
    bundle: decisionBundle,
    trustedRoot,
    artifact,
    requireApprovals: input.requireApprovals,
    ...(input.channel === undefined ? {} : { expected: input.channel }),
  });
  return { artifact, decision };
}

function optional<K extends string>(key: K, value: string | undefined): Partial<Record<K, string>> {
  return value === undefined ? {} : ({ [key]: value } as Record<K, string>);
}

function fail(message: string): never {
  throw new AppError('VERIFICATION_FAILED', message);
}

/**
 * `<file>.decision.sigstore.json` when that file exists (resolved against `cwd`), else undefined:
 * `countersign verify FILE` checks the decision attestation whenever `countersign sign` left one.
 */
export async function findDecisionBundle(file: string, cwd = '.'): Promise<string | undefined> {
  const path = `${file}${DECISION_BUNDLE_SUFFIX}`;
  try {
    return (await stat(resolve(cwd, path))).isFile() ? path : undefined;
  } catch {
    return undefined;
  }
}
