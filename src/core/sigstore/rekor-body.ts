/**
 * Rekor log entry bodies (`canonicalizedBody`), sigstore-interop §2: the builders for the bodies
 * Countersign writes (`hashedrekord/0.0.1` for message signatures, `dsse/0.0.1` for DSSE), as RFC
 * 8785 canonical JSON, and a parser for every body kind a verifier meets in the wild
 * (`hashedrekord/0.0.1`, `hashedrekord/0.0.2` from Rekor v2, `dsse/0.0.1`, `intoto/0.0.2`).
 *
 * A body is authenticated by the log (SET or inclusion proof), not by its author: the parser is
 * strict about the fields a verifier compares and ignores others, as Rekor's own models do.
 */
import { canonicalJsonBytes } from '../canonical-json.ts';
import { AppError } from '../errors.ts';
import { decodeBase64Strict, encodeBase64 } from '../tlog/bytes.ts';
import type { DsseEnvelope } from './dsse.ts';
import {
  PROTO_HASH_ALGORITHMS,
  computeDigest,
  fromProtoHashAlgorithm,
  getDigestSize,
  isHashAlgorithm,
  type HashAlgorithm,
} from './hash-algorithm.ts';

/** Who signed, as a log body names it. */
export type RekorVerifier =
  | { readonly type: 'certificate'; readonly der: Uint8Array }
  | { readonly type: 'publicKey'; readonly spki: Uint8Array };

/** A digest as a body states it. */
export interface RekorDigest {
  readonly algorithm: HashAlgorithm;
  readonly value: Uint8Array;
}

/** A parsed body. */
export type RekorBody =
  | {
      /** `hashedrekord` 0.0.1 (Rekor v1) or 0.0.2 (Rekor v2). */
      readonly kind: 'hashedrekord';
      readonly version: '0.0.1' | '0.0.2';
      /** The signed digest: of the artifact, or (0.0.2 over DSSE) of the PAE. */
      readonly digest: RekorDigest;
      readonly signature: Uint8Array;
      readonly verifier: RekorVerifier;
    }
  | {
      /** `dsse` 0.0.1 or `intoto` 0.0.2 (Rekor v1 envelope types). */
      readonly kind: 'dsse' | 'intoto';
      readonly version: '0.0.1' | '0.0.2';
      readonly payloadHash: RekorDigest;
      readonly signatures: readonly {
        readonly signature: Uint8Array;
        readonly verifier: RekorVerifier;
      }[];
    };

/**
 * The canonical `hashedrekord/0.0.1` body for a message signature.
 *
 * ```json
 * {"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":{"algorithm":"sha256","value":"<hex>"}},
 *  "signature":{"content":"<b64 sig>","publicKey":{"content":"<b64 of PEM>"}}}}
 * ```
 *
 * @throws {@link AppError} INVALID_INPUT when the digest has the wrong length or the signature is empty.
 */
export function createHashedRekordBody(input: {
  readonly digest: RekorDigest;
  readonly signature: Uint8Array;
  readonly verifier: RekorVerifier;
}): Uint8Array {
  checkDigest(input.digest);
  if (input.signature.byteLength === 0) invalid('signature is empty');
  return canonicalJsonBytes({
    apiVersion: '0.0.1',
    kind: 'hashedrekord',
    spec: {
      data: {
        hash: {
          algorithm: input.digest.algorithm,
          value: Buffer.from(input.digest.value).toString('hex'),
        },
      },
      signature: {
        content: encodeBase64(input.signature),
        publicKey: { content: encodeVerifierPem(input.verifier) },
      },
    },
  });
}

/**
 * The canonical `dsse/0.0.1` body for a DSSE envelope. `envelopeHash` is SHA-256 of the
 * envelope's canonical JSON (no verifier reads it, interop §2.3); signatures are sorted by their
 * base64 text, as Rekor does.
 *
 * @throws {@link AppError} INVALID_INPUT when the envelope has no signature.
 */
