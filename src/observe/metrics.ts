/** Prometheus metrics (prom-client), fed only by connector events. */
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { EventBus } from './events';
import { RateMeter } from './status';

/** The data pools of the databases (by a name without credentials), read when Prometheus scrapes. */
export type PoolStats = () => Array<{ database: string; total: number; idle: number; waiting: number }>;

export function createMetrics(events: EventBus, connectors: string[], pools: PoolStats = () => []): Registry {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const p = 'pg_kafka_cdc_';

  new Gauge({
    name: `${p}pg_data_connections`,
    help: "Connections of this replica's data pool per database, by state: open (in use or idle), idle, and waiting (connectors waiting for one).",
    labelNames: ['database', 'state'],
    registers: [registry],
    collect() {
      for (const pool of pools()) {
        this.set({ database: pool.database, state: 'open' }, pool.total);
        this.set({ database: pool.database, state: 'idle' }, pool.idle);
        this.set({ database: pool.database, state: 'waiting' }, pool.waiting);
      }
    },
  });

  const published = new Counter({
    name: `${p}records_published_total`,
    help: 'Records acknowledged by Kafka, by op (snapshot, upsert, delete).',
    labelNames: ['connector', 'op'],
    registers: [registry],
  });
  const snapshotRows = new Counter({ name: `${p}snapshot_rows_total`, help: 'Snapshot rows published and acknowledged.', labelNames: ['connector'], registers: [registry] });
  const snapshotEstimated = new Gauge({
    name: `${p}snapshot_rows_estimated`,
    help: "Rows the snapshot expects in all (PostgreSQL's estimate; the exact count once complete).",
    labelNames: ['connector'],
    registers: [registry],
  });
  const snapshotCompleted = new Gauge({ name: `${p}snapshot_completed`, help: '1 once the snapshot is complete, else 0.', labelNames: ['connector'], registers: [registry] });
  const lag = new Gauge({
    name: `${p}lag_seconds`,
    help: 'Age of the oldest change committed in PostgreSQL and not yet acknowledged by Kafka; 0 when caught up.',
    labelNames: ['connector'],
    registers: [registry],
  });
  const pending = new Gauge({ name: `${p}pending_changes`, help: 'Changes committed in PostgreSQL and not yet published.', labelNames: ['connector'], registers: [registry] });
  const latency = new Histogram({
    name: `${p}end_to_end_latency_seconds`,
    help: 'From the change in PostgreSQL to its acknowledgement by Kafka.',
    labelNames: ['connector'],
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300],
    registers: [registry],
  });
  const batchSize = new Histogram({ name: `${p}publish_batch_size`, help: 'Records per batch sent to Kafka.', buckets: [1, 10, 100, 500, 1000, 2000, 5000, 10000, 50000], registers: [registry] });
  const produce = new Histogram({
    name: `${p}kafka_produce_seconds`,
    help: 'Time for Kafka to acknowledge one batch.',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5, 30],
    registers: [registry],
  });
  const errors = new Counter({
    name: `${p}errors_total`,
    help: 'Connector session failures, by kind (postgres, kafka, config, internal: anything else, a bug to report).',
    labelNames: ['connector', 'kind'],
    registers: [registry],
  });
  const reconnects = new Counter({
    name: `${p}reconnects_total`,
    help: 'Reconnection attempts after a failure, by target (postgres, kafka).',
    labelNames: ['connector', 'target'],
    registers: [registry],
  });
  const transactions = new Counter({
    name: `${p}transactions_total`,
    help: 'Kafka transactions ended (exactly_once), by outcome (committed, aborted).',
    labelNames: ['connector', 'outcome'],
    registers: [registry],
  });
  const commitSeconds = new Histogram({
    name: `${p}transaction_commit_seconds`,
    help: 'Time for Kafka to commit one transaction (exactly_once), after its records were acknowledged.',
    labelNames: ['connector'],
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 5],
    registers: [registry],
  });
  const fenced = new Counter({ name: `${p}fenced_total`, help: "Times this worker's producer was fenced: another worker took the connector over.", labelNames: ['connector'], registers: [registry] });
  const resnapshotRunning = new Gauge({
    name: `${p}resnapshot_running`,
    help: '1 while a re-snapshot on demand (pg-kafka-cdc snapshot) is being served, else 0.',
    labelNames: ['connector'],
    registers: [registry],
  });
  const resnapshotRows = new Gauge({ name: `${p}resnapshot_rows`, help: 'Rows the current (or last) re-snapshot on demand has published.', labelNames: ['connector'], registers: [registry] });
  const resnapshotEstimated = new Gauge({
    name: `${p}resnapshot_rows_estimated`,
    help: "Rows the current re-snapshot expects (PostgreSQL's estimate for its predicate; the exact count once done).",
    labelNames: ['connector'],
    registers: [registry],
  });
  const resnapshotEta = new Gauge({
    name: `${p}resnapshot_eta_seconds`,
    help: 'Seconds until the current re-snapshot is done at the rate of the last seconds; -1 while not known, 0 when none runs.',
    labelNames: ['connector'],
    registers: [registry],
  });
  const repairTombstones = new Gauge({
    name: `${p}repair_tombstones`,
    help: 'Tombstones the current (or last) repairing re-snapshot wrote for keys the topic held and the table does not.',
    labelNames: ['connector'],
    registers: [registry],
  });
  const resnapshots = new Counter({
    name: `${p}resnapshots_total`,
    help: 'Re-snapshots on demand ended, by outcome (done, cancelled, failed).',
    labelNames: ['connector', 'outcome'],
    registers: [registry],
  });
  const rejected = new Counter({
    name: `${p}rejected_changes_total`,
    help: "Change-log entries set aside because the drain could not read their key (not written by the connector's trigger): see kafka_cdc.rejected_changes.",
    labelNames: ['connector'],
    registers: [registry],
  });
  const blocked = new Gauge({
    name: `${p}ownership_blocked`,
    help: "As this replica sees it: 1 while the connector's ownership lock is held by a session that is not a pg-kafka-cdc worker (no worker can own the connector), else 0.",
    labelNames: ['connector'],
    registers: [registry],
  });
  const history = new Counter({
    name: `${p}history_changes_total`,
    help: "Times the database's history changed under the connector, by kind: timeline (a failover or a point-in-time restore since the last session) and behind_kafka (it lost commits the topic has; a repairing re-snapshot re-aligns the topic).",
    labelNames: ['connector', 'kind'],
    registers: [registry],
  });
  const ignoredCheckpoints = new Counter({
    name: `${p}ignored_checkpoint_records_total`,
    help: "Records for the connector in its offsets topic that this worker did not write (outside a transaction, or without the run's MAC): skipped, never trusted.",
    labelNames: ['connector'],
    registers: [registry],
  });
  const sourceChanged = new Counter({
    name: `${p}source_changes_total`,
    help: "Changes to the source or the topic that no trigger saw (capture turned off, partitions attached or detached, the topic's partition count, sink.format, a table created again): each asks for a repairing re-snapshot.",
    labelNames: ['connector'],
    registers: [registry],
  });
  const up = new Gauge({ name: `${p}connector_up`, help: '1 while the connector is snapshotting, streaming or a standby; 0 otherwise.', labelNames: ['connector'], registers: [registry] });
  const ownedHere = new Gauge({ name: `${p}connector_owned`, help: '1 while this replica owns the connector (holds its ownership lock), else 0.', labelNames: ['connector'], registers: [registry] });
  const ownedCount = new Gauge({ name: `${p}connectors_owned`, help: 'Connectors this replica owns.', labelNames: ['replica'], registers: [registry] });
  const share = new Gauge({
    name: `${p}connectors_share`,
    help: 'Connectors this replica should own: its share of the connectors among the live replicas.',
    labelNames: ['replica'],
    registers: [registry],
  });
  const replicas = new Gauge({ name: `${p}replicas`, help: 'Live replicas of the deployment, as this replica counts them (itself included).', labelNames: ['replica'], registers: [registry] });

  // Every series exists from the start, so dashboards and alerts see zeros rather than gaps.
  for (const c of connectors) {
    for (const op of ['snapshot', 'upsert', 'delete']) published.inc({ connector: c, op }, 0);
    snapshotRows.inc({ connector: c }, 0);
    snapshotEstimated.set({ connector: c }, 0);
    snapshotCompleted.set({ connector: c }, 0);
    lag.set({ connector: c }, 0);
    pending.set({ connector: c }, 0);
    up.set({ connector: c }, 0);
    ownedHere.set({ connector: c }, 0);
    for (const kind of ['postgres', 'kafka', 'config', 'internal']) errors.inc({ connector: c, kind }, 0);
    for (const target of ['postgres', 'kafka']) reconnects.inc({ connector: c, target }, 0);
    for (const outcome of ['committed', 'aborted']) transactions.inc({ connector: c, outcome }, 0);
    fenced.inc({ connector: c }, 0);
    rejected.inc({ connector: c }, 0);
    blocked.set({ connector: c }, 0);
    for (const kind of ['timeline', 'behind_kafka']) history.inc({ connector: c, kind }, 0);
    ignoredCheckpoints.inc({ connector: c }, 0);
    sourceChanged.inc({ connector: c }, 0);
    resnapshotRunning.set({ connector: c }, 0);
    resnapshotRows.set({ connector: c }, 0);
    resnapshotEstimated.set({ connector: c }, 0);
    resnapshotEta.set({ connector: c }, 0);
    repairTombstones.set({ connector: c }, 0);
    for (const outcome of ['done', 'cancelled', 'failed']) resnapshots.inc({ connector: c, outcome }, 0);
  }
  const meters = new Map(connectors.map((c) => [c, { id: '', meter: new RateMeter(Date.now) }]));

  const owners = new Map<string, string | null>();
  events.on('membership', (e) => {
    ownedCount.set({ replica: e.replica }, e.owned);
    share.set({ replica: e.replica }, e.share);
    replicas.set({ replica: e.replica }, e.members);
    for (const [c, owner] of owners) ownedHere.set({ connector: c }, owner === e.replica ? 1 : 0);
  });
  events.on('owner', (e) => owners.set(e.connector, e.owner));

  events.on('published', (e) => {
    for (const [op, n] of Object.entries(e.ops)) if (n > 0) published.inc({ connector: e.connector, op }, n);
    if (e.ops.snapshot > 0 && !e.resnapshot) snapshotRows.inc({ connector: e.connector }, e.ops.snapshot);
    batchSize.observe(e.records);
    produce.observe(e.produceSeconds);
    for (const s of e.latenciesSeconds) latency.observe({ connector: e.connector }, s);
  });
  events.on('snapshot', (e) => {
    snapshotEstimated.set({ connector: e.connector }, e.estimated);
    snapshotCompleted.set({ connector: e.connector }, e.done ? 1 : 0);
  });
  events.on('resnapshot', (e) => {
    const m = meters.get(e.connector);
    if (!m) return;
    if (m.id !== e.id) {
      m.id = e.id;
      m.meter.reset();
    }
    const running = e.state === 'running';
    const progress = m.meter.progress(e.rows, e.estimated, !running);
    resnapshotRunning.set({ connector: e.connector }, running ? 1 : 0);
    resnapshotRows.set({ connector: e.connector }, e.rows);
    resnapshotEstimated.set({ connector: e.connector }, progress.rows_estimated);
    resnapshotEta.set({ connector: e.connector }, running ? (progress.eta_seconds ?? -1) : 0);
    if (e.repair) repairTombstones.set({ connector: e.connector }, e.tombstones ?? 0);
    if (!running) resnapshots.inc({ connector: e.connector, outcome: e.state });
  });
  events.on('backlog', (e) => {
    lag.set({ connector: e.connector }, e.lagSeconds);
    pending.set({ connector: e.connector }, e.pending);
  });
  events.on('error', (e) => errors.inc({ connector: e.connector, kind: e.kind }));
  events.on('transaction', (e) => {
    transactions.inc({ connector: e.connector, outcome: e.outcome });
    if (e.outcome === 'committed') commitSeconds.observe({ connector: e.connector }, e.seconds);
  });
  events.on('fenced', (e) => fenced.inc({ connector: e.connector }));
  events.on('rejected', (e) => rejected.inc({ connector: e.connector }, e.entries));
  events.on('source_changed', (e) => sourceChanged.inc({ connector: e.connector }));
  events.on('history', (e) => history.inc({ connector: e.connector, kind: e.kind }));
  events.on('ignored_checkpoints', (e) => ignoredCheckpoints.inc({ connector: e.connector }, e.records));
  events.on('ownership_blocked', (e) => blocked.set({ connector: e.connector }, e.holder ? 1 : 0));
  events.on('reconnect', (e) => reconnects.inc({ connector: e.connector, target: e.target }));
  events.on('state', (e) => up.set({ connector: e.connector }, ['snapshotting', 'streaming', 'standby'].includes(e.state) ? 1 : 0));
  return registry;
}
