/**
 * RFC 3161 §2.4.1 time-stamp requests. A request arrives from anyone who can reach the TSA, so
 * everything here reads attacker-controlled bytes: strict DER only (interop G22), bounded size,
 * and a closed list of what is accepted. A rejection names the RFC 3161 `PKIFailureInfo` bit that
 * the TSA answers with (§2.4.2).
 *
 * ```asn1
 * TimeStampReq ::= SEQUENCE  {
 *   version         INTEGER  { v1(1) },
 *   messageImprint  MessageImprint,
 *   reqPolicy       TSAPolicyId              OPTIONAL,
 *   nonce           INTEGER                  OPTIONAL,
 *   certReq         BOOLEAN                  DEFAULT FALSE,
 *   extensions      [0] IMPLICIT Extensions  OPTIONAL  }
 * MessageImprint ::= SEQUENCE  { hashAlgorithm AlgorithmIdentifier, hashedMessage OCTET STRING }
 * ```
 */
import { createHash } from 'node:crypto';
import { AppError, isAppError } from '../errors.ts';
import {
  DER_TAG,
  DerSequenceReader,
  decodeBoolean,
  decodeNull,
  decodeOctetString,
  decodeOid,
  decodeSmallInteger,
  decodeUnsignedInteger,
  encodeBoolean,
  encodeNull,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSmallInteger,
  encodeUnsignedInteger,
  parseDer,
  type DerElement,
} from '../asn1/der.ts';
import { OID_SHA256, OID_SHA384, OID_SHA512 } from '../x509/oids.ts';

/** Hash algorithms a request may use; SHA-1 is refused (sigstore-go rejects it too, interop §7.1). */
export type TimestampHashAlgorithm = 'sha256' | 'sha384' | 'sha512';

const HASH_ALGORITHMS: Readonly<
  Record<TimestampHashAlgorithm, { readonly oid: string; readonly length: number }>
> = {
  sha256: { oid: OID_SHA256, length: 32 },
  sha384: { oid: OID_SHA384, length: 48 },
  sha512: { oid: OID_SHA512, length: 64 },
};

/** A real request is under 200 bytes; anything near this is not one. */
export const MAX_TIMESTAMP_REQUEST_BYTES = 4096;
/** RFC 3161 §2.4.2: clients must be ready for integers up to 160 bits; we accept no larger nonce. */
export const MAX_NONCE_BITS = 160;

/** The hash of the data to be timestamped. */
export interface MessageImprint {
  readonly hashAlgorithm: TimestampHashAlgorithm;
  readonly hashedMessage: Uint8Array;
  /**
   * Whether the AlgorithmIdentifier carried an explicit NULL parameter (OpenSSL writes one;
   * RFC 5754 prefers none). Kept so the token echoes the request's imprint exactly (§2.4.2).
   */
  readonly hasNullParameters: boolean;
}

/** A parsed, accepted request. */
export interface TimestampRequest {
  readonly messageImprint: MessageImprint;
  /** The requested policy, when given; equal to the TSA's own (others are refused). */
  readonly reqPolicy?: string;
  /** The nonce's magnitude (non-negative, at most 160 bits), echoed in the token. */
  readonly nonce?: Uint8Array;
  /** Whether the TSA certificate must be included in the token. */
  readonly certReq: boolean;
}

/** RFC 3161 §2.4.2 `PKIFailureInfo` bits a rejected request can earn. */
export type TimestampFailure =
  'badAlg' | 'badRequest' | 'badDataFormat' | 'unacceptedPolicy' | 'unacceptedExtension';

/** The outcome of checking a request: accepted, or rejected with the failure bit and why. */
export type TimestampRequestCheck =
  | { readonly ok: true; readonly request: TimestampRequest }
  | { readonly ok: false; readonly failure: TimestampFailure; readonly message: string };

export interface TimestampRequestOptions {
  /** The TSA's policy; a request naming any other is refused with `unacceptedPolicy`. */
  readonly policyOid: string;
}

