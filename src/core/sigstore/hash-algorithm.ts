/**
 * The digest algorithms Sigstore documents name, and their spellings: protobuf enum names in
 * bundles and TrustedRoots (`SHA2_256`), lowercase in Rekor v1 bodies and node:crypto (`sha256`).
 * SHA-1 and the rest are not accepted anywhere (sigstore-go rejects them, interop §7.1).
 */
import { createHash } from 'node:crypto';

/** A digest algorithm, in node:crypto spelling. */
export type HashAlgorithm = 'sha256' | 'sha384' | 'sha512';

/** The protobuf `HashAlgorithm` enum names (sigstore_common.proto). */
export type ProtoHashAlgorithm = 'SHA2_256' | 'SHA2_384' | 'SHA2_512';

/** Every supported algorithm. */
export const HASH_ALGORITHMS: readonly HashAlgorithm[] = ['sha256', 'sha384', 'sha512'];

/** Protobuf enum names of the supported algorithms. */
export const PROTO_HASH_ALGORITHMS: readonly ProtoHashAlgorithm[] = [
  'SHA2_256',
  'SHA2_384',
  'SHA2_512',
];

const DIGEST_SIZES: Readonly<Record<HashAlgorithm, number>> = {
  sha256: 32,
  sha384: 48,
  sha512: 64,
};

const TO_PROTO: Readonly<Record<HashAlgorithm, ProtoHashAlgorithm>> = {
  sha256: 'SHA2_256',
  sha384: 'SHA2_384',
  sha512: 'SHA2_512',
};

/** Digest length in bytes. */
export function getDigestSize(algorithm: HashAlgorithm): number {
  return DIGEST_SIZES[algorithm];
}

/** The protobuf enum name of `algorithm`. */
export function toProtoHashAlgorithm(algorithm: HashAlgorithm): ProtoHashAlgorithm {
  return TO_PROTO[algorithm];
}

/** The algorithm named by a protobuf enum name. */
export function fromProtoHashAlgorithm(name: ProtoHashAlgorithm): HashAlgorithm {
  return name === 'SHA2_256' ? 'sha256' : name === 'SHA2_384' ? 'sha384' : 'sha512';
}

/** True for `sha256`, `sha384`, `sha512`. */
export function isHashAlgorithm(value: unknown): value is HashAlgorithm {
  return typeof value === 'string' && (HASH_ALGORITHMS as readonly string[]).includes(value);
}

/** The digest of `data`. */
export function computeDigest(
  algorithm: HashAlgorithm,
  ...data: readonly Uint8Array[]
): Uint8Array {
  const hash = createHash(algorithm);
  for (const part of data) hash.update(part);
  return new Uint8Array(hash.digest());
}
