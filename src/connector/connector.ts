/**
 * One connector's life: own -> inspect -> install -> fence -> snapshot -> stream, and again after
 * any failure, with jittered backoff. Every run of that sequence is a "session" that starts from the
 * durable state (progress and change log in PostgreSQL; with exactly_once, brought in line first with
 * the last checkpoint committed to Kafka), so a restart, a lost connection or a Kafka outage never
 * skips a record, and with exactly_once never shows one twice to a read_committed consumer.
 * start() and stop() are idempotent.
 */
import type { ConnectorConfig, KafkaSettings } from '../config/types';
import { KafkaError } from '../kafka/errors';
import { readLastCheckpoint } from '../kafka/offsets';
import { RecordBuilder } from '../kafka/records';
import { RecordPublisher } from '../kafka/producer';
import { ensureTopic, topicFacts } from '../kafka/topics';
import type { ConnectorState, EventBus } from '../observe/events';
import type { Logger } from '../observe/logger';
import { captureNames } from '../postgres/names';
import { captureGap, dropConnectorObjects, installCapture, partitionLeaves } from '../postgres/capture';
import { databaseOrigin, ensureWorkerSchema, updateOrigin } from '../postgres/progress';
import { insertRequest, openRequests } from '../postgres/requests';
import { missingRights } from '../postgres/rights';
import { introspectTable } from '../postgres/introspect';
import { formatOf } from '../format';
import { VERSION } from '../version';
import { keySignature, planTable, type TablePlan } from '../postgres/plan';
import { tableStatements, type TableStatements } from '../postgres/queries';
import { identityChanges, identityDrift, ProgressStore, type Identity, type Progress } from '../progress/store';
import { describeError, FatalError, RetriableError } from '../util/errors';
import { Backoff, sleep } from '../util/retry';
import { DEFAULT_TIMINGS, type Timings } from '../timings';
import { BacklogMonitor } from './backlog';
import { DrainFloor } from './drain-floor';
import { captureModeOf, type CaptureMode, type OrdinalCapture, type SessionContext, type TriggerCapture } from './context';
import { ControlSession, type ControlHub, type OwnershipGate } from './session';
import type { DataPool, DataScope } from '../postgres/pool';
import type { Queryable } from '../postgres/connection';
import { Resnapshots } from './resnapshot';
import { mayTransition } from './states';
import { runSnapshot } from './snapshot';
import { drainChanges, pollByOrdinal } from './stream';
import { displayTable } from '../postgres/sql';
import { isInsufficientPrivilege, isRetriable, isUndefinedObject, sqlstateOf } from '../postgres/sqlstate';

/** The connector's part in spreading connectors over replicas (cluster/membership.ts); absent: take every connector it can. */
export interface ClusterLink extends OwnershipGate {
  readonly replica: string;
  /** The connector's session ended: this replica no longer owns it. */
  dropped(connector: string): void;
  /** The connector has nothing more to do (snapshot only, done). */
  completed(connector: string): void;
}

/** The shared connections of a database, one set per replica (worker.ts). */
export interface DatabaseLink {
  control: ControlHub;
  data: DataPool;
}

export class Connector {
  private readonly stopping = new AbortController();
  /** Aborts the current session to hand the connector to another replica (release()). */
  private releasing: AbortController | null = null;
  private owning = false;
  private loop: Promise<void> | null = null;
  private readonly backoff: Backoff;
  /** Where the drain's scans of the change log start (drain-floor.ts); kept across sessions. */
  private readonly floor = new DrainFloor();
  /** What the current session's records are written with (prepare), checked while streaming (checkSchema). */
  private identity: Identity | null = null;
  /** When the streaming session looks at its topic next. */
  private topicCheckDue = 0;
  private backlog: BacklogMonitor;
  private state: ConnectorState = 'stopped';
  /** Closes the current session's connections at once (set while a session runs). */
  private closeSession: (() => void) | null = null;

  constructor(
    readonly cfg: ConnectorConfig,
    private readonly kafka: KafkaSettings,
    private readonly events: EventBus,
    private readonly log: Logger,
    /** The shared connections of the connector's database: its control hub and its data pool. */
    private readonly db: DatabaseLink,
    private readonly cluster: ClusterLink | null = null,
    private readonly timings: Timings = DEFAULT_TIMINGS,
  ) {
    this.backoff = new Backoff(timings.BACKOFF);
    this.backlog = new BacklogMonitor(db.data, cfg.name, events, timings.BACKLOG_INTERVAL_MS);
  }