const FAILURES: ReadonlySet<string> = new Set<TimestampFailure>([
  'badAlg',
  'badRequest',
  'badDataFormat',
  'unacceptedPolicy',
  'unacceptedExtension',
]);

/** An INVALID_INPUT whose one field error's `path` is the RFC 3161 failure bit. */
function rejectRequest(failure: TimestampFailure, message: string): AppError {
  return new AppError('INVALID_INPUT', `time-stamp request rejected: ${message}`, {
    errors: [{ path: failure, message }],
  });
}

/**
 * Checks a DER `TimeStampReq` (attacker-controlled) and says whether the TSA will stamp it.
 * Accepted: strict DER with no trailing bytes, version 1, a SHA-256/384/512 imprint of the right
 * length (parameters absent or NULL), a non-negative nonce of at most 160 bits, the TSA's own
 * policy or none, and no extensions — RFC 3161 §2.4.2 requires refusing any extension the TSA
 * does not implement, critical or not, and Countersign implements none. `certReq` FALSE must be
 * omitted, as DER requires of a DEFAULT value. Never throws.
 */
export function checkTimestampRequest(
  der: Uint8Array,
  options: TimestampRequestOptions,
): TimestampRequestCheck {
  try {
    return { ok: true, request: readRequest(der, options) };
  } catch (error) {
    if (!isAppError(error, 'INVALID_INPUT')) {
      return { ok: false, failure: 'badDataFormat', message: 'malformed time-stamp request' };
    }
    // Our own rejections name their failure bit; a DER framing error is a wrong data format.
    const [field] = error.errors;
    return field !== undefined && FAILURES.has(field.path)
      ? { ok: false, failure: field.path as TimestampFailure, message: field.message }
      : { ok: false, failure: 'badDataFormat', message: error.message };
  }
}

/**
 * Parses a DER `TimeStampReq` (attacker-controlled) under the rules of `checkTimestampRequest`.
 *
 * @throws {@link AppError} INVALID_INPUT naming what is wrong; its single field error's `path`
 *   is the RFC 3161 failure bit (`badAlg`, `badDataFormat`, …).
 */
export function parseTimestampRequest(
  der: Uint8Array,
  options: TimestampRequestOptions,
): TimestampRequest {
  const check = checkTimestampRequest(der, options);
  if (check.ok) return check.request;
  throw rejectRequest(check.failure, check.message);
}

function readRequest(der: Uint8Array, options: TimestampRequestOptions): TimestampRequest {
  if (der.length > MAX_TIMESTAMP_REQUEST_BYTES) {
    throw rejectRequest('badDataFormat', 'request too large');
  }
  const fields = new DerSequenceReader(parseDer(der), 'TimeStampReq');
  const version = decodeSmallInteger(fields.next(DER_TAG.INTEGER, 'version'), 'version');
  if (version !== 1) throw rejectRequest('badRequest', `unsupported request version ${version}`);
  const messageImprint = readMessageImprint(fields.next(DER_TAG.SEQUENCE, 'messageImprint'));
  const policyField = fields.optional(DER_TAG.OID);
  const nonceField = fields.optional(DER_TAG.INTEGER);
  const certReqField = fields.optional(DER_TAG.BOOLEAN);
  const extensions = fields.optional(0xa0);
  fields.end();

  const reqPolicy = policyField === undefined ? undefined : decodeOid(policyField, 'reqPolicy');
  const nonce = nonceField === undefined ? undefined : readNonce(nonceField);
  const certReq = certReqField !== undefined && decodeBoolean(certReqField, 'certReq');
  if (certReqField !== undefined && !certReq) {
    throw rejectRequest('badDataFormat', 'certReq FALSE must be omitted in DER');
  }
  if (extensions !== undefined) {
    throw rejectRequest('unacceptedExtension', 'request extensions are not supported');
  }
  if (reqPolicy !== undefined && reqPolicy !== options.policyOid) {
    throw rejectRequest('unacceptedPolicy', `policy ${reqPolicy} is not this TSA's policy`);
  }
  return {
    messageImprint,
    ...(reqPolicy === undefined ? {} : { reqPolicy }),
    ...(nonce === undefined ? {} : { nonce }),
    certReq,
  };
}

