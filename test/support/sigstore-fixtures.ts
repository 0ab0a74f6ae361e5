/**
 * A private Sigstore for tests: a code-signing CA (root + intermediate) issuing Fulcio-style
 * leaves, a TSA (root + leaf) answering RFC 3161 requests, and a tiny transparency log that signs
 * SETs and C2SP checkpoints and proves inclusion. Certificates are made with @peculiar/x509; the
 * (`@peculiar/x509` itself needs a reflect-metadata polyfill the project does not ship, so the
 * certificates are assembled from `@peculiar/asn1-x509` structures and signed with node:crypto);
 * the Merkle tree, checkpoint notes and timestamp tokens are built here by hand (a naive RFC 6962
 * reference, not the production tlog code), so the verifier under test is checked against an
 * independent producer, and sigstore-js checks both.
 *
 * Everything is deterministic in time (`FIXTURE_TIME`); keys are fresh per environment.
 */
import { createHash, generateKeyPairSync, randomBytes, sign, type KeyObject } from 'node:crypto';
import { AsnConvert, OctetString } from '@peculiar/asn1-schema';
import * as asn1 from '@peculiar/asn1-x509';
import {
  BUNDLE_V03_MEDIA_TYPE,
  type Bundle,
  type TransparencyLogEntry,
} from '../../src/core/sigstore/bundle.ts';
import { encodeDssePae, IN_TOTO_PAYLOAD_TYPE } from '../../src/core/sigstore/dsse.ts';
import { createDsseBody, createHashedRekordBody } from '../../src/core/sigstore/rekor-body.ts';
import { createSetPayload } from '../../src/core/sigstore/signed-entry-timestamp.ts';
import {
  createTransparencyLogInstance,
  type TrustedRoot,
} from '../../src/core/sigstore/trusted-root.ts';
import { DER_TAG, contextTag, encodeTlv, encodeOid } from '../../src/core/asn1/der.ts';

/** The signing time every fixture uses unless told otherwise. */
export const FIXTURE_TIME = new Date('2026-03-01T12:00:00Z');
export const FIXTURE_IDENTITY =
  'https://ci.example.com/org/app/.github/workflows/release.yml@refs/heads/main';
export const FIXTURE_ISSUER = 'https://idp.example.com';
export const LOG_HOSTNAME = 'log.example.com';
export const LOG_ORIGIN = `${LOG_HOSTNAME} - 4242`;

const OIDS = {
  codeSigning: '1.3.6.1.5.5.7.3.3',
  timeStamping: '1.3.6.1.5.5.7.3.8',
  fulcioIssuerV2: '1.3.6.1.4.1.57264.1.8',
  sha256: '2.16.840.1.101.3.4.2.1',
  sha384: '2.16.840.1.101.3.4.2.2',
  sha512: '2.16.840.1.101.3.4.2.3',
  ecdsaSha256: '1.2.840.10045.4.3.2',
  ecdsaSha384: '1.2.840.10045.4.3.3',
  signedData: '1.2.840.113549.1.7.2',
  tstInfo: '1.2.840.113549.1.9.16.1.4',
  contentType: '1.2.840.113549.1.9.3',
  messageDigest: '1.2.840.113549.1.9.4',
  signingCertificateV2: '1.2.840.113549.1.9.16.2.47',
  tsaPolicy: '1.3.6.1.4.1.57264.2',
} as const;

const MINUTE = 60_000;
const YEAR = 365 * 24 * 60 * MINUTE;

/** A key pair for node:crypto. */
export interface TestKey {
  readonly privateKey: KeyObject;
  readonly publicKey: KeyObject;
  /** DER SubjectPublicKeyInfo. */
  readonly spki: Uint8Array;
}

/** A certificate and its key. */
export interface TestCertificate {
  readonly der: Uint8Array;
  /** DER of the subject Name (what an issued certificate names as its issuer). */
  readonly subjectName: Uint8Array;
  /** DER of the issuer Name. */
  readonly issuerName: Uint8Array;
  /** DER INTEGER contents of the serial number. */
  readonly serialNumber: Uint8Array;
  readonly key: TestKey;
}

