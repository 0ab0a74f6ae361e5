/**
 * The CA lifecycle (issue "Sign and verify" item 2): create the root and the TSA, issue one CA per
 * product and channel, and open them for signing.
 *
 * The root key may live offline: `initializePki` and `issueChannelCa` take the key backend that
 * holds it as a separate argument, so it can be a keystore on removable media that is present only
 * for these ceremonies, while channel CA and TSA keys live in the service's own backend. Every key
 * is created fresh for its one purpose and certified once; no key is shared between channels,
 * products or purposes (DESIGN.md §1 control 2, §5).
 */
import { createHash } from 'node:crypto';
import { AppError, isAppError } from '../core/errors.ts';
import type {
  Clock,
  KeyBackend,
  KeyHandle,
  KeyPurpose,
  PkiCertificateRecord,
  PkiCertificateRole,
  PkiStore,
  Random,
} from '../core/ports.ts';
import { equalBytes } from '../core/tlog/bytes.ts';
import {
  createChannelCaCertificate,
  PRODUCT_OR_CHANNEL_NAME,
} from '../core/x509/create-channel-ca-certificate.ts';
import { createRootCaCertificate } from '../core/x509/create-root-ca-certificate.ts';
import { createTsaCertificate } from '../core/x509/create-tsa-certificate.ts';
import { parseCertificate } from '../core/x509/parse-certificate.ts';
import { truncateToSeconds } from '../core/x509/sign-certificate.ts';
import { createTimestampAuthority, type TimestampAuthority } from './issue-timestamp.ts';

/** Key ids in their backends. */
export const ROOT_CA_KEY_ID = 'root-ca';
export const TSA_KEY_ID = 'tsa';

/** Defaults: a root for ten years, the TSA and channel CAs for two (always inside the root). */
export const DEFAULT_ROOT_VALIDITY_DAYS = 3650;
export const DEFAULT_TSA_VALIDITY_DAYS = 730;
export const DEFAULT_CHANNEL_CA_VALIDITY_DAYS = 730;
const MAX_VALIDITY_DAYS = 30 * 366;
const DAY_MS = 86_400_000;
/** Key ids are at most 64 characters (`KeyBackend`). */
const MAX_KEY_ID_CHARS = 64;

/** What the CA use cases run on. */
export interface PkiDeps {
  /** The service's key backend: channel CA and TSA keys live here. */
  readonly serviceKeys: KeyBackend;
  readonly store: PkiStore;
  readonly clock: Clock;
  readonly random: Random;
}

export interface InitializePkiOptions {
  /**
   * Where the root key is created: the service backend (online root), or a separate backend —
   * an offline keystore the operator removes after issuing channel CAs.
   */
  readonly rootKeys: KeyBackend;
  /** The single `O=` of every CA subject (`gh` needs exactly one, interop G23). */
  readonly organization: string;
  /** Default `<organization> Signing Root`. */
  readonly rootCommonName?: string;
  readonly rootValidityDays?: number;
  readonly tsaValidityDays?: number;
}

/** The result of `initializePki`. */
export interface InitializedPki {
  readonly root: PkiCertificateRecord;
  readonly tsa: PkiCertificateRecord;
}

/**
 * Creates the PKI: a root CA key and self-signed certificate in `options.rootKeys`, and a TSA key
 * (in the service backend) with a certificate from the root (TrustedRoot TSA chain `[TSA, root]`,
 * interop §7.1). Both certificates are stored together.
 *
 * @throws {@link AppError} CONFLICT when the PKI already has a root; INVALID_INPUT for a bad
 *   organization, name or validity; KEY_UNAVAILABLE when a backend cannot create or use a key;
 *   STORAGE_UNAVAILABLE.
 */
