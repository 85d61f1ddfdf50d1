/** The library's public API; the CLI (src/cli) is a thin shell over it. */
export { loadWorkerConfig } from './config/load';
export type { WorkerConfig, ConnectorConfig, KafkaSettings } from './config/types';
export { Worker } from './connector/worker';
export { Connector } from './connector/connector';
export { EventBus, type ConnectorEvents, type ConnectorState } from './observe/events';
export { createLogger, type Logger } from './observe/logger';
export { preflightConnector, preflightAll } from './cli/preflight';
export { quoteIdent } from './postgres/sql';
export { defaultChannel, captureNames } from './postgres/names';
export { CdcError, ConfigError, RetriableError, FatalError } from './util/errors';
export { isRetriable } from './postgres/sqlstate';
