/**
 * Reads the fields of an X.509 certificate (RFC 5280 §4.1) that issuing and timestamping need,
 * with the strict DER reader: an issuer certificate is re-read from storage or from an operator's
 * file, and its exact issuer/subject bytes go into what we sign (AKI, IssuerAndSerialNumber).
 */
import { AppError } from '../errors.ts';
import {
  DER_TAG,
  DerSequenceReader,
  decodeBitStringBytes,
  decodeBoolean,
  decodeOctetString,
  decodeOid,
  decodeSmallInteger,
  decodeCertificateTime,
  decodeUnsignedInteger,
  parseDer,
  readChildren,
  type DerElement,
} from '../asn1/der.ts';
import {
  OID_BASIC_CONSTRAINTS,
  OID_EXTENDED_KEY_USAGE,
  OID_SUBJECT_KEY_IDENTIFIER,
} from './oids.ts';

/** One attribute of a distinguished name, e.g. `{ type: '2.5.4.10', value: 'Acme' }`. */
export interface NameAttribute {
  readonly type: string;
  readonly value: string;
}

/** One extension: its criticality and the content of `extnValue` (the DER of the value). */
export interface CertificateExtension {
  readonly critical: boolean;
  readonly value: Uint8Array;
}

/** The fields of a certificate. Byte fields are views into `der`. */
export interface ParsedCertificate {
  readonly der: Uint8Array;
  /** The DER TBSCertificate: what the issuer signed. */
  readonly tbsDer: Uint8Array;
  /** The serial number's magnitude (no sign octet). */
  readonly serialNumber: Uint8Array;
  /** The DER `Name` of the issuer and of the subject, exactly as encoded. */
  readonly issuerDer: Uint8Array;
  readonly subjectDer: Uint8Array;
  /** The subject's attributes in order (one per RDN as Countersign writes them). */
  readonly subject: readonly NameAttribute[];
  readonly notBefore: Date;
  readonly notAfter: Date;
  /** DER SubjectPublicKeyInfo. */
  readonly subjectPublicKeySpki: Uint8Array;
  /** The `subjectPublicKey` BIT STRING's bits: what key identifiers hash (RFC 5280 §4.2.1.2). */
  readonly subjectPublicKeyBits: Uint8Array;
  readonly signatureAlgorithm: string;
  readonly signature: Uint8Array;
  /** Extensions by OID. */
  readonly extensions: ReadonlyMap<string, CertificateExtension>;
  /** From basicConstraints; false when absent. */
  readonly isCa: boolean;
  readonly pathLength: number | undefined;
  readonly subjectKeyIdentifier: Uint8Array | undefined;
  /** The extended key usages, or undefined when the extension is absent. */
  readonly extendedKeyUsage: readonly string[] | undefined;
}

const STRING_TAGS: ReadonlySet<number> = new Set([
  DER_TAG.UTF8_STRING,
  DER_TAG.PRINTABLE_STRING,
  DER_TAG.IA5_STRING,
]);

/**
 * Parses a DER certificate.
 *
 * @throws {@link AppError} INVALID_INPUT when it is not a strict-DER v3 X.509 certificate, has a
 *   duplicate extension, or a name attribute that is not a UTF8, Printable or IA5 string.
 */