export function createDsseBody(input: {
  readonly envelope: DsseEnvelope;
  readonly verifier: RekorVerifier;
}): Uint8Array {
  const { envelope, verifier } = input;
  if (envelope.signatures.length === 0) invalid('envelope has no signature');
  const envelopeJson = canonicalJsonBytes({
    payload: encodeBase64(envelope.payload),
    payloadType: envelope.payloadType,
    signatures: envelope.signatures.map((s) => ({ keyid: s.keyid, sig: encodeBase64(s.sig) })),
  });
  const pem = encodeVerifierPem(verifier);
  const signatures = envelope.signatures
    .map((s) => ({ signature: encodeBase64(s.sig), verifier: pem }))
    .sort((a, b) => (a.signature < b.signature ? -1 : a.signature > b.signature ? 1 : 0));
  return canonicalJsonBytes({
    apiVersion: '0.0.1',
    kind: 'dsse',
    spec: {
      envelopeHash: { algorithm: 'sha256', value: hex(computeDigest('sha256', envelopeJson)) },
      payloadHash: { algorithm: 'sha256', value: hex(computeDigest('sha256', envelope.payload)) },
      signatures,
    },
  });
}

/**
 * Parses a log entry body.
 *
 * @param body - the `canonicalizedBody` bytes (attacker-controlled until the log vouches for them).
 * @throws {@link AppError} INVALID_INPUT when the body is not JSON, is of an unsupported kind or
 *   version, or a field a verifier compares is missing or malformed.
 */
export function parseRekorBody(body: Uint8Array): RekorBody {
  let value: unknown;
  try {
    value = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(body));
  } catch (cause) {
    throw new AppError('INVALID_INPUT', 'log entry body is not UTF-8 JSON', { cause });
  }
  const root = object(value, 'body');
  const kind = root['kind'];
  const apiVersion = root['apiVersion'];
  const spec = object(root['spec'], 'spec');
  if (kind === 'hashedrekord' && apiVersion === '0.0.1') return parseHashedRekordV001(spec);
  if (kind === 'hashedrekord' && apiVersion === '0.0.2') return parseHashedRekordV002(spec);
  if (kind === 'dsse' && apiVersion === '0.0.1') return parseDsseV001(spec);
  if (kind === 'intoto' && apiVersion === '0.0.2') return parseIntotoV002(spec);
  return invalid(`unsupported log entry kind ${String(kind)}/${String(apiVersion)}`);
}

function parseHashedRekordV001(spec: Record<string, unknown>): RekorBody {
  const hash = object(object(spec['data'], 'spec.data')['hash'], 'spec.data.hash');
  const digest = readHexDigest(hash, 'spec.data.hash');
  const signature = object(spec['signature'], 'spec.signature');
  const publicKey = object(signature['publicKey'], 'spec.signature.publicKey');
  return {
    kind: 'hashedrekord',
    version: '0.0.1',
    digest,
    signature: base64(signature['content'], 'spec.signature.content'),
    verifier: decodeVerifierPem(base64(publicKey['content'], 'spec.signature.publicKey.content')),
  };
}

function parseHashedRekordV002(spec: Record<string, unknown>): RekorBody {
  const inner = object(spec['hashedRekordV002'], 'spec.hashedRekordV002');
  const data = object(inner['data'], 'spec.hashedRekordV002.data');
  const algorithm = data['algorithm'];
  if (
    typeof algorithm !== 'string' ||
    !(PROTO_HASH_ALGORITHMS as readonly string[]).includes(algorithm)
  ) {
    invalid('hashedrekord 0.0.2 data.algorithm is not SHA2_256, SHA2_384 or SHA2_512');
  }
  const digest = {
    algorithm: fromProtoHashAlgorithm(algorithm as (typeof PROTO_HASH_ALGORITHMS)[number]),
    value: base64(data['digest'], 'spec.hashedRekordV002.data.digest'),
  };
  checkDigest(digest);
  const signature = object(inner['signature'], 'spec.hashedRekordV002.signature');
  const verifier = object(signature['verifier'], 'spec.hashedRekordV002.signature.verifier');
  let parsed: RekorVerifier;
  if (verifier['x509Certificate'] !== undefined) {
    const cert = object(verifier['x509Certificate'], 'verifier.x509Certificate');
    parsed = {
      type: 'certificate',
      der: base64(cert['rawBytes'], 'verifier.x509Certificate.rawBytes'),
    };
  } else {
    const key = object(verifier['publicKey'], 'verifier.publicKey');
    parsed = { type: 'publicKey', spki: base64(key['rawBytes'], 'verifier.publicKey.rawBytes') };
  }
  return {
    kind: 'hashedrekord',
    version: '0.0.2',
    digest,
    signature: base64(signature['content'], 'spec.hashedRekordV002.signature.content'),
    verifier: parsed,
  };
}

