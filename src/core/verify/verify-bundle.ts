/**
 * Offline verification of a Sigstore bundle against a TrustedRoot (DESIGN.md §2 "consumers
 * verify offline"; sigstore-interop §1–§7): the same decisions sigstore-js and sigstore-go make,
 * with an error that names the check that failed.
 *
 * What is trusted comes only from the TrustedRoot, the supplied public key and the caller's
 * policy. Every bundle field is attacker-controlled. In particular the signing time is taken only
 * from a SET that verified (its `integratedTime`) or from a verified RFC 3161 timestamp — never
 * from `integratedTime` alone or any other unauthenticated field — and the certificate chain must
 * be valid at every such time.
 */
import { createPublicKey, verify as verifySignature, type KeyObject } from 'node:crypto';
import { AppError } from '../errors.ts';
import { parseBundleJson, type Bundle, type TransparencyLogEntry } from '../sigstore/bundle.ts';
import { encodeDssePae, IN_TOTO_PAYLOAD_TYPE } from '../sigstore/dsse.ts';
import { HASH_ALGORITHMS, computeDigest, type HashAlgorithm } from '../sigstore/hash-algorithm.ts';
import {
  hasSubjectDigest,
  parseInTotoStatement,
  type InTotoStatement,
} from '../sigstore/in-toto-statement.ts';
import { parseRekorBody, type RekorBody, type RekorVerifier } from '../sigstore/rekor-body.ts';
import { verifySignedEntryTimestamp } from '../sigstore/signed-entry-timestamp.ts';
import {
  importLogKey,
  isWithinTimeRange,
  type TransparencyLogInstance,
  type TrustedRoot,
} from '../sigstore/trusted-root.ts';
import { verifyTimestamp, type VerifiedTimestamp } from '../timestamp/verify-timestamp.ts';
import { encodeBase64, equalBytes } from '../tlog/bytes.ts';
import { parseCheckpoint, type Checkpoint } from '../tlog/checkpoint.ts';
import { hashLeaf } from '../tlog/merkle.ts';
import { verifyInclusionProof } from '../tlog/proof.ts';
import { createNoteVerifier, verifySignedNote, type NoteVerifier } from '../tlog/signed-note.ts';
import {
  parseCertificate,
  parseCertificateChain,
  readCertificateIdentity,
  readCertificateIssuerClaim,
  type Certificate,
} from './certificate.ts';
import { verifyCertificateChain, type VerifiedChain } from './certificate-chain.ts';
import { verifyEmbeddedScts } from './verify-embedded-scts.ts';
import { verifyPrehashedEcdsa } from './verify-prehashed-ecdsa.ts';

/** The artifact the bundle must be about: its bytes, or only its digest. */
export type ArtifactInput =
  | { readonly bytes: Uint8Array }
  | { readonly digest: { readonly algorithm: HashAlgorithm; readonly value: Uint8Array } };

/** Who must have signed (certificate bundles only). */
export interface IdentityPolicy {
  /**
   * The signer identity (first URI SAN, else email, else Fulcio OtherName): a string matches
   * exactly; a RegExp is tested as given (anchor it).
   */
  readonly identity?: string | RegExp;
  /** The OIDC issuer (Fulcio extension 1.3.6.1.4.1.57264.1.8, or legacy .1.1), exactly. */
  readonly issuer?: string;
}

/** Thresholds and requirements. */
export interface VerifyBundleOptions {
  /** Require at least one verified RFC 3161 timestamp (a SET alone is not enough). Default false. */
  readonly requireTimestamp?: boolean;
  /** Verified transparency log entries required. Default 1. */
  readonly tlogThreshold?: number;
  /**
   * Distinct CT logs whose embedded SCT must verify. Default: 1 when the TrustedRoot lists CT
   * logs, else 0 (a private CA issues no SCTs, interop §4.3).
   */
  readonly ctlogThreshold?: number;
}

