/**
 * One connector's life: own -> inspect -> install -> snapshot -> stream, and again after any
 * failure, with jittered backoff. Every run of that sequence is a "session" that starts from the
 * durable state in PostgreSQL (progress and change log), so a restart, a lost connection or a
 * Kafka outage can repeat records but never skip one. start() and stop() are idempotent.
 */
import type { Client } from 'pg';
import type { ConnectorConfig, KafkaSettings } from '../config/types';
import { KafkaError } from '../kafka/errors';
import { RecordBuilder } from '../kafka/records';
import { RecordPublisher } from '../kafka/producer';
import { ensureTopic } from '../kafka/topics';
import type { ConnectorState, EventBus } from '../observe/events';
import type { Logger } from '../observe/logger';
import { captureNames } from '../postgres/names';
import { dropConnectorObjects, ensureWorkerSchema, installCapture, setWaiting } from '../postgres/capture';
import { connect, destroyClient, endWithin } from '../postgres/connect';
import { introspectTable } from '../postgres/introspect';
import { planTable, type TablePlan } from '../postgres/plan';
import { buildQueries, type QuerySet } from '../postgres/queries';
import { identityChanges, ProgressStore, type Identity, type Progress } from '../progress/store';
import { describeError, FatalError, isRetriable } from '../util/errors';
import { Backoff, sleep } from '../util/retry';
import { BacklogMonitor } from './backlog';
import type { SessionContext } from './context';
import { ControlSession } from './session';
import { runSnapshot } from './snapshot';
import { drainChanges, pollByOrdinal } from './stream';

/** A data query that takes longer has hit a dead connection (keyset pages and drains are fast). */
const DATA_QUERY_TIMEOUT_MS = 60_000;
/** How often a failed connector looks again whether its cause was fixed. */
const FAILED_RETRY_MS = 60_000;
/** How long stop() lets a batch in flight finish before it closes the connections under it. */
const STOP_GRACE_MS = 7_000;

export class Connector {
  private readonly stopping = new AbortController();
  private loop: Promise<void> | null = null;
  private readonly backoff = new Backoff();
  private readonly backlog: BacklogMonitor;
  private state: ConnectorState = 'stopped';
  /** Closes the current session's connections at once (set while a session runs). */
  private closeSession: (() => void) | null = null;

