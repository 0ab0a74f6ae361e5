/**
 * `countersign init`: creates the data directory and the database, and mints the first admin API
 * token, which is printed once.
 */
import type { CliCommand } from '../command.ts';

export const initCommand: CliCommand = {
  name: 'init',
  summary: 'create the data directory, the database and a first admin API token',
  usage: 'init [--data-dir DIR] [--database-url URL]',
  details: [
    'The admin token is printed once and not stored anywhere in clear: keep it in a secret store.',
    'Later tokens are created through the API with `countersign token create`.',
    'Fails with exit code 4 when the installation already has tokens.',
  ].join('\n'),
  readsConfig: true,
  async run(context) {
    const config = context.loadConfig();
    const { composeApp } = await import('../../compose.ts');
    const app = await composeApp(config, { migrate: true });
    try {
      const created = await app.services.apiTokens.createInitialAdminToken();
      if (context.json) {
        context.printJson({
          dataDir: config.dataDir,
          storage: config.storage.engine,
          token: created.token,
          tokenId: created.view.id,
          role: created.view.role,
        });
      } else {
        context.note(
          `Initialised ${config.storage.engine === 'sqlite' ? config.dataDir : 'the PostgreSQL database'}.`,
        );
        context.note('First admin API token (shown once; store it in a secret store now):');
        context.print(created.token);
        context.note(
          'Use it with: export COUNTERSIGN_TOKEN=<the token above>; countersign token list',
        );
      }
      return 0;
    } finally {
      await app.close();
    }
  },
};