/** What to verify. */
export interface VerifyBundleInput {
  /** The bundle: JSON text (attacker-controlled) or an already parsed bundle. */
  readonly bundle: string | Bundle;
  readonly artifact: ArtifactInput;
  readonly trustedRoot: TrustedRoot;
  /**
   * The signer's public key, for bundles whose verification material is a public key hint
   * (managed keys): a KeyObject or DER SubjectPublicKeyInfo.
   */
  readonly publicKey?: KeyObject | Uint8Array;
  readonly policy?: IdentityPolicy;
  readonly options?: VerifyBundleOptions;
}

/** The checks `verifyBundle` performs, by name (error messages start with one of these). */
export type VerificationCheckName =
  | 'shape'
  | 'artifact'
  | 'signature'
  | 'tlog body'
  | 'SET'
  | 'checkpoint'
  | 'inclusion proof'
  | 'tlog'
  | 'timestamp'
  | 'certificate chain'
  | 'SCT'
  | 'identity';

/** One check that passed. */
export interface VerificationCheck {
  readonly check: VerificationCheckName;
  readonly detail: string;
}

/** A time that verified, and where it came from. */
export interface VerifiedTime {
  readonly source: 'tlog' | 'rfc3161';
  readonly time: Date;
}

/** The outcome of a successful verification. */
export interface BundleVerification {
  readonly bundle: Bundle;
  /** Every check performed, in order. */
  readonly checks: readonly VerificationCheck[];
  readonly signer:
    | {
        readonly type: 'certificate';
        readonly certificate: Certificate;
        readonly identity: string | undefined;
        readonly issuer: string | undefined;
      }
    | { readonly type: 'publicKey' };
  readonly timestamps: readonly VerifiedTime[];
  readonly tlogEntries: readonly {
    readonly logIndex: bigint;
    readonly logId: Uint8Array;
    readonly baseUrl: string;
    readonly checkpoint: Checkpoint | undefined;
  }[];
  /** The in-toto statement of a DSSE bundle. */
  readonly statement: InTotoStatement | undefined;
}

/**
 * Verifies a bundle offline.
 *
 * @throws {@link AppError} INVALID_INPUT when the bundle JSON is malformed (message starts with
 *   `shape:`), a threshold is not a non-negative integer or the supplied public key is not a DER
 *   SPKI; VERIFICATION_FAILED when any check fails, with a message starting with the check's
 *   name, e.g. `certificate chain: leaf was not valid at the signing time 2026-…`,
 *   `tlog body: digest does not match the artifact digest`,
 *   `inclusion proof: root does not match checkpoint`.
 */
