/** Builds the kafkajs client from the worker's Kafka settings, logging through our logger. */
import { Kafka, logLevel, type LogEntry, type SASLOptions } from 'kafkajs';
import type { KafkaSettings } from '../config/types';
import type { Logger } from '../observe/logger';

export function createKafka(settings: KafkaSettings, logger: Logger, clientIdSuffix = ''): Kafka {
  const log = logger.child({ component: 'kafkajs' });
  return new Kafka({
    clientId: settings.clientId + clientIdSuffix,
    brokers: settings.brokers,
    ssl: settings.ssl === false ? undefined : settings.ssl === true ? true : { ca: settings.ssl.ca, rejectUnauthorized: settings.ssl.rejectUnauthorized },
    sasl: settings.sasl ? ({ mechanism: settings.sasl.mechanism, username: settings.sasl.username, password: settings.sasl.password } as SASLOptions) : undefined,
    connectionTimeout: 5000,
    requestTimeout: 30000,
    retry: { initialRetryTime: 300, maxRetryTime: 5000, retries: 5 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log: entry }: LogEntry) => {
        const { message, ...rest } = entry;
        // kafkajs logs every failed request at ERROR while it retries; they are warnings to us.
        // We bound the idempotent producer's retries on purpose and retry whole batches ourselves.
        if (level <= logLevel.WARN && !/Limiting retries for the idempotent producer/.test(message)) log.warn(rest, message);
        else log.debug(rest, message);
      },
  });
}
