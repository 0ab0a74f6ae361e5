/** The ordered list of every schema migration. Append only: never edit or renumber a released one. */
import { MIGRATION_0001_API_TOKENS } from './0001-api-tokens.ts';
import { MIGRATION_0002_LOG } from './0002-log.ts';
import { MIGRATION_0003_GOVERNANCE } from './0003-governance.ts';
import { MIGRATION_0004_SIGNING } from './0004-signing.ts';
import type { Migration } from './migration.ts';

export const MIGRATIONS: readonly Migration[] = [
  MIGRATION_0001_API_TOKENS,
  MIGRATION_0002_LOG,
  MIGRATION_0003_GOVERNANCE,
  MIGRATION_0004_SIGNING,
];

/** The newest schema version this code knows. */
export const CODE_SCHEMA_VERSION: number = MIGRATIONS.at(-1)?.version ?? 0;