function readMessageImprint(element: DerElement): MessageImprint {
  const imprint = new DerSequenceReader(element, 'messageImprint');
  const algorithm = new DerSequenceReader(
    imprint.next(DER_TAG.SEQUENCE, 'hashAlgorithm'),
    'hashAlgorithm',
  );
  const oid = decodeOid(algorithm.next(DER_TAG.OID, 'algorithm'), 'hashAlgorithm');
  const parameters = algorithm.optional(DER_TAG.NULL);
  if (parameters !== undefined) decodeNull(parameters, 'hashAlgorithm parameters');
  try {
    algorithm.end();
  } catch {
    throw rejectRequest('badAlg', 'hash algorithm parameters must be absent or NULL');
  }
  const hashedMessage = decodeOctetString(
    imprint.next(DER_TAG.OCTET_STRING, 'hashedMessage'),
    'hashedMessage',
  );
  imprint.end();
  const hashAlgorithm = hashAlgorithmOf(oid);
  if (hashAlgorithm === undefined) {
    throw rejectRequest('badAlg', `unsupported hash algorithm ${oid}; use SHA-256, -384 or -512`);
  }
  const expected = HASH_ALGORITHMS[hashAlgorithm].length;
  if (hashedMessage.length !== expected) {
    throw rejectRequest(
      'badDataFormat',
      `a ${hashAlgorithm} imprint is ${expected} bytes, not ${hashedMessage.length}`,
    );
  }
  return { hashAlgorithm, hashedMessage, hasNullParameters: parameters !== undefined };
}

function readNonce(element: DerElement): Uint8Array {
  const magnitude = decodeUnsignedInteger(element, 'nonce');
  const first = magnitude[0] ?? 0;
  const bits = first === 0 ? 0 : (magnitude.length - 1) * 8 + (32 - Math.clz32(first));
  if (bits > MAX_NONCE_BITS) {
    throw rejectRequest('badDataFormat', `nonce longer than ${MAX_NONCE_BITS} bits`);
  }
  return magnitude;
}

function hashAlgorithmOf(oid: string): TimestampHashAlgorithm | undefined {
  for (const [name, { oid: known }] of Object.entries(HASH_ALGORITHMS)) {
    if (known === oid) return name as TimestampHashAlgorithm;
  }
  return undefined;
}

/** The OID of a hash algorithm. */
export function hashAlgorithmOid(algorithm: TimestampHashAlgorithm): string {
  return HASH_ALGORITHMS[algorithm].oid;
}

/** The imprint of `data` under `algorithm` (default SHA-256), with no algorithm parameters. */
export function computeMessageImprint(
  data: Uint8Array,
  algorithm: TimestampHashAlgorithm = 'sha256',
): MessageImprint {
  return {
    hashAlgorithm: algorithm,
    hashedMessage: new Uint8Array(createHash(algorithm).update(data).digest()),
    hasNullParameters: false,
  };
}

/** The DER `MessageImprint`. */
export function encodeMessageImprint(imprint: MessageImprint): Uint8Array {
  return encodeSequence(
    encodeSequence(
      encodeOid(hashAlgorithmOid(imprint.hashAlgorithm)),
      ...(imprint.hasNullParameters ? [encodeNull()] : []),
    ),
    encodeOctetString(imprint.hashedMessage),
  );
}

/** The DER `TimeStampReq` of `request`: what a client of a TSA sends. */
export function encodeTimestampRequest(request: TimestampRequest): Uint8Array {
  return encodeSequence(
    encodeSmallInteger(1),
    encodeMessageImprint(request.messageImprint),
    ...(request.reqPolicy === undefined ? [] : [encodeOid(request.reqPolicy)]),
    ...(request.nonce === undefined ? [] : [encodeUnsignedInteger(request.nonce)]),
    ...(request.certReq ? [encodeBoolean(true)] : []),
  );
}
