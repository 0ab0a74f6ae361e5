/**
 * The process logger: pino JSON lines, with credentials redacted before they are written.
 */
import { pino, type DestinationStream, type LevelWithSilent, type Logger } from 'pino';

/**
 * Paths pino blanks out wherever they appear in a log record, up to the depth at which request
 * and error objects put them. Anything that could carry a credential belongs here: a token or a
 * password in a log file outlives its revocation.
 */
export const REDACTED_LOG_PATHS: readonly string[] = [
  'req.headers.authorization',
  'req.headers.cookie',
  'req.headers["proxy-authorization"]',
  'res.headers["set-cookie"]',
  'headers.authorization',
  'headers.cookie',
  ...['authorization', 'token', 'secret', 'password', 'databaseUrl', 'connectionString'].flatMap(
    (key) => [key, `*.${key}`, `*.*.${key}`],
  ),
];

export interface CreateLoggerOptions {
  readonly level: LevelWithSilent;
  /** Where JSON lines go; standard output when absent. Tests pass a capturing stream. */
  readonly destination?: DestinationStream;
}

/** Creates the pino logger every component logs through. */
export function createLogger(options: CreateLoggerOptions): Logger {
  return pino(
    {
      level: options.level,
      base: { service: 'countersign' },
      redact: { paths: [...REDACTED_LOG_PATHS], censor: '[redacted]' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
    },
    options.destination ?? pino.destination(1),
  );
}