/** ECDSA key pair on `curve`. */
export function generateTestKey(curve: 'P-256' | 'P-384' = 'P-256'): TestKey {
  const { privateKey, publicKey } = generateKeyPairSync('ec', { namedCurve: curve });
  return {
    privateKey,
    publicKey,
    spki: new Uint8Array(publicKey.export({ format: 'der', type: 'spki' })),
  };
}

/** Key usage bits (RFC 5280 §4.2.1.3), as @peculiar/asn1-x509 numbers them. */
export const KEY_USAGE = asn1.KeyUsageFlags;

/** What a test certificate looks like; everything has a conventional default. */
export interface CertificateOptions {
  /** RDNs as [OID, value] pairs, e.g. [['2.5.4.10', 'example.com'], ['2.5.4.3', 'Root']]. */
  readonly subject: readonly (readonly [string, string])[];
  /** Self-signed when absent. */
  readonly issuer?: TestCertificate;
  readonly key?: TestKey;
  readonly notBefore: Date;
  readonly notAfter: Date;
  readonly ca?: { readonly pathLength?: number };
  readonly keyUsage?: number;
  readonly extendedKeyUsage?: { readonly oids: readonly string[]; readonly critical: boolean };
  readonly san?: { readonly type: 'uri' | 'email'; readonly value: string };
  readonly extensions?: readonly {
    readonly oid: string;
    readonly critical: boolean;
    readonly value: Uint8Array;
  }[];
  readonly serialNumber?: Uint8Array;
}

/** Creates a certificate (self-signed when no issuer is given) with @peculiar/asn1-x509. */
export function createTestCertificate(options: CertificateOptions): TestCertificate {
  const key = options.key ?? generateTestKey();
  const issuerKey = options.issuer?.key ?? key;
  const subject = new asn1.Name(
    options.subject.map(
      ([type, value]) =>
        new asn1.RelativeDistinguishedName([
          new asn1.AttributeTypeAndValue({
            type,
            value: new asn1.AttributeValue({ utf8String: value }),
          }),
        ]),
    ),
  );
  const subjectName = new Uint8Array(AsnConvert.serialize(subject));
  const issuerName = options.issuer?.subjectName ?? subjectName;
  const extension = (oid: string, critical: boolean, value: ArrayBuffer | Uint8Array) =>
    new asn1.Extension({ extnID: oid, critical, extnValue: new OctetString(value) });
  const extensions: asn1.Extension[] = [
    extension(
      asn1.id_ce_basicConstraints,
      true,
      AsnConvert.serialize(
        options.ca === undefined
          ? new asn1.BasicConstraints()
          : new asn1.BasicConstraints({
              cA: true,
              ...(options.ca.pathLength === undefined
                ? {}
                : { pathLenConstraint: options.ca.pathLength }),
            }),
      ),
    ),
    extension(
      asn1.id_ce_keyUsage,
      true,
      AsnConvert.serialize(
        new asn1.KeyUsage(
          options.keyUsage ??
            (options.ca !== undefined
              ? asn1.KeyUsageFlags.keyCertSign | asn1.KeyUsageFlags.cRLSign
              : asn1.KeyUsageFlags.digitalSignature),
        ),
      ),
    ),
    extension(
      asn1.id_ce_subjectKeyIdentifier,
      false,
      AsnConvert.serialize(new asn1.SubjectKeyIdentifier(keyId(key))),
    ),
  ];
  if (options.issuer !== undefined) {
    extensions.push(
      extension(
        asn1.id_ce_authorityKeyIdentifier,
        false,
        AsnConvert.serialize(
          new asn1.AuthorityKeyIdentifier({
            keyIdentifier: new asn1.KeyIdentifier(keyId(options.issuer.key)),
          }),
        ),
      ),
    );
  }
  if (options.extendedKeyUsage !== undefined) {
    extensions.push(
      extension(
        asn1.id_ce_extKeyUsage,
        options.extendedKeyUsage.critical,
        AsnConvert.serialize(new asn1.ExtendedKeyUsage([...options.extendedKeyUsage.oids])),
      ),
    );
  }
  if (options.san !== undefined) {
    const name =
      options.san.type === 'uri'
        ? new asn1.GeneralName({ uniformResourceIdentifier: options.san.value })
        : new asn1.GeneralName({ rfc822Name: options.san.value });
    // Critical, as RFC 5280 requires when the subject is empty (Fulcio does it always).
    extensions.push(
      extension(
        asn1.id_ce_subjectAltName,
        true,
        AsnConvert.serialize(new asn1.SubjectAlternativeName([name])),
      ),
    );
  }
  for (const extra of options.extensions ?? [])
    extensions.push(extension(extra.oid, extra.critical, extra.value));
  const algorithm = new asn1.AlgorithmIdentifier({ algorithm: OIDS.ecdsaSha256 });
  const serialNumber = options.serialNumber ?? randomSerial();
  const tbs = new asn1.TBSCertificate({
    version: asn1.Version.v3,
    serialNumber: serialNumber.slice().buffer,
    signature: algorithm,
    issuer: AsnConvert.parse(issuerName, asn1.Name),
    validity: new asn1.Validity({ notBefore: options.notBefore, notAfter: options.notAfter }),
    subject,
    subjectPublicKeyInfo: AsnConvert.parse(key.spki, asn1.SubjectPublicKeyInfo),
    extensions: new asn1.Extensions(extensions),
  });
  const signature = sign('sha256', new Uint8Array(AsnConvert.serialize(tbs)), issuerKey.privateKey);
  const certificate = new asn1.Certificate({
    tbsCertificate: tbs,
    signatureAlgorithm: algorithm,
    signatureValue: new Uint8Array(signature).buffer,
  });
  return {
    der: new Uint8Array(AsnConvert.serialize(certificate)),
    subjectName,
    issuerName,
    serialNumber,
    key,
  };
}

