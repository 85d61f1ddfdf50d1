/**
 * The connection options every Kafka client of the worker shares (producer, admin, tail), from the
 * worker's Kafka settings. The client is @platformatic/kafka: maintained, pure TypeScript, with
 * idempotence and transactions, and measured at 2-3x kafkajs here (docs/benchmarks.md).
 */
import type { BaseOptions } from '@platformatic/kafka';
import type { KafkaSettings } from '../config/types';

import { DEFAULT_TIMINGS, type Timings } from '../timings';
import { kafkaErrorCodes } from './errors';

const MECHANISMS = { plain: 'PLAIN', 'scram-sha-256': 'SCRAM-SHA-256', 'scram-sha-512': 'SCRAM-SHA-512' } as const;

/**
 * The pause before the client retries a request. Right after a commit, the transaction coordinator
 * answers the next AddPartitionsToTxn with CONCURRENT_TRANSACTIONS until it has written the previous
 * transaction's markers, a matter of milliseconds: waiting the usual 250 ms there cut the snapshot's
 * rate by a third (profiled: 200 ms of each 216 ms transaction). Kafka's Java producer retries it
 * after 20 ms for the same reason.
 */
function retryDelayOf(t: Timings) {
  return (_client: unknown, _operation: string, attempt: number, _retries: number, error: Error): number =>
    kafkaErrorCodes(error).includes('CONCURRENT_TRANSACTIONS') ? t.CONCURRENT_TRANSACTIONS_RETRY_MS * attempt : t.KAFKA_CLIENT_RETRY_DELAY_MS;
}

export function kafkaClientOptions(settings: KafkaSettings, clientIdSuffix = '', t: Timings = DEFAULT_TIMINGS): BaseOptions {
  const options: BaseOptions = {
    clientId: settings.clientId + clientIdSuffix,
    bootstrapBrokers: settings.brokers,
    connectTimeout: t.KAFKA_CONNECT_TIMEOUT_MS,
    requestTimeout: t.KAFKA_REQUEST_TIMEOUT_MS,
    timeout: t.KAFKA_REQUEST_TIMEOUT_MS,
    retries: t.KAFKA_CLIENT_RETRIES,
    retryDelay: retryDelayOf(t),
  };
  if (settings.ssl !== false) {
    options.tls = settings.ssl === true ? {} : { ca: settings.ssl.ca, rejectUnauthorized: settings.ssl.rejectUnauthorized };
  }
  if (settings.sasl) {
    options.sasl = { mechanism: MECHANISMS[settings.sasl.mechanism], username: settings.sasl.username, password: settings.sasl.password };
  }
  return options;
}
