/**
 * Embedded Signed Certificate Timestamps (RFC 6962 §3.3): a CT log's promise, carried inside the
 * leaf certificate, that it logged the precertificate. Verifying one means rebuilding what the log
 * signed (RFC 6962 §3.2, `precert_entry`): the leaf's TBSCertificate without the SCT extension and
 * the SHA-256 of the issuer's public key.
 *
 * Like sigstore-go, an SCT from a log the TrustedRoot does not list is not counted (and not an
 * error); an SCT from a listed log that fails to verify is an error.
 */
import { createHash, verify as verifySignature, type KeyObject } from 'node:crypto';
import { AppError } from '../errors.ts';
import {
  importLogKey,
  isWithinTimeRange,
  type TransparencyLogInstance,
} from '../sigstore/trusted-root.ts';
import { equalBytes } from '../tlog/bytes.ts';
import { OID, type Certificate } from './certificate.ts';
import {
  DER_TAG,
  contextTag,
  encodeTlv,
  readChildren,
  parseDer,
  decodeOctetString,
} from '../asn1/der.ts';

/** One SCT as read from the certificate. */
export interface SignedCertificateTimestamp {
  readonly logId: Uint8Array;
  /** Milliseconds since the epoch. */
  readonly timestamp: bigint;
  readonly extensions: Uint8Array;
  readonly hashAlgorithm: number;
  readonly signatureAlgorithm: number;
  readonly signature: Uint8Array;
}

/** RFC 5246 §7.4.1.4.1 HashAlgorithm values → node:crypto names. */
const TLS_HASHES: Readonly<Record<number, string>> = { 4: 'sha256', 5: 'sha384', 6: 'sha512' };
/** RFC 5246 SignatureAlgorithm values → key types. */
const TLS_SIGNATURES: Readonly<Record<number, string>> = { 1: 'rsa', 3: 'ec' };

/**
 * Verifies every embedded SCT whose log the TrustedRoot lists and returns the IDs of the distinct
 * logs whose SCT verified.
 *
 * @param leaf - the verified leaf (attacker-controlled content).
 * @param issuer - the certificate that issued the leaf (from a verified chain).
 * @param ctlogs - the TrustedRoot's `ctlogs`.
 * @throws {@link AppError} VERIFICATION_FAILED when the SCT list is malformed or an SCT from a
 *   trusted log does not verify.
 */
export function verifyEmbeddedScts(
  leaf: Certificate,
  issuer: Certificate,
  ctlogs: readonly TransparencyLogInstance[],
): Uint8Array[] {
  const extension = leaf.extensions.find((e) => e.oid === OID.SCT_LIST);
  if (extension === undefined) return [];
  let scts: SignedCertificateTimestamp[];
  try {
    scts = parseSctList(decodeOctetString(parseDer(extension.value), 'SCT list'));
  } catch (cause) {
    const reason = cause instanceof AppError ? cause.message : 'malformed';
    throw new AppError('VERIFICATION_FAILED', `SCT list is malformed: ${reason}`, { cause });
  }
  const tbs = removeExtension(leaf, OID.SCT_LIST);
  const issuerKeyHash = createHash('sha256').update(issuer.subjectPublicKeyInfo).digest();
  const verified: Uint8Array[] = [];
  for (const sct of scts) {
    const time = new Date(Number(sct.timestamp));
    const logs = ctlogs.filter(
      (log) => equalBytes(log.logId, sct.logId) && isWithinTimeRange(log.publicKey.validFor, time),
    );
    if (logs.length === 0) continue;
    const signed = buildSignedData(sct, issuerKeyHash, tbs);
    if (!logs.some((log) => verifySct(sct, signed, safeImport(log)))) {
      throw new AppError(
        'VERIFICATION_FAILED',
        `SCT from CT log ${Buffer.from(sct.logId).toString('base64')} does not verify`,
      );
    }
    if (!verified.some((id) => equalBytes(id, sct.logId))) verified.push(sct.logId);
  }
  return verified;
}

/**
 * Parses a TLS-encoded `SignedCertificateTimestampList` (RFC 6962 §3.3).
 *
 * @throws {@link AppError} INVALID_INPUT when lengths disagree or an SCT is not version 1 (0).
 */