/** DER UTF8String, the encoding of Fulcio's `1.3.6.1.4.1.57264.1.8` and friends. */
export function encodeUtf8String(text: string): Uint8Array {
  return encodeTlv(DER_TAG.UTF8_STRING, new TextEncoder().encode(text));
}

/** Options for a Fulcio-style leaf. */
export interface LeafOptions {
  readonly identity?: string;
  readonly issuerClaim?: string;
  /** Valid from `notBefore` for ten minutes unless `notAfter` says otherwise. */
  readonly notBefore?: Date;
  readonly notAfter?: Date;
  readonly extendedKeyUsage?: { readonly oids: readonly string[]; readonly critical: boolean };
  readonly key?: TestKey;
  readonly extraExtensions?: CertificateOptions['extensions'];
  readonly issuer?: TestCertificate;
  readonly serialNumber?: Uint8Array;
}

/** A private Sigstore instance. */
export interface TestSigstore {
  readonly root: TestCertificate;
  readonly intermediate: TestCertificate;
  readonly tsaRoot: TestCertificate;
  readonly tsaLeaf: TestCertificate;
  readonly log: TestLog;
  /** CA, log and TSA, all valid from a year before FIXTURE_TIME. */
  readonly trustedRoot: TrustedRoot;
  /** Issues a Fulcio-style code-signing leaf (URI SAN, OIDC issuer extension). */
  issueLeaf(options?: LeafOptions): TestCertificate;
}