function parseDsseV001(spec: Record<string, unknown>): RekorBody {
  const signatures = array(spec['signatures'], 'spec.signatures').map((s, i) => {
    const entry = object(s, `spec.signatures[${i}]`);
    return {
      signature: base64(entry['signature'], `spec.signatures[${i}].signature`),
      verifier: decodeVerifierPem(base64(entry['verifier'], `spec.signatures[${i}].verifier`)),
    };
  });
  return {
    kind: 'dsse',
    version: '0.0.1',
    payloadHash: readHexDigest(object(spec['payloadHash'], 'spec.payloadHash'), 'spec.payloadHash'),
    signatures,
  };
}

function parseIntotoV002(spec: Record<string, unknown>): RekorBody {
  const content = object(spec['content'], 'spec.content');
  const envelope = object(content['envelope'], 'spec.content.envelope');
  const signatures = array(envelope['signatures'], 'envelope.signatures').map((s, i) => {
    const entry = object(s, `envelope.signatures[${i}]`);
    // intoto 0.0.2 stores the envelope's base64 signature text base64-encoded once more.
    const inner = new TextDecoder().decode(base64(entry['sig'], `envelope.signatures[${i}].sig`));
    return {
      signature: base64(inner, `envelope.signatures[${i}].sig (inner)`),
      verifier: decodeVerifierPem(
        base64(entry['publicKey'], `envelope.signatures[${i}].publicKey`),
      ),
    };
  });
  return {
    kind: 'intoto',
    version: '0.0.2',
    payloadHash: readHexDigest(
      object(content['payloadHash'], 'spec.content.payloadHash'),
      'spec.content.payloadHash',
    ),
    signatures,
  };
}

/** base64 of the PEM text, as Rekor v1 stores a verifier (`x509.go CanonicalValue`). */
function encodeVerifierPem(verifier: RekorVerifier): string {
  const [label, der] =
    verifier.type === 'certificate' ? ['CERTIFICATE', verifier.der] : ['PUBLIC KEY', verifier.spki];
  if (der.byteLength === 0) invalid('verifier is empty');
  const lines = encodeBase64(der).match(/.{1,64}/g) ?? [];
  const pem = `-----BEGIN ${label}-----\n${lines.join('\n')}\n-----END ${label}-----\n`;
  return Buffer.from(pem, 'utf8').toString('base64');
}

function decodeVerifierPem(pemBytes: Uint8Array): RekorVerifier {
  const pem = new TextDecoder().decode(pemBytes);
  const match =
    /^-----BEGIN (CERTIFICATE|PUBLIC KEY)-----\r?\n([A-Za-z0-9+/=\r\n]+?)\r?\n?-----END \1-----\r?\n?$/.exec(
      pem,
    );
  if (match === null) invalid('verifier is not a PEM certificate or public key');
  const der = decodeBase64Strict((match[2] ?? '').replace(/\r?\n/g, ''));
  if (der === undefined || der.byteLength === 0) invalid('verifier PEM body is not base64');
  return match[1] === 'CERTIFICATE'
    ? { type: 'certificate', der }
    : { type: 'publicKey', spki: der };
}

function readHexDigest(hash: Record<string, unknown>, where: string): RekorDigest {
  const algorithm = hash['algorithm'];
  const value = hash['value'];
  if (!isHashAlgorithm(algorithm)) invalid(`${where}.algorithm is not sha256, sha384 or sha512`);
  if (typeof value !== 'string' || !/^[0-9a-f]*$/.test(value))
    invalid(`${where}.value is not lowercase hex`);
  const digest = { algorithm, value: new Uint8Array(Buffer.from(value, 'hex')) };
  checkDigest(digest);
  return digest;
}

function checkDigest(digest: RekorDigest): void {
  if (digest.value.byteLength !== getDigestSize(digest.algorithm)) {
    invalid(`digest is not ${getDigestSize(digest.algorithm)} bytes of ${digest.algorithm}`);
  }
}

function object(value: unknown, where: string): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value))
    invalid(`${where} must be an object`);
  return value as Record<string, unknown>;
}

function array(value: unknown, where: string): unknown[] {
  if (!Array.isArray(value)) invalid(`${where} must be an array`);
  return value;
}

function base64(value: unknown, where: string): Uint8Array {
  const bytes = typeof value === 'string' ? decodeBase64Strict(value) : undefined;
  if (bytes === undefined || bytes.byteLength === 0) invalid(`${where} is not non-empty base64`);
  return bytes;
}

function hex(bytes: Uint8Array): string {
  return Buffer.from(bytes).toString('hex');
}

function invalid(message: string): never {
  throw new AppError('INVALID_INPUT', `log entry body: ${message}`);
}