  /** Stops measuring the backlog (until this replica owns the connector again). */
  private async resetBacklog(): Promise<void> {
    const old = this.backlog;
    this.backlog = new BacklogMonitor(this.db.data, this.cfg.name, this.events, this.timings.BACKLOG_INTERVAL_MS);
    await old.stop();
  }

  /** Whether this replica owns the connector now (its session holds the ownership lock). */
  get owned(): boolean {
    return this.owning;
  }

  /**
   * Hands the connector over: the session ends as on stop (the batch in flight finishes and its
   * progress is committed), the lock is released, and the connector waits as a standby while this
   * replica is at its share. Another replica under its share takes it from the durable position.
   */
  release(): void {
    if (!this.owning || !this.releasing || this.releasing.signal.aborted) return;
    this.log.info('handing the connector to another replica: this one owns more than its share');
    this.releasing.abort();
  }

  start(): void {
    if (this.loop) return;
    this.loop = this.run();
  }

  /** Stops reading, lets the batch in flight finish (its progress is committed), closes everything. */
  async stop(): Promise<void> {
    this.stopping.abort();
    let timer: NodeJS.Timeout | undefined;
    const graceOver = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), this.timings.STOP_GRACE_MS)));
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
    // A bug, never an operator's fault: the life cycle lost track of itself (states.ts).
    if (!mayTransition(this.state, state)) throw new Error(`internal error: connector ${this.cfg.name} may not go from ${this.state} to ${state} (src/connector/states.ts)`);
    this.state = state;
    this.events.emit('state', { connector: this.cfg.name, state, error });
  }

  private async run(): Promise<void> {
    this.setState('starting');
    while (!this.stopping.signal.aborted) {
      try {
        const finished = await this.session();
        if (finished) {
          this.cluster?.completed(this.cfg.name);
          this.log.info('snapshot done and no change capture configured: connector finished');
          this.setState('stopped');
          return;
        }
      } catch (err) {
        if (this.stopping.signal.aborted) break;
        const message = describeError(err);
        const retriable = isRetriable(err);
        if (err instanceof KafkaError && err.reason === 'fenced') {
          this.events.emit('fenced', { connector: this.cfg.name });
          this.log.warn({ transactionalId: this.cfg.transactionalId }, 'fenced: another worker took over this connector; standing down (its records of the open transaction are aborted)');
        }
        this.events.emit('error', { connector: this.cfg.name, kind: errorKind(err), message, retriable });
        if (!retriable) {
          // Needs an operator (a dropped table, a revoked grant). Stay failed and visible, but look
          // again now and then, so the connector heals by itself once the cause is fixed.
          this.log.error({ err: message, retryInMs: this.timings.FAILED_RETRY_MS }, 'connector failed; it needs a change of config or database to go on');
          this.setState('failed', message);
          await sleep(this.timings.FAILED_RETRY_MS, this.stopping.signal);
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

  /**
   * Real progress: a batch acknowledged, or the change log drained empty. Only this resets the
   * backoff, not merely reaching a phase: a record Kafka refuses must not become a hot retry loop.
   */
  private madeProgress(): void {
    this.backoff.reset();
  }

  /**
   * One session: own -> plan -> prepare -> snapshot -> stream, each a step below. Returns true when
   * the connector has nothing more to do (snapshot only, no capture).
   */
  private async session(): Promise<boolean> {
    const { cfg } = this;
    const lost = new AbortController();
    const releasing = new AbortController();
    this.releasing = releasing;
    const signal = AbortSignal.any([this.stopping.signal, lost.signal, releasing.signal]);
    let lostError = null as Error | null;
    const data = this.db.data.scope();
    let planned: TablePlan | null = null;
    let progressStore: ProgressStore | null = null;
    const checkpointKey = () => {
      if (!progressStore) throw new Error(`connector ${cfg.name}: a checkpoint before the progress was loaded`);
      return progressStore.checkpointKey();
    };
    const publisher = new RecordPublisher(this.kafka, cfg.topic, {
      compression: cfg.compression,
      transactions: cfg.delivery === 'exactly_once' ? { transactionalId: cfg.transactionalId, offsetsTopic: cfg.offsetsTopic, connector: cfg.name, checkpointKey } : null,
      onTransaction: (e) => this.events.emit('transaction', { connector: cfg.name, ...e }),
    });
    const closeNow = () => {
      // Without the control session we are no longer the owner: cut off the session's data statements
      // in flight, even mid-query (on a half-open connection they would hold it for their timeout), and
      // stop publishing (a standby may already own the connector).
      data.destroyActive();
      void publisher.disconnect();
    };
    const control = new ControlSession(this.db.control, cfg.name, (err) => {
      if (!this.stopping.signal.aborted && !releasing.signal.aborted) {
        this.log.warn({ err: err.message }, 'lost the control session that holds the ownership lock: standing down at once (another worker may own the connector now)');
      }
      lostError = err;
      lost.abort();
      closeNow();
    });
    this.closeSession = () => {
      lost.abort();
      closeNow();
    };
    try {
      if (!(await this.own(control, signal))) return false;
      const { plan, statements, mode } = await this.plan(data);
      planned = plan;
      const { progress } = await this.prepare(data, plan, mode);
      progressStore = progress;
      await publisher.connect(); // exactly_once: fences every earlier owner first
      const state = await this.recover(data, progress, mode, plan);
      const format = formatOf(cfg.format);
      const records = new RecordBuilder(cfg.topic, cfg.name, state.run, format.encoder({ plan, connector: cfg.name, version: VERSION }));
      const ctx: SessionContext = {
        cfg,
        kafka: this.kafka,
        plan,
        format,
        statements,
        data,
        control,
        publisher,
        records,
        progress,
        events: this.events,
        log: this.log,
        timings: this.timings,
        signal,
        madeProgress: () => this.madeProgress(),
        checkSchema: () => this.checkSchema(data, plan),
      };
      if (state.snapshotState !== 'done') {
        await this.snapshot(ctx, state);
        if (signal.aborted) return this.afterAbort(lostError);
      }
      const resnapshots = new Resnapshots(ctx);
      if (mode.kind === 'none') {
        // Snapshot only: serve the re-snapshot requests made until now, then finish.
        await resnapshots.check(true);
        while (resnapshots.running && !signal.aborted) await resnapshots.step();
        return signal.aborted ? this.afterAbort(lostError) : true;
      }
      await this.stream(ctx, mode, resnapshots);
      return this.afterAbort(lostError);
    } catch (err) {
      if (lostError && !this.stopping.signal.aborted) throw lostError;
      // A statement found a column or the table gone: say which and what to do, rather than pass on
      // PostgreSQL's words about an alias (the plan of this session is what went stale).
      if (planned && isUndefinedObject(err)) await this.checkSchema(data, planned);
      // A grant revoked meanwhile: say which and how to give it back, rather than "permission denied".
      if (planned && isInsufficientPrivilege(err)) await this.checkRights(data, planned);
      throw err;
    } finally {
      this.closeSession = null;
      await publisher.disconnect();
      await control.close();
      if (this.owning) {
        this.owning = false;
        this.cluster?.dropped(cfg.name);
        this.events.emit('owner', { connector: cfg.name, owner: null });
      }
    }
  }

  /** Own: open the control session and take the connector's lock, waiting as a standby while another worker holds it. */
  private async own(control: ControlSession, signal: AbortSignal): Promise<boolean> {
    await control.open();
    let announced = false;
    let blockedBy: number | null = null;
    const owner = await control.acquireOwnership(
      signal,
      (holder, foreign) => {
        if ((foreign?.pid ?? null) !== blockedBy) {
          // Not a worker: nothing would ever hand the connector over. Say so, loudly, once per holder.
          blockedBy = foreign?.pid ?? null;
          this.events.emit('ownership_blocked', {
            connector: this.cfg.name,
            holder: foreign && { pid: foreign.pid, role: foreign.role, application_name: foreign.applicationName, client_addr: foreign.clientAddr },
          });
          if (foreign) {
            this.log.error(
              { pid: foreign.pid, role: foreign.role, applicationName: foreign.applicationName, clientAddr: foreign.clientAddr },
              `the ownership lock of this connector is held by a session that is not a pg-kafka-cdc worker (pid ${foreign.pid}, role ${foreign.role ?? '?'}): no worker can own the connector while it does. End it with SELECT pg_terminate_backend(${foreign.pid}) and see docs/security.md`,
            );
          }
        }
        if (!announced) {
          this.log.info({ owner: holder }, holder === null ? 'waiting as a standby: this replica holds its share of the connectors' : 'another worker owns this connector; waiting as a standby');
          // The owner measures the backlog now: a standby's measure would be a second series of the same lag.
          void this.resetBacklog();
        }
        announced = true;
        this.setState('standby');
        this.events.emit('owner', { connector: this.cfg.name, owner: holder });
      },
      this.cluster ?? undefined,
    );
    if (blockedBy !== null) this.events.emit('ownership_blocked', { connector: this.cfg.name, holder: null });
    if (owner) {
      this.owning = true;
      this.setState('starting');
      this.events.emit('owner', { connector: this.cfg.name, owner: this.cluster?.replica ?? 'this worker' });
    }
    return owner;
  }

  /** Plan: what the table looks like now, the statements for it, and how changes are captured. */
  private async plan(data: Queryable): Promise<{ plan: TablePlan; statements: TableStatements; mode: CaptureMode }> {
    const { cfg } = this;
    const planned = await this.replan(data);
    const statements = tableStatements(planned, cfg.channel ? captureNames(cfg.channel).logTable : null, formatOf(cfg.format));
    return { plan: planned, statements, mode: captureModeOf(cfg.channel, statements, this.floor) };
  }

  /** The table planned again as the catalogs describe it now; a table or column the config needs that is gone fails for good. */
  private async replan(data: Queryable): Promise<TablePlan> {
    const planned = planTable(this.cfg, await introspectTable(data, this.cfg.table), `${this.cfg.file}: `);
    if (!planned.ok) throw new FatalError(planned.problems.join('; '));
    return planned.plan;
  }

  /**
   * While streaming, now and then (SCHEMA_CHECK_MS): is the source still the one the session planned?
   * A dropped table or included column, or a changed primary key, stops the connector with what to do.
   * (An added column needs nothing: without included_columns the value is the whole row as it is now.)
   * Capture turned off (a trigger disabled or dropped) or partitions attached, detached or dropped
   * change rows without any trigger: a repairing re-snapshot is asked for, and capture installed
   * again (a worker without the rights for that fails with what to run). Every heartbeat interval, the
   * topic: another partition count asks for a repair too; a topic deleted or created again ends the
   * session, and the next one starts over.
   */
  private async checkSchema(data: DataScope, plan: TablePlan): Promise<void> {
    const now = await this.replan(data);
    const before = keySignature(plan.keyColumns);
    const after = keySignature(now.keyColumns);
    if (before !== after) throw keyChanged(this.cfg.topic, displayTable(plan.table), before, after);
    const identity = this.identity;
    if (!identity) return;
    const channel = this.cfg.channel;
    if (channel) {
      const gap = await captureGap(data, plan, channel);
      if (gap) {
        await this.requestRepair(data, plan, `${gap}: changes made meanwhile were not captured`);
        if ((await data.withClient((c) => installCapture(c, plan, channel))) === 'installed') this.log.warn({ channel }, 'installed change capture again');
      }
    }
    const leaves = await partitionLeaves(data, plan);
    if (identity.leaves !== null && leaves !== identity.leaves) {
      await this.saveIdentity(data, { ...identity, leaves });
      await this.requestRepair(data, plan, 'the partitions of the table changed (ATTACH, DETACH or DROP PARTITION fire no trigger)');
    }
    if (Date.now() < this.topicCheckDue) return;
    this.topicCheckDue = Date.now() + this.cfg.heartbeatIntervalMs;
    const topic = await topicFacts(this.kafka, this.cfg.topic);
    if (topic === null || (identity.topicId !== null && topic.id !== identity.topicId)) {
      throw new RetriableError(`topic ${this.cfg.topic} was ${topic === null ? 'deleted' : 'deleted and created again'} while the connector streamed: starting over with a new snapshot`);
    }
    if (identity.partitions !== null && topic.partitions !== identity.partitions) {
      await this.saveIdentity(data, { ...identity, partitions: topic.partitions });
      await this.requestRepair(data, plan, `the topic's partitions ${identity.partitions} -> ${topic.partitions}: keys go to other partitions now`);
      // The session's producer may still place keys by the old count: a new session starts with a new one.
      throw new RetriableError(
        `the partitions of topic ${this.cfg.topic} changed (${identity.partitions} -> ${topic.partitions}): starting a new session, whose producer places keys by the new count`,
      );
    }
  }

  /**
   * Asks for a repairing re-snapshot (connector/resnapshot.ts): the topic holds records that no later
   * record will replace. One open repair is enough, whatever the number of reasons.
   */
  private async requestRepair(data: DataScope, plan: TablePlan, reason: string): Promise<void> {
    this.events.emit('source_changed', { connector: this.cfg.name, reason });
    const open = (await openRequests(data, this.cfg.name)).find((r) => r.repair && r.state === 'pending');
    if (open) {
      this.log.warn({ request: open.id, reason }, 'the source changed under the connector; a repairing re-snapshot is already asked for');
      return;
    }
    const request = await insertRequest(data, this.cfg.name, null, plan.info.estimatedRows, { repair: true, reason });
    this.log.warn({ request: request.id, reason }, `the source changed under the connector (${reason}): asked for repairing re-snapshot ${request.id}, so that the topic folds to the table again`);
  }

  private async saveIdentity(data: DataScope, identity: Identity): Promise<void> {
    await new ProgressStore(data, this.cfg.name).saveIdentity(identity);
    this.identity = identity;
  }

  /** Fails for good, naming each grant the connector's database user lacks (and its GRANT), when it lacks any. */
  private async checkRights(data: Queryable, plan: TablePlan): Promise<void> {
    const missing = await missingRights(data, plan, this.cfg.channel);
    if (missing.length > 0) throw new FatalError(missing.map((m) => `${this.cfg.file}: ${m.path}: ${m.problem}`).join('; '));
  }

  /** Snapshot (or, with snapshot.mode never, mark it done); ordinal polling first pins where the table stands. */
  private async snapshot(ctx: SessionContext, state: Progress): Promise<void> {
    const { cfg, statements, progress, data } = ctx;
    let current = state;
    if (statements.ordinal && !cfg.channel && current.watermark === null) {
      // Ordinal polling starts where the table stands now; the snapshot covers everything before.
      // An empty table pins "from the start" ([]), so that a resumed snapshot never pins again at a
      // higher ordinal and skips rows it had passed whose ordinal moved up meanwhile.
      const max = await statements.ordinal.maxOrdinal(data);
      await progress.advance({ watermark: max === null ? [] : [max] });
      current = await progress.loadOrCreate();
    }
    if (cfg.snapshotMode === 'initial') {
      this.setState('snapshotting');
      await runSnapshot(ctx, current);
    } else {
      await progress.advance({ snapshotState: 'done', snapshotKey: null, snapshotRows: 0 });
    }
  }

  /** Stream: follow changes until the session ends. */
  private async stream(ctx: SessionContext, mode: TriggerCapture | OrdinalCapture, resnapshots: Resnapshots): Promise<void> {
    if (mode.kind === 'trigger') {
      await ctx.control.listen(mode.channel);
      this.setState('streaming');
      await drainChanges(ctx, mode, resnapshots);
    } else {
      this.setState('streaming');
      await pollByOrdinal(ctx, mode, (await ctx.progress.loadOrCreate()).watermark, resnapshots);
    }
  }

  /**
   * Makes the database and the topic ready for a session: the worker schema, the stored progress
   * (reset when the connector's topic, table or capture mode changed, or its topic had to be
   * created again), the capture objects and the topic.
   */
  private async prepare(data: DataScope, plan: TablePlan, mode: CaptureMode): Promise<{ progress: ProgressStore }> {
    const { cfg } = this;
    // Every right the session needs, checked before anything is created or read: a missing grant is
    // a clear failure now, never a half-installed trigger or a batch published and never trimmed.
    await this.checkRights(data, plan);
    await data.withClient((c) => ensureWorkerSchema(c));
    const progress = new ProgressStore(data, cfg.name, mode.kind === 'trigger' ? captureNames(mode.channel).logTable : null);
    let state = await progress.loadOrCreate();
    const created = await ensureTopic(this.kafka, { topic: cfg.topic, partitions: cfg.partitions, replicationFactor: cfg.replicationFactor, compact: cfg.compact });
    if (created) this.log.info({ topic: cfg.topic, partitions: cfg.partitions, compact: cfg.compact }, 'created topic');
    const topic = await topicFacts(this.kafka, cfg.topic);
    const identity: Identity = {
      topic: cfg.topic,
      tableOid: plan.info.oid,
      tableName: displayTable(plan.table),
      channel: cfg.channel,
      key: keySignature(plan.keyColumns),
      format: cfg.format,
      partitions: topic?.partitions ?? null,
      topicId: topic?.id ?? null,
      leaves: await partitionLeaves(data, plan),
    };
    const changes = identityChanges(state.identity, identity);
    if (changes.length === 0 && state.identity?.key && state.identity.key !== identity.key) throw keyChanged(cfg.topic, identity.tableName, state.identity.key, identity.key);
    // Records in the topic that no later record will replace: mended by a repairing re-snapshot.
    const repairs = created ? [] : identityDrift(state.identity, identity);
    if (changes.length > 0) {
      // What the topic holds no longer matches what the progress says: start over, and remove the
      // capture objects of a channel no longer used (their log would otherwise grow forever).
      this.log.warn({ changes }, 'the connector changed since its last run: starting over with a new snapshot');
      const old = state.identity;
      if (old?.channel && old.channel !== cfg.channel) {
        const [schema, ...rest] = old.tableName.split('.');
        await data.withClient((c) => dropConnectorObjects(c, cfg.name, old.channel as string, { schema, name: rest.join('.') }));
      }
      // A table dropped and created again: its old rows' keys stay live in the same topic unless tombstoned.
      if (old && old.tableOid !== identity.tableOid && old.topic === identity.topic && !created) repairs.push(`the table ${old.tableName} was dropped and created again`);
      await progress.reset();
      state = await progress.loadOrCreate();
    } else if (created && state.snapshotState !== 'pending') {
      this.log.warn({ topic: cfg.topic }, 'the topic was missing: starting over with a new snapshot');
      await progress.reset();
      state = await progress.loadOrCreate();
    }
    if (cfg.channel) {
      // Before the snapshot: every change that commits from now on is in the change log.
      const channel = cfg.channel;
      // Capture that was off since the last session (a trigger disabled or dropped) missed changes.
      const gap = changes.length === 0 && state.identity?.channel === channel ? await captureGap(data, plan, channel) : null;
      if (gap) repairs.push(`${gap}: changes made meanwhile were not captured`);
      if ((await data.withClient((c) => installCapture(c, plan, channel))) === 'installed') this.log.info({ channel: cfg.channel }, 'installed change capture');
      if (mode.kind === 'trigger') {
        mode.logOid = (await mode.log.oid(data)) ?? 0;
        const inOrder = await mode.log.inOrder(data);
        if (!inOrder)
          this.log.warn({ channel }, "the change log's sequence has a CACHE above 1: the drain reads it from its start every batch (ALTER SEQUENCE ... CACHE 1 to let it skip what it drained)");
        this.floor.reset(mode.logOid, inOrder);
        this.backlog.watch(mode.log, this.floor);
      }
    }
    if (cfg.delivery === 'exactly_once') {
      await ensureTopic(this.kafka, { topic: cfg.offsetsTopic, partitions: 1, replicationFactor: cfg.replicationFactor, compact: true });
    }
    await progress.saveIdentity(identity);
    this.identity = identity;
    for (const reason of repairs) await this.requestRepair(data, plan, reason);
    // The database's history: a new timeline means a failover or a point-in-time restore since the
    // last session. With exactly_once, recovery tells whether it lost what Kafka has (recover());
    // with at_least_once nothing can tell, so it is said, with what to do.
    progress.origin = await databaseOrigin(data);
    if (state.storedOrigin !== null && progress.origin !== null && state.storedOrigin !== progress.origin) {
      this.events.emit('history', { connector: cfg.name, kind: 'timeline', detail: `${state.storedOrigin} -> ${progress.origin}` });
      this.log.warn(
        { before: state.storedOrigin, now: progress.origin },
        cfg.delivery === 'exactly_once'
          ? 'the database is on another timeline than in the last session (a failover or a point-in-time restore): checking what it kept against Kafka'
          : 'the database is on another timeline than in the last session (a failover or a point-in-time restore): with at_least_once the worker cannot tell whether it lost changes that were published; if it may have (asynchronous replication), run pg-kafka-cdc snapshot --repair',
      );
    }
    await updateOrigin(data, cfg.name, progress.origin);
    return { progress };
  }

  /**
   * exactly_once, once this session's producer has fenced every earlier one: the last checkpoint
   * committed to Kafka is final now. When it is ahead of the stored progress (a crash fell between
   * the Kafka commit and the database write), store it and trim the change-log entries its batch
   * covered, before anything is read again. Returns the progress to go on from.
   */
  private async recover(data: DataScope, progress: ProgressStore, mode: CaptureMode, plan: TablePlan): Promise<Progress> {
    const { cfg } = this;
    const state = await progress.loadOrCreate();
    if (cfg.delivery !== 'exactly_once') return state;
    const last = await readLastCheckpoint(this.kafka, cfg.offsetsTopic, cfg.name, { run: state.run, checkpointKey: progress.checkpointKey() });
    if (last.ignored.length > 0) {
      // Not the worker's: written outside a transaction, or without the run's MAC. Never trusted.
      this.events.emit('ignored_checkpoints', { connector: cfg.name, records: last.ignored.length });
      for (const r of last.ignored.slice(0, 5))
        this.log.warn(
          { offsetsTopic: cfg.offsetsTopic, offset: r.offset.toString(), why: r.why },
          'ignored a record in the offsets topic that this worker did not write (does another client write it? see docs/security.md)',
        );
    }
    if (last.openTransaction) this.log.warn({ offsetsTopic: cfg.offsetsTopic }, 'another producer keeps a transaction open on the offsets topic: recovery read it up to its last stable offset');
    const done = await progress.reconcile(last.checkpoint, mode.kind === 'trigger' ? mode.logOid : null);
    if (done === null) return state;
    if (done.kind === 'adopted') {
      this.log.info({ offsetsTopic: cfg.offsetsTopic, from: done.from, to: done.to, trimmed: done.trimmed }, 'recovered the position Kafka committed last (the database had not stored it yet)');
      return progress.loadOrCreate();
    }
    // The database went back in time: the topic holds changes it no longer has. Nothing was trimmed
    // (the log's entries may be other changes by now); the topic is re-aligned with a repairing
    // re-snapshot, and the log's entries are published again.
    const reason =
      `the database went back in time: Kafka holds commit ${done.to} of this run, the database only ${done.from}` +
      (done.committedOrigin !== done.origin ? `, and the database is on another history (${done.committedOrigin ?? '?'} -> ${done.origin ?? '?'})` : '') +
      ' (an asynchronous failover or a point-in-time restore lost what the topic has)';
    this.events.emit('history', { connector: cfg.name, kind: 'behind_kafka', detail: reason });
    const request = await insertRequest(data, cfg.name, null, plan.info.estimatedRows, { repair: true, reason });
    this.log.error(
      { from: done.from, to: done.to, request: request.id },
      `${reason}: nothing is trimmed by the old checkpoint; re-aligning the topic with repairing re-snapshot request ${request.id}`,
    );
    return progress.loadOrCreate();
  }

  /** A session that ended by abort: fine when stopping, a retriable failure when the session was lost. */
  private afterAbort(lostError: Error | null): false {
    if (!this.stopping.signal.aborted && lostError) throw lostError;
    return false;
  }
}

/** A changed primary key: the topic's records are keyed by the old one, and those keys would never get their tombstones. */
function keyChanged(topic: string, table: string, before: string, after: string): FatalError {
  return new FatalError(
    `the primary key of ${table} changed from (${before}) to (${after}): the records in topic ${topic} are keyed by the old key, ` +
      'and their keys would never get tombstones. Run teardown --delete-topic (or point sink.topic at a new topic) and start the connector again for a new snapshot',
  );
}

/** What failed: kafka, config (an operator must act), postgres (a SQLSTATE or a database connection), or internal (anything else: a bug). */
function errorKind(err: unknown): string {
  if (err instanceof KafkaError) return 'kafka';
  if (err instanceof FatalError) return 'config';
  if (sqlstateOf(err) !== null || err instanceof RetriableError) return 'postgres';
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^E[A-Z]+$/.test(code) ? 'postgres' : 'internal';
}