export function verifyBundle(input: VerifyBundleInput): BundleVerification {
  const checks: VerificationCheck[] = [];
  const pass = (check: VerificationCheckName, detail: string) => checks.push({ check, detail });
  const bundle = typeof input.bundle === 'string' ? parseShape(input.bundle) : input.bundle;
  pass(
    'shape',
    `bundle v${bundle.version}, ${bundle.content.type}, ${bundle.verificationMaterial.content.type}`,
  );
  const { trustedRoot } = input;
  const options = input.options ?? {};
  for (const name of ['tlogThreshold', 'ctlogThreshold'] as const) {
    const value = options[name];
    if (value !== undefined && (!Number.isSafeInteger(value) || value < 0)) {
      throw new AppError('INVALID_INPUT', `${name} must be a non-negative integer`);
    }
  }

  const signed = describeSignedContent(bundle);
  const key = resolveSigningKey(bundle, input);
  if (key.type === 'publicKey' && input.policy !== undefined) {
    fail(
      'identity',
      'the bundle is signed with a public key; an identity policy needs a certificate',
    );
  }

  // Artifact binding and the signature over it.
  const statement = verifyArtifactAndSignature(bundle, input.artifact, key.publicKey, signed, pass);

  // Transparency log entries.
  const tlogTimes: VerifiedTime[] = [];
  const tlogEntries: BundleVerification['tlogEntries'][number][] = [];
  const seenEntries: { logId: Uint8Array; body: Uint8Array }[] = [];
  bundle.verificationMaterial.tlogEntries.forEach((entry, i) => {
    if (
      seenEntries.some(
        (e) => equalBytes(e.logId, entry.logId) && equalBytes(e.body, entry.canonicalizedBody),
      )
    ) {
      fail('tlog', `entry ${i} duplicates an earlier entry`);
    }
    seenEntries.push({ logId: entry.logId, body: entry.canonicalizedBody });
    const result = verifyTlogEntry(entry, i, { bundle, signed, key, trustedRoot, pass });
    if (result.time !== undefined) tlogTimes.push({ source: 'tlog', time: result.time });
    tlogEntries.push({
      logIndex: entry.logIndex,
      logId: entry.logId,
      baseUrl: result.log.baseUrl,
      checkpoint: result.checkpoint,
    });
  });
  const tlogThreshold = options.tlogThreshold ?? 1;
  if (tlogEntries.length < tlogThreshold) {
    fail(
      'tlog',
      `expected at least ${tlogThreshold} verified log entries, got ${tlogEntries.length}`,
    );
  }

  // RFC 3161 timestamps over the signature bytes.
  const tsaTimes: VerifiedTime[] = [];
  const timestamps = bundle.verificationMaterial.rfc3161Timestamps;
  timestamps.forEach((response, i) => {
    if (timestamps.findIndex((other) => equalBytes(other, response)) !== i) {
      fail('timestamp', `timestamp ${i} duplicates an earlier timestamp`);
    }
    let verified: VerifiedTimestamp;
    try {
      verified = verifyTimestamp(response, signed.signature, trustedRoot.timestampAuthorities);
    } catch (error) {
      rethrow('timestamp', error, `timestamp ${i}: `);
    }
    tsaTimes.push({ source: 'rfc3161', time: verified.time });
    pass('timestamp', `timestamp ${i} verified: ${verified.time.toISOString()}`);
  });
  if (options.requireTimestamp === true && tsaTimes.length === 0) {
    fail('timestamp', 'an RFC 3161 timestamp is required and the bundle has none that verified');
  }
  const times = [...tlogTimes, ...tsaTimes];
  if (times.length === 0) {
    fail(
      'timestamp',
      'no verified signing time: needs a log entry with a valid SET or an RFC 3161 timestamp',
    );
  }

  // The signing certificate at every verified time.
  let signer: BundleVerification['signer'] = { type: 'publicKey' };
  if (key.type === 'certificate') {
    const { certificate } = key;
    let chain: VerifiedChain | undefined;
    for (const { time, source } of times) {
      chain = verifyChainAt(certificate, trustedRoot, time);
      pass(
        'certificate chain',
        `leaf chains to the trusted root at ${time.toISOString()} (${source} time)`,
      );
    }
    const issuer = chain?.path[1];
    const ctlogThreshold = options.ctlogThreshold ?? (trustedRoot.ctlogs.length > 0 ? 1 : 0);
    if (issuer !== undefined) {
      let logs: Uint8Array[];
      try {
        logs = verifyEmbeddedScts(certificate, issuer, trustedRoot.ctlogs);
      } catch (error) {
        rethrow('SCT', error);
      }
      if (logs.length < ctlogThreshold) {
        fail(
          'SCT',
          `expected SCTs from at least ${ctlogThreshold} trusted CT logs, got ${logs.length}`,
        );
      }
      if (logs.length > 0 || ctlogThreshold > 0)
        pass('SCT', `${logs.length} SCT(s) from trusted CT logs verified`);
    }
    let identity: string | undefined;
    let issuerClaim: string | undefined;
    try {
      identity = readCertificateIdentity(certificate);
      issuerClaim = readCertificateIssuerClaim(certificate);
    } catch (error) {
      rethrow('identity', error);
    }
    if (input.policy !== undefined) checkPolicy(input.policy, identity, issuerClaim, pass);
    signer = { type: 'certificate', certificate, identity, issuer: issuerClaim };
  }

  return { bundle, checks, signer, timestamps: times, tlogEntries, statement };
}

/** What was signed, as far as timestamps and log bodies need it. */
interface SignedContent {
  /** The raw signature: what RFC 3161 timestamps cover. */
  readonly signature: Uint8Array;
}

