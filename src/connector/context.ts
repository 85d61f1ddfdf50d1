/** What the phases of one connector session share. */
import type { Client } from 'pg';
import type { ConnectorConfig } from '../config/types';
import type { RecordPublisher } from '../kafka/producer';
import type { RecordBuilder } from '../kafka/records';
import type { EventBus } from '../observe/events';
import type { Logger } from '../observe/logger';
import type { TablePlan } from '../postgres/plan';
import type { QuerySet } from '../postgres/queries';
import type { ProgressStore } from '../progress/store';
import type { ControlSession } from './session';

export interface SessionContext {
  cfg: ConnectorConfig;
  plan: TablePlan;
  queries: QuerySet;
  /** The data connection: every read, and progress writes. */
  data: Client;
  control: ControlSession;
  publisher: RecordPublisher;
  /** Turns rows into records of the connector's topic. */
  records: RecordBuilder;
  progress: ProgressStore;
  events: EventBus;
  log: Logger;
  /** Aborts when the worker stops or the session is lost. */
  signal: AbortSignal;
}