/** Builds a complete private Sigstore: CA chain, TSA chain, log and TrustedRoot. */
export function createTestSigstore(): TestSigstore {
  const notBefore = new Date(FIXTURE_TIME.getTime() - YEAR);
  const notAfter = new Date(FIXTURE_TIME.getTime() + 5 * YEAR);
  const root = createTestCertificate({
    subject: [
      ['2.5.4.10', 'example.com'],
      ['2.5.4.3', 'Example Signing Root'],
    ],
    notBefore,
    notAfter,
    ca: {},
  });
  const intermediate = createTestCertificate({
    subject: [
      ['2.5.4.10', 'example.com'],
      ['2.5.4.3', 'Example Signing Intermediate'],
    ],
    issuer: root,
    notBefore,
    notAfter,
    ca: { pathLength: 0 },
    extendedKeyUsage: { oids: [OIDS.codeSigning], critical: false },
  });
  const tsaRoot = createTestCertificate({
    subject: [
      ['2.5.4.10', 'example.com'],
      ['2.5.4.3', 'Example TSA Root'],
    ],
    notBefore,
    notAfter,
    ca: {},
  });
  const tsaLeaf = createTestCertificate({
    subject: [
      ['2.5.4.10', 'example.com'],
      ['2.5.4.3', 'Example TSA'],
    ],
    issuer: tsaRoot,
    notBefore,
    notAfter,
    extendedKeyUsage: { oids: [OIDS.timeStamping], critical: true },
  });
  const log = new TestLog(generateTestKey());
  const trustedRoot: TrustedRoot = {
    mediaType: 'application/vnd.dev.sigstore.trustedroot+json;version=0.1',
    tlogs: [
      createTransparencyLogInstance({
        baseUrl: `https://${LOG_HOSTNAME}`,
        publicKeySpki: log.key.spki,
        validFor: { start: notBefore },
      }),
    ],
    certificateAuthorities: [
      {
        subject: { organization: 'example.com', commonName: 'Example Signing Root' },
        uri: 'https://ca.example.com',
        certChain: [intermediate.der, root.der],
        validFor: { start: notBefore },
      },
    ],
    ctlogs: [],
    timestampAuthorities: [
      {
        subject: { organization: 'example.com', commonName: 'Example TSA' },
        uri: 'https://tsa.example.com',
        certChain: [tsaLeaf.der, tsaRoot.der],
        validFor: { start: notBefore },
      },
    ],
  };
  return {
    root,
    intermediate,
    tsaRoot,
    tsaLeaf,
    log,
    trustedRoot,
    issueLeaf: (options = {}) => {
      const start = options.notBefore ?? new Date(FIXTURE_TIME.getTime() - MINUTE);
      return createTestCertificate({
        subject: [['2.5.4.10', 'example.com']],
        issuer: options.issuer ?? intermediate,
        ...(options.key === undefined ? {} : { key: options.key }),
        ...(options.serialNumber === undefined ? {} : { serialNumber: options.serialNumber }),
        notBefore: start,
        notAfter: options.notAfter ?? new Date(start.getTime() + 10 * MINUTE),
        extendedKeyUsage: options.extendedKeyUsage ?? { oids: [OIDS.codeSigning], critical: false },
        san: { type: 'uri', value: options.identity ?? FIXTURE_IDENTITY },
        extensions: [
          {
            oid: OIDS.fulcioIssuerV2,
            critical: false,
            value: encodeUtf8String(options.issuerClaim ?? FIXTURE_ISSUER),
          },
          ...(options.extraExtensions ?? []),
        ],
      });
    },
  };
}

/**
 * Issues a leaf carrying an embedded SCT (RFC 6962 §3.3) signed by `ctKey`: the precertificate
 * TBS is the final TBS without the SCT extension, as verifiers rebuild it.
 */
