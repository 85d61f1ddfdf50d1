/** A resolved connector config with the schema's defaults, for tests that build plans and statements without files. */
import type { ConnectorConfig } from '../../src/config/types';

export function connectorConfig(over: Partial<ConnectorConfig> = {}): ConnectorConfig {
  return {
    name: 'orders',
    file: 'connectors/orders.json',
    table: { schema: null, name: 'orders' },
    databaseUrl: 'postgres://postgres@127.0.0.1:5432/app',
    includedColumns: null,
    ordinalColumn: null,
    channel: null,
    topic: 'orders',
    partitions: 1,
    replicationFactor: 1,
    compact: true,
    compression: 'zstd',
    format: 'json',
    delivery: 'exactly_once',
    transactionalId: 'pg-kafka-cdc.orders',
    offsetsTopic: 'pg-kafka-cdc.offsets.orders',
    snapshotMode: 'initial',
    snapshotBatchSize: 2000,
    captureBatchSize: 2000,
    drainPauseMs: 5,
    pollIntervalMs: 1000,
    heartbeatIntervalMs: 10000,
    ...over,
  };
}
