/** The ordered list of every schema migration. Append only: never edit or renumber a released one. */
import { MIGRATION_0001_API_TOKENS } from './0001-api-tokens.ts';
import { MIGRATION_0002_LOG } from './0002-log.ts';
import { MIGRATION_0003_GOVERNANCE } from './0003-governance.ts';
import { MIGRATION_0004_SIGNING } from './0004-signing.ts';
import { MIGRATION_0005_APPROVALS } from './0005-approvals.ts';
import { MIGRATION_0006_PASSKEYS } from './0006-passkeys.ts';
import { MIGRATION_0007_EXCEPTIONS } from './0007-exceptions.ts';
import { MIGRATION_0008_WEBHOOKS } from './0008-webhooks.ts';
import type { Migration } from './migration.ts';

export const MIGRATIONS: readonly Migration[] = [
  MIGRATION_0001_API_TOKENS,
  MIGRATION_0002_LOG,
  MIGRATION_0003_GOVERNANCE,
  MIGRATION_0004_SIGNING,
  MIGRATION_0005_APPROVALS,
  MIGRATION_0006_PASSKEYS,
  MIGRATION_0007_EXCEPTIONS,
  MIGRATION_0008_WEBHOOKS,
];

/** The newest schema version this code knows. */
export const CODE_SCHEMA_VERSION: number = MIGRATIONS.at(-1)?.version ?? 0;