type SigningKey =
  | {
      readonly type: 'certificate';
      readonly certificate: Certificate;
      readonly publicKey: KeyObject;
    }
  | { readonly type: 'publicKey'; readonly publicKey: KeyObject; readonly spki: Uint8Array };

type Pass = (check: VerificationCheckName, detail: string) => void;

function parseShape(text: string): Bundle {
  try {
    return parseBundleJson(text);
  } catch (error) {
    if (error instanceof AppError) {
      throw new AppError(error.code, `shape: ${error.message}`, {
        errors: error.errors,
        cause: error,
      });
    }
    throw error;
  }
}

function describeSignedContent(bundle: Bundle): SignedContent {
  return bundle.content.type === 'messageSignature'
    ? { signature: bundle.content.messageSignature.signature }
    : { signature: bundle.content.dsseEnvelope.signatures[0]?.sig ?? new Uint8Array() };
}

function resolveSigningKey(bundle: Bundle, input: VerifyBundleInput): SigningKey {
  const material = bundle.verificationMaterial.content;
  if (material.type === 'publicKey') {
    if (input.publicKey === undefined) {
      fail(
        'signature',
        `the bundle is signed with a public key (hint ${JSON.stringify(material.hint)}) and none was supplied`,
      );
    }
    const publicKey =
      input.publicKey instanceof Uint8Array ? importSpki(input.publicKey) : input.publicKey;
    return {
      type: 'publicKey',
      publicKey,
      spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
    };
  }
  const der = material.type === 'certificate' ? material.certificate : material.certificates[0];
  if (der === undefined) fail('certificate chain', 'the bundle has no certificate');
  if (material.type === 'x509CertificateChain') {
    // Only the leaf is used; intermediates and roots come from the TrustedRoot. A bundle that
    // ships a root is trying to be its own trust anchor (sigstore-conformance
    // bundle-with-root-cert_fail): refuse it rather than silently ignore it.
    material.certificates.slice(1).forEach((extra, i) => {
      let parsed: Certificate;
      try {
        parsed = parseCertificate(extra);
      } catch (error) {
        rethrow('certificate chain', error, `bundle certificate ${i + 1}: `);
      }
      if (equalBytes(parsed.subject, parsed.issuer)) {
        fail(
          'certificate chain',
          'the bundle carries a root certificate; trust anchors come only from the trusted root',
        );
      }
    });
  }
  let certificate: Certificate;
  try {
    certificate = parseCertificate(der);
  } catch (error) {
    rethrow('certificate chain', error, 'leaf: ');
  }
  return { type: 'certificate', certificate, publicKey: certificate.publicKey };
}

function importSpki(spki: Uint8Array): KeyObject {
  try {
    return createPublicKey({ key: Buffer.from(spki), format: 'der', type: 'spki' });
  } catch (cause) {
    throw new AppError(
      'INVALID_INPUT',
      'the supplied public key is not a DER SubjectPublicKeyInfo',
      { cause },
    );
  }
}

