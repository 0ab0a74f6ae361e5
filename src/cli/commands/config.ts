/**
 * `countersign config check`: prints the effective configuration with secrets redacted, or every
 * problem with where it came from.
 */
import { stringify } from 'yaml';
import { redactConfig } from '../../config/redact-config.ts';
import type { CliCommand } from '../command.ts';

const checkCommand: CliCommand = {
  name: 'check',
  summary: 'validate the configuration and print it, secrets redacted',
  usage: 'config check [--config FILE] [configuration flags]',
  details:
    'Sources, highest precedence first: flags, COUNTERSIGN_* environment variables, countersign.yaml, defaults.',
  readsConfig: true,
  run(context) {
    const config = redactConfig(context.loadConfig());
    if (context.json) {
      context.printJson({ valid: true, config });
      return Promise.resolve(0);
    }
    const { configFile, ...settings } = config;
    context.note(
      configFile === null
        ? 'No configuration file; using environment, flags and defaults.'
        : `Read ${configFile}.`,
    );
    context.print(stringify(settings).trimEnd());
    return Promise.resolve(0);
  },
};

export const configCommand: CliCommand = {
  name: 'config',
  summary: 'inspect the configuration',
  usage: 'config check',
  subcommands: [checkCommand],
};