export async function initializePki(
  deps: PkiDeps,
  options: InitializePkiOptions,
): Promise<InitializedPki> {
  if ((await deps.store.find('root-ca')) !== undefined) {
    throw new AppError('CONFLICT', 'the PKI already has a root CA', {
      hint: 'list it with `countersign ca list`; a second root is never created over the first',
    });
  }
  const rootDays = validityDays(options.rootValidityDays, DEFAULT_ROOT_VALIDITY_DAYS, 'root');
  const tsaDays = validityDays(options.tsaValidityDays, DEFAULT_TSA_VALIDITY_DAYS, 'TSA');
  const now = truncateToSeconds(deps.clock.now());
  const rootNotAfter = new Date(now.getTime() + rootDays * DAY_MS);
  const existing = await deps.store.list();

  const rootKey = await obtainUncertifiedKey(options.rootKeys, ROOT_CA_KEY_ID, 'root-ca', existing);
  const root = await createRootCaCertificate({
    key: rootKey,
    subject: {
      organization: options.organization,
      commonName: options.rootCommonName ?? `${options.organization} Signing Root`,
    },
    notBefore: now,
    notAfter: rootNotAfter,
    random: deps.random,
  });
  const tsaKey = await obtainUncertifiedKey(deps.serviceKeys, TSA_KEY_ID, 'tsa', existing);
  const tsa = await createTsaCertificate({
    issuerKey: rootKey,
    issuerCertificate: root,
    subjectPublicKeySpki: tsaKey.publicKeySpki,
    notBefore: now,
    notAfter: earliest(new Date(now.getTime() + tsaDays * DAY_MS), rootNotAfter),
    random: deps.random,
  });
  const records = {
    root: toRecord('root-ca', null, null, rootKey.id, root, now),
    tsa: toRecord('tsa', null, null, tsaKey.id, tsa, now),
  };
  await deps.store.insert([records.root, records.tsa]);
  return records;
}

export interface IssueChannelCaOptions {
  /** The backend holding the root key (the offline keystore, when the root is offline). */
  readonly rootKeys: KeyBackend;
  readonly product: string;
  readonly channel: string;
  /** Capped at the root's expiry. */
  readonly validityDays?: number;
}

/**
 * Issues the CA of one product and channel: a fresh channel-ca key in the service backend and a
 * certificate from the root. There is exactly one CA per product and channel.
 *
 * @throws {@link AppError} NOT_FOUND when the PKI has no root yet; CONFLICT when the product and
 *   channel already have a CA; INVALID_INPUT for bad names or validity; KEY_UNAVAILABLE when the
 *   root key is not in `rootKeys` (an offline root that is not mounted) or a backend fails;
 *   STORAGE_UNAVAILABLE.
 */
export async function issueChannelCa(
  deps: PkiDeps,
  options: IssueChannelCaOptions,
): Promise<PkiCertificateRecord> {
  const { product, channel } = options;
  assertName(product, 'product');
  assertName(channel, 'channel');
  const days = validityDays(options.validityDays, DEFAULT_CHANNEL_CA_VALIDITY_DAYS, 'channel CA');
  const rootRecord = await deps.store.find('root-ca');
  if (rootRecord === undefined) {
    throw new AppError('NOT_FOUND', 'the PKI has no root CA yet', {
      hint: 'create it first with `countersign ca init`',
    });
  }
  if ((await deps.store.find('channel-ca', { product, channel })) !== undefined) {
    throw new AppError('CONFLICT', `${product}/${channel} already has a CA`, {
      hint: 'one CA per product and channel: list them with `countersign ca list`',
    });
  }
  const rootKey = await getRootKey(options.rootKeys, rootRecord.keyId);
  const existing = await deps.store.list();
  const channelKey = await obtainUncertifiedKey(
    deps.serviceKeys,
    channelCaKeyId(product, channel),
    'channel-ca',
    existing,
  );
  const now = truncateToSeconds(deps.clock.now());
  const certificate = await createChannelCaCertificate({
    issuerKey: rootKey,
    issuerCertificate: rootRecord.certificate,
    subjectPublicKeySpki: channelKey.publicKeySpki,
    product,
    channel,
    notBefore: now,
    notAfter: earliest(new Date(now.getTime() + days * DAY_MS), rootRecord.notAfter),
    random: deps.random,
  });
  const record = toRecord('channel-ca', product, channel, channelKey.id, certificate, now);
  await deps.store.insert([record]);
  return record;
}

