/**
 * Offline verification of an artifact (or its digest) against a Sigstore bundle and a
 * TrustedRoot (`countersign verify`): the core verifier's checks, plus Countersign's own
 * "signed on this product and channel" check, which a generic Sigstore verifier cannot make.
 *
 * Channel CAs have subject `O=<org>, OU=<product>, CN=<product>/<channel>` and a key of their own
 * (DESIGN.md §5), so "the leaf was issued by the CA of payments-api/prod" is the leaf's issuer
 * being that certificate, found in the trusted root and verifying the leaf's signature. No
 * network: the trusted root is a file the consumer chose, or the Sigstore public-good root that
 * ships inside the `@sigstore/tuf` package.
 */
import { readFile, stat } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { resolve } from 'node:path';
import { AppError } from '../core/errors.ts';
import { MAX_BUNDLE_BYTES, parseBundleJson, type Bundle } from '../core/sigstore/bundle.ts';
import {
  HASH_ALGORITHMS,
  getDigestSize,
  isHashAlgorithm,
  type HashAlgorithm,
} from '../core/sigstore/hash-algorithm.ts';
import {
  hasSubjectDigest,
  parseInTotoStatement,
  type InTotoStatement,
} from '../core/sigstore/in-toto-statement.ts';
import {
  extractTrustedRootFromTufSeeds,
  MAX_TRUSTED_ROOT_BYTES,
  parseTrustedRootJson,
  type TrustedRoot,
} from '../core/sigstore/trusted-root.ts';
import { parseCertificateChain, type Certificate } from '../core/verify/certificate.ts';
import {
  verifyBundle,
  type ArtifactInput,
  type BundleVerification,
  type IdentityPolicy,
  type VerificationCheckName,
  type VerifiedTime,
} from '../core/verify/verify-bundle.ts';
import { equalBytes } from '../core/tlog/bytes.ts';
import { PRODUCT_OR_CHANNEL_NAME } from '../core/x509/create-channel-ca-certificate.ts';
import { OID_COMMON_NAME, OID_ORGANIZATION, OID_ORGANIZATIONAL_UNIT } from '../core/x509/oids.ts';
import { parseCertificate as parseCaCertificate } from '../core/x509/parse-certificate.ts';
import { hashFile } from './hash-files.ts';

/** `--trusted-root` value naming the Sigstore public-good root inside `@sigstore/tuf`. */
export const PUBLIC_GOOD_TRUSTED_ROOT = 'sigstore-public-good';

/** A check `verifyArtifact` reports: the core verifier's, and `channel`. */
export type ArtifactCheckName = VerificationCheckName | 'channel';

/** The channel the signature must come from. */
export interface ChannelRequirement {
  readonly product: string;
  readonly channel: string;
}

/** The certificate authority that issued the signing certificate, as its subject names it. */
export interface IssuingAuthority {
  readonly commonName: string | undefined;
  readonly organization: string | undefined;
  readonly organizationalUnit: string | undefined;
  /** Set when the CA is a Countersign channel CA (`CN=<product>/<channel>`, `OU=<product>`). */
  readonly product: string | undefined;
  readonly channel: string | undefined;
}

/** A successful verification, summarised for rendering. */
export interface ArtifactVerification {
  readonly digest: { readonly algorithm: HashAlgorithm; readonly value: Uint8Array };
  readonly kind: 'artifact' | 'attestation';
  /** The in-toto predicate type of an attestation. */
  readonly predicateType: string | undefined;
  /** Signer identity and OIDC issuer from the certificate (undefined for managed keys). */
  readonly identity: string | undefined;
  readonly issuer: string | undefined;
  readonly authority: IssuingAuthority | undefined;
  /** The signing time shown first: the log's (SET) when there is one, else the TSA's. */
  readonly signedAt: VerifiedTime | undefined;
  readonly timestamps: readonly VerifiedTime[];
  readonly logIndex: bigint | undefined;
  readonly checks: readonly { readonly check: ArtifactCheckName; readonly detail: string }[];
  readonly verification: BundleVerification;
}

/** What `verifyArtifact` checks. */
export interface VerifyArtifactInput {
  /** Attacker-controlled until verified. */
  readonly bundle: Bundle;
  readonly artifact: Extract<ArtifactInput, { digest: unknown }>;
  readonly trustedRoot: TrustedRoot;
  readonly policy?: IdentityPolicy;
  readonly channel?: ChannelRequirement;
}