export function parseSctList(bytes: Uint8Array): SignedCertificateTimestamp[] {
  const reader = new TlsReader(bytes);
  const list = new TlsReader(reader.vector(2));
  reader.end();
  const scts: SignedCertificateTimestamp[] = [];
  while (!list.done()) {
    const sct = new TlsReader(list.vector(2));
    const version = sct.uint(1);
    if (version !== 0n) invalid('SCT version is not v1');
    const logId = sct.bytes(32);
    const timestamp = sct.uint(8);
    const extensions = sct.vector(2);
    const hashAlgorithm = Number(sct.uint(1));
    const signatureAlgorithm = Number(sct.uint(1));
    const signature = sct.vector(2);
    sct.end();
    scts.push({ logId, timestamp, extensions, hashAlgorithm, signatureAlgorithm, signature });
  }
  if (scts.length === 0) invalid('SCT list is empty');
  return scts;
}

function verifySct(
  sct: SignedCertificateTimestamp,
  signed: Uint8Array,
  key: KeyObject | undefined,
): boolean {
  const hash = TLS_HASHES[sct.hashAlgorithm];
  if (
    key === undefined ||
    hash === undefined ||
    TLS_SIGNATURES[sct.signatureAlgorithm] !== key.asymmetricKeyType
  ) {
    return false;
  }
  try {
    return verifySignature(hash, signed, key, sct.signature);
  } catch {
    return false;
  }
}

/** RFC 6962 §3.2 `digitally-signed struct` for a precert_entry. */
function buildSignedData(
  sct: SignedCertificateTimestamp,
  issuerKeyHash: Uint8Array,
  tbs: Uint8Array,
): Uint8Array {
  const parts = [
    Uint8Array.of(0, 0), // sct_version v1, signature_type certificate_timestamp
    uint(sct.timestamp, 8),
    uint(1n, 2), // entry_type precert_entry
    issuerKeyHash,
    uint(BigInt(tbs.byteLength), 3),
    tbs,
    uint(BigInt(sct.extensions.byteLength), 2),
    sct.extensions,
  ];
  return Buffer.concat(parts);
}

/** The leaf's TBSCertificate re-encoded without the extension `oid` (every other byte kept). */
function removeExtension(leaf: Certificate, oid: string): Uint8Array {
  const fields = readChildren(leaf.tbs).map((field) => {
    if (field.tag !== contextTag(3, true)) return field.bytes;
    const [list] = readChildren(field);
    if (list === undefined) return field.bytes;
    const kept = readChildren(list).filter((extension) => {
      const found = leaf.extensions.find((e) => equalBytes(e.element.bytes, extension.bytes));
      return found?.oid !== oid;
    });
    return encodeTlv(contextTag(3, true), encodeTlv(DER_TAG.SEQUENCE, ...kept.map((e) => e.bytes)));
  });
  return encodeTlv(DER_TAG.SEQUENCE, ...fields);
}

function safeImport(log: TransparencyLogInstance): KeyObject | undefined {
  try {
    return importLogKey(log);
  } catch {
    return undefined;
  }
}

function uint(value: bigint, size: number): Uint8Array {
  const out = new Uint8Array(size);
  let v = value;
  for (let i = size - 1; i >= 0; i--) {
    out[i] = Number(v & 0xffn);
    v >>= 8n;
  }
  return out;
}

/** A bounds-checked reader of TLS presentation-language encodings (RFC 5246 §4). */
class TlsReader {
  private offset = 0;
  private readonly data: Uint8Array;

  constructor(data: Uint8Array) {
    this.data = data;
  }

  bytes(length: number): Uint8Array {
    if (this.offset + length > this.data.byteLength) invalid('SCT data is truncated');
    const out = this.data.subarray(this.offset, this.offset + length);
    this.offset += length;
    return out;
  }

  uint(size: number): bigint {
    let value = 0n;
    for (const byte of this.bytes(size)) value = (value << 8n) | BigInt(byte);
    return value;
  }

  vector(lengthSize: number): Uint8Array {
    return this.bytes(Number(this.uint(lengthSize)));
  }

  done(): boolean {
    return this.offset === this.data.byteLength;
  }

  end(): void {
    if (!this.done()) invalid('SCT data has trailing bytes');
  }
}

function invalid(message: string): never {
  throw new AppError('INVALID_INPUT', message);
}
