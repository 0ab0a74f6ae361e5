/**
 * Object identifiers used by Countersign's PKI and timestamp authority, each citing its source.
 */

/** ecdsa-with-SHA256 (RFC 5758 §3.2): the one signature algorithm of every KeyHandle. */
export const OID_ECDSA_WITH_SHA256 = '1.2.840.10045.4.3.2';
/** id-ecPublicKey and the P-256 curve (RFC 5480 §2.1.1). */
export const OID_EC_PUBLIC_KEY = '1.2.840.10045.2.1';
export const OID_P256 = '1.2.840.10045.3.1.7';

/** SHA-2 (RFC 5754 §2). */
export const OID_SHA256 = '2.16.840.1.101.3.4.2.1';
export const OID_SHA384 = '2.16.840.1.101.3.4.2.2';
export const OID_SHA512 = '2.16.840.1.101.3.4.2.3';

/** Attribute types of names (X.520). */
export const OID_COMMON_NAME = '2.5.4.3';
export const OID_ORGANIZATION = '2.5.4.10';
export const OID_ORGANIZATIONAL_UNIT = '2.5.4.11';

/** Certificate extensions (RFC 5280 §4.2). */
export const OID_SUBJECT_KEY_IDENTIFIER = '2.5.29.14';
export const OID_KEY_USAGE = '2.5.29.15';
export const OID_SUBJECT_ALT_NAME = '2.5.29.17';
export const OID_BASIC_CONSTRAINTS = '2.5.29.19';
export const OID_AUTHORITY_KEY_IDENTIFIER = '2.5.29.35';
export const OID_EXTENDED_KEY_USAGE = '2.5.29.37';

/** Extended key usages (RFC 5280 §4.2.1.12). */
export const OID_KP_CODE_SIGNING = '1.3.6.1.5.5.7.3.3';
export const OID_KP_TIME_STAMPING = '1.3.6.1.5.5.7.3.8';

/**
 * Fulcio certificate extensions (sigstore/fulcio docs/oid-info.md; interop §5.1). V2 values are
 * DER UTF8Strings; `ISSUER_V1` is the legacy raw-bytes form.
 */
export const FULCIO_OID = {
  ISSUER_V1: '1.3.6.1.4.1.57264.1.1',
  ISSUER: '1.3.6.1.4.1.57264.1.8',
  BUILD_SIGNER_URI: '1.3.6.1.4.1.57264.1.9',
  BUILD_SIGNER_DIGEST: '1.3.6.1.4.1.57264.1.10',
  RUNNER_ENVIRONMENT: '1.3.6.1.4.1.57264.1.11',
  SOURCE_REPOSITORY_URI: '1.3.6.1.4.1.57264.1.12',
  SOURCE_REPOSITORY_DIGEST: '1.3.6.1.4.1.57264.1.13',
  SOURCE_REPOSITORY_REF: '1.3.6.1.4.1.57264.1.14',
  SOURCE_REPOSITORY_IDENTIFIER: '1.3.6.1.4.1.57264.1.15',
  SOURCE_REPOSITORY_OWNER_URI: '1.3.6.1.4.1.57264.1.16',
  SOURCE_REPOSITORY_OWNER_IDENTIFIER: '1.3.6.1.4.1.57264.1.17',
  BUILD_CONFIG_URI: '1.3.6.1.4.1.57264.1.18',
  BUILD_CONFIG_DIGEST: '1.3.6.1.4.1.57264.1.19',
  BUILD_TRIGGER: '1.3.6.1.4.1.57264.1.20',
  RUN_INVOCATION_URI: '1.3.6.1.4.1.57264.1.21',
  SOURCE_REPOSITORY_VISIBILITY_AT_SIGNING: '1.3.6.1.4.1.57264.1.22',
} as const;

/** CMS (RFC 5652 §5.1, §11) and RFC 3161 content types and attributes. */
export const OID_SIGNED_DATA = '1.2.840.113549.1.7.2';
export const OID_CT_TST_INFO = '1.2.840.113549.1.9.16.1.4';
export const OID_ATTR_CONTENT_TYPE = '1.2.840.113549.1.9.3';
export const OID_ATTR_MESSAGE_DIGEST = '1.2.840.113549.1.9.4';
export const OID_ATTR_SIGNING_TIME = '1.2.840.113549.1.9.5';
/** id-aa-signingCertificateV2 (RFC 5035 §3, used by RFC 5816). */
export const OID_ATTR_SIGNING_CERTIFICATE_V2 = '1.2.840.113549.1.9.16.2.47';

/**
 * The TSA policy under which Countersign issues timestamps (RFC 3161 §2.4.2 `policy`). A UUID OID
 * (ITU-T X.667, arc 2.25) so that no registration is needed; deployments may configure their own.
 */
export const COUNTERSIGN_TSA_POLICY_OID = '2.25.186554646352067085110317425510746231887';
