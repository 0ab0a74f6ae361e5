/**
 * Sigstore bundle (protobuf-specs `sigstore_bundle.proto`) in its proto3 JSON form: the types,
 * a strict parser and the encoder (sigstore-interop §1).
 *
 * We write v0.3 only (`application/vnd.dev.sigstore.bundle.v0.3+json`, leaf certificate or public
 * key hint, never `x509CertificateChain`, G2). We read v0.1, v0.2 and v0.3 bundles for
 * verification, as sigstore-js does, with the per-version rules of sigstore-js `validate.ts` and
 * sigstore-go `bundle.go`: v0.1 entries need an inclusion promise, v0.2+ entries an inclusion
 * proof with a checkpoint, v0.3 forbids the certificate chain form.
 *
 * Everything parsed here is attacker-controlled and unauthenticated until `verifyBundle` checks it.
 */
import { AppError } from '../errors.ts';
import { HASH_SIZE } from '../tlog/merkle.ts';
import { MAX_INCLUSION_PROOF_HASHES } from '../tlog/proof.ts';
import type { DsseEnvelope } from './dsse.ts';
import {
  PROTO_HASH_ALGORITHMS,
  fromProtoHashAlgorithm,
  getDigestSize,
  toProtoHashAlgorithm,
  type HashAlgorithm,
} from './hash-algorithm.ts';
import {
  parseJsonText,
  formatBytes,
  hasField,
  invalidAt,
  readArray,
  readBytes,
  readEnum,
  readJsonObject,
  readOptionalObject,
  readRequiredBytes,
  readRequiredObject,
  readRequiredString,
  readString,
  readUint63,
  type JsonObject,
} from './proto-json.ts';

/** The media type we write. */
export const BUNDLE_V03_MEDIA_TYPE = 'application/vnd.dev.sigstore.bundle.v0.3+json';

/** Media types read, and the bundle version each means. */
const MEDIA_TYPES: Readonly<Record<string, BundleVersion>> = {
  'application/vnd.dev.sigstore.bundle+json;version=0.1': '0.1',
  'application/vnd.dev.sigstore.bundle+json;version=0.2': '0.2',
  'application/vnd.dev.sigstore.bundle+json;version=0.3': '0.3',
  [BUNDLE_V03_MEDIA_TYPE]: '0.3',
};

/** Upper bound on a bundle's JSON text (a DSSE payload included). */
export const MAX_BUNDLE_BYTES = 32 * 1024 * 1024;
/** Upper bound on tlog entries and on RFC 3161 timestamps per bundle. */
export const MAX_BUNDLE_TLOG_ENTRIES = 32;
export const MAX_BUNDLE_TIMESTAMPS = 32;
/** Upper bound on a certificate, a signature, a log entry body, a timestamp. */
const MAX_CERTIFICATE_BYTES = 64 * 1024;
const MAX_SIGNATURE_BYTES = 16 * 1024;
const MAX_BODY_BYTES = 4 * 1024 * 1024;
const MAX_TIMESTAMP_BYTES = 64 * 1024;
const MAX_CHECKPOINT_LENGTH = 1024 * 1024;
const MAX_CHAIN_CERTIFICATES = 10;

/** Bundle format versions. */
export type BundleVersion = '0.1' | '0.2' | '0.3';

/** A signature over an artifact, with the artifact's digest (an unauthenticated hint). */
export interface MessageSignature {
  readonly messageDigest: { readonly algorithm: HashAlgorithm; readonly digest: Uint8Array };
  readonly signature: Uint8Array;
}

/** What was signed: exactly one of a message signature or a DSSE envelope. */
export type BundleContent =
  | { readonly type: 'messageSignature'; readonly messageSignature: MessageSignature }
  | { readonly type: 'dsseEnvelope'; readonly dsseEnvelope: DsseEnvelope };

/** How the verifier finds the signing key: exactly one form. */
export type VerificationMaterialContent =
  | { readonly type: 'certificate'; readonly certificate: Uint8Array }
  /** v0.1/v0.2 only; verifiers use the first certificate, intermediates come from the TrustedRoot. */
  | { readonly type: 'x509CertificateChain'; readonly certificates: readonly Uint8Array[] }
  | { readonly type: 'publicKey'; readonly hint: string };