function verifyArtifactAndSignature(
  bundle: Bundle,
  artifact: ArtifactInput,
  key: KeyObject,
  signed: SignedContent,
  pass: Pass,
): InTotoStatement | undefined {
  if (bundle.content.type === 'messageSignature') {
    const { messageDigest, signature } = bundle.content.messageSignature;
    const algorithm = messageDigest.algorithm;
    let digest: Uint8Array;
    if ('bytes' in artifact) {
      digest = computeDigest(algorithm, artifact.bytes);
    } else {
      if (artifact.digest.algorithm !== algorithm) {
        fail(
          'artifact',
          `the artifact digest is ${artifact.digest.algorithm} but the bundle signed a ${algorithm} digest`,
        );
      }
      digest = artifact.digest.value;
    }
    if (!equalBytes(digest, messageDigest.digest)) {
      fail(
        'artifact',
        `the artifact's ${algorithm} digest does not match the bundle's messageDigest`,
      );
    }
    pass('artifact', `artifact ${algorithm} digest matches the bundle's messageDigest`);
    const valid =
      'bytes' in artifact
        ? safeVerify(algorithm, artifact.bytes, key, signature)
        : key.asymmetricKeyType === 'ec' && verifyPrehashedEcdsa(key, digest, signature);
    if (!valid) {
      if (!('bytes' in artifact) && key.asymmetricKeyType !== 'ec') {
        fail('signature', 'verifying over a digest needs an ECDSA key; supply the artifact bytes');
      }
      fail('signature', 'the message signature does not verify with the signing key');
    }
    pass('signature', `message signature verifies over the artifact (${algorithm})`);
    return undefined;
  }

  const envelope = bundle.content.dsseEnvelope;
  const pae = encodeDssePae(envelope.payloadType, envelope.payload);
  if (!safeVerify(defaultHash(key), pae, key, signed.signature)) {
    fail('signature', 'the DSSE signature does not verify with the signing key');
  }
  pass('signature', 'DSSE signature verifies over the PAE');
  if (envelope.payloadType !== IN_TOTO_PAYLOAD_TYPE) {
    fail(
      'artifact',
      `DSSE payload type ${JSON.stringify(envelope.payloadType)} is not an in-toto statement, so it cannot name the artifact`,
    );
  }
  let statement: InTotoStatement;
  try {
    statement = parseInTotoStatement(envelope.payload);
  } catch (error) {
    rethrow('artifact', error);
  }
  const matches =
    'bytes' in artifact
      ? HASH_ALGORITHMS.some((a) =>
          hasSubjectDigest(statement, a, computeDigest(a, artifact.bytes)),
        )
      : hasSubjectDigest(statement, artifact.digest.algorithm, artifact.digest.value);
  if (!matches) fail('artifact', 'no subject of the in-toto statement has the artifact digest');
  pass('artifact', 'the in-toto statement names the artifact digest');
  return statement;
}

interface TlogContext {
  readonly bundle: Bundle;
  readonly signed: SignedContent;
  readonly key: SigningKey;
  readonly trustedRoot: TrustedRoot;
  readonly pass: Pass;
}