export function issueLeafWithSct(
  sigstore: TestSigstore,
  ctKey: TestKey,
  options: LeafOptions & {
    readonly sctTime?: Date;
    readonly sctExtensions?: Uint8Array;
    readonly sctSigningKey?: TestKey;
  } = {},
): TestCertificate {
  const fixed = {
    ...options,
    key: options.key ?? generateTestKey(),
    serialNumber: options.serialNumber ?? randomSerial(),
  };
  const precertificate = sigstore.issueLeaf(fixed);
  const tbs = tbsOf(precertificate.der);
  const issuer = options.issuer ?? sigstore.intermediate;
  const timestamp = BigInt((options.sctTime ?? FIXTURE_TIME).getTime());
  const extensions = options.sctExtensions ?? new Uint8Array();
  const u = (value: bigint | number, size: number) => {
    const out = new Uint8Array(size);
    let v = BigInt(value);
    for (let i = size - 1; i >= 0; i--, v >>= 8n) out[i] = Number(v & 0xffn);
    return out;
  };
  const signed = Buffer.concat([
    Uint8Array.of(0, 0),
    u(timestamp, 8),
    u(1, 2),
    createHash('sha256').update(issuer.key.spki).digest(),
    u(tbs.byteLength, 3),
    tbs,
    u(extensions.byteLength, 2),
    extensions,
  ]);
  const signature = sign('sha256', signed, (options.sctSigningKey ?? ctKey).privateKey);
  const sct = Buffer.concat([
    Uint8Array.of(0),
    createHash('sha256').update(ctKey.spki).digest(),
    u(timestamp, 8),
    u(extensions.byteLength, 2),
    extensions,
    Uint8Array.of(4, 3),
    u(signature.byteLength, 2),
    signature,
  ]);
  const list = Buffer.concat([u(sct.byteLength + 2, 2), u(sct.byteLength, 2), sct]);
  return sigstore.issueLeaf({
    ...fixed,
    extraExtensions: [
      ...(options.extraExtensions ?? []),
      {
        oid: '1.3.6.1.4.1.11129.2.4.2',
        critical: false,
        value: encodeTlv(DER_TAG.OCTET_STRING, list),
      },
    ],
  });
}

/** The TBSCertificate bytes of a DER certificate. */
function tbsOf(der: Uint8Array): Uint8Array {
  const certificate = AsnConvert.parse(der, asn1.Certificate);
  return new Uint8Array(AsnConvert.serialize(certificate.tbsCertificate));
}

/**
 * A transparency log in memory: leaves, SETs and checkpoints signed with a P-256 key, proofs from
 * a naive recursive RFC 6962 implementation.
 */
export class TestLog {
  readonly key: TestKey;
  readonly logId: Uint8Array;
  readonly origin = LOG_ORIGIN;
  readonly leaves: Uint8Array[] = [];

  constructor(key: TestKey) {
    this.key = key;
    this.logId = new Uint8Array(createHash('sha256').update(key.spki).digest());
    // A few unrelated entries first, so proofs have real hashes in them.
    for (let i = 0; i < 5; i++) this.leaves.push(new TextEncoder().encode(`filler entry ${i}`));
  }

  /** Appends a body; returns its index. */
  append(body: Uint8Array): bigint {
    this.leaves.push(body);
    return BigInt(this.leaves.length - 1);
  }

  /** The RFC 6962 root of the first `size` leaves. */
  root(size = this.leaves.length): Uint8Array {
    return merkleTreeHash(this.leaves.slice(0, size));
  }

  /** A signed checkpoint note for the current tree (or for `size`, with `root` overridden). */
  checkpoint(
    options: {
      readonly size?: number;
      readonly root?: Uint8Array;
      readonly key?: TestKey;
      readonly name?: string;
      readonly origin?: string;
    } = {},
  ): string {
    const size = options.size ?? this.leaves.length;
    const root = options.root ?? this.root(size);
    const text = `${options.origin ?? this.origin}\n${size}\n${Buffer.from(root).toString('base64')}\n`;
    const key = options.key ?? this.key;
    const signature = sign('sha256', Buffer.from(text), key.privateKey);
    const keyHint = createHash('sha256').update(key.spki).digest().subarray(0, 4);
    return `${text}\n\u2014 ${options.name ?? LOG_HOSTNAME} ${Buffer.concat([keyHint, signature]).toString('base64')}\n`;
  }