/** RFC 6962 inclusion proof with the checkpoint it leads to. */
export interface InclusionProof {
  readonly logIndex: bigint;
  readonly rootHash: Uint8Array;
  readonly treeSize: bigint;
  /** Audit path, leaf to root. */
  readonly hashes: readonly Uint8Array[];
  /**
   * The signed checkpoint note, text ending in `\n`. Always present from v0.2 on; a v0.1 proof
   * without one cannot be checked (the entry then rests on its SET).
   */
  readonly checkpoint?: string;
}

/** One transparency log entry (sigstore_rekor.proto `TransparencyLogEntry`). */
export interface TransparencyLogEntry {
  readonly logIndex: bigint;
  /** SHA-256 of the log key SPKI (Rekor v1) or the checkpoint key ID (Rekor v2). 32 bytes. */
  readonly logId: Uint8Array;
  readonly kindVersion: { readonly kind: string; readonly version: string };
  /** Unix seconds; 0 when absent (Rekor v2). Trusted only through a verified SET. */
  readonly integratedTime: bigint;
  readonly inclusionPromise?: { readonly signedEntryTimestamp: Uint8Array };
  readonly inclusionProof?: InclusionProof;
  /** The exact bytes hashed into the log leaf. */
  readonly canonicalizedBody: Uint8Array;
}

/** The material that lets a verifier check the content. */
export interface VerificationMaterial {
  readonly content: VerificationMaterialContent;
  readonly tlogEntries: readonly TransparencyLogEntry[];
  /** DER `TimeStampResp`s over the signature bytes. */
  readonly rfc3161Timestamps: readonly Uint8Array[];
}

/** A bundle. */
export interface Bundle {
  readonly mediaType: string;
  readonly version: BundleVersion;
  readonly verificationMaterial: VerificationMaterial;
  readonly content: BundleContent;
}

/**
 * Parses bundle JSON text.
 *
 * @param text - attacker-controlled.
 * @throws {@link AppError} INVALID_INPUT when the text is too large, not JSON, or not a valid
 *   bundle (see `parseBundle`).
 */
export function parseBundleJson(text: string): Bundle {
  return parseBundle(parseJsonText(text, 'bundle', MAX_BUNDLE_BYTES));
}

/**
 * Parses a bundle from its proto3 JSON value, strictly: unknown fields, non-canonical base64,
 * negative or non-integer int64s, unknown media types and version-inappropriate shapes are
 * rejected.
 *
 * @param value - attacker-controlled (the result of `JSON.parse`).
 * @throws {@link AppError} INVALID_INPUT with a JSON pointer to the first problem.
 */
export function parseBundle(value: unknown): Bundle {
  const root = readJsonObject(value, '', [
    'mediaType',
    'verificationMaterial',
    'messageSignature',
    'dsseEnvelope',
  ]);
  const mediaType = readRequiredString(root, 'mediaType', '', 200);
  const version = MEDIA_TYPES[mediaType];
  if (version === undefined)
    invalidAt('/mediaType', `is not a supported bundle media type: ${mediaType}`);
  const verificationMaterial = readVerificationMaterial(root, version);
  const hasMessage = hasField(root, 'messageSignature');
  const hasDsse = hasField(root, 'dsseEnvelope');
  if (hasMessage === hasDsse)
    invalidAt('', 'must have exactly one of messageSignature and dsseEnvelope');
  const content: BundleContent = hasMessage
    ? { type: 'messageSignature', messageSignature: readMessageSignature(root) }
    : { type: 'dsseEnvelope', dsseEnvelope: readDsseEnvelope(root) };
  return { mediaType, version, verificationMaterial, content };
}

/**
 * The proto3 JSON value of a v0.3 bundle (ready for `JSON.stringify`).
 *
 * @throws {@link AppError} INVALID_INPUT when the bundle is not v0.3, uses the certificate chain
 *   form, has a DSSE envelope without exactly one signature, or a digest of the wrong length.
 */