function verifyTlogEntry(
  entry: TransparencyLogEntry,
  index: number,
  context: TlogContext,
): { log: TransparencyLogInstance; time: Date | undefined; checkpoint: Checkpoint | undefined } {
  const { pass, trustedRoot } = context;
  const name = `entry ${index}`;
  const logs = trustedRoot.tlogs.filter((log) => equalBytes(log.logId, entry.logId));
  const firstLog = logs[0];
  if (firstLog === undefined)
    fail('tlog', `${name}: log ${encodeBase64(entry.logId)} is not in the trusted root`);

  let body: RekorBody;
  try {
    body = parseRekorBody(entry.canonicalizedBody);
  } catch (error) {
    rethrow('tlog body', error, `${name}: `);
  }
  if (body.kind !== entry.kindVersion.kind || body.version !== entry.kindVersion.version) {
    fail(
      'tlog body',
      `${name}: body is ${body.kind}/${body.version} but kindVersion says ${entry.kindVersion.kind}/${entry.kindVersion.version}`,
    );
  }
  checkBodyMatches(body, context, name);
  pass('tlog body', `${name}: ${body.kind}/${body.version} body matches the bundle`);

  const isRekorV2 = body.kind === 'hashedrekord' && body.version === '0.0.2';
  let time: Date | undefined;
  let log = firstLog;
  if (entry.inclusionPromise !== undefined) {
    if (isRekorV2)
      fail(
        'SET',
        `${name}: a Rekor v2 (hashedrekord/0.0.2) entry must not carry an inclusion promise`,
      );
    const integrated = new Date(Number(entry.integratedTime) * 1000);
    const current = logs.filter((l) => isWithinTimeRange(l.publicKey.validFor, integrated));
    const setLog = current[0];
    if (setLog === undefined) {
      fail(
        'SET',
        `${name}: integrated time ${integrated.toISOString()} is outside the validity of the log key`,
      );
    }
    let lastError: unknown;
    const verified = current.some((candidate) => {
      try {
        verifySignedEntryTimestamp(
          {
            body: entry.canonicalizedBody,
            integratedTime: entry.integratedTime,
            logId: entry.logId,
            logIndex: entry.logIndex,
          },
          entry.inclusionPromise?.signedEntryTimestamp ?? new Uint8Array(),
          logKey(candidate),
        );
        log = candidate;
        return true;
      } catch (error) {
        lastError = error;
        return false;
      }
    });
    if (!verified) rethrow('SET', lastError, `${name}: `);
    time = integrated;
    pass(
      'SET',
      `${name}: signed entry timestamp verifies; integrated at ${integrated.toISOString()}`,
    );
  }

  let checkpoint: Checkpoint | undefined;
  const proof = entry.inclusionProof;
  if (proof !== undefined && proof.checkpoint === undefined) {
    // v0.1 only (the parser enforces it): a proof without a signed root proves nothing.
    pass(
      'inclusion proof',
      `${name}: v0.1 proof without a checkpoint is not checked; the entry rests on its SET`,
    );
  } else if (proof?.checkpoint !== undefined) {
    if (isRekorV2 && proof.logIndex !== entry.logIndex) {
      fail(
        'inclusion proof',
        `${name}: proof index ${proof.logIndex} differs from the entry's log index ${entry.logIndex}`,
      );
    }
    const opened = openEntryCheckpoint(proof.checkpoint, logs, isRekorV2, name);
    checkpoint = opened;
    pass(
      'checkpoint',
      `${name}: checkpoint ${JSON.stringify(checkpoint.origin)} size ${checkpoint.treeSize} is signed by the log`,
    );
    if (proof.treeSize !== checkpoint.treeSize) {
      fail(
        'inclusion proof',
        `${name}: proof tree size ${proof.treeSize} differs from the checkpoint size ${checkpoint.treeSize}`,
      );
    }
    if (!equalBytes(proof.rootHash, checkpoint.rootHash)) {
      fail('inclusion proof', `${name}: root does not match checkpoint`);
    }
    try {
      verifyInclusionProof({
        index: proof.logIndex,
        treeSize: checkpoint.treeSize,
        leafHash: hashLeaf(entry.canonicalizedBody),
        proof: proof.hashes,
        rootHash: checkpoint.rootHash,
      });
    } catch (error) {
      rethrow('inclusion proof', error, `${name}: root does not match checkpoint: `);
    }
    pass(
      'inclusion proof',
      `${name}: leaf ${proof.logIndex} is included in the tree of size ${checkpoint.treeSize}`,
    );
  } else if (isRekorV2) {
    fail('inclusion proof', `${name}: a Rekor v2 entry needs an inclusion proof`);
  }
  if (time === undefined && checkpoint === undefined) {
    fail('tlog', `${name}: has neither a signed entry timestamp nor an inclusion proof`);
  }
  return { log, time, checkpoint };
}

function checkBodyMatches(body: RekorBody, context: TlogContext, name: string): void {
  const { bundle, signed, key } = context;
  const where = `${name}: `;
  if (body.kind === 'hashedrekord') {
    let expected: { algorithm: HashAlgorithm; value: Uint8Array };
    if (bundle.content.type === 'messageSignature') {
      const { algorithm, digest } = bundle.content.messageSignature.messageDigest;
      expected = { algorithm, value: digest };
    } else if (body.version === '0.0.2') {
      // Rekor v2 logs DSSE as hashedrekord over the PAE (interop §2.4).
      const envelope = bundle.content.dsseEnvelope;
      expected = {
        algorithm: body.digest.algorithm,
        value: computeDigest(
          body.digest.algorithm,
          encodeDssePae(envelope.payloadType, envelope.payload),
        ),
      };
    } else {
      return fail('tlog body', `${where}a hashedrekord/0.0.1 entry cannot record a DSSE envelope`);
    }
    if (
      body.digest.algorithm !== expected.algorithm ||
      !equalBytes(body.digest.value, expected.value)
    ) {
      fail('tlog body', `${where}body digest does not match the artifact digest`);
    }
    if (!equalBytes(body.signature, signed.signature))
      fail('tlog body', `${where}body signature does not match the bundle signature`);
    checkVerifier(body.verifier, key, where);
    return;
  }
  if (bundle.content.type !== 'dsseEnvelope') {
    fail('tlog body', `${where}a ${body.kind} entry cannot record a message signature`);
  }
  const envelope = bundle.content.dsseEnvelope;
  const [only, ...others] = body.signatures;
  if (only === undefined || others.length > 0)
    fail('tlog body', `${where}body must record exactly one signature`);
  if (!equalBytes(only.signature, signed.signature))
    fail('tlog body', `${where}body signature does not match the DSSE signature`);
  checkVerifier(only.verifier, key, where);
  const payloadHash = computeDigest(body.payloadHash.algorithm, envelope.payload);
  if (!equalBytes(payloadHash, body.payloadHash.value))
    fail('tlog body', `${where}body payload hash does not match the DSSE payload`);
}

