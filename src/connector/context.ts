/** What the phases of one connector session share. */
import type { ConnectorConfig, KafkaSettings } from '../config/types';
import type { RecordPublisher } from '../kafka/producer';
import type { RecordBuilder } from '../kafka/records';
import type { EventBus } from '../observe/events';
import type { Logger } from '../observe/logger';
import type { RecordFormat } from '../format/format';
import type { TablePlan } from '../postgres/plan';
import type { DataScope } from '../postgres/pool';
import type { ChangeLogStatements, OrdinalStatements, TableStatements } from '../postgres/queries';
import type { ProgressStore } from '../progress/store';
import type { ControlSession } from './session';
import { DrainFloor } from './drain-floor';
import type { Timings } from '../timings';

export interface SessionContext {
  cfg: ConnectorConfig;
  /** The worker's Kafka settings (a repairing re-snapshot reads the topic). */
  kafka: KafkaSettings;
  plan: TablePlan;
  /** How records are rendered (sink.format): its SQL side and its encoder. */
  format: RecordFormat;
  /** The statements of the connector's table (SQL lives in postgres/). */
  statements: TableStatements;
  /** The data connections of the connector's database (a pool shared by its connectors): every read, and progress writes. */
  data: DataScope;
  control: ControlSession;
  publisher: RecordPublisher;
  /** Turns rows into records of the connector's topic. */
  records: RecordBuilder;
  progress: ProgressStore;
  events: EventBus;
  log: Logger;
  /** The worker's timings (src/timings.ts; tests shorten them). */
  timings: Timings;
  /** Call after real progress (a batch acknowledged, the change log drained empty): it resets the backoff. */
  madeProgress(): void;
  /** Aborts when the worker stops or the session is lost. */
  signal: AbortSignal;
  /** Throws a FatalError when the table is no longer the one planned (dropped, a needed column gone, another primary key). */
  checkSchema(): Promise<void>;
}

/** How the connector follows changes after the snapshot, decided once per session from its config and table. */
export type CaptureMode = TriggerCapture | OrdinalCapture | { kind: 'none' };
/** notification on: a trigger appends keys to a change log, drained on NOTIFY. */
export interface TriggerCapture {
  kind: 'trigger';
  channel: string;
  log: ChangeLogStatements;
  /** The change log's table oid (checkpoints name it: seqs restart when the log is created again); 0 until the session's prepare step has installed the log. */
  logOid: number;
  /** Where the drain's scans start (connector/drain-floor.ts): the connector's, kept across sessions. */
  floor: DrainFloor;
}
/** no notification, an ordinal column: rows whose ordinal advanced, polled (no deletes). */
export interface OrdinalCapture {
  kind: 'ordinal';
  poll: OrdinalStatements;
}

export function captureModeOf(channel: string | null, statements: TableStatements, floor: DrainFloor = new DrainFloor()): CaptureMode {
  if (channel !== null && statements.changeLog) return { kind: 'trigger', channel, log: statements.changeLog, logOid: 0, floor };
  if (statements.ordinal) return { kind: 'ordinal', poll: statements.ordinal };
  return { kind: 'none' };
}