  /** The log entry for the leaf at `index`, with SET and/or inclusion proof against the current tree. */
  entry(
    index: bigint,
    kindVersion: { readonly kind: string; readonly version: string },
    integratedTime: Date,
    options: { readonly set?: boolean; readonly proof?: boolean } = {},
  ): TransparencyLogEntry {
    const body = this.leaves[Number(index)];
    if (body === undefined) throw new Error(`no leaf ${index}`);
    const seconds = BigInt(Math.floor(integratedTime.getTime() / 1000));
    const size = this.leaves.length;
    const entry: {
      -readonly [K in keyof TransparencyLogEntry]: TransparencyLogEntry[K];
    } = {
      logIndex: index,
      logId: this.logId,
      kindVersion,
      integratedTime: seconds,
      canonicalizedBody: body,
    };
    if (options.set !== false) {
      const payload = createSetPayload({
        body,
        integratedTime: seconds,
        logId: this.logId,
        logIndex: index,
      });
      entry.inclusionPromise = {
        signedEntryTimestamp: new Uint8Array(sign('sha256', payload, this.key.privateKey)),
      };
    }
    if (options.proof !== false) {
      entry.inclusionProof = {
        logIndex: index,
        rootHash: this.root(size),
        treeSize: BigInt(size),
        hashes: auditPath(Number(index), this.leaves.slice(0, size)),
        checkpoint: this.checkpoint({ size }),
      };
    }
    return entry;
  }
}

/** RFC 6962 §2.1 MTH, recursively. */
export function merkleTreeHash(leaves: readonly Uint8Array[]): Uint8Array {
  if (leaves.length === 0) return new Uint8Array(createHash('sha256').digest());
  if (leaves.length === 1)
    return new Uint8Array(
      createHash('sha256')
        .update(Uint8Array.of(0))
        .update(leaves[0] as Uint8Array)
        .digest(),
    );
  const k = largestPowerOfTwoBelow(leaves.length);
  return new Uint8Array(
    createHash('sha256')
      .update(Uint8Array.of(1))
      .update(merkleTreeHash(leaves.slice(0, k)))
      .update(merkleTreeHash(leaves.slice(k)))
      .digest(),
  );
}

/** RFC 6962 §2.1.1 PATH(m, D[n]), leaf to root. */
export function auditPath(m: number, leaves: readonly Uint8Array[]): Uint8Array[] {
  if (leaves.length <= 1) return [];
  const k = largestPowerOfTwoBelow(leaves.length);
  return m < k
    ? [...auditPath(m, leaves.slice(0, k)), merkleTreeHash(leaves.slice(k))]
    : [...auditPath(m - k, leaves.slice(k)), merkleTreeHash(leaves.slice(0, k))];
}

function largestPowerOfTwoBelow(n: number): number {
  let k = 1;
  while (k * 2 < n) k *= 2;
  return k;
}

/** Knobs for producing broken timestamp tokens. */
export interface TimestampOptions {
  readonly genTime?: Date;
  /** The GeneralizedTime text as written, e.g. `20260301120000.5Z` (overrides genTime). */
  readonly genTimeText?: string;
  readonly hashAlgorithm?: 'sha256' | 'sha384' | 'sha512';
  readonly status?: number;
  /** Sign with this key instead of the TSA leaf's. */
  readonly signingKey?: TestKey;
  /** Name this certificate as the signer (issuer + serial, ESS hash). */
  readonly signerCertificate?: TestCertificate;
  readonly essCertificateHash?: Uint8Array | 'omit';
  readonly messageDigest?: Uint8Array;
  readonly includeCertificate?: boolean;
}

/**
 * A DER TimeStampResp over `data` signed by `tsaLeaf` (RFC 3161 §2.4.2, CMS SignedData with
 * contentType, messageDigest and ESS signingCertificateV2 signed attributes).
 */
