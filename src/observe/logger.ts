/**
 * Structured JSON logs with pino: one child logger per connector, secrets redacted.
 * Connection URLs are redacted wherever they appear in a message; known secret fields are censored.
 */
import pino from 'pino';
import { redact } from '../util/errors';

export type Logger = pino.Logger;
export type LogLevel = 'trace' | 'debug' | 'info' | 'warn' | 'error' | 'fatal' | 'silent';

export function createLogger(level: LogLevel, destination?: pino.DestinationStream): Logger {
  return pino(
    {
      level,
      base: { service: 'pg-kafka-cdc' },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: ['password', 'url', 'databaseUrl', '*.password', '*.url', '*.databaseUrl', 'sasl'], censor: '[redacted]' },
      hooks: {
        logMethod(args, method) {
          // Redact credentials in URLs inside free-text messages too.
          const mapped = args.map((a) => (typeof a === 'string' ? redact(a) : a)) as Parameters<typeof method>;
          method.apply(this, mapped);
        },
      },
    },
    destination ?? pino.destination({ dest: 1, sync: false }),
  );
}