function checkVerifier(verifier: RekorVerifier, key: SigningKey, where: string): void {
  const matches =
    key.type === 'certificate'
      ? verifier.type === 'certificate' && equalBytes(verifier.der, key.certificate.der)
      : verifier.type === 'publicKey' && equalBytes(verifier.spki, key.spki);
  if (!matches)
    fail(
      'tlog body',
      `${where}body ${verifier.type === 'certificate' ? 'certificate' : 'public key'} does not match the bundle's signing ${key.type === 'certificate' ? 'certificate' : 'key'}`,
    );
}

function openEntryCheckpoint(
  envelope: string,
  logs: readonly TransparencyLogInstance[],
  isRekorV2: boolean,
  name: string,
): Checkpoint {
  const verifiers = logs.flatMap((log) => noteVerifiersOf(log, isRekorV2));
  if (verifiers.length === 0) fail('checkpoint', `${name}: the log key cannot verify checkpoints`);
  let text: string;
  let signerName: string;
  try {
    const note = verifySignedNote(envelope, verifiers);
    text = note.text;
    signerName = note.verified[0]?.name ?? '';
  } catch (error) {
    rethrow('checkpoint', error, `${name}: `);
  }
  let checkpoint: Checkpoint;
  try {
    checkpoint = parseCheckpoint(text);
  } catch (error) {
    rethrow('checkpoint', error, `${name}: `);
  }
  const originOk = isRekorV2
    ? checkpoint.origin === signerName
    : checkpoint.origin.startsWith(`${signerName} - `) &&
      /^[0-9]+$/.test(checkpoint.origin.slice(signerName.length + 3));
  if (!originOk) {
    fail(
      'checkpoint',
      `${name}: checkpoint origin ${JSON.stringify(checkpoint.origin)} does not belong to log ${signerName}`,
    );
  }
  return checkpoint;
}

function verifyChainAt(
  certificate: Certificate,
  trustedRoot: TrustedRoot,
  time: Date,
): VerifiedChain {
  const authorities = trustedRoot.certificateAuthorities.filter((ca) =>
    isWithinTimeRange(ca.validFor, time),
  );
  if (authorities.length === 0) {
    fail(
      'certificate chain',
      `no certificate authority in the trusted root is valid at the signing time ${time.toISOString()}`,
    );
  }
  let best: unknown;
  for (const authority of authorities) {
    try {
      return verifyCertificateChain(
        certificate,
        parseCertificateChain(authority.certChain),
        time,
        'codeSigning',
      );
    } catch (error) {
      // Prefer the error of an authority that did issue the leaf: it says what is really wrong.
      const generic = error instanceof AppError && error.message.includes('was not issued by');
      if (best === undefined || !generic) best = error;
    }
  }
  return rethrow('certificate chain', best);
}

