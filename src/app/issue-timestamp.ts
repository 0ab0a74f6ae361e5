/**
 * The timestamp authority use case (issue "Sign and verify" item 3): answers RFC 3161 requests
 * from anyone (`POST /v1/timestamp`) and timestamps signature bytes for the signing flow. Time and
 * serial-number randomness come from the ports; the key stays behind its `KeyHandle`.
 */
import type { Clock, KeyHandle, Random } from '../core/ports.ts';
import {
  createRejectionResponse,
  createSignatureTimestamp,
  prepareTimestampSigner,
} from '../core/timestamp/create-timestamp.ts';
import {
  checkTimestampRequest,
  type TimestampFailure,
} from '../core/timestamp/timestamp-request.ts';
import { COUNTERSIGN_TSA_POLICY_OID } from '../core/x509/oids.ts';
import { createSerialNumber } from '../core/x509/sign-certificate.ts';

/** The answer to one RFC 3161 request. */
export type TimestampOutcome =
  | { readonly status: 'granted'; readonly response: Uint8Array }
  | {
      readonly status: 'rejected';
      /** A DER `TimeStampResp` with status rejection: what the protocol answers. */
      readonly response: Uint8Array;
      readonly failure: TimestampFailure;
      /** Why, in words; safe to show (it describes the request only). */
      readonly reason: string;
    };

/** Countersign's TSA. */
export interface TimestampAuthority {
  /** The TSA policy OID written into every token. */
  readonly policyOid: string;
  /** `[TSA certificate, …issuers up to the root]` (DER): the TrustedRoot `certChain` (§4.2). */
  readonly certificateChain: readonly Uint8Array[];
  /**
   * Answers a DER `TimeStampReq` (attacker-controlled). A request the TSA will not stamp gets a
   * `rejected` outcome carrying an RFC 3161 rejection, never an exception.
   *
   * @throws {@link AppError} KEY_UNAVAILABLE when the TSA cannot sign now (key backend down,
   *   certificate expired): a fault of the service, not of the request.
   */
  issue(requestDer: Uint8Array): Promise<TimestampOutcome>;
  /**
   * The DER `TimeStampResp` over `signature` (imprint SHA-256 of the bytes, TSA certificate
   * included): what goes into a bundle's `rfc3161Timestamps[].signedTimestamp`.
   *
   * @throws {@link AppError} KEY_UNAVAILABLE as `issue`.
   */
  timestampSignature(signature: Uint8Array): Promise<Uint8Array>;
}

export interface TimestampAuthorityDeps {
  /** The TSA key; its purpose must be `tsa`. */
  readonly tsaKey: KeyHandle;
  /** The TSA certificate (DER), issued by the root with a critical timeStamping-only EKU. */
  readonly tsaCertificate: Uint8Array;
  /** Issuer certificates above it (DER), normally just the root. */
  readonly chain?: readonly Uint8Array[];
  readonly clock: Clock;
  readonly random: Random;
  /** Default `COUNTERSIGN_TSA_POLICY_OID`. */
  readonly policyOid?: string;
}

/**
 * Builds the TSA. Checks the key and certificate once, here.
 *
 * @throws {@link AppError} KEY_UNAVAILABLE when the key is not a tsa key, does not match the
 *   certificate, or the certificate is not a timestamping certificate; INVALID_INPUT when a
 *   certificate is not strict DER.
 */
export function createTimestampAuthority(deps: TimestampAuthorityDeps): TimestampAuthority {
  const policyOid = deps.policyOid ?? COUNTERSIGN_TSA_POLICY_OID;
  const chain = deps.chain ?? [];
  const signer = prepareTimestampSigner({
    tsaKey: deps.tsaKey,
    tsaCertificate: deps.tsaCertificate,
    chain,
    policyOid,
  });
  return {
    policyOid,
    certificateChain: [signer.tsaCertificate.der, ...chain],
    async issue(requestDer) {
      const check = checkTimestampRequest(requestDer, { policyOid });
      if (!check.ok) {
        return {
          status: 'rejected',
          response: createRejectionResponse(check.failure, check.message),
          failure: check.failure,
          reason: check.message,
        };
      }
      const { request } = check;
      const response = await signer.createResponse({
        imprint: request.messageImprint,
        ...(request.nonce === undefined ? {} : { nonce: request.nonce }),
        includeCertificates: request.certReq,
        genTime: deps.clock.now(),
        serialNumber: createSerialNumber(deps.random),
      });
      return { status: 'granted', response };
    },
    timestampSignature(signature) {
      return createSignatureTimestamp(signer, {
        signature,
        genTime: deps.clock.now(),
        serialNumber: createSerialNumber(deps.random),
      });
    },
  };
}