/**
 * Verifies a bundle for an artifact digest: `verifyBundle`, then the channel requirement.
 *
 * @throws {@link AppError} VERIFICATION_FAILED with a message starting with the failed check
 *   (`channel: …` for the channel requirement); INVALID_INPUT as `verifyBundle`.
 */
export function verifyArtifact(input: VerifyArtifactInput): ArtifactVerification {
  const verification = verifyBundle({
    bundle: input.bundle,
    artifact: input.artifact,
    trustedRoot: input.trustedRoot,
    ...(input.policy === undefined ? {} : { policy: input.policy }),
  });
  const checks: { check: ArtifactCheckName; detail: string }[] = [...verification.checks];
  const { signer } = verification;
  const authority =
    signer.type === 'certificate'
      ? findIssuingAuthority(signer.certificate, input.trustedRoot)
      : undefined;
  if (input.channel !== undefined) {
    const { product, channel } = input.channel;
    const wanted = `${product}/${channel}`;
    if (signer.type !== 'certificate') {
      failChannel(`the bundle is signed with a public key, not by the CA of ${wanted}`);
    }
    if (authority === undefined) {
      failChannel(`the certificate's issuer is not a certificate in the trusted root`);
    }
    if (authority.product !== product || authority.channel !== channel) {
      failChannel(
        `signed by the CA ${JSON.stringify(authority.commonName ?? '(no common name)')}, not by the CA of ${wanted}`,
      );
    }
    checks.push({ check: 'channel', detail: `certificate issued by the CA of ${wanted}` });
  }
  const signedAt =
    verification.timestamps.find((time) => time.source === 'tlog') ?? verification.timestamps[0];
  return {
    digest: input.artifact.digest,
    kind: verification.statement === undefined ? 'artifact' : 'attestation',
    predicateType: verification.statement?.predicateType,
    identity: signer.type === 'certificate' ? signer.identity : undefined,
    issuer: signer.type === 'certificate' ? signer.issuer : undefined,
    authority,
    signedAt,
    timestamps: verification.timestamps,
    logIndex: verification.tlogEntries[0]?.logIndex,
    checks,
    verification,
  };
}

/**
 * The trusted-root certificate that issued `leaf` (same subject as the leaf's issuer, and its key
 * verifies the leaf's signature), described by its subject. Undefined when there is none.
 */
export function findIssuingAuthority(
  leaf: Certificate,
  trustedRoot: TrustedRoot,
): IssuingAuthority | undefined {
  for (const authority of trustedRoot.certificateAuthorities) {
    let chain: readonly Certificate[];
    try {
      chain = parseCertificateChain(authority.certChain);
    } catch {
      continue;
    }
    for (const candidate of chain) {
      if (!equalBytes(candidate.subject, leaf.issuer)) continue;
      if (!safeVerifies(leaf, candidate)) continue;
      return describeAuthority(candidate);
    }
  }
  return undefined;
}

function describeAuthority(certificate: Certificate): IssuingAuthority {
  let attributes: readonly { type: string; value: string }[] = [];
  try {
    attributes = parseCaCertificate(certificate.der).subject;
  } catch {
    // A CA we cannot read names of (not one of ours): described as nameless.
  }
  const only = (type: string) => {
    const values = attributes.filter((a) => a.type === type).map((a) => a.value);
    return values.length === 1 ? values[0] : undefined;
  };
  const commonName = only(OID_COMMON_NAME);
  const organizationalUnit = only(OID_ORGANIZATIONAL_UNIT);
  const parts = commonName?.split('/');
  const isChannelCa =
    parts?.length === 2 &&
    parts.every((part) => PRODUCT_OR_CHANNEL_NAME.test(part)) &&
    organizationalUnit === parts[0];
  return {
    commonName,
    organization: only(OID_ORGANIZATION),
    organizationalUnit,
    product: isChannelCa ? parts[0] : undefined,
    channel: isChannelCa ? parts[1] : undefined,
  };
}

function safeVerifies(leaf: Certificate, issuer: Certificate): boolean {
  try {
    return leaf.x509.verify(issuer.publicKey);
  } catch {
    return false;
  }
}