  constructor(
    readonly cfg: ConnectorConfig,
    private readonly kafka: KafkaSettings,
    private readonly events: EventBus,
    private readonly log: Logger,
  ) {
    this.backlog = new BacklogMonitor(cfg.databaseUrl, cfg.name, events);
    // The backoff resets only after real progress (a batch acknowledged, or the log drained empty),
    // not merely on reaching a phase: a record Kafka refuses must not become a hot retry loop.
    const mine = (e: { connector: string }) => e.connector === cfg.name;
    events.on('published', (e) => mine(e) && this.backoff.reset());
    events.on('backlog', (e) => mine(e) && e.pending === 0 && this.state === 'streaming' && this.backoff.reset());
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Stops reading, lets the batch in flight finish (its progress is committed), closes everything. */
  async stop(): Promise<void> {
    this.stopping.abort();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), STOP_GRACE_MS)));
    if ((await Promise.race([this.loop, graceOver])) === 'timeout') {
      // A send that waits for an unreachable broker: give up on it. Nothing is lost: its log rows
      // and snapshot position were not committed, so the next run repeats the batch.
      this.log.warn('batch in flight did not finish in time; closing its connections');
      this.closeSession?.();
    }
    clearTimeout(timer);
    await this.loop;
    await this.backlog.stop();
    this.setState('stopped');
  }

  private setState(state: ConnectorState, error?: string): void {
    if (state === this.state && error === undefined) return;
    this.state = state;
    this.events.emit('state', { connector: this.cfg.name, state, error });
  }

  private async run(): Promise<void> {
    this.setState('starting');
    while (!this.stopping.signal.aborted) {
      try {
        const finished = await this.session();
        if (finished) {
          this.log.info('snapshot done and no change capture configured: connector finished');
          this.setState('stopped');
          return;
        }
      } catch (err) {
        if (this.stopping.signal.aborted) break;
        const message = describeError(err);
        const retriable = isRetriable(err);
        this.events.emit('error', { connector: this.cfg.name, kind: errorKind(err), message, retriable });
        if (!retriable) {
          // Needs an operator (a dropped table, a revoked grant). Stay failed and visible, but look
          // again now and then, so the connector heals by itself once the cause is fixed.
          this.log.error({ err: message, retryInMs: FAILED_RETRY_MS }, 'connector failed; it needs a change of config or database to go on');
          this.setState('failed', message);
          await sleep(FAILED_RETRY_MS, this.stopping.signal);
          continue;
        }
        const delay = this.backoff.next();
        this.log.warn({ err: message, retryInMs: delay, attempt: this.backoff.attempts }, 'connector session failed; retrying');
        this.setState('retrying', message);
        await sleep(delay, this.stopping.signal);
        if (!this.stopping.signal.aborted) this.events.emit('reconnect', { connector: this.cfg.name, target: errorKind(err) === 'kafka' ? 'kafka' : 'postgres' });
      }
    }
  }

  /** One session; returns true when the connector has nothing more to do (snapshot-only). */
  private async session(): Promise<boolean> {
    const { cfg } = this;
    const lost = new AbortController();
    const signal = AbortSignal.any([this.stopping.signal, lost.signal]);
    let lostError = null as Error | null;
    let data: Awaited<ReturnType<typeof connect>> | null = null;
    const publisher = new RecordPublisher(this.kafka, cfg.topic, { compression: cfg.compression });
    const control = new ControlSession(cfg.databaseUrl, cfg.name, cfg.heartbeatIntervalMs, (err) => {
      lostError = err;
      lost.abort();
      // Without the control session we are no longer the owner: end the data session now, even
      // mid-query, and stop publishing (a standby may already own the connector).
      if (data) destroyClient(data);
      void publisher.disconnect();
    });
    this.closeSession = () => {
      lost.abort();
      if (data) destroyClient(data);
      void publisher.disconnect();
    };
    try {
      await control.open();
      const owner = await control.acquireOwnership(signal, () => {
        this.log.info('another worker owns this connector; waiting as a standby');
        this.setState('standby');
      });
      if (!owner) return false;
      this.setState('starting');
      data = await connect(cfg.databaseUrl, { applicationName: `pg-kafka-cdc data ${cfg.name}`, queryTimeoutMs: DATA_QUERY_TIMEOUT_MS });

      const info = await introspectTable(data, cfg.table);
      const planned = planTable(cfg, info, `${cfg.file}: `);
      if (!planned.ok) throw new FatalError(planned.problems.join('; '));
      const plan = planned.plan;
      const logTable = cfg.channel ? captureNames(cfg.channel).logTable : null;
      const queries = buildQueries(plan, logTable);

      const { progress, state: prepared } = await this.prepare(data, plan, queries);
      let state = prepared;
      await publisher.connect();

      const records = new RecordBuilder(cfg.topic, cfg.name);
      const ctx: SessionContext = { cfg, plan, queries, data, control, publisher, records, progress, events: this.events, log: this.log, signal };
      if (state.snapshotState !== 'done' && plan.ordinal && !cfg.channel && state.watermark === null) {
        // Ordinal polling starts where the table stands now; the snapshot covers everything before.
        const max = await data.query<{ m: string | null }>(queries.maxOrdinal as string);
        if (max.rows[0].m !== null) await progress.saveWatermark([max.rows[0].m]);
        state = await progress.load();
      }
      if (state.snapshotState !== 'done') {
        if (cfg.snapshotMode === 'initial') {
          this.setState('snapshotting');
          await runSnapshot(ctx, state);
          if (signal.aborted) return this.afterAbort(lostError);
        } else {
          await progress.saveSnapshot('done', null, 0);
        }
      }

      if (cfg.channel) {
        await control.listen(cfg.channel);
        this.setState('streaming');
        await drainChanges(ctx, cfg.channel);
      } else if (plan.ordinal) {
        this.setState('streaming');
        await pollByOrdinal(ctx, (await progress.load()).watermark);
      } else {
        return true;
      }
      return this.afterAbort(lostError);
    } catch (err) {
      if (lostError && !this.stopping.signal.aborted) throw lostError;
      throw err;
    } finally {
      this.closeSession = null;
      await publisher.disconnect();
      if (data) await endWithin(data, 1000);
      await control.close();
    }
  }

  /**
   * Makes the database and the topic ready for a session: the worker schema, the stored progress
   * (reset when the connector's topic, table or capture mode changed, or its topic had to be
   * created again), the capture objects and the topic.
   */
  private async prepare(data: Client, plan: TablePlan, queries: QuerySet): Promise<{ progress: ProgressStore; state: Progress }> {
    const { cfg } = this;
    await ensureWorkerSchema(data);
    const progress = new ProgressStore(data, cfg.name);
    const identity: Identity = { topic: cfg.topic, tableOid: plan.info.oid, tableName: `${plan.table.schema}.${plan.table.name}`, channel: cfg.channel };
    let state = await progress.load();
    const changes = identityChanges(state.identity, identity);
    if (changes.length > 0) {
      // What the topic holds no longer matches what the progress says: start over, and remove the
      // capture objects of a channel no longer used (their log would otherwise grow forever).
      this.log.warn({ changes }, 'the connector changed since its last run: starting over with a new snapshot');
      const old = state.identity;
      if (old?.channel && old.channel !== cfg.channel) {
        const [schema, ...rest] = old.tableName.split('.');
        await dropConnectorObjects(data, cfg.name, old.channel, { schema, name: rest.join('.') });
      }
      await progress.load();
      await progress.reset();
      state = await progress.load();
    }
    if (cfg.channel) {
      // Before the snapshot: every change that commits from now on is in the change log.
      if ((await installCapture(data, plan, cfg.channel)) === 'installed') this.log.info({ channel: cfg.channel }, 'installed change capture');
      await setWaiting(data, cfg.channel, false); // a crashed worker may have left it raised
      this.backlog.watch(queries.pendingStats);
    }
    if (await ensureTopic(this.kafka, { topic: cfg.topic, partitions: cfg.partitions, replicationFactor: cfg.replicationFactor, compact: cfg.compact })) {
      this.log.info({ topic: cfg.topic, partitions: cfg.partitions, compact: cfg.compact }, 'created topic');
      if (state.snapshotState !== 'pending') {
        this.log.warn({ topic: cfg.topic }, 'the topic was missing: starting over with a new snapshot');
        await progress.reset();
        state = await progress.load();
      }
    }
    await progress.saveIdentity(identity);
    return { progress, state };
  }

  /** A session that ended by abort: fine when stopping, a retriable failure when the session was lost. */
  private afterAbort(lostError: Error | null): false {
    if (!this.stopping.signal.aborted && lostError) throw lostError;
    return false;
  }
}

function errorKind(err: unknown): string {
  if (err instanceof KafkaError) return 'kafka';
  if (err instanceof FatalError) return 'config';
  return 'postgres';
}