export function createTimestampResponse(
  data: Uint8Array,
  tsaLeaf: TestCertificate,
  options: TimestampOptions = {},
): Uint8Array {
  const hashAlgorithm = options.hashAlgorithm ?? 'sha256';
  const signer = options.signerCertificate ?? tsaLeaf;
  const signingKey = options.signingKey ?? tsaLeaf.key;
  const seq = (...parts: Uint8Array[]) => encodeTlv(DER_TAG.SEQUENCE, ...parts);
  const set = (...parts: Uint8Array[]) => encodeTlv(DER_TAG.SET, ...sortDer(parts));
  const int = (value: number | bigint) => encodeTlv(DER_TAG.INTEGER, integerBytes(BigInt(value)));
  const octets = (bytes: Uint8Array) => encodeTlv(DER_TAG.OCTET_STRING, bytes);
  const algorithm = (oid: string) => seq(encodeOid(oid));
  const genTime =
    options.genTimeText ??
    `${(options.genTime ?? FIXTURE_TIME).toISOString().replace(/[-:T]/g, '').slice(0, 14)}Z`;
  const tstInfo = seq(
    int(1),
    encodeOid(OIDS.tsaPolicy),
    seq(algorithm(OIDS[hashAlgorithm]), octets(digest(hashAlgorithm, data))),
    int(0x1234),
    encodeTlv(DER_TAG.GENERALIZED_TIME, new TextEncoder().encode(genTime)),
    int(0x5eed),
  );
  const essHash = options.essCertificateHash ?? digest('sha256', signer.der);
  const attributes = [
    seq(encodeOid(OIDS.contentType), set(encodeOid(OIDS.tstInfo))),
    seq(
      encodeOid(OIDS.messageDigest),
      set(octets(options.messageDigest ?? digest('sha256', tstInfo))),
    ),
    ...(essHash === 'omit'
      ? []
      : [seq(encodeOid(OIDS.signingCertificateV2), set(seq(seq(seq(octets(essHash))))))]),
  ];
  const signedAttributes = set(...attributes);
  const signature = sign('sha256', signedAttributes, signingKey.privateKey);
  const signerInfo = seq(
    int(1),
    seq(signer.issuerName, encodeTlv(DER_TAG.INTEGER, signer.serialNumber)),
    algorithm(OIDS.sha256),
    // signedAttrs [0] IMPLICIT SET OF Attribute: the SET's contents under another tag.
    encodeTlv(contextTag(0, true), signedAttributes.subarray(headerLength(signedAttributes))),
    algorithm(OIDS.ecdsaSha256),
    octets(new Uint8Array(signature)),
  );
  const signedData = seq(
    int(3),
    set(algorithm(OIDS.sha256)),
    seq(encodeOid(OIDS.tstInfo), encodeTlv(contextTag(0, true), octets(tstInfo))),
    ...(options.includeCertificate === true ? [encodeTlv(contextTag(0, true), signer.der)] : []),
    set(signerInfo),
  );
  const token = seq(encodeOid(OIDS.signedData), encodeTlv(contextTag(0, true), signedData));
  return seq(seq(int(options.status ?? 0)), token);
}

/** Parameters of one bundle. */
export interface BundleOptions {
  readonly leaf: TestCertificate;
  /** Log integration time (default FIXTURE_TIME). */
  readonly integratedTime?: Date;
  /** Attach an RFC 3161 timestamp (default true) made with these options. */
  readonly timestamp?: TimestampOptions | false;
  readonly set?: boolean;
  readonly proof?: boolean;
  readonly digestAlgorithm?: 'sha256' | 'sha384' | 'sha512';
}

/** A v0.3 message-signature bundle over `artifact`, logged as hashedrekord/0.0.1. */
export function buildMessageSignatureBundle(
  sigstore: TestSigstore,
  artifact: Uint8Array,
  options: BundleOptions,
): Bundle {
  const algorithm = options.digestAlgorithm ?? 'sha256';
  const signature = new Uint8Array(sign(algorithm, artifact, options.leaf.key.privateKey));
  const messageDigest = { algorithm, digest: digest(algorithm, artifact) };
  const body = createHashedRekordBody({
    digest: { algorithm, value: messageDigest.digest },
    signature,
    verifier: { type: 'certificate', der: options.leaf.der },
  });
  return assemble(sigstore, body, { kind: 'hashedrekord', version: '0.0.1' }, signature, options, {
    type: 'messageSignature',
    messageSignature: { messageDigest, signature },
  });
}

