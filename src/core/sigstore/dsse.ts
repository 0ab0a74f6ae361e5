/**
 * DSSE (Dead Simple Signing Envelope, github.com/secure-systems-lab/dsse `protocol.md`):
 * the envelope type and the pre-authentication encoding (PAE) that is what actually gets signed.
 *
 * ```
 * PAE(type, body) = "DSSEv1" SP LEN(type) SP type SP LEN(body) SP body
 * ```
 * with LEN the ASCII decimal byte length, no leading zeros.
 */

/** One signature of an envelope. */
export interface DsseSignature {
  /** Signature over `PAE(payloadType, payload)` (DER ECDSA for Sigstore). */
  readonly sig: Uint8Array;
  /** Unauthenticated key hint; Sigstore writes `""` and verifiers ignore it. */
  readonly keyid: string;
}

/** A DSSE envelope. */
export interface DsseEnvelope {
  readonly payload: Uint8Array;
  readonly payloadType: string;
  readonly signatures: readonly DsseSignature[];
}

/** The payload type of an in-toto Statement inside DSSE. */
export const IN_TOTO_PAYLOAD_TYPE = 'application/vnd.in-toto+json';

/** The bytes a DSSE signature covers: `PAE(payloadType, payload)`. */
export function encodeDssePae(payloadType: string, payload: Uint8Array): Uint8Array {
  const type = new TextEncoder().encode(payloadType);
  const header = new TextEncoder().encode(`DSSEv1 ${type.byteLength} `);
  const middle = new TextEncoder().encode(` ${payload.byteLength} `);
  const out = new Uint8Array(
    header.byteLength + type.byteLength + middle.byteLength + payload.byteLength,
  );
  out.set(header, 0);
  out.set(type, header.byteLength);
  out.set(middle, header.byteLength + type.byteLength);
  out.set(payload, header.byteLength + type.byteLength + middle.byteLength);
  return out;
}