export function encodeBundle(bundle: Bundle): Record<string, unknown> {
  if (bundle.version !== '0.3' || bundle.mediaType !== BUNDLE_V03_MEDIA_TYPE) {
    throw new AppError('INVALID_INPUT', `only v0.3 bundles (${BUNDLE_V03_MEDIA_TYPE}) are written`);
  }
  const material = bundle.verificationMaterial;
  const verificationMaterial: Record<string, unknown> = {};
  switch (material.content.type) {
    case 'certificate':
      verificationMaterial['certificate'] = { rawBytes: formatBytes(material.content.certificate) };
      break;
    case 'publicKey':
      verificationMaterial['publicKey'] = { hint: material.content.hint };
      break;
    case 'x509CertificateChain':
      throw new AppError('INVALID_INPUT', 'v0.3 bundles carry the leaf certificate, not a chain');
  }
  verificationMaterial['tlogEntries'] = material.tlogEntries.map(encodeTlogEntry);
  if (material.rfc3161Timestamps.length > 0) {
    verificationMaterial['timestampVerificationData'] = {
      rfc3161Timestamps: material.rfc3161Timestamps.map((t) => ({
        signedTimestamp: formatBytes(t),
      })),
    };
  }
  const out: Record<string, unknown> = { mediaType: bundle.mediaType, verificationMaterial };
  if (bundle.content.type === 'messageSignature') {
    const { messageDigest, signature } = bundle.content.messageSignature;
    if (messageDigest.digest.byteLength !== getDigestSize(messageDigest.algorithm)) {
      throw new AppError(
        'INVALID_INPUT',
        `messageDigest is not a ${messageDigest.algorithm} digest`,
      );
    }
    out['messageSignature'] = {
      messageDigest: {
        algorithm: toProtoHashAlgorithm(messageDigest.algorithm),
        digest: formatBytes(messageDigest.digest),
      },
      signature: formatBytes(signature),
    };
  } else {
    const envelope = bundle.content.dsseEnvelope;
    if (envelope.signatures.length !== 1) {
      throw new AppError('INVALID_INPUT', 'a bundle DSSE envelope carries exactly one signature');
    }
    out['dsseEnvelope'] = {
      payload: formatBytes(envelope.payload),
      payloadType: envelope.payloadType,
      signatures: envelope.signatures.map((s) => ({ sig: formatBytes(s.sig), keyid: s.keyid })),
    };
  }
  return out;
}

/**
 * The bundle as compact JSON text (`encodeBundle` + `JSON.stringify`).
 *
 * @throws {@link AppError} INVALID_INPUT as `encodeBundle`.
 */
export function serializeBundle(bundle: Bundle): string {
  return JSON.stringify(encodeBundle(bundle));
}

function encodeTlogEntry(entry: TransparencyLogEntry): Record<string, unknown> {
  const out: Record<string, unknown> = {
    logIndex: entry.logIndex.toString(),
    logId: { keyId: formatBytes(entry.logId) },
    kindVersion: { kind: entry.kindVersion.kind, version: entry.kindVersion.version },
  };
  // Rekor v2 entries carry no time; proto3 JSON omits the zero value.
  if (entry.integratedTime !== 0n) out['integratedTime'] = entry.integratedTime.toString();
  if (entry.inclusionPromise !== undefined) {
    out['inclusionPromise'] = {
      signedEntryTimestamp: formatBytes(entry.inclusionPromise.signedEntryTimestamp),
    };
  }
  if (entry.inclusionProof !== undefined) {
    const proof = entry.inclusionProof;
    if (proof.checkpoint === undefined) {
      throw new AppError('INVALID_INPUT', 'a v0.3 inclusion proof needs its checkpoint');
    }
    out['inclusionProof'] = {
      logIndex: proof.logIndex.toString(),
      rootHash: formatBytes(proof.rootHash),
      treeSize: proof.treeSize.toString(),
      hashes: proof.hashes.map(formatBytes),
      checkpoint: { envelope: proof.checkpoint },
    };
  }
  out['canonicalizedBody'] = formatBytes(entry.canonicalizedBody);
  return out;
}

