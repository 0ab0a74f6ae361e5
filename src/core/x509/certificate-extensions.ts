/**
 * The X.509 v3 extensions Countersign writes (RFC 5280 §4.2), encoded straight to DER: each
 * function returns one whole `Extension` (SEQUENCE { extnID, critical DEFAULT FALSE, extnValue }).
 * Hand encoding keeps certificate issuance on the signing path cheap and its bytes exactly
 * specified; the strict DER reader checks every certificate built from them.
 */
import { createHash } from 'node:crypto';
import {
  DER_TAG,
  DerSequenceReader,
  contextTag,
  encodeBoolean,
  encodeOctetString,
  encodeOid,
  encodeSequence,
  encodeSmallInteger,
  encodeTlv,
  parseDer,
} from '../asn1/der.ts';
import {
  OID_AUTHORITY_KEY_IDENTIFIER,
  OID_BASIC_CONSTRAINTS,
  OID_EXTENDED_KEY_USAGE,
  OID_KEY_USAGE,
  OID_SUBJECT_ALT_NAME,
  OID_SUBJECT_KEY_IDENTIFIER,
} from './oids.ts';
import type { ParsedCertificate } from './parse-certificate.ts';

/** keyUsage bits as DER BIT STRING contents: unused-bit count, then the bits (RFC 5280 §4.2.1.3). */
const KEY_USAGE_DIGITAL_SIGNATURE = Uint8Array.of(7, 0x80); // bit 0
const KEY_USAGE_CERT_SIGN_CRL_SIGN = Uint8Array.of(1, 0x06); // bits 5 and 6

/**
 * One extension: `oid`, the critical flag (written only when true, DER omits DEFAULT values) and
 * `valueDer`, the DER of the extension's value, wrapped in the extnValue OCTET STRING.
 */
export function createExtension(oid: string, critical: boolean, valueDer: Uint8Array): Uint8Array {
  return critical
    ? encodeSequence(encodeOid(oid), encodeBoolean(true), encodeOctetString(valueDer))
    : encodeSequence(encodeOid(oid), encodeOctetString(valueDer));
}

/**
 * basicConstraints (critical) and keyUsage (critical): keyCertSign + cRLSign for a CA, which
 * sigstore-js requires of CA certificates that carry keyUsage (interop §5.2), digitalSignature
 * for an end entity.
 */
export function createConstraintExtensions(
  profile: { readonly isCa: true; readonly pathLength: number } | { readonly isCa: false },
): Uint8Array[] {
  return profile.isCa
    ? [
        createExtension(
          OID_BASIC_CONSTRAINTS,
          true,
          encodeSequence(encodeBoolean(true), encodeSmallInteger(profile.pathLength)),
        ),
        createExtension(
          OID_KEY_USAGE,
          true,
          encodeTlv(DER_TAG.BIT_STRING, KEY_USAGE_CERT_SIGN_CRL_SIGN),
        ),
      ]
    : [
        // cA DEFAULT FALSE is omitted: an end entity's basicConstraints is an empty SEQUENCE.
        createExtension(OID_BASIC_CONSTRAINTS, true, encodeSequence()),
        createExtension(
          OID_KEY_USAGE,
          true,
          encodeTlv(DER_TAG.BIT_STRING, KEY_USAGE_DIGITAL_SIGNATURE),
        ),
      ];
}

/** extendedKeyUsage with the given key purposes, e.g. codeSigning or timeStamping. */
export function createExtendedKeyUsageExtension(
  critical: boolean,
  purposes: readonly string[],
): Uint8Array {
  return createExtension(
    OID_EXTENDED_KEY_USAGE,
    critical,
    encodeSequence(...purposes.map((oid) => encodeOid(oid))),
  );
}

/**
 * subjectAltName (critical: leaves have an empty subject, RFC 5280 §4.2.1.6) with one
 * uniformResourceIdentifier (`[6] IMPLICIT IA5String`). The caller has checked that `uri` is
 * printable ASCII.
 */
export function createSubjectAltNameUriExtension(uri: string): Uint8Array {
  return createExtension(
    OID_SUBJECT_ALT_NAME,
    true,
    encodeSequence(encodeTlv(contextTag(6, false), new TextEncoder().encode(uri))),
  );
}

/**
 * The key identifier of a public key: SHA-1 of the `subjectPublicKey` bits (RFC 5280 §4.2.1.2
 * method 1), what OpenSSL's `subjectKeyIdentifier=hash` computes.
 */
export function computeKeyIdentifier(subjectPublicKeySpki: Uint8Array): Uint8Array {
  const spki = new DerSequenceReader(parseDer(subjectPublicKeySpki), 'subjectPublicKeyInfo');
  spki.next(DER_TAG.SEQUENCE, 'algorithm');
  const bits = spki.next(DER_TAG.BIT_STRING, 'subjectPublicKey');
  spki.end();
  return new Uint8Array(createHash('sha1').update(bits.contents.subarray(1)).digest());
}

/**
 * subjectKeyIdentifier of `subjectPublicKeySpki`, and authorityKeyIdentifier (keyIdentifier
 * `[0]` only) of `issuer` unless the certificate is self-signed: verifiers build paths from AKI
 * to SKI (interop §5.1).
 */
export function createKeyIdentifierExtensions(
  subjectPublicKeySpki: Uint8Array,
  issuer: ParsedCertificate | undefined,
): Uint8Array[] {
  const extensions = [
    createExtension(
      OID_SUBJECT_KEY_IDENTIFIER,
      false,
      encodeOctetString(computeKeyIdentifier(subjectPublicKeySpki)),
    ),
  ];
  if (issuer !== undefined) {
    const keyId = issuer.subjectKeyIdentifier ?? computeKeyIdentifier(issuer.subjectPublicKeySpki);
    extensions.push(
      createExtension(
        OID_AUTHORITY_KEY_IDENTIFIER,
        false,
        encodeSequence(encodeTlv(contextTag(0, false), keyId)),
      ),
    );
  }
  return extensions;
}
