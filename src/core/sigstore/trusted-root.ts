/**
 * Sigstore TrustedRoot v0.1 (protobuf-specs `sigstore_trustroot.proto`): which certificate
 * authorities, transparency logs, CT logs and timestamp authorities a verifier trusts, and when.
 *
 * We write exactly what every client accepts (sigstore-interop §4, G9–G12): media type
 * `application/vnd.dev.sigstore.trustedroot+json;version=0.1`, every log key with
 * `validFor.start`, no `checkpointKeyId`, no `operator`, `ctlogs: []` unless given. We read the
 * same format strictly (sigstore-go rejects unknown fields and a log key without a start), and the
 * Sigstore public-good root as shipped in `@sigstore/tuf`'s `seeds.json`.
 */
import { createHash, createPublicKey, type KeyObject } from 'node:crypto';
import { AppError } from '../errors.ts';
import { HASH_SIZE } from '../tlog/merkle.ts';
import {
  parseJsonText,
  formatBytes,
  formatTimestamp,
  invalidAt,
  readArray,
  readEnum,
  readJsonObject,
  readOptionalObject,
  readRequiredBytes,
  readRequiredObject,
  readRequiredString,
  readString,
  readTimestamp,
  type JsonObject,
} from './proto-json.ts';

/** The only TrustedRoot media type sigstore-go accepts (G9). */
export const TRUSTED_ROOT_MEDIA_TYPE = 'application/vnd.dev.sigstore.trustedroot+json;version=0.1';

/** Upper bound on a TrustedRoot's JSON text and on its lists. */
export const MAX_TRUSTED_ROOT_BYTES = 4 * 1024 * 1024;
const MAX_ITEMS = 256;
const MAX_KEY_BYTES = 16 * 1024;
const MAX_CERTIFICATE_BYTES = 64 * 1024;

/** A closed interval of time; `end` absent means open-ended. */
export interface TimeRange {
  readonly start?: Date;
  readonly end?: Date;
}

/** A log's public key and when it may be used. */
export interface TrustedPublicKey {
  /** DER: SubjectPublicKeyInfo, or PKCS#1 RSAPublicKey when `keyDetails` starts with `PKCS1_`. */
  readonly rawBytes: Uint8Array;
  /** protobuf `PublicKeyDetails` name, e.g. `PKIX_ECDSA_P256_SHA_256`, `PKIX_ED25519`. */
  readonly keyDetails: string;
  /** Required for logs (sigstore-go, G11). */
  readonly validFor: TimeRange & { readonly start: Date };
}

/** A transparency log or CT log. */
export interface TransparencyLogInstance {
  readonly baseUrl: string;
  /** Always `SHA2_256` (RFC 6962). */
  readonly hashAlgorithm: 'SHA2_256';
  readonly publicKey: TrustedPublicKey;
  /** 32 bytes: SHA-256 of the SPKI (Rekor v1, CT) or the checkpoint key ID (Rekor v2). */
  readonly logId: Uint8Array;
}

/** A certificate authority or timestamp authority. */
export interface CertificateAuthority {
  readonly subject?: { readonly organization?: string; readonly commonName?: string };
  readonly uri?: string;
  /** DER certificates. CA: `[intermediates…, root]`. TSA: `[leaf, intermediates…, root]`. */
  readonly certChain: readonly Uint8Array[];
  readonly validFor?: TimeRange;
}

/** A trusted root. */
export interface TrustedRoot {
  readonly mediaType: string;
  readonly tlogs: readonly TransparencyLogInstance[];
  readonly certificateAuthorities: readonly CertificateAuthority[];
  readonly ctlogs: readonly TransparencyLogInstance[];
  readonly timestampAuthorities: readonly CertificateAuthority[];
}

/**
 * A log instance for a key: log ID = SHA-256(SPKI) (the Rekor v1 and C2SP ECDSA key ID, interop
 * §2.7), key details from the key type.
 *
 * @throws {@link AppError} INVALID_INPUT when the key is not a DER SPKI of ECDSA P-256/P-384/P-521
 *   or Ed25519.
 */
export function createTransparencyLogInstance(input: {
  readonly baseUrl: string;
  readonly publicKeySpki: Uint8Array;
  readonly validFor: TimeRange & { readonly start: Date };
}): TransparencyLogInstance {
  const key = importKey(input.publicKeySpki, 'PKIX', '/publicKey');
  return {
    baseUrl: input.baseUrl,
    hashAlgorithm: 'SHA2_256',
    publicKey: {
      rawBytes: input.publicKeySpki,
      keyDetails: describeKeyDetails(key),
      validFor: input.validFor,
    },
    logId: new Uint8Array(createHash('sha256').update(input.publicKeySpki).digest()),
  };
}

