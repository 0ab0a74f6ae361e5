/** `PkiStore` on SQL (table `pki_certificates`), for both engines. */
import type { Selectable } from 'kysely';
import { AppError } from '../../core/errors.ts';
import type { PkiCertificateRecord, PkiCertificateRole, PkiStore } from '../../core/ports.ts';
import { withConflictMessage } from './with-conflict-message.ts';
import type { SqlContext } from './sql-context.ts';
import { readBytes, readDate, readNullableString, readString, toMillis } from './sql-values.ts';
import type { PkiCertificatesTable } from './storage-schema.ts';

const ROLES = { 'root-ca': true, 'channel-ca': true, tsa: true } as const satisfies Record<
  PkiCertificateRole,
  true
>;
/** Listing order: the root, the TSA, then channel CAs by product and channel. */
const ROLE_ORDER: Record<PkiCertificateRole, number> = { 'root-ca': 0, tsa: 1, 'channel-ca': 2 };

export class SqlPkiRepository implements PkiStore {
  readonly #context: SqlContext;

  constructor(context: SqlContext) {
    this.#context = context;
  }

  async insert(records: readonly PkiCertificateRecord[]): Promise<void> {
    if (records.length === 0) return;
    await withConflictMessage(
      () =>
        this.#context.atomic(async (db) => {
          await db.insertInto('pki_certificates').values(records.map(toRow)).execute();
        }),
      'the PKI already has that certificate, or that key is already certified',
    );
  }

  async find(
    role: PkiCertificateRole,
    scope?: { readonly product: string; readonly channel: string },
  ): Promise<PkiCertificateRecord | undefined> {
    const row = await this.#context.db
      .selectFrom('pki_certificates')
      .selectAll()
      .where('scope', '=', scopeOf(role, scope?.product ?? null, scope?.channel ?? null))
      .executeTakeFirst();
    return row === undefined ? undefined : toRecord(row);
  }

  async list(): Promise<PkiCertificateRecord[]> {
    const rows = await this.#context.db.selectFrom('pki_certificates').selectAll().execute();
    return rows
      .map(toRecord)
      .sort(
        (a, b) =>
          ROLE_ORDER[a.role] - ROLE_ORDER[b.role] ||
          (a.product ?? '').localeCompare(b.product ?? '') ||
          (a.channel ?? '').localeCompare(b.channel ?? ''),
      );
  }
}

/** One row per role, and per product and channel for channel CAs. */
function scopeOf(role: PkiCertificateRole, product: string | null, channel: string | null): string {
  if (role !== 'channel-ca') return role;
  if (product === null || channel === null) {
    throw new AppError('INVALID_INPUT', 'a channel CA needs a product and a channel');
  }
  return `channel-ca:${product}/${channel}`;
}

function toRow(record: PkiCertificateRecord) {
  return {
    scope: scopeOf(record.role, record.product, record.channel),
    role: record.role,
    product: record.product,
    channel: record.channel,
    key_id: record.keyId,
    certificate: record.certificate,
    serial_number: record.serialNumber,
    not_before: toMillis(record.notBefore, 'notBefore'),
    not_after: toMillis(record.notAfter, 'notAfter'),
    created_at: toMillis(record.createdAt, 'createdAt'),
  };
}

function toRecord(row: Selectable<PkiCertificatesTable>): PkiCertificateRecord {
  const role = readString(row.role, 'pki_certificates.role');
  if (!Object.hasOwn(ROLES, role))
    throw new AppError('INTERNAL', `unknown PKI role ${role} in storage`);
  return {
    role: role as PkiCertificateRole,
    product: readNullableString(row.product, 'pki_certificates.product'),
    channel: readNullableString(row.channel, 'pki_certificates.channel'),
    keyId: readString(row.key_id, 'pki_certificates.key_id'),
    certificate: readBytes(row.certificate, 'pki_certificates.certificate'),
    serialNumber: readString(row.serial_number, 'pki_certificates.serial_number'),
    notBefore: readDate(row.not_before, 'pki_certificates.not_before'),
    notAfter: readDate(row.not_after, 'pki_certificates.not_after'),
    createdAt: readDate(row.created_at, 'pki_certificates.created_at'),
  };
}
