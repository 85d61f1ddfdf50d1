/**
 * Configuration as the rest of the worker sees it: validated against schemas/, defaults applied,
 * *_env fields resolved. The raw shapes mirror schemas/*.schema.json one to one (a unit test
 * checks the keys agree); the resolved shapes are what connectors run with.
 */
import type { LogLevel } from '../observe/logger';
export type { LogLevel };
/** exactly_once: Kafka transactions that carry the position; at_least_once: a crash can repeat a batch. */
export type Delivery = 'exactly_once' | 'at_least_once';
export type SaslMechanism = 'plain' | 'scram-sha-256' | 'scram-sha-512';

export interface DatabaseRef {
  url?: string;
  url_env?: string;
}

export interface RawWorkerConfig {
  kafka: {
    brokers: string[];
    client_id: string;
    ssl: boolean | { ca_file?: string; reject_unauthorized?: boolean };
    sasl?: {
      mechanism: SaslMechanism;
      username?: string;
      username_env?: string;
      password?: string;
      password_env?: string;
    };
  };
  database?: DatabaseRef;
  postgres: { data_pool_size: number };
  http: { host: string; port: number };
  connectors_dir: string;
  log: { level: LogLevel };
}

export interface RawConnectorConfig {
  name: string;
  source: {
    table_name: string;
    database?: DatabaseRef;
    included_columns?: string[];
    ordinal_column?: string;
    notification?: { channel_name?: string };
  };
  sink: {
    topic?: string;
    partitions: number;
    replication_factor: number;
    compact: boolean;
    compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
    format: RecordFormat;
    delivery: Delivery;
    transactional_id?: string;
    offsets_topic?: string;
  };
  snapshot: { mode: 'initial' | 'never'; batch_size: number };
  capture: { batch_size: number; drain_pause_ms: number; poll_interval_ms: number; heartbeat_interval_ms: number };
}

export interface KafkaSettings {
  brokers: string[];
  clientId: string;
  ssl: boolean | { ca?: string; rejectUnauthorized: boolean };
  sasl?: { mechanism: SaslMechanism; username: string; password: string };
}

import type { TableName } from '../postgres/sql';
import type { FormatName as RecordFormat } from '../format/format';
export type { TableName, RecordFormat };

export interface ConnectorConfig {
  name: string;
  /** The file it came from, for messages. */
  file: string;
  table: TableName;
  /** The database URL (a secret: never log it; see util/errors redact). */
  databaseUrl: string;
  includedColumns: string[] | null;
  ordinalColumn: string | null;
  /** The notification channel when change capture by trigger is on, else null. */
  channel: string | null;
  topic: string;
  partitions: number;
  replicationFactor: number;
  compact: boolean;
  compression: 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';
  /** How records are written: plain row_to_json JSON, or Kafka Connect's JsonConverter envelope with a schema. */
  format: RecordFormat;
  delivery: Delivery;
  /** The Kafka transactional id (exactly_once), stable across restarts and replicas. */
  transactionalId: string;
  /** The topic of the connector's committed position (exactly_once). */
  offsetsTopic: string;
  snapshotMode: 'initial' | 'never';
  snapshotBatchSize: number;
  captureBatchSize: number;
  drainPauseMs: number;
  pollIntervalMs: number;
  heartbeatIntervalMs: number;
}

export interface WorkerConfig {
  file: string;
  kafka: KafkaSettings;
  /** Data connections per database this replica opens at most (postgres.data_pool_size). */
  dataPoolSize: number;
  http: { host: string; port: number };
  logLevel: LogLevel;
  connectorsDir: string;
  connectors: ConnectorConfig[];
}