/**
 * The proto3 JSON value of a TrustedRoot, in the form every client accepts (G9–G12).
 *
 * @throws {@link AppError} INVALID_INPUT when a log ID is not 32 bytes, a certificate chain is
 *   empty, or a base URL is not an absolute http(s) URL.
 */
export function encodeTrustedRoot(root: TrustedRoot): Record<string, unknown> {
  return {
    mediaType: TRUSTED_ROOT_MEDIA_TYPE,
    tlogs: root.tlogs.map(encodeLog),
    certificateAuthorities: root.certificateAuthorities.map(encodeAuthority),
    ctlogs: root.ctlogs.map(encodeLog),
    timestampAuthorities: root.timestampAuthorities.map(encodeAuthority),
  };
}

/**
 * The TrustedRoot as one compact JSON line ending in `\n`: valid for cosign `--trusted-root`,
 * gh `--custom-trusted-root` (JSON Lines) and sigstore-js alike (interop §8.1).
 *
 * @throws {@link AppError} INVALID_INPUT as `encodeTrustedRoot`.
 */
export function serializeTrustedRoot(root: TrustedRoot): string {
  return `${JSON.stringify(encodeTrustedRoot(root))}\n`;
}

/**
 * Parses TrustedRoot JSON text.
 *
 * @param text - untrusted until the operator chose it.
 * @throws {@link AppError} INVALID_INPUT when too large, not JSON, or not a valid TrustedRoot.
 */
export function parseTrustedRootJson(text: string): TrustedRoot {
  return parseTrustedRoot(parseJsonText(text, 'trusted root', MAX_TRUSTED_ROOT_BYTES));
}

/**
 * Parses a TrustedRoot from its proto3 JSON value, strictly: media type v0.1, no unknown fields,
 * every log key with `validFor.start` and a key node:crypto can import, 32-byte log IDs,
 * non-empty certificate chains.
 *
 * @throws {@link AppError} INVALID_INPUT with a JSON pointer to the first problem.
 */
export function parseTrustedRoot(value: unknown): TrustedRoot {
  const root = readJsonObject(value, '', [
    'mediaType',
    'tlogs',
    'certificateAuthorities',
    'ctlogs',
    'timestampAuthorities',
  ]);
  const mediaType = readRequiredString(root, 'mediaType', '', 200);
  if (mediaType !== TRUSTED_ROOT_MEDIA_TYPE)
    invalidAt('/mediaType', `must be ${TRUSTED_ROOT_MEDIA_TYPE}`);
  return {
    mediaType,
    tlogs: readArray(root, 'tlogs', '', MAX_ITEMS).map((v, i) => readLog(v, `/tlogs/${i}`)),
    certificateAuthorities: readArray(root, 'certificateAuthorities', '', MAX_ITEMS).map((v, i) =>
      readAuthority(v, `/certificateAuthorities/${i}`),
    ),
    ctlogs: readArray(root, 'ctlogs', '', MAX_ITEMS).map((v, i) => readLog(v, `/ctlogs/${i}`)),
    timestampAuthorities: readArray(root, 'timestampAuthorities', '', MAX_ITEMS).map((v, i) =>
      readAuthority(v, `/timestampAuthorities/${i}`),
    ),
  };
}

/**
 * The TrustedRoot inside a TUF seeds document such as `@sigstore/tuf/seeds.json`
 * (`{ "<repository URL>": { "root.json": …, "targets": { "trusted_root.json": "<base64>" } } }`).
 * The seeds ship inside the npm package and are trusted as the package is; this does not run the
 * TUF update protocol.
 *
 * @param seeds - the parsed seeds JSON.
 * @param repository - which repository to read; the only one when omitted.
 * @throws {@link AppError} INVALID_INPUT when the repository or its `trusted_root.json` target is
 *   missing or the target is not a valid TrustedRoot.
 */
export function extractTrustedRootFromTufSeeds(seeds: unknown, repository?: string): TrustedRoot {
  if (typeof seeds !== 'object' || seeds === null || Array.isArray(seeds)) {
    invalidAt('', 'TUF seeds must be an object');
  }
  const record = seeds as Record<string, unknown>;
  const names = Object.keys(record);
  const name = repository ?? (names.length === 1 ? names[0] : undefined);
  if (name === undefined || record[name] === undefined) {
    invalidAt('', `TUF seeds do not hold repository ${repository ?? '(exactly one expected)'}`);
  }
  const entry = record[name];
  const targets =
    typeof entry === 'object' && entry !== null
      ? (entry as Record<string, unknown>)['targets']
      : undefined;
  const target =
    typeof targets === 'object' && targets !== null
      ? (targets as Record<string, unknown>)['trusted_root.json']
      : undefined;
  if (typeof target !== 'string') invalidAt(`/${name}/targets`, 'has no trusted_root.json target');
  const bytes = readRequiredBytes(
    { target },
    'target',
    `/${name}/targets/trusted_root.json`,
    MAX_TRUSTED_ROOT_BYTES,
  );
  return parseTrustedRootJson(new TextDecoder().decode(bytes));
}