function failChannel(message: string): never {
  throw new AppError('VERIFICATION_FAILED', `channel: ${message}`);
}

// ---------------------------------------------------------------------------------------------
// Files

/** What `verifyArtifactFiles` reads. */
export interface VerifyArtifactFilesInput {
  /** The artifact file (hashed, streaming), or its digest. */
  readonly artifact:
    | { readonly path: string }
    | { readonly digest: { readonly algorithm: HashAlgorithm; readonly value: Uint8Array } };
  readonly bundlePath: string;
  /**
   * A TrustedRoot JSON (or single-line JSONL) file, or {@link PUBLIC_GOOD_TRUSTED_ROOT}, or a
   * trusted root already loaded (so several bundles are checked against the same one).
   */
  readonly trustedRoot: string | TrustedRoot;
  readonly policy?: IdentityPolicy;
  readonly channel?: ChannelRequirement;
  /** Hashing progress: bytes hashed so far and the file size. */
  readonly onProgress?: (bytesHashed: number, size: number) => void;
  /** Relative paths are resolved against this directory; messages show them as given. */
  readonly cwd?: string;
}

/**
 * Reads the trusted root and the bundle, hashes the artifact with the algorithm the bundle needs,
 * and runs {@link verifyArtifact}. Never touches the network.
 *
 * @throws {@link AppError} INVALID_INPUT when a file is missing, unreadable, too large or
 *   malformed (the message names the file, the hint says what to do); VERIFICATION_FAILED
 *   naming the failed check.
 */
export async function verifyArtifactFiles(
  input: VerifyArtifactFilesInput,
): Promise<ArtifactVerification> {
  const cwd = input.cwd ?? '.';
  const trustedRoot =
    typeof input.trustedRoot === 'string'
      ? await loadTrustedRoot(input.trustedRoot, cwd)
      : input.trustedRoot;
  const bundle = await loadBundle(input.bundlePath, cwd);
  let digest: { algorithm: HashAlgorithm; value: Uint8Array };
  if ('digest' in input.artifact) {
    digest = input.artifact.digest;
  } else {
    const { path } = input.artifact;
    const wanted = digestAlgorithmsFor(bundle);
    const size = (await stat(resolve(cwd, path)).catch(() => undefined))?.size ?? 0;
    const hashed = await hashFile(resolve(cwd, path), wanted.algorithms, {
      label: path,
      ...(input.onProgress === undefined
        ? {}
        : { onProgress: (done: number) => input.onProgress?.(done, size) }),
    });
    digest = pickDigest(hashed.digests, wanted.statement);
  }
  return verifyArtifact({
    bundle,
    artifact: { digest },
    trustedRoot,
    ...(input.policy === undefined ? {} : { policy: input.policy }),
    ...(input.channel === undefined ? {} : { channel: input.channel }),
  });
}

/**
 * Loads a TrustedRoot file, or the Sigstore public-good root shipped in `@sigstore/tuf`.
 *
 * @throws {@link AppError} INVALID_INPUT naming the file.
 */
export async function loadTrustedRoot(source: string, cwd = '.'): Promise<TrustedRoot> {
  if (source === PUBLIC_GOOD_TRUSTED_ROOT) {
    let seeds: string;
    try {
      const path = createRequire(import.meta.url).resolve('@sigstore/tuf/seeds.json');
      seeds = await readFile(path, 'utf8');
    } catch (cause) {
      throw new AppError('INTERNAL', 'the Sigstore public-good root is not installed', { cause });
    }
    return extractTrustedRootFromTufSeeds(JSON.parse(seeds));
  }
  const text = await readBoundedFile(cwd, source, MAX_TRUSTED_ROOT_BYTES, 'trusted root', {
    hint: `export it with \`countersign trust export --out ${source}\`, or pass --trusted-root ${PUBLIC_GOOD_TRUSTED_ROOT}`,
  });
  try {
    return parseTrustedRootJson(text);
  } catch (error) {
    throw renamed(error, `${source} is not a Sigstore trusted root`);
  }
}

/**
 * Loads a bundle file.
 *
 * @throws {@link AppError} INVALID_INPUT naming the file (message starting `shape:` when it is
 *   not a valid bundle).
 */