/** A channel CA ready to issue leaves. */
export interface OpenChannelCa {
  readonly key: KeyHandle;
  /** The channel CA certificate, DER. */
  readonly certificate: Uint8Array;
  /** `[channel CA, root]` (DER): the TrustedRoot `certificateAuthorities[].certChain` order. */
  readonly chain: readonly Uint8Array[];
}

/**
 * The CA of `product`/`channel` with its key, for the signing flow.
 *
 * @throws {@link AppError} NOT_FOUND when the product and channel have no CA (signing there is
 *   impossible until an operator issues one); KEY_UNAVAILABLE when its key cannot be obtained;
 *   STORAGE_UNAVAILABLE.
 */
export async function openChannelCa(
  deps: Pick<PkiDeps, 'serviceKeys' | 'store'>,
  product: string,
  channel: string,
): Promise<OpenChannelCa> {
  const record = await deps.store.find('channel-ca', { product, channel });
  const root = await deps.store.find('root-ca');
  if (record === undefined || root === undefined) {
    throw new AppError('NOT_FOUND', `${product}/${channel} has no CA`, {
      hint: `an operator issues one with \`countersign ca issue-channel --product ${product} --channel ${channel}\``,
    });
  }
  const key = await getServiceKey(deps.serviceKeys, record.keyId, 'channel-ca');
  return { key, certificate: record.certificate, chain: [record.certificate, root.certificate] };
}

/**
 * The timestamp authority over the stored TSA certificate and its key.
 *
 * @throws {@link AppError} NOT_FOUND when the PKI has no TSA yet; KEY_UNAVAILABLE when the key
 *   cannot be obtained or does not match; STORAGE_UNAVAILABLE.
 */
export async function openTimestampAuthority(
  deps: PkiDeps,
  options: { readonly policyOid?: string } = {},
): Promise<TimestampAuthority> {
  const record = await deps.store.find('tsa');
  const root = await deps.store.find('root-ca');
  if (record === undefined || root === undefined) {
    throw new AppError('NOT_FOUND', 'the PKI has no timestamp authority yet', {
      hint: 'create it with `countersign ca init`',
    });
  }
  const tsaKey = await getServiceKey(deps.serviceKeys, record.keyId, 'tsa');
  return createTimestampAuthority({
    tsaKey,
    tsaCertificate: record.certificate,
    chain: [root.certificate],
    clock: deps.clock,
    random: deps.random,
    ...(options.policyOid === undefined ? {} : { policyOid: options.policyOid }),
  });
}

/** Every certificate of the PKI (root, TSA, channel CAs). Throws STORAGE_UNAVAILABLE. */
export async function listPkiCertificates(
  deps: Pick<PkiDeps, 'store'>,
): Promise<PkiCertificateRecord[]> {
  return deps.store.list();
}

/**
 * The key id of the CA of `product`/`channel`: `channel-ca.<product>.<channel>`, or a digest of
 * both when that would exceed the 64 characters a key id may have.
 */
export function channelCaKeyId(product: string, channel: string): string {
  const readable = `channel-ca.${product}.${channel}`;
  if (readable.length <= MAX_KEY_ID_CHARS) return readable;
  const digest = createHash('sha256').update(`${product}/${channel}`).digest('hex');
  return `channel-ca.${digest.slice(0, 40)}`;
}

function assertName(value: string, what: string): void {
  if (!PRODUCT_OR_CHANNEL_NAME.test(value)) {
    throw new AppError(
      'INVALID_INPUT',
      `${what} must be lower-case letters, digits and dashes, at most 63, starting with a letter or digit`,
      { errors: [{ path: what, message: 'not a governance name' }] },
    );
  }
}

function validityDays(value: number | undefined, fallback: number, what: string): number {
  const days = value ?? fallback;
  if (!Number.isSafeInteger(days) || days < 1 || days > MAX_VALIDITY_DAYS) {
    throw new AppError('INVALID_INPUT', `${what} validity must be 1 to ${MAX_VALIDITY_DAYS} days`);
  }
  return days;
}

function earliest(a: Date, b: Date): Date {
  return a < b ? a : b;
}