function checkPolicy(
  policy: IdentityPolicy,
  identity: string | undefined,
  issuer: string | undefined,
  pass: Pass,
): void {
  if (policy.identity !== undefined) {
    const expected = policy.identity;
    const ok =
      identity !== undefined &&
      (typeof expected === 'string' ? identity === expected : expected.test(identity));
    if (!ok) {
      fail(
        'identity',
        `certificate identity ${JSON.stringify(identity ?? null)} does not match the expected ${typeof expected === 'string' ? JSON.stringify(expected) : String(expected)}`,
      );
    }
    pass('identity', `certificate identity is ${JSON.stringify(identity)}`);
  }
  if (policy.issuer !== undefined) {
    if (issuer !== policy.issuer) {
      fail(
        'identity',
        `certificate OIDC issuer ${JSON.stringify(issuer ?? null)} is not the expected ${JSON.stringify(policy.issuer)}`,
      );
    }
    pass('identity', `certificate OIDC issuer is ${JSON.stringify(issuer)}`);
  }
}

const logKeys = new WeakMap<TransparencyLogInstance, KeyObject>();

function logKey(log: TransparencyLogInstance): KeyObject {
  let key = logKeys.get(log);
  if (key === undefined) {
    key = importLogKey(log);
    logKeys.set(log, key);
  }
  return key;
}

/**
 * Note verifiers of a trusted-root log, built once per log object and Rekor generation (the
 * TrustedRoot and its logs are immutable values).
 */
const noteVerifierCache = new WeakMap<
  TransparencyLogInstance,
  { v1?: readonly NoteVerifier[]; v2?: readonly NoteVerifier[] }
>();
let noteVerifierBuilds = 0;

/** Test hook: how many times note verifiers have been built for a trusted-root log. */
export function countNoteVerifierBuilds(): number {
  return noteVerifierBuilds;
}

function noteVerifiersOf(
  log: TransparencyLogInstance,
  isRekorV2: boolean,
): readonly NoteVerifier[] {
  let entry = noteVerifierCache.get(log);
  if (entry === undefined) {
    entry = {};
    noteVerifierCache.set(log, entry);
  }
  const slot = isRekorV2 ? 'v2' : 'v1';
  const cached = entry[slot];
  if (cached !== undefined) return cached;
  noteVerifierBuilds++;
  const verifiers: NoteVerifier[] = [];
  const url = new URL(log.baseUrl);
  // js matches the key name against the base URL, go v2 requires the hostname (interop §3.4–3.5).
  const names = isRekorV2 ? [url.hostname] : [...new Set([url.host, url.hostname])];
  for (const keyName of names) {
    try {
      verifiers.push(createNoteVerifier(keyName, logKey(log)));
    } catch {
      // A key type checkpoints cannot be signed with (e.g. RSA): no verifier from it.
    }
  }
  entry[slot] = Object.freeze(verifiers);
  return entry[slot];
}

/** The digest a key signs DSSE with: the curve's own for ECDSA, SHA-256 for RSA, none for EdDSA. */
function defaultHash(key: KeyObject): string | null {
  if (key.asymmetricKeyType === 'ed25519' || key.asymmetricKeyType === 'ed448') return null;
  const curve = key.asymmetricKeyDetails?.namedCurve;
  return curve === 'secp384r1' ? 'sha384' : curve === 'secp521r1' ? 'sha512' : 'sha256';
}

function safeVerify(
  algorithm: string | null,
  data: Uint8Array,
  key: KeyObject,
  signature: Uint8Array,
): boolean {
  try {
    return verifySignature(algorithm, data, key, signature);
  } catch {
    return false;
  }
}

function fail(check: VerificationCheckName, message: string): never {
  throw new AppError('VERIFICATION_FAILED', `${check}: ${message}`);
}

function rethrow(check: VerificationCheckName, error: unknown, prefix = ''): never {
  if (error instanceof AppError) {
    const reason = error.message.startsWith(`${check}: `)
      ? error.message.slice(check.length + 2)
      : error.message;
    throw new AppError('VERIFICATION_FAILED', `${check}: ${prefix}${reason}`, { cause: error });
  }
  throw new AppError('VERIFICATION_FAILED', `${check}: ${prefix}verification failed`, {
    cause: error,
  });
}
