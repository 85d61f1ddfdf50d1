/**
 * Typed lifecycle events of connectors. The core emits; metrics, logs and status listen
 * (after kafkajs' instrumentation events): the core never calls metrics directly, and never waits
 * for a listener to decide what to do next.
 */
import { EventEmitter } from 'node:events';
import type { Op } from '../kafka/records';

export type ConnectorState = 'starting' | 'standby' | 'snapshotting' | 'streaming' | 'retrying' | 'stopped' | 'failed';

export interface ConnectorEvents {
  state: { connector: string; state: ConnectorState; error?: string };
  snapshot: { connector: string; rows: number; estimated: number; done: boolean };
  /** A re-snapshot on demand started, advanced a page, or ended (done, cancelled, failed). */
  resnapshot: {
    connector: string;
    id: string;
    where: string | null;
    rows: number;
    estimated: number;
    state: 'running' | 'done' | 'cancelled' | 'failed';
    error?: string;
    repair?: boolean;
    tombstones?: number;
  };
  published: {
    connector: string;
    ops: Record<Op, number>;
    records: number;
    produceSeconds: number;
    /** Commit-to-acknowledgement latency of each change (empty for snapshot batches). */
    latenciesSeconds: number[];
    /** A page of a re-snapshot on demand (its rows count as op snapshot, not as the initial snapshot's rows). */
    resnapshot?: boolean;
  };
  backlog: { connector: string; pending: number; lagSeconds: number };
  /** Change-log entries the drain could not read were set aside (kafka_cdc.rejected_changes), with the last reason. */
  rejected: { connector: string; entries: number; reason: string };
  error: { connector: string; kind: string; message: string; retriable: boolean };
  reconnect: { connector: string; target: 'postgres' | 'kafka' };
  /** A Kafka transaction ended (exactly_once): its outcome and how long the commit or abort took. */
  transaction: { connector: string; outcome: 'committed' | 'aborted'; seconds: number };
  /** Kafka rejected this worker's producer: another owner's producer has the connector's transactional id now. */
  fenced: { connector: string };
  /** Who owns the connector, as far as this replica knows: its replica id, or null when nobody does (or this replica just let it go). */
  owner: { connector: string; owner: string | null };
  /** The connector's ownership lock is held by a session that is not a worker (holder), or no longer (null). */
  ownership_blocked: { connector: string; holder: { pid: number; role: string | null; application_name: string; client_addr: string | null } | null };
  /**
   * The database's history changed under the connector: another timeline than the last session's
   * (a failover, a point-in-time restore), or it holds less than Kafka (it went back in time; a
   * repairing re-snapshot re-aligns the topic).
   */
  history: { connector: string; kind: 'timeline' | 'behind_kafka'; detail: string };
  /** The source changed under the connector in a way no trigger saw (capture off, partitions, the topic's partitions, the format, a recreated table): a repair is asked for. */
  source_changed: { connector: string; reason: string };
  /** Records for the connector in its offsets topic that the worker did not write were skipped (never trusted). */
  ignored_checkpoints: { connector: string; records: number };
  /** This replica's view of the spread: live replicas of the deployment, its share, the connectors it owns. */
  membership: { replica: string; members: number; share: number; owned: number };
}

export class EventBus {
  private readonly emitter = new EventEmitter();

  /**
   * Listeners are the observers (metrics, logs, status), a fixed handful whatever the number of
   * connectors: control flow never rides on events (the connector resets its backoff by a direct call).
   * @param onListenerError told about a listener that threw (the worker logs it); the emit goes on.
   */
  constructor(private readonly onListenerError: (event: string, err: unknown) => void = () => undefined) {}

  on<K extends keyof ConnectorEvents>(name: K, listener: (e: ConnectorEvents[K]) => void): () => void {
    this.emitter.on(name, listener);
    return () => this.emitter.off(name, listener);
  }

  /** Emits; a listener that throws never breaks the connector that emitted (graphile/worker safeEmit). */
  emit<K extends keyof ConnectorEvents>(name: K, event: ConnectorEvents[K]): void {
    for (const listener of this.emitter.listeners(name)) {
      try {
        (listener as (e: ConnectorEvents[K]) => void)(event);
      } catch (err) {
        // an observer must not break the pipeline, but its failure is told, not swallowed
        try {
          this.onListenerError(name, err);
        } catch {
          // the error handler itself failed: nothing more to do
        }
      }
    }
  }
}