function readVerificationMaterial(root: JsonObject, version: BundleVersion): VerificationMaterial {
  const pointer = '/verificationMaterial';
  const material = readRequiredObject(root, 'verificationMaterial', '', [
    'publicKey',
    'x509CertificateChain',
    'certificate',
    'tlogEntries',
    'timestampVerificationData',
  ]);
  const forms = ['publicKey', 'x509CertificateChain', 'certificate'].filter((k) =>
    hasField(material, k),
  );
  if (forms.length !== 1) {
    invalidAt(pointer, 'must have exactly one of certificate, x509CertificateChain and publicKey');
  }
  let content: VerificationMaterialContent;
  if (hasField(material, 'certificate')) {
    const certificate = readRequiredObject(material, 'certificate', pointer, ['rawBytes']);
    content = {
      type: 'certificate',
      certificate: readRequiredBytes(
        certificate,
        'rawBytes',
        `${pointer}/certificate`,
        MAX_CERTIFICATE_BYTES,
      ),
    };
  } else if (hasField(material, 'x509CertificateChain')) {
    if (version === '0.3') {
      invalidAt(
        `${pointer}/x509CertificateChain`,
        'is not allowed in a v0.3 bundle (use certificate)',
      );
    }
    const chain = readRequiredObject(material, 'x509CertificateChain', pointer, ['certificates']);
    const chainPointer = `${pointer}/x509CertificateChain`;
    const certificates = readArray(chain, 'certificates', chainPointer, MAX_CHAIN_CERTIFICATES).map(
      (c, i) =>
        readRequiredBytes(
          readJsonObject(c, `${chainPointer}/certificates/${i}`, ['rawBytes']),
          'rawBytes',
          `${chainPointer}/certificates/${i}`,
          MAX_CERTIFICATE_BYTES,
        ),
    );
    if (certificates.length === 0) invalidAt(`${chainPointer}/certificates`, 'must not be empty');
    content = { type: 'x509CertificateChain', certificates };
  } else {
    const publicKey = readRequiredObject(material, 'publicKey', pointer, ['hint']);
    content = {
      type: 'publicKey',
      hint: readString(publicKey, 'hint', `${pointer}/publicKey`, 1024),
    };
  }
  const tlogEntries = readArray(material, 'tlogEntries', pointer, MAX_BUNDLE_TLOG_ENTRIES).map(
    (e, i) => readTlogEntry(e, `${pointer}/tlogEntries/${i}`, version),
  );
  const timestampData = readOptionalObject(material, 'timestampVerificationData', pointer, [
    'rfc3161Timestamps',
  ]);
  const timestampPointer = `${pointer}/timestampVerificationData`;
  const rfc3161Timestamps =
    timestampData === undefined
      ? []
      : readArray(timestampData, 'rfc3161Timestamps', timestampPointer, MAX_BUNDLE_TIMESTAMPS).map(
          (t, i) => {
            const where = `${timestampPointer}/rfc3161Timestamps/${i}`;
            return readRequiredBytes(
              readJsonObject(t, where, ['signedTimestamp']),
              'signedTimestamp',
              where,
              MAX_TIMESTAMP_BYTES,
            );
          },
        );
  return { content, tlogEntries, rfc3161Timestamps };
}

function readTlogEntry(
  value: unknown,
  pointer: string,
  version: BundleVersion,
): TransparencyLogEntry {
  const entry = readJsonObject(value, pointer, [
    'logIndex',
    'logId',
    'kindVersion',
    'integratedTime',
    'inclusionPromise',
    'inclusionProof',
    'canonicalizedBody',
  ]);
  const logId = readRequiredBytes(
    readRequiredObject(entry, 'logId', pointer, ['keyId']),
    'keyId',
    `${pointer}/logId`,
    64,
  );
  if (logId.byteLength !== HASH_SIZE)
    invalidAt(`${pointer}/logId/keyId`, `must be ${HASH_SIZE} bytes`);
  const kindVersion = readRequiredObject(entry, 'kindVersion', pointer, ['kind', 'version']);
  const promise = readOptionalObject(entry, 'inclusionPromise', pointer, ['signedEntryTimestamp']);
  const proof = readOptionalObject(entry, 'inclusionProof', pointer, [
    'logIndex',
    'rootHash',
    'treeSize',
    'hashes',
    'checkpoint',
  ]);
  if (version === '0.1' && promise === undefined) {
    invalidAt(`${pointer}/inclusionPromise`, 'is required in a v0.1 bundle');
  }
  if (version !== '0.1' && proof === undefined) {
    invalidAt(`${pointer}/inclusionProof`, `is required in a v${version} bundle`);
  }
  const result: {
    logIndex: bigint;
    logId: Uint8Array;
    kindVersion: { kind: string; version: string };
    integratedTime: bigint;
    inclusionPromise?: { signedEntryTimestamp: Uint8Array };
    inclusionProof?: InclusionProof;
    canonicalizedBody: Uint8Array;
  } = {
    logIndex: readUint63(entry, 'logIndex', pointer),
    logId,
    kindVersion: {
      kind: readRequiredString(kindVersion, 'kind', `${pointer}/kindVersion`, 64),
      version: readRequiredString(kindVersion, 'version', `${pointer}/kindVersion`, 64),
    },
    integratedTime: readUint63(entry, 'integratedTime', pointer),
    canonicalizedBody: readRequiredBytes(entry, 'canonicalizedBody', pointer, MAX_BODY_BYTES),
  };
  if (promise !== undefined) {
    result.inclusionPromise = {
      signedEntryTimestamp: readRequiredBytes(
        promise,
        'signedEntryTimestamp',
        `${pointer}/inclusionPromise`,
        MAX_SIGNATURE_BYTES,
      ),
    };
  }
  if (proof !== undefined) {
    result.inclusionProof = readInclusionProof(proof, `${pointer}/inclusionProof`, version);
  }
  return result;
}

