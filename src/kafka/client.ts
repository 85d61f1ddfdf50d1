/**
 * The connection options every Kafka client of the worker shares (producer, admin, tail), from the
 * worker's Kafka settings. The client is @platformatic/kafka: maintained, pure TypeScript, with
 * idempotence and transactions, and measured at 2-3x kafkajs here (docs/benchmarks.md).
 */
import type { BaseOptions } from '@platformatic/kafka';
import type { KafkaSettings } from '../config/types';

import { KAFKA_CLIENT_RETRIES, KAFKA_CLIENT_RETRY_DELAY_MS, KAFKA_CONNECT_TIMEOUT_MS, KAFKA_REQUEST_TIMEOUT_MS } from '../timings';

const MECHANISMS = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' } as const;

export function kafkaClientOptions(settings: KafkaSettings, clientIdSuffix = ''): BaseOptions {
  const options: BaseOptions = {
    clientId: settings.clientId + clientIdSuffix,
    bootstrapBrokers: settings.brokers,
    connectTimeout: KAFKA_CONNECT_TIMEOUT_MS,
    requestTimeout: KAFKA_REQUEST_TIMEOUT_MS,
    timeout: KAFKA_REQUEST_TIMEOUT_MS,
    retries: KAFKA_CLIENT_RETRIES,
    retryDelay: KAFKA_CLIENT_RETRY_DELAY_MS,
  };
  if (settings.ssl !== false) {
    options.tls = settings.ssl === true ? {} : { ca: settings.ssl.ca, rejectUnauthorized: settings.ssl.rejectUnauthorized };
  }
  if (settings.sasl) {
    options.sasl = { mechanism: MECHANISMS[settings.sasl.mechanism], username: settings.sasl.username, password: settings.sasl.password };
  }
  return options;
}
