/**
 * `countersign migrate`: applies pending database migrations and exits.
 */
import type { CliCommand } from '../command.ts';

export const migrateCommand: CliCommand = {
  name: 'migrate',
  summary: 'apply pending database migrations',
  usage: 'migrate [--data-dir DIR] [--database-url URL]',
  details:
    '`serve` migrates on start too; run this separately when deployments migrate before rolling out replicas.',
  readsConfig: true,
  async run(context) {
    const config = context.loadConfig();
    const { migrateConfiguredStorage } = await import('../../compose.ts');
    const report = await migrateConfiguredStorage(config);
    if (context.json) {
      context.printJson({
        storage: config.storage.engine,
        from: report.from,
        to: report.to,
        applied: report.applied,
      });
    } else if (report.applied.length === 0) {
      context.print(
        `Database schema is current (version ${String(report.to)}, ${config.storage.engine}).`,
      );
    } else {
      context.print(
        `Database migrated from version ${String(report.from)} to ${String(report.to)} (${String(report.applied.length)} migrations, ${config.storage.engine}).`,
      );
    }
    return 0;
  },
};