export function parseCertificate(der: Uint8Array): ParsedCertificate {
  const certificate = new DerSequenceReader(parseDer(der), 'certificate');
  const tbs = certificate.next(DER_TAG.SEQUENCE, 'tbsCertificate');
  const signatureAlgorithm = readAlgorithmOid(
    certificate.next(DER_TAG.SEQUENCE, 'signatureAlgorithm'),
  );
  const signature = decodeBitStringBytes(
    certificate.next(DER_TAG.BIT_STRING, 'signatureValue'),
    'signatureValue',
  );
  certificate.end();

  const fields = new DerSequenceReader(tbs, 'tbsCertificate');
  const version = fields.next(0xa0, 'version');
  const [versionValue] = readChildren(version);
  if (versionValue === undefined || decodeSmallInteger(versionValue, 'version') !== 2) {
    throw new AppError('INVALID_INPUT', 'malformed certificate: not an X.509 v3 certificate');
  }
  const serialNumber = decodeUnsignedInteger(
    fields.next(DER_TAG.INTEGER, 'serialNumber'),
    'serialNumber',
  );
  const innerAlgorithm = readAlgorithmOid(fields.next(DER_TAG.SEQUENCE, 'signature'));
  if (innerAlgorithm !== signatureAlgorithm) {
    throw new AppError('INVALID_INPUT', 'malformed certificate: signature algorithms disagree');
  }
  const issuer = fields.next(DER_TAG.SEQUENCE, 'issuer');
  const validity = new DerSequenceReader(fields.next(DER_TAG.SEQUENCE, 'validity'), 'validity');
  const notBefore = decodeCertificateTime(validity.any('notBefore'), 'notBefore');
  const notAfter = decodeCertificateTime(validity.any('notAfter'), 'notAfter');
  validity.end();
  const subject = fields.next(DER_TAG.SEQUENCE, 'subject');
  const spki = fields.next(DER_TAG.SEQUENCE, 'subjectPublicKeyInfo');
  const spkiFields = new DerSequenceReader(spki, 'subjectPublicKeyInfo');
  spkiFields.next(DER_TAG.SEQUENCE, 'algorithm');
  const subjectPublicKeyBits = decodeBitStringBytes(
    spkiFields.next(DER_TAG.BIT_STRING, 'subjectPublicKey'),
    'subjectPublicKey',
  );
  spkiFields.end();
  fields.optional(0x81);
  fields.optional(0x82);
  const extensionsField = fields.optional(0xa3);
  fields.end();

  const extensions = readExtensions(extensionsField);
  const basic = readBasicConstraints(extensions.get(OID_BASIC_CONSTRAINTS));
  const ski = extensions.get(OID_SUBJECT_KEY_IDENTIFIER);
  const eku = extensions.get(OID_EXTENDED_KEY_USAGE);
  return {
    der,
    tbsDer: tbs.bytes,
    serialNumber,
    issuerDer: issuer.bytes,
    subjectDer: subject.bytes,
    subject: readName(subject),
    notBefore,
    notAfter,
    subjectPublicKeySpki: spki.bytes,
    subjectPublicKeyBits,
    signatureAlgorithm,
    signature,
    extensions,
    isCa: basic.isCa,
    pathLength: basic.pathLength,
    subjectKeyIdentifier:
      ski === undefined
        ? undefined
        : decodeOctetString(parseDer(ski.value), 'subjectKeyIdentifier'),
    extendedKeyUsage:
      eku === undefined
        ? undefined
        : readChildren(parseDer(eku.value)).map((usage) => decodeOid(usage, 'extKeyUsage')),
  };
}

function readAlgorithmOid(element: DerElement): string {
  const algorithm = new DerSequenceReader(element, 'algorithm');
  const oid = decodeOid(algorithm.next(DER_TAG.OID, 'algorithm'), 'algorithm');
  algorithm.optional(DER_TAG.NULL);
  algorithm.end();
  return oid;
}

function readExtensions(field: DerElement | undefined): Map<string, CertificateExtension> {
  const extensions = new Map<string, CertificateExtension>();
  if (field === undefined) return extensions;
  const [list, ...rest] = readChildren(field);
  if (list === undefined || rest.length > 0 || list.tag !== DER_TAG.SEQUENCE) {
    throw new AppError('INVALID_INPUT', 'malformed certificate: bad extensions field');
  }
  for (const element of readChildren(list)) {
    const extension = new DerSequenceReader(element, 'extension');
    const oid = decodeOid(extension.next(DER_TAG.OID, 'extnID'), 'extnID');
    const criticalField = extension.optional(DER_TAG.BOOLEAN);
    const critical = criticalField !== undefined && decodeBoolean(criticalField, 'critical');
    // DER omits a DEFAULT value (X.690 §11.5): an explicit FALSE is BER.
    if (criticalField !== undefined && !critical) {
      throw new AppError('INVALID_INPUT', 'malformed certificate: explicit critical FALSE');
    }
    const value = decodeOctetString(extension.next(DER_TAG.OCTET_STRING, 'extnValue'), 'extnValue');
    extension.end();
    if (extensions.has(oid)) {
      throw new AppError('INVALID_INPUT', `malformed certificate: duplicate extension ${oid}`);
    }
    extensions.set(oid, { critical, value });
  }
  return extensions;
}

function readBasicConstraints(extension: CertificateExtension | undefined): {
  isCa: boolean;
  pathLength: number | undefined;
} {
  if (extension === undefined) return { isCa: false, pathLength: undefined };
  const fields = new DerSequenceReader(parseDer(extension.value), 'basicConstraints');
  const caField = fields.optional(DER_TAG.BOOLEAN);
  const isCa = caField !== undefined && decodeBoolean(caField, 'cA');
  const pathField = fields.optional(DER_TAG.INTEGER);
  fields.end();
  return {
    isCa,
    pathLength: pathField === undefined ? undefined : decodeSmallInteger(pathField, 'pathLen'),
  };
}

function readName(name: DerElement): NameAttribute[] {
  const attributes: NameAttribute[] = [];
  for (const rdn of readChildren(name)) {
    if (rdn.tag !== DER_TAG.SET) throw new AppError('INVALID_INPUT', 'malformed name');
    for (const element of readChildren(rdn)) {
      const pair = new DerSequenceReader(element, 'name attribute');
      const type = decodeOid(pair.next(DER_TAG.OID, 'type'), 'type');
      const value = pair.any('value');
      pair.end();
      if (!STRING_TAGS.has(value.tag)) {
        throw new AppError('INVALID_INPUT', `malformed name: attribute ${type} is not a string`);
      }
      attributes.push({
        type,
        value: new TextDecoder('utf-8', { fatal: false }).decode(value.contents),
      });
    }
  }
  return attributes;
}