function readInclusionProof(
  proof: JsonObject,
  pointer: string,
  version: BundleVersion,
): InclusionProof {
  const rootHash = readRequiredBytes(proof, 'rootHash', pointer, 64);
  if (rootHash.byteLength !== HASH_SIZE)
    invalidAt(`${pointer}/rootHash`, `must be ${HASH_SIZE} bytes`);
  const hashes = readArray(proof, 'hashes', pointer, MAX_INCLUSION_PROOF_HASHES).map((h, i) => {
    if (typeof h !== 'string') invalidAt(`${pointer}/hashes/${i}`, 'must be a base64 string');
    const bytes = readBytes({ h }, 'h', `${pointer}/hashes/${i}`, 64);
    if (bytes.byteLength !== HASH_SIZE)
      invalidAt(`${pointer}/hashes/${i}`, `must be ${HASH_SIZE} bytes`);
    return bytes;
  });
  const fields = {
    logIndex: readUint63(proof, 'logIndex', pointer),
    rootHash,
    treeSize: readUint63(proof, 'treeSize', pointer),
    hashes,
  };
  if (version === '0.1' && !hasField(proof, 'checkpoint')) return fields;
  const checkpoint = readRequiredObject(proof, 'checkpoint', pointer, ['envelope']);
  return {
    ...fields,
    checkpoint: readRequiredString(
      checkpoint,
      'envelope',
      `${pointer}/checkpoint`,
      MAX_CHECKPOINT_LENGTH,
    ),
  };
}

function readMessageSignature(root: JsonObject): MessageSignature {
  const pointer = '/messageSignature';
  const message = readRequiredObject(root, 'messageSignature', '', ['messageDigest', 'signature']);
  const digest = readRequiredObject(message, 'messageDigest', pointer, ['algorithm', 'digest']);
  const algorithm = fromProtoHashAlgorithm(
    readEnum(digest, 'algorithm', `${pointer}/messageDigest`, PROTO_HASH_ALGORITHMS),
  );
  const digestBytes = readRequiredBytes(digest, 'digest', `${pointer}/messageDigest`, 64);
  if (digestBytes.byteLength !== getDigestSize(algorithm)) {
    invalidAt(`${pointer}/messageDigest/digest`, `is not a ${algorithm} digest`);
  }
  return {
    messageDigest: { algorithm, digest: digestBytes },
    signature: readRequiredBytes(message, 'signature', pointer, MAX_SIGNATURE_BYTES),
  };
}

function readDsseEnvelope(root: JsonObject): DsseEnvelope {
  const pointer = '/dsseEnvelope';
  const envelope = readRequiredObject(root, 'dsseEnvelope', '', [
    'payload',
    'payloadType',
    'signatures',
  ]);
  const signatures = readArray(envelope, 'signatures', pointer, 16).map((s, i) => {
    const where = `${pointer}/signatures/${i}`;
    const signature = readJsonObject(s, where, ['sig', 'keyid']);
    return {
      sig: readRequiredBytes(signature, 'sig', where, MAX_SIGNATURE_BYTES),
      keyid: readString(signature, 'keyid', where, 1024),
    };
  });
  if (signatures.length !== 1)
    invalidAt(`${pointer}/signatures`, 'must hold exactly one signature');
  return {
    payload: readRequiredBytes(envelope, 'payload', pointer, MAX_BUNDLE_BYTES),
    payloadType: readRequiredString(envelope, 'payloadType', pointer, 256),
    signatures,
  };
}
