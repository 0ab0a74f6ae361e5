/**
 * An in-memory `PkiStore` for tests, with the port's CONFLICT rules. Production storage is a
 * database adapter.
 */
import { AppError } from '../../src/core/errors.ts';
import type { PkiCertificateRecord, PkiCertificateRole, PkiStore } from '../../src/core/ports.ts';

const ROLE_ORDER: Readonly<Record<PkiCertificateRole, number>> = {
  'root-ca': 0,
  tsa: 1,
  'channel-ca': 2,
};

function slot(record: Pick<PkiCertificateRecord, 'role' | 'product' | 'channel'>): string {
  return `${record.role}/${record.product ?? ''}/${record.channel ?? ''}`;
}

export function createMemoryPkiStore(): PkiStore & { readonly records: PkiCertificateRecord[] } {
  const records: PkiCertificateRecord[] = [];
  return {
    records,
    insert(added) {
      const slots = new Set(records.map(slot));
      const keyIds = new Set(records.map((record) => record.keyId));
      for (const record of added) {
        if (slots.has(slot(record)) || keyIds.has(record.keyId)) {
          return Promise.reject(new AppError('CONFLICT', `${slot(record)} already exists`));
        }
        slots.add(slot(record));
        keyIds.add(record.keyId);
      }
      records.push(...added);
      return Promise.resolve();
    },
    find(role, scope) {
      return Promise.resolve(
        records.find(
          (record) =>
            record.role === role &&
            record.product === (scope?.product ?? null) &&
            record.channel === (scope?.channel ?? null),
        ),
      );
    },
    list() {
      return Promise.resolve(
        [...records].sort(
          (a, b) =>
            ROLE_ORDER[a.role] - ROLE_ORDER[b.role] ||
            (a.product ?? '').localeCompare(b.product ?? '') ||
            (a.channel ?? '').localeCompare(b.channel ?? ''),
        ),
      );
    },
  };
}