/** A v0.3 message-signature bundle by a managed key (public key hint, no certificate). */
export function buildPublicKeyBundle(
  sigstore: TestSigstore,
  artifact: Uint8Array,
  key: TestKey,
  options: Omit<BundleOptions, 'leaf'> = {},
): Bundle {
  const signature = new Uint8Array(sign('sha256', artifact, key.privateKey));
  const messageDigest = { algorithm: 'sha256' as const, digest: digest('sha256', artifact) };
  const body = createHashedRekordBody({
    digest: { algorithm: 'sha256', value: messageDigest.digest },
    signature,
    verifier: { type: 'publicKey', spki: key.spki },
  });
  const bundle = assemble(
    sigstore,
    body,
    { kind: 'hashedrekord', version: '0.0.1' },
    signature,
    options,
    {
      type: 'messageSignature',
      messageSignature: { messageDigest, signature },
    },
  );
  return {
    ...bundle,
    verificationMaterial: {
      ...bundle.verificationMaterial,
      content: { type: 'publicKey', hint: createHash('sha256').update(key.spki).digest('base64') },
    },
  };
}

/** A v0.3 DSSE bundle over an in-toto statement, logged as dsse/0.0.1. */
export function buildDsseBundle(
  sigstore: TestSigstore,
  statement: Uint8Array,
  options: BundleOptions & { readonly payloadType?: string },
): Bundle {
  const payloadType = options.payloadType ?? IN_TOTO_PAYLOAD_TYPE;
  const signature = new Uint8Array(
    sign('sha256', encodeDssePae(payloadType, statement), options.leaf.key.privateKey),
  );
  const envelope = { payload: statement, payloadType, signatures: [{ sig: signature, keyid: '' }] };
  const body = createDsseBody({
    envelope,
    verifier: { type: 'certificate', der: options.leaf.der },
  });
  return assemble(sigstore, body, { kind: 'dsse', version: '0.0.1' }, signature, options, {
    type: 'dsseEnvelope',
    dsseEnvelope: envelope,
  });
}

function assemble(
  sigstore: TestSigstore,
  body: Uint8Array,
  kindVersion: { kind: string; version: string },
  signature: Uint8Array,
  options: Omit<BundleOptions, 'leaf'> & { readonly leaf?: TestCertificate },
  content: Bundle['content'],
): Bundle {
  const index = sigstore.log.append(body);
  const entry = sigstore.log.entry(index, kindVersion, options.integratedTime ?? FIXTURE_TIME, {
    ...(options.set === undefined ? {} : { set: options.set }),
    ...(options.proof === undefined ? {} : { proof: options.proof }),
  });
  const timestamps =
    options.timestamp === false
      ? []
      : [createTimestampResponse(signature, sigstore.tsaLeaf, options.timestamp ?? {})];
  return {
    mediaType: BUNDLE_V03_MEDIA_TYPE,
    version: '0.3',
    verificationMaterial: {
      content: { type: 'certificate', certificate: options.leaf?.der ?? new Uint8Array() },
      tlogEntries: [entry],
      rfc3161Timestamps: timestamps,
    },
    content,
  };
}

function digest(algorithm: string, data: Uint8Array): Uint8Array {
  return new Uint8Array(createHash(algorithm).update(data).digest());
}

function integerBytes(value: bigint): Uint8Array {
  let hex = value.toString(16);
  if (hex.length % 2 === 1) hex = `0${hex}`;
  const bytes = Buffer.from(hex, 'hex');
  return (bytes[0] ?? 0) & 0x80 ? Buffer.concat([Uint8Array.of(0), bytes]) : bytes;
}

function headerLength(der: Uint8Array): number {
  const first = der[1] ?? 0;
  return first < 0x80 ? 2 : 2 + (first & 0x7f);
}

/** DER SET OF: elements sorted by their encodings (X.690 §11.6). */
function sortDer(parts: readonly Uint8Array[]): Uint8Array[] {
  return [...parts].sort((a, b) => Buffer.compare(a, b));
}

function randomSerial(): Uint8Array {
  const bytes = new Uint8Array(randomBytes(16));
  bytes[0] = ((bytes[0] ?? 0) & 0x7f) | 0x01;
  return bytes;
}

/** RFC 5280 §4.2.1.2 method 1: SHA-1 of the subjectPublicKey bits (here: of the SPKI, enough for tests). */
function keyId(key: TestKey): ArrayBuffer {
  return new Uint8Array(createHash('sha1').update(key.spki).digest()).buffer;
}