export async function loadBundle(path: string, cwd = '.'): Promise<Bundle> {
  const text = await readBoundedFile(cwd, path, MAX_BUNDLE_BYTES, 'bundle', {
    hint: '`countersign sign` writes <file>.sigstore.json next to each file; name it with --bundle',
  });
  try {
    return parseBundleJson(text);
  } catch (error) {
    throw renamed(error, `shape: ${path} is not a Sigstore bundle`);
  }
}

/**
 * Parses `sha256:<hex>` (also sha384, sha512).
 *
 * @throws {@link AppError} INVALID_INPUT.
 */
export function parseDigestText(text: string): { algorithm: HashAlgorithm; value: Uint8Array } {
  const [algorithm, hex, ...rest] = text.trim().split(':');
  if (
    !isHashAlgorithm(algorithm) ||
    hex === undefined ||
    rest.length > 0 ||
    !/^[0-9a-fA-F]+$/.test(hex) ||
    hex.length !== getDigestSize(algorithm) * 2
  ) {
    throw new AppError('INVALID_INPUT', `"${text.slice(0, 20)}…" is not a digest`, {
      errors: [
        { path: '--digest', message: 'must be sha256:<64 hex>, sha384:<96> or sha512:<128>' },
      ],
      hint: 'e.g. --digest sha256:$(sha256sum FILE | cut -d" " -f1)',
    });
  }
  return { algorithm, value: new Uint8Array(Buffer.from(hex.toLowerCase(), 'hex')) };
}

/** The algorithms to hash an artifact with for `bundle`, and its statement for DSSE bundles. */
function digestAlgorithmsFor(bundle: Bundle): {
  algorithms: HashAlgorithm[];
  statement: InTotoStatement | undefined;
} {
  if (bundle.content.type === 'messageSignature') {
    return {
      algorithms: [bundle.content.messageSignature.messageDigest.algorithm],
      statement: undefined,
    };
  }
  let statement: InTotoStatement | undefined;
  try {
    statement = parseInTotoStatement(bundle.content.dsseEnvelope.payload);
  } catch {
    // verifyBundle reports it as the `artifact` check; any digest will do until then.
    return { algorithms: ['sha256'], statement: undefined };
  }
  const named = HASH_ALGORITHMS.filter((algorithm) =>
    statement.subjects.some((subject) => subject.digest[algorithm] !== undefined),
  );
  return { algorithms: named.length > 0 ? named : ['sha256'], statement };
}

function pickDigest(
  digests: ReadonlyMap<HashAlgorithm, Uint8Array>,
  statement: InTotoStatement | undefined,
): { algorithm: HashAlgorithm; value: Uint8Array } {
  const all = [...digests].map(([algorithm, value]) => ({ algorithm, value }));
  const match =
    statement === undefined
      ? undefined
      : all.find(({ algorithm, value }) => hasSubjectDigest(statement, algorithm, value));
  const chosen = match ?? all[0];
  if (chosen === undefined) throw new AppError('INTERNAL', 'no digest computed');
  return chosen;
}

async function readBoundedFile(
  cwd: string,
  path: string,
  maxBytes: number,
  what: string,
  options: { hint: string },
): Promise<string> {
  let size: number;
  try {
    const info = await stat(resolve(cwd, path));
    if (!info.isFile()) throw Object.assign(new Error('not a file'), { code: 'EISDIR' });
    size = info.size;
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    throw new AppError(
      'INVALID_INPUT',
      code === 'ENOENT'
        ? `${what} file ${path}: no such file`
        : code === 'EISDIR'
          ? `${what} file ${path} is not a regular file`
          : `cannot read the ${what} file ${path}`,
      { hint: options.hint, cause },
    );
  }
  if (size > maxBytes) {
    throw new AppError('INVALID_INPUT', `${what} file ${path} is larger than ${maxBytes} bytes`);
  }
  try {
    return await readFile(resolve(cwd, path), 'utf8');
  } catch (cause) {
    throw new AppError('INVALID_INPUT', `cannot read the ${what} file ${path}`, {
      hint: options.hint,
      cause,
    });
  }
}

function renamed(error: unknown, message: string): AppError {
  if (error instanceof AppError) {
    const detail = error.message.replace(/^shape: /, '');
    return new AppError(error.code, `${message}: ${detail}`, {
      errors: error.errors,
      cause: error,
    });
  }
  return new AppError('INVALID_INPUT', message, { cause: error });
}