/**
 * A new key for `id`, or the existing key under `id` when no certificate names it or its public
 * key yet (what a run interrupted between creating the key and storing its certificate leaves).
 * A key that is already certified is never certified again.
 */
async function obtainUncertifiedKey(
  backend: KeyBackend,
  id: string,
  purpose: KeyPurpose,
  existing: readonly PkiCertificateRecord[],
): Promise<KeyHandle> {
  let key: KeyHandle;
  try {
    key = await backend.createKey(id, purpose);
  } catch (error) {
    if (!isAppError(error, 'CONFLICT')) throw error;
    key = await backend.getKey(id, purpose);
  }
  for (const record of existing) {
    if (
      record.keyId === key.id ||
      equalBytes(parseCertificate(record.certificate).subjectPublicKeySpki, key.publicKeySpki)
    ) {
      throw new AppError('CONFLICT', `key ${key.id} is already certified; keys are never shared`);
    }
  }
  return key;
}

async function getRootKey(backend: KeyBackend, id: string): Promise<KeyHandle> {
  try {
    return await backend.getKey(id, 'root-ca');
  } catch (error) {
    if (isAppError(error, 'NOT_FOUND')) {
      throw new AppError('KEY_UNAVAILABLE', `the root key ${id} is not in this key backend`, {
        hint: 'when the root is offline, bring its keystore and pass it to the command',
        cause: error,
      });
    }
    throw error;
  }
}

async function getServiceKey(
  backend: KeyBackend,
  id: string,
  purpose: KeyPurpose,
): Promise<KeyHandle> {
  try {
    return await backend.getKey(id, purpose);
  } catch (error) {
    if (isAppError(error, 'NOT_FOUND')) {
      throw new AppError('KEY_UNAVAILABLE', `key ${id} is missing from the key backend`, {
        cause: error,
      });
    }
    throw error;
  }
}

function toRecord(
  role: PkiCertificateRole,
  product: string | null,
  channel: string | null,
  keyId: string,
  certificate: Uint8Array,
  createdAt: Date,
): PkiCertificateRecord {
  const parsed = parseCertificate(certificate);
  return {
    role,
    product,
    channel,
    keyId,
    certificate,
    serialNumber: Buffer.from(parsed.serialNumber).toString('hex'),
    notBefore: parsed.notBefore,
    notAfter: parsed.notAfter,
    createdAt,
  };
}

/**
 * Makes sure the PKI exists with an online root and a CA for each of `channels`: what the demo
 * workspace and single-node installations want. Idempotent. Production installations use
 * `countersign ca init --offline` instead and keep the root key off the server.
 */
export async function ensurePki(
  deps: PkiDeps,
  options: {
    readonly organization: string;
    readonly channels: readonly { readonly product: string; readonly channel: string }[];
  },
): Promise<void> {
  if ((await deps.store.find('root-ca')) === undefined) {
    await initializePki(deps, { rootKeys: deps.serviceKeys, organization: options.organization });
  }
  for (const { product, channel } of options.channels) {
    if ((await deps.store.find('channel-ca', { product, channel })) !== undefined) continue;
    await issueChannelCa(deps, { rootKeys: deps.serviceKeys, product, channel });
  }
}

/** The timestamp routes and the signing flow use only these two. */
export type TimestampIssuer = Pick<TimestampAuthority, 'issue' | 'timestampSignature'>;

/**
 * The timestamp authority, opened on first use and kept: the service can start before the PKI
 * exists (`countersign ca init` may run later). A failed open is retried on the next call.
 */
export function openTimestampAuthorityLazily(deps: PkiDeps): TimestampIssuer {
  let authority: Promise<TimestampAuthority> | undefined;
  const get = (): Promise<TimestampAuthority> => {
    if (authority === undefined) {
      const opening = openTimestampAuthority(deps);
      authority = opening;
      opening.catch(() => {
        if (authority === opening) authority = undefined;
      });
    }
    return authority;
  };
  return {
    issue: async (request) => (await get()).issue(request),
    timestampSignature: async (signature) => (await get()).timestampSignature(signature),
  };
}