/**
 * The public key of a log instance as a KeyObject.
 *
 * @throws {@link AppError} INVALID_INPUT when the bytes are not a key of the stated encoding.
 */
export function importLogKey(log: TransparencyLogInstance): KeyObject {
  return importKey(
    log.publicKey.rawBytes,
    log.publicKey.keyDetails.startsWith('PKCS1_') ? 'PKCS1' : 'PKIX',
    '/publicKey',
  );
}

/** True when `time` lies in the closed interval `range` (absent bounds are open). */
export function isWithinTimeRange(range: TimeRange | undefined, time: Date): boolean {
  if (range === undefined) return true;
  const t = time.getTime();
  if (range.start !== undefined && t < range.start.getTime()) return false;
  if (range.end !== undefined && t > range.end.getTime()) return false;
  return true;
}

function readLog(value: unknown, pointer: string): TransparencyLogInstance {
  const log = readJsonObject(value, pointer, [
    'baseUrl',
    'hashAlgorithm',
    'publicKey',
    'logId',
    // Known TransparencyLogInstance fields that we read and ignore (we never write them, G10/G12).
    'checkpointKeyId',
    'operator',
  ]);
  const baseUrl = readRequiredString(log, 'baseUrl', pointer, 2048);
  checkUrl(baseUrl, `${pointer}/baseUrl`);
  const hashAlgorithm = readEnum(log, 'hashAlgorithm', pointer, ['SHA2_256'] as const);
  const key = readRequiredObject(log, 'publicKey', pointer, ['rawBytes', 'keyDetails', 'validFor']);
  const keyPointer = `${pointer}/publicKey`;
  const rawBytes = readRequiredBytes(key, 'rawBytes', keyPointer, MAX_KEY_BYTES);
  const keyDetails = readRequiredString(key, 'keyDetails', keyPointer, 64);
  if (!/^[A-Z0-9_]+$/.test(keyDetails))
    invalidAt(`${keyPointer}/keyDetails`, 'is not a PublicKeyDetails name');
  importKey(rawBytes, keyDetails.startsWith('PKCS1_') ? 'PKCS1' : 'PKIX', keyPointer);
  const validFor = readTimeRange(key, keyPointer);
  if (validFor?.start === undefined)
    invalidAt(`${keyPointer}/validFor/start`, 'is required for a log key');
  const logId = readRequiredBytes(
    readRequiredObject(log, 'logId', pointer, ['keyId']),
    'keyId',
    `${pointer}/logId`,
    64,
  );
  if (logId.byteLength !== HASH_SIZE)
    invalidAt(`${pointer}/logId/keyId`, `must be ${HASH_SIZE} bytes`);
  const start = validFor.start;
  return {
    baseUrl,
    hashAlgorithm,
    publicKey: {
      rawBytes,
      keyDetails,
      validFor: validFor.end === undefined ? { start } : { start, end: validFor.end },
    },
    logId,
  };
}

function readAuthority(value: unknown, pointer: string): CertificateAuthority {
  const authority = readJsonObject(value, pointer, [
    'subject',
    'uri',
    'certChain',
    'validFor',
    'operator',
  ]);
  const chain = readRequiredObject(authority, 'certChain', pointer, ['certificates']);
  const chainPointer = `${pointer}/certChain`;
  const certChain = readArray(chain, 'certificates', chainPointer, 16).map((c, i) =>
    readRequiredBytes(
      readJsonObject(c, `${chainPointer}/certificates/${i}`, ['rawBytes']),
      'rawBytes',
      `${chainPointer}/certificates/${i}`,
      MAX_CERTIFICATE_BYTES,
    ),
  );
  if (certChain.length === 0) invalidAt(`${chainPointer}/certificates`, 'must not be empty');
  const subject = readOptionalObject(authority, 'subject', pointer, ['organization', 'commonName']);
  const uri = readString(authority, 'uri', pointer, 2048);
  const validFor = readTimeRange(authority, pointer);
  return {
    ...(subject === undefined ? {} : { subject: readSubject(subject, `${pointer}/subject`) }),
    ...(uri === '' ? {} : { uri }),
    certChain,
    ...(validFor === undefined ? {} : { validFor }),
  };
}

function readSubject(
  subject: JsonObject,
  pointer: string,
): { organization?: string; commonName?: string } {
  const organization = readString(subject, 'organization', pointer, 1024);
  const commonName = readString(subject, 'commonName', pointer, 1024);
  return {
    ...(organization === '' ? {} : { organization }),
    ...(commonName === '' ? {} : { commonName }),
  };
}

function readTimeRange(parent: JsonObject, pointer: string): TimeRange | undefined {
  const range = readOptionalObject(parent, 'validFor', pointer, ['start', 'end']);
  if (range === undefined) return undefined;
  const start = readTimestamp(range, 'start', `${pointer}/validFor`);
  const end = readTimestamp(range, 'end', `${pointer}/validFor`);
  if (start !== undefined && end !== undefined && end.getTime() < start.getTime()) {
    invalidAt(`${pointer}/validFor`, 'ends before it starts');
  }
  return { ...(start === undefined ? {} : { start }), ...(end === undefined ? {} : { end }) };
}

function encodeLog(log: TransparencyLogInstance): Record<string, unknown> {
  checkUrl(log.baseUrl, '/baseUrl');
  if (log.logId.byteLength !== HASH_SIZE) {
    throw new AppError('INVALID_INPUT', `log ID of ${log.baseUrl} must be ${HASH_SIZE} bytes`);
  }
  return {
    baseUrl: log.baseUrl,
    hashAlgorithm: 'SHA2_256',
    publicKey: {
      rawBytes: formatBytes(log.publicKey.rawBytes),
      keyDetails: log.publicKey.keyDetails,
      validFor: encodeTimeRange(log.publicKey.validFor),
    },
    logId: { keyId: formatBytes(log.logId) },
  };
}

function encodeAuthority(authority: CertificateAuthority): Record<string, unknown> {
  if (authority.certChain.length === 0) {
    throw new AppError('INVALID_INPUT', 'a certificate authority needs at least one certificate');
  }
  const out: Record<string, unknown> = {};
  if (authority.subject !== undefined) {
    const subject: Record<string, string> = {};
    if (authority.subject.organization !== undefined)
      subject['organization'] = authority.subject.organization;
    if (authority.subject.commonName !== undefined)
      subject['commonName'] = authority.subject.commonName;
    out['subject'] = subject;
  }
  if (authority.uri !== undefined) out['uri'] = authority.uri;
  out['certChain'] = {
    certificates: authority.certChain.map((c) => ({ rawBytes: formatBytes(c) })),
  };
  if (authority.validFor !== undefined) out['validFor'] = encodeTimeRange(authority.validFor);
  return out;
}

function encodeTimeRange(range: TimeRange): Record<string, string> {
  const out: Record<string, string> = {};
  if (range.start !== undefined) out['start'] = formatTimestamp(range.start);
  if (range.end !== undefined) out['end'] = formatTimestamp(range.end);
  return out;
}

function importKey(bytes: Uint8Array, encoding: 'PKIX' | 'PKCS1', pointer: string): KeyObject {
  try {
    return createPublicKey({
      key: Buffer.from(bytes),
      format: 'der',
      type: encoding === 'PKCS1' ? 'pkcs1' : 'spki',
    });
  } catch (cause) {
    throw new AppError('INVALID_INPUT', `${pointer}/rawBytes is not a ${encoding} public key`, {
      cause,
      errors: [{ path: `${pointer}/rawBytes`, message: 'not a public key' }],
    });
  }
}

const EC_KEY_DETAILS: Readonly<Record<string, string>> = {
  prime256v1: 'PKIX_ECDSA_P256_SHA_256',
  secp384r1: 'PKIX_ECDSA_P384_SHA_384',
  secp521r1: 'PKIX_ECDSA_P521_SHA_512',
};

function describeKeyDetails(key: KeyObject): string {
  if (key.asymmetricKeyType === 'ed25519') return 'PKIX_ED25519';
  const curve = key.asymmetricKeyDetails?.namedCurve;
  const details =
    key.asymmetricKeyType === 'ec' && curve !== undefined ? EC_KEY_DETAILS[curve] : undefined;
  if (details === undefined) {
    throw new AppError('INVALID_INPUT', 'log keys must be ECDSA P-256/P-384/P-521 or Ed25519');
  }
  return details;
}

function checkUrl(url: string, pointer: string): void {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return invalidAt(pointer, 'is not an absolute URL');
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:')
    invalidAt(pointer, 'must be an http(s) URL');
}
