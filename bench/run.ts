/**
 * `make bench`: the worker against the real local PostgreSQL and Kafka, side by side with what
 * each service can do on its own, in one run. Prints a table and writes bench/results.json.
 *
 * Environment:
 *   BENCH_SECONDS=60          length of each streaming run (and, unless BENCH_OVERHEAD_SECONDS, of each overhead run, capped at 30)
 *   BENCH_OVERHEAD_SECONDS    length of each source-overhead pgbench run
 *   BENCH_OVERHEAD_ASYNC_COMMIT=1  overhead runs with synchronous_commit=off (trigger CPU cost without flush noise)
 *   BENCH_OVERHEAD_ROUNDS=2   how many times the overhead variants (no trigger, 0.2's trigger, the connector's) alternate
 *   BENCH_OVERHEAD_BULK_SECONDS  length of each 1,000-row UPDATE run (default min(overhead seconds, 10))
 *   BENCH_5M=1                also snapshot 5,000,000 rows
 *   BENCH_SIZES=100000,...    snapshot sizes instead of 100k and 1M
 *   BENCH_ONLY=snapshot,stream,overhead   which parts to run (also: connectors, not in the default; backlog: only the backlog drain of stream)
 *   BENCH_CONNECTOR_COUNTS=1,10,100  the connectors part: one worker with each number of connectors on one database
 *   BENCH_CONNECTOR_RATE=500  the connectors part: changes/s spread over all tables, for BENCH_CONNECTOR_SECONDS (default 30)
 *   BENCH_PROFILE=1           run the worker under node --cpu-prof and summarise the top self-time functions
 *   BENCH_SNAPSHOT_BATCH      the connector's snapshot.batch_size (default: the connector default)
 *   BENCH_CAPTURE_BATCH       the connectors' capture.batch_size in the streaming parts (default: the connector default)
 *   BENCH_DRAIN_PAUSE_MS      the connectors' capture.drain_pause_ms in the streaming parts (default: the connector default)
 *   BENCH_COMPRESSIONS=lz4,none,zstd  the worker's snapshot once per sink.compression; the first is the headline
 *   BENCH_DELIVERIES=exactly_once,at_least_once  the snapshot (first compression) and the backlog drain once per sink.delivery, side by side; the first is the headline
 *   BENCH_DELIVERY_ROUNDS=3   how many times the deliveries alternate (A B A B ...); their comparison takes the median of each
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';
import { dropConnectorObjects } from '../src/postgres/capture';
import {
  BenchWorker,
  BROKER,
  CpuSampler,
  type CpuReport,
  createTopic,
  deleteTopics,
  ensurePgbench,
  freshDatabase,
  histogram,
  histogramQuantile,
  KAFKA_LIBS,
  log,
  metricSum,
  pg,
  PG_HOST,
  PG_PORT,
  PG_USER,
  pgUrl,
  procStatusKb,
  psqlArgs,
  quantile,
  readTopic,
  REPO_ROOT,
  round,
  run,
  sleep,
  summariseProfile,
  topicBytesOnBroker,
} from './lib';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const OVERHEAD_SECONDS = Number(process.env.BENCH_OVERHEAD_SECONDS ?? Math.min(SECONDS, 30));
const ONLY = new Set((process.env.BENCH_ONLY ?? 'snapshot,stream,overhead').split(',').map((s) => s.trim()));
const PROFILE = process.env.BENCH_PROFILE === '1';
const SIZES = process.env.BENCH_SIZES ? process.env.BENCH_SIZES.split(',').map(Number) : [100_000, 1_000_000, ...(process.env.BENCH_5M === '1' ? [5_000_000] : [])];
const SNAPSHOT_BATCH = process.env.BENCH_SNAPSHOT_BATCH ? Number(process.env.BENCH_SNAPSHOT_BATCH) : undefined;
/** BENCH_CAPTURE_BATCH, BENCH_DRAIN_PAUSE_MS: the connectors' capture settings in the streaming, backlog and overhead parts. */
const CAPTURE = {
  capture: {
    ...(process.env.BENCH_CAPTURE_BATCH ? { batch_size: Number(process.env.BENCH_CAPTURE_BATCH) } : {}),
    ...(process.env.BENCH_DRAIN_PAUSE_MS ? { drain_pause_ms: Number(process.env.BENCH_DRAIN_PAUSE_MS) } : {}),
  },
};
/** The worker's snapshot runs once per compression; the first is the headline figure. */
const COMPRESSIONS = (process.env.BENCH_COMPRESSIONS ?? 'lz4,none,zstd').split(',').map((c) => c.trim());
/** The snapshot (with the first compression) and the backlog drain run once per sink.delivery. */
const DELIVERIES = (process.env.BENCH_DELIVERIES ?? 'exactly_once,at_least_once').split(',').map((d) => d.trim());
const DELIVERY_ROUNDS = Number(process.env.BENCH_DELIVERY_ROUNDS ?? 3);
const RUN_ID = new Date().toISOString().replace(/[-:T]/g, '').slice(0, 14);
const PROFILE_ROOT = path.join(REPO_ROOT, 'bench', 'profiles', RUN_ID);
const STREAM_ROWS = 100_000;
const TOPICS: string[] = [];

/** The realistic 8-column table: about 200 bytes of JSON per row. */
function tableDdl(name: string): string {
  return `CREATE TABLE ${name} (
    id bigint PRIMARY KEY,
    customer_id integer NOT NULL,
    sku text NOT NULL,
    status text NOT NULL,
    quantity integer NOT NULL,
    price numeric(12,2) NOT NULL,
    updated_at timestamptz NOT NULL,
    note text)`;
}

function fillSql(name: string, rows: number): string {
  return `INSERT INTO ${name}
    SELECT g, ((g::int8 * 7919) % 100000)::int, 'SKU-' || lpad((g % 50000)::text, 8, '0'),
           (ARRAY['new', 'paid', 'shipped', 'delivered'])[1 + g % 4], 1 + g % 20,
           round(((g % 100000) / 100.0 + 0.99)::numeric, 2),
           '2024-01-01 00:00:00+00'::timestamptz + g * interval '1 second',
           md5(g::text) || ' ' || md5((g + 1)::text)
      FROM generate_series(1, ${rows}) AS g`;
}

async function createTable(db: string, name: string, rows: number): Promise<{ keyBytes: number; valueBytes: number }> {
  const c = await pg(db);
  try {
    await c.query(tableDdl(name));
    await c.query(fillSql(name, rows));
    await c.query(`VACUUM (ANALYZE, FREEZE) ${name}`);
    const r = await c.query<{ k: string; v: string }>(`SELECT avg(length(json_build_object('id', id)::text))::float8 AS k, avg(octet_length(row_to_json(t)::text))::float8 AS v FROM ${name} AS t`);
    return { keyBytes: round(Number(r.rows[0].k), 1), valueBytes: round(Number(r.rows[0].v), 1) };
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------- snapshot

interface WorkerSnapshot {
  compression: string;
  delivery: string;
  rowsPerSec: number;
  mbPerSec: number;
  seconds: number;
  usPerRow: number;
  peakRssMb: number;
  cpu: CpuReport;
  /** Worker CPU-seconds per 1M rows (= CPU microseconds per row). */
  workerCpuUsPerRow: number;
  /** Bytes the topic takes in the broker's log directory after the snapshot. */
  brokerBytes: number | null;
  profile?: ReturnType<typeof summariseProfile>;
}

interface SnapshotResult {
  rows: number;
  avgKeyBytes: number;
  avgValueBytes: number;
  /** The first compression of BENCH_COMPRESSIONS (the connector default unless set). */
  worker: WorkerSnapshot;
  variants: WorkerSnapshot[];
  postgresCopy: { rowsPerSec: number; mbPerSec: number; seconds: number };
  kafkaProducerPerf: { rowsPerSec: number; mbPerSec: number; recordSize: number; raw: string };
  ratioToPostgres: number;
  ratioToKafka: number;
}

/** One snapshot of the table by the real worker CLI with the given compression. */
async function workerSnapshot(db: string, table: string, rows: number, compression: string, delivery: string, mb: (r: number) => number, rep = 1): Promise<WorkerSnapshot> {
  const topic = `pgkc-bench-snap-${rows}-${compression}-${delivery}-${rep}-${RUN_ID}`;
  const name = `bench-snap-${rows}-${compression}-${delivery}-${rep}`;
  TOPICS.push(topic, `pg-kafka-cdc.offsets.${name}`);
  log(`snapshot ${rows}: the worker, compression ${compression}, delivery ${delivery}`);
  const profileDir = PROFILE ? path.join(PROFILE_ROOT, `snapshot-${rows}-${compression}-${delivery}`) : null;
  let worker: BenchWorker | null = null;
  const cpu = new CpuSampler(() => worker?.pid ?? null).start();
  worker = await BenchWorker.start({
    dbUrl: pgUrl(db),
    tag: name,
    profileDir,
    connectors: [{ name, source: { table_name: table }, sink: { topic, partitions: 1, compression, delivery }, ...(SNAPSHOT_BATCH ? { snapshot: { batch_size: SNAPSHOT_BATCH } } : {}) }],
  });
  const w = worker;
  await w.waitFor(async () => (await w.connector(name))?.snapshot.completed === true, 1_800_000, `snapshot of ${rows} rows`, 50);
  const cpuReport = cpu.stop();
  const peakRssMb = w.peakRssMb();
  await w.stop();
  const t0 = w.logTime('starting snapshot');
  const t1 = w.logTime('snapshot complete');
  if (t0 === null || t1 === null) throw new Error('snapshot start/complete not found in the worker log');
  const seconds = (t1 - t0) / 1000;
  const rate = rows / seconds;
  const workerCpu = (cpuReport.coresByGroup.worker ?? 0) * cpuReport.seconds;
  const brokerBytes = topicBytesOnBroker(topic);
  await deleteTopics([topic]);
  return {
    compression,
    delivery,
    rowsPerSec: round(rate),
    mbPerSec: round(mb(rate), 1),
    seconds: round(seconds, 2),
    usPerRow: round((seconds * 1e6) / rows, 2),
    peakRssMb,
    cpu: cpuReport,
    workerCpuUsPerRow: round((workerCpu * 1e6) / rows, 2),
    brokerBytes,
    ...(profileDir ? { profile: summariseProfile(profileDir) } : {}),
  };
}

async function snapshotBench(): Promise<SnapshotResult[]> {
  const db = 'pgkc_bench_snapshot';
  await freshDatabase(db);
  const results: SnapshotResult[] = [];
  for (const rows of SIZES) {
    const table = `items_${rows}`;
    log(`snapshot ${rows}: loading the table`);
    const sizes = await createTable(db, table, rows);
    const recordBytes = sizes.keyBytes + sizes.valueBytes;
    const mb = (r: number) => (r * recordBytes) / 1e6;

    // PostgreSQL's own read limit: the same JSON rendering, streamed to /dev/null by psql.
    log(`snapshot ${rows}: PostgreSQL COPY (row_to_json) to /dev/null`);
    const copy = await run('psql', psqlArgs(db, `COPY (SELECT row_to_json(t) FROM ${table} AS t) TO STDOUT`), { stdoutTo: '/dev/null' });
    if (copy.code !== 0) throw new Error(`psql COPY failed: ${copy.err}`);

    // Kafka's own write limit: the Java producer tool, acks=all, records of the same average size.
    const perfTopic = `pgkc-bench-perf-${rows}-${RUN_ID}`;
    TOPICS.push(perfTopic);
    await createTopic(perfTopic);
    const recordSize = Math.round(recordBytes);
    log(`snapshot ${rows}: Kafka ProducerPerformance (${recordSize} B records)`);
    const perf = await run(
      'java',
      [
        '-Xmx512m',
        '-cp',
        `${KAFKA_LIBS}/*`,
        'org.apache.kafka.tools.ProducerPerformance',
        '--topic',
        perfTopic,
        '--num-records',
        String(rows),
        '--record-size',
        String(recordSize),
        '--throughput',
        '-1',
        '--producer-props',
        `bootstrap.servers=${BROKER}`,
        'acks=all',
      ],
      { timeoutMs: 600_000 },
    );
    const m = /(\d+) records sent, ([\d.]+) records\/sec \(([\d.]+) MB\/sec\)/.exec(perf.out.trim().split('\n').pop() ?? '');
    if (perf.code !== 0 || !m) throw new Error(`ProducerPerformance failed: ${perf.out.slice(-500)} ${perf.err.slice(-2000)}`);
    const kafkaRate = Number(m[2]);
    await deleteTopics([perfTopic]);

    // The worker: the real CLI, snapshot only (no notification, no ordinal), once per compression.
    const variants: WorkerSnapshot[] = [];
    for (const compression of COMPRESSIONS) {
      variants.push(await workerSnapshot(db, table, rows, compression, DELIVERIES[0], mb));
    }
    // The deliveries with the headline compression, alternating for DELIVERY_ROUNDS rounds (the
    // first round of the headline delivery is the run above): transactions' cost side by side.
    for (let r = 1; r <= DELIVERY_ROUNDS && DELIVERIES.length > 1; r++) {
      for (const [i, delivery] of DELIVERIES.entries()) {
        if (r === 1 && i === 0) continue;
        variants.push(await workerSnapshot(db, table, rows, COMPRESSIONS[0], delivery, mb, r));
      }
    }
    const main = variants[0];
    const res: SnapshotResult = {
      rows,
      avgKeyBytes: sizes.keyBytes,
      avgValueBytes: sizes.valueBytes,
      worker: main,
      variants,
      postgresCopy: { rowsPerSec: round(rows / copy.seconds), mbPerSec: round(mb(rows / copy.seconds), 1), seconds: round(copy.seconds, 2) },
      kafkaProducerPerf: { rowsPerSec: round(kafkaRate), mbPerSec: round(mb(kafkaRate), 1), recordSize, raw: m[0] },
      ratioToPostgres: round(main.rowsPerSec / (rows / copy.seconds), 3),
      ratioToKafka: round(main.rowsPerSec / kafkaRate, 3),
    };
    const c = await pg(db);
    await c.query(`DROP TABLE ${table}`);
    await c.end();
    results.push(res);
    log(
      `snapshot ${rows}: worker ${variants.map((v) => `${v.compression}/${v.delivery} ${v.rowsPerSec} rows/s`).join(', ')}, postgres ${res.postgresCopy.rowsPerSec}, kafka ${res.kafkaProducerPerf.rowsPerSec}, peak RSS ${main.peakRssMb} MB`,
    );
  }
  return results;
}

// ---------------------------------------------------------------- pgbench

interface PgbenchResult {
  tps: number;
  transactions: number;
  latencyMs: number | null;
  raw: string;
}

async function pgbench(
  db: string,
  scripts: Array<{ file: string; weight: number }>,
  opts: { seconds: number; clients: number; rate?: number; vars?: Record<string, string>; env?: Record<string, string> },
): Promise<PgbenchResult> {
  const args = ['-h', PG_HOST, '-p', String(PG_PORT), '-U', PG_USER, '-n', '-M', 'prepared', '-c', String(opts.clients), '-j', String(Math.min(2, opts.clients)), '-T', String(opts.seconds)];
  if (opts.rate) args.push('-R', String(opts.rate));
  for (const [k, v] of Object.entries(opts.vars ?? {})) args.push('-D', `${k}=${v}`);
  for (const s of scripts) args.push('-f', `${s.file}@${s.weight}`);
  args.push(db);
  const r = await run(ensurePgbench(), args, { env: opts.env, timeoutMs: (opts.seconds + 60) * 1000 });
  if (r.code !== 0) throw new Error(`pgbench failed: ${r.err.slice(-2000)}`);
  const tps = /tps = ([\d.]+) \(without initial connection time\)/.exec(r.out);
  const n = /number of transactions actually processed: (\d+)/.exec(r.out);
  const lat = /latency average = ([\d.]+) ms/.exec(r.out);
  if (!tps || !n) throw new Error(`cannot parse pgbench output: ${r.out}`);
  return { tps: round(Number(tps[1])), transactions: Number(n[1]), latencyMs: lat ? Number(lat[1]) : null, raw: r.out.trim().split('\n').slice(-4).join(' | ') };
}

function writeScripts(): { update: string; insert: string; bulkUpdate: string } {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgkc-bench-pgbench-'));
  const update = path.join(dir, 'update.sql');
  const bulkUpdate = path.join(dir, 'bulk-update.sql');
  // 1,000 consecutive rows in one statement.
  fs.writeFileSync(bulkUpdate, `\\set a random(1, :rows - 999)\nUPDATE items SET quantity = quantity + 1, updated_at = clock_timestamp() WHERE id BETWEEN :a AND :a + 999;\n`);
  const insert = path.join(dir, 'insert.sql');
  // A single-row UPDATE by random primary key; updated_at is the change's own time, used for latency.
  fs.writeFileSync(update, `\\set id random(1, :rows)\nUPDATE items SET quantity = quantity + 1, updated_at = clock_timestamp() WHERE id = :id;\n`);
  fs.writeFileSync(
    insert,
    `INSERT INTO items (id, customer_id, sku, status, quantity, price, updated_at, note)
  VALUES (nextval('items_new_id'), 4242, 'SKU-00004242', 'new', 1, 19.99, clock_timestamp(), md5(random()::text) || ' ' || md5(random()::text));\n`,
  );
  return { update, insert, bulkUpdate };
}

async function prepareWriteDb(db: string): Promise<void> {
  await freshDatabase(db);
  await createTableNamed(db);
}

async function createTableNamed(db: string): Promise<void> {
  const c = await pg(db);
  try {
    await c.query(tableDdl('items'));
    await c.query(fillSql('items', STREAM_ROWS));
    await c.query(`CREATE SEQUENCE items_new_id START ${STREAM_ROWS + 1}`);
    await c.query('VACUUM (ANALYZE, FREEZE) items');
  } finally {
    await c.end();
  }
}

async function logStats(db: string, logTable: string): Promise<{ pending: number; oldestAgeSeconds: number }> {
  const c = await pg(db);
  try {
    const r = await c.query<{ n: string; age: number | null }>(`SELECT count(*)::text AS n, extract(epoch FROM clock_timestamp() - min(changed_at))::float8 AS age FROM kafka_cdc.${logTable}`);
    return { pending: Number(r.rows[0].n), oldestAgeSeconds: round(Number(r.rows[0].age ?? 0), 2) };
  } finally {
    await c.end();
  }
}

// ---------------------------------------------------------------- streaming

interface StreamResult {
  label: string;
  delivery: string;
  clients: number;
  offeredRate: number | null;
  seconds: number;
  pgbench: PgbenchResult;
  publishedPerSec: number;
  endLag: { pending: number; oldestAgeSeconds: number; metricLagSeconds: number };
  drainSeconds: number;
  latencyFromHistogram: { p50: number | null; p95: number | null; p99: number | null; count: number };
  latencyDirect: { p50: number | null; p95: number | null; p99: number | null; max: number | null; count: number };
  cpu: CpuReport;
  peakRssMb: number;
  profile?: ReturnType<typeof summariseProfile>;
}

const CHANNEL = 'bench_stream';

async function streamRun(db: string, scripts: { update: string; insert: string }, label: string, rate: number | null, clients: number, delivery: string): Promise<StreamResult> {
  const topic = `pgkc-bench-stream-${label}-${RUN_ID}`;
  TOPICS.push(topic);
  // LogAppendTime: every record carries the broker's append time, on the same clock as PostgreSQL.
  await createTopic(topic, [
    { name: 'cleanup.policy', value: 'compact' },
    { name: 'message.timestamp.type', value: 'LogAppendTime' },
  ]);
  const name = `bench-stream-${label}`;
  TOPICS.push(`pg-kafka-cdc.offsets.${name}`);
  const profileDir = PROFILE ? path.join(PROFILE_ROOT, `stream-${label}`) : null;
  const worker = await BenchWorker.start({
    dbUrl: pgUrl(db),
    tag: name,
    profileDir,
    connectors: [{ name, source: { table_name: 'items', notification: { channel_name: CHANNEL } }, sink: { topic, partitions: 1, delivery }, snapshot: { mode: 'never' }, ...CAPTURE }],
  });
  try {
    await worker.waitFor(async () => (await worker.connector(name))?.state === 'streaming', 60_000, 'streaming');
    log(`stream ${label}: pgbench ${rate ? `-R ${rate}` : 'unthrottled'} for ${SECONDS} s`);
    const m0 = await worker.metrics();
    const cpu = new CpuSampler(() => worker.pid).start();
    const t0 = Date.now();
    const bench = await pgbench(
      db,
      [
        { file: scripts.update, weight: 9 },
        { file: scripts.insert, weight: 1 },
      ],
      { seconds: SECONDS, clients, rate: rate ?? undefined, vars: { rows: String(STREAM_ROWS) } },
    );
    const m1 = await worker.metrics();
    const windowSeconds = (Date.now() - t0) / 1000;
    const cpuReport = cpu.stop();
    const endLog = await logStats(db, `${CHANNEL}_log`);
    const metricLag = metricSum(m1, 'pg_kafka_cdc_lag_seconds', { connector: name });
    const drainStart = Date.now();
    await worker.waitFor(async () => (await logStats(db, `${CHANNEL}_log`)).pending === 0, 300_000, 'the change log to drain', 200);
    const drainSeconds = (Date.now() - drainStart) / 1000;
    await sleep(300);
    const m2 = await worker.metrics();
    const peakRssMb = worker.peakRssMb();
    const published = (t: string) =>
      metricSum(t, 'pg_kafka_cdc_records_published_total', { connector: name, op: 'upsert' }) + metricSum(t, 'pg_kafka_cdc_records_published_total', { connector: name, op: 'delete' });
    const h0 = histogram(m0, 'pg_kafka_cdc_end_to_end_latency_seconds');
    const h2 = histogram(m2, 'pg_kafka_cdc_end_to_end_latency_seconds');
    const hq = (q: number) => {
      const v = histogramQuantile(h0, h2, q);
      return v === null ? null : round(v * 1000, 1);
    };
    await worker.stop();

    // Direct: the broker's append time minus the updated_at the change wrote (clock_timestamp(), before commit).
    const records = await readTopic(topic);
    const lat: number[] = [];
    for (const r of records) {
      if (r.value === null) continue;
      const updated = Date.parse((JSON.parse(r.value) as { updated_at: string }).updated_at);
      lat.push(r.ts - updated);
    }
    lat.sort((a, b) => a - b);
    const result: StreamResult = {
      label,
      clients,
      offeredRate: rate,
      delivery,
      seconds: round(windowSeconds, 1),
      pgbench: bench,
      publishedPerSec: round((published(m1) - published(m0)) / windowSeconds),
      endLag: { ...endLog, metricLagSeconds: metricLag },
      drainSeconds: round(drainSeconds, 1),
      latencyFromHistogram: { p50: hq(0.5), p95: hq(0.95), p99: hq(0.99), count: h2.length ? h2[h2.length - 1][1] - (h0.length ? h0[h0.length - 1][1] : 0) : 0 },
      latencyDirect: { p50: quantile(lat, 0.5), p95: quantile(lat, 0.95), p99: quantile(lat, 0.99), max: lat.length ? lat[lat.length - 1] : null, count: lat.length },
      cpu: cpuReport,
      peakRssMb,
    };
    if (profileDir) result.profile = summariseProfile(profileDir);
    log(
      `stream ${label}: pgbench ${bench.tps} tps, published ${result.publishedPerSec}/s, p99 direct ${result.latencyDirect.p99} ms, histogram ${result.latencyFromHistogram.p99} ms, end pending ${endLog.pending}`,
    );
    return result;
  } finally {
    await worker.stop();
    await deleteTopics([topic]);
  }
}

async function streamBench(): Promise<StreamResult[]> {
  const db = 'pgkc_bench_stream';
  await prepareWriteDb(db);
  const scripts = writeScripts();
  const out: StreamResult[] = [];
  // Every load with the headline delivery; the latency load (-R 2000) with each other delivery too.
  const runs: Array<[string, number | null, number, string]> = [
    ['r2000', 2000, 4, DELIVERIES[0]],
    ...DELIVERIES.slice(1).map((d): [string, number | null, number, string] => [`r2000-${d}`, 2000, 4, d]),
    ['r5000', 5000, 4, DELIVERIES[0]],
    ['max', null, 16, DELIVERIES[0]],
  ];
  for (const [label, rate, clients, delivery] of runs) {
    const c = await pg(db);
    await c.query('VACUUM ANALYZE items');
    await c.end();
    out.push(await streamRun(db, scripts, label, rate, clients, delivery));
  }
  return out;
}

interface BacklogResult {
  delivery: string;
  changes: number;
  seconds: number;
  changesPerSec: number;
  cpu: CpuReport;
  profile?: ReturnType<typeof summariseProfile>;
}

/**
 * The worker's own drain limit, free of the writers' commit rate: 200,000 changes committed while no
 * worker runs (two passes of UPDATE over every row, in transactions of 10,000), then the time the
 * worker takes to publish them all.
 */
async function backlogBench(delivery: string, rep: number): Promise<BacklogResult> {
  const db = 'pgkc_bench_stream';
  const c = await pg(db);
  const n = Number((await c.query<{ n: string }>('SELECT count(*)::text AS n FROM items')).rows[0].n);
  const passes = 2;
  log(`backlog (${delivery}): ${passes} x ${n} row updates with no worker running`);
  for (let pass = 0; pass < passes; pass++) {
    for (let lo = 0; lo < n + STREAM_ROWS; lo += 10_000) {
      await c.query('UPDATE items SET quantity = quantity + 1, updated_at = clock_timestamp() WHERE id > $1 AND id <= $2', [lo, lo + 10_000]);
    }
  }
  const pending = (await logStats(db, `${CHANNEL}_log`)).pending;
  await c.end();
  const topic = `pgkc-bench-backlog-${delivery}-${rep}-${RUN_ID}`;
  const name = `bench-backlog-${delivery}-${rep}`;
  TOPICS.push(topic, `pg-kafka-cdc.offsets.${name}`);
  const profileDir = PROFILE ? path.join(PROFILE_ROOT, `backlog-${delivery}-${rep}`) : null;
  let worker: BenchWorker | null = null;
  const cpu = new CpuSampler(() => worker?.pid ?? null).start();
  const started = Date.now();
  worker = await BenchWorker.start({
    dbUrl: pgUrl(db),
    tag: name,
    profileDir,
    connectors: [{ name, source: { table_name: 'items', notification: { channel_name: CHANNEL } }, sink: { topic, partitions: 1, delivery }, snapshot: { mode: 'never' }, ...CAPTURE }],
  });
  const w = worker;
  try {
    await w.waitFor(async () => (await logStats(db, `${CHANNEL}_log`)).pending === 0, 600_000, 'the backlog to drain', 100);
    const seconds = (Date.now() - started) / 1000;
    const cpuReport = cpu.stop();
    const published = metricSum(await w.metrics(), 'pg_kafka_cdc_records_published_total', { connector: name });
    await w.stop();
    const r: BacklogResult = { delivery, changes: pending, seconds: round(seconds, 1), changesPerSec: round(published / seconds), cpu: cpuReport };
    if (profileDir) r.profile = summariseProfile(profileDir);
    log(`backlog (${delivery}): ${pending} changes (${published} records) in ${r.seconds} s: ${r.changesPerSec}/s`);
    return r;
  } finally {
    await w.stop();
    await deleteTopics([topic]);
  }
}

// ---------------------------------------------------------------- source overhead

interface OverheadResult {
  workload: 'single-row' | 'single-row, no worker' | '1000-row';
  variant: OverheadVariant;
  round: number;
  /** Statements per second. */
  tps: number;
  /** Rows changed per second (tps x rows per statement). */
  rowsPerSec: number;
  pgbench: PgbenchResult;
  cpu: CpuReport;
}

type OverheadVariant = 'no trigger' | '0.2 row trigger (before)' | 'connector trigger (now)';
const OVERHEAD_VARIANTS: OverheadVariant[] = ['no trigger', '0.2 row trigger (before)', 'connector trigger (now)'];
const OVERHEAD_ROUNDS = Number(process.env.BENCH_OVERHEAD_ROUNDS ?? 2);
const OVERHEAD_BULK_SECONDS = Number(process.env.BENCH_OVERHEAD_BULK_SECONDS ?? Math.min(OVERHEAD_SECONDS, 10));
const OVH = 'bench_ovh';
const OVH_TRIGGERS = ['_t', '_tu', '_td', '_tk', '_tt'].map((x) => OVH + x);

/**
 * The capture trigger of 0.2 (before issue 12), kept here as the "before" of every run: a row
 * trigger whose function (SECURITY DEFINER, fixed search_path) inserts each key with
 * clock_timestamp() and looks up the idle flag in a table per row.
 */
const BEFORE_TRIGGER = `
CREATE TABLE IF NOT EXISTS kafka_cdc.wakeup (channel text PRIMARY KEY, waiting boolean NOT NULL DEFAULT false);
INSERT INTO kafka_cdc.wakeup (channel) VALUES ('${OVH}') ON CONFLICT DO NOTHING;
CREATE OR REPLACE FUNCTION public.${OVH}_before() RETURNS trigger LANGUAGE plpgsql SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $b$
BEGIN
  IF TG_OP = 'DELETE' THEN
    INSERT INTO kafka_cdc.${OVH}_log (k, changed_at) VALUES (jsonb_build_array(OLD.id), clock_timestamp());
  ELSIF TG_OP = 'UPDATE' AND (OLD.id::text COLLATE "C" IS DISTINCT FROM NEW.id::text COLLATE "C") THEN
    INSERT INTO kafka_cdc.${OVH}_log (k, changed_at) VALUES (jsonb_build_array(OLD.id), clock_timestamp()), (jsonb_build_array(NEW.id), clock_timestamp());
  ELSE
    INSERT INTO kafka_cdc.${OVH}_log (k, changed_at) VALUES (jsonb_build_array(NEW.id), clock_timestamp());
  END IF;
  IF EXISTS (SELECT 1 FROM kafka_cdc.wakeup WHERE channel = '${OVH}' AND waiting) THEN
    PERFORM pg_notify('${OVH}', '');
  END IF;
  RETURN NULL;
END $b$;
CREATE TRIGGER ${OVH}_t AFTER INSERT OR UPDATE OR DELETE ON items FOR EACH ROW EXECUTE FUNCTION public.${OVH}_before();`;

/**
 * The source's write throughput with no trigger, with the 0.2 trigger (before) and with the
 * connector's trigger (now), side by side in alternating rounds, for single-row UPDATEs (4 clients,
 * the worker running and draining, as in production, and again with no worker: the triggers alone)
 * and for 1,000-row UPDATEs (2 clients; no worker, since it drains about 30k changes/s and these
 * write far more: the log is emptied between runs). Ratios use the median of each variant.
 */
async function overheadBench(): Promise<OverheadResult[]> {
  const db = 'pgkc_bench_overhead';
  await prepareWriteDb(db);
  const scripts = writeScripts();
  const results: OverheadResult[] = [];
  // BENCH_OVERHEAD_ASYNC_COMMIT=1: writers commit without waiting for the WAL flush, so the
  // comparison shows the CPU cost of the trigger instead of this disk's flush noise.
  const env = process.env.BENCH_OVERHEAD_ASYNC_COMMIT === '1' ? { PGOPTIONS: '-c synchronous_commit=off' } : undefined;
  let ownTriggers: string[] = [];
  const setVariant = async (variant: OverheadVariant) => {
    const c = await pg(db);
    try {
      for (const t of [...OVH_TRIGGERS]) await c.query(`DROP TRIGGER IF EXISTS ${t} ON items`);
      if (variant === '0.2 row trigger (before)') await c.query(BEFORE_TRIGGER);
      if (variant === 'connector trigger (now)') for (const def of ownTriggers) await c.query(def);
      await c.query('VACUUM ANALYZE items');
      await c.query('CHECKPOINT');
    } finally {
      await c.end();
    }
  };
  const once = async (workload: OverheadResult['workload'], variant: OverheadVariant, round: number, worker: BenchWorker | null) => {
    await setVariant(variant);
    const bulk = workload === '1000-row';
    const seconds = bulk ? OVERHEAD_BULK_SECONDS : OVERHEAD_SECONDS;
    log(`overhead ${workload} round ${round}, ${variant}: ${seconds} s`);
    const cpu = new CpuSampler(() => worker?.pid ?? null).start();
    const r = await pgbench(db, [{ file: bulk ? scripts.bulkUpdate : scripts.update, weight: 1 }], { seconds, clients: bulk ? 2 : 4, vars: { rows: String(STREAM_ROWS) }, env });
    results.push({ workload, variant, round, tps: r.tps, rowsPerSec: r.tps * (bulk ? 1000 : 1), pgbench: r, cpu: cpu.stop() });
    log(`overhead ${workload} round ${round}, ${variant}: ${r.tps} tps`);
  };

  const name = 'bench-overhead';
  const topic = `pgkc-bench-overhead-${RUN_ID}`;
  TOPICS.push(topic, `pg-kafka-cdc.offsets.${name}`);
  const worker = await BenchWorker.start({
    dbUrl: pgUrl(db),
    tag: name,
    connectors: [{ name, source: { table_name: 'items', notification: { channel_name: OVH } }, sink: { topic, partitions: 1 }, snapshot: { mode: 'never' }, ...CAPTURE }],
  });
  try {
    await worker.waitFor(async () => (await worker.connector(name))?.state === 'streaming', 60_000, 'streaming');
    // The connector's own triggers, as it installed them, to put back after the other variants.
    const c = await pg(db);
    ownTriggers = (await c.query<{ def: string }>(`SELECT pg_get_triggerdef(oid) AS def FROM pg_trigger WHERE tgrelid = 'items'::regclass AND tgname = ANY($1)`, [OVH_TRIGGERS])).rows.map(
      (r) => r.def,
    );
    await c.end();
    for (let round = 1; round <= OVERHEAD_ROUNDS; round++) {
      for (const variant of OVERHEAD_VARIANTS) {
        await once('single-row', variant, round, worker);
        await worker.waitFor(async () => (await logStats(db, `${OVH}_log`)).pending === 0, 300_000, 'the change log to drain', 200);
      }
    }
  } finally {
    await worker.stop();
  }
  // The triggers' own cost: the same workloads with nobody draining (the log is emptied between runs).
  for (const workload of ['single-row, no worker', '1000-row'] as const) {
    for (let round = 1; round <= OVERHEAD_ROUNDS; round++) {
      for (const variant of OVERHEAD_VARIANTS) {
        await once(workload, variant, round, null);
        const c = await pg(db);
        await c.query(`TRUNCATE kafka_cdc.${OVH}_log`);
        await c.end();
      }
    }
  }
  const c = await pg(db);
  await c.query(`DROP TRIGGER IF EXISTS ${OVH}_t ON items; DROP FUNCTION IF EXISTS public.${OVH}_before()`);
  // The connector's own teardown: its triggers, function, change log and progress.
  await dropConnectorObjects(c, name, OVH, { schema: 'public', name: 'items' });
  await c.end();
  await deleteTopics([topic]);
  return results;
}

// ---------------------------------------------------------------- report

function environment(): Record<string, string | number> {
  const sh = (cmd: string, args: string[]) => {
    try {
      return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
    } catch {
      return 'unknown';
    }
  };
  const kafkaClient = (JSON.parse(fs.readFileSync(path.join(REPO_ROOT, 'node_modules', '@platformatic', 'kafka', 'package.json'), 'utf8')) as { version: string }).version;
  const kafkaJar = fs.existsSync(KAFKA_LIBS) ? (fs.readdirSync(KAFKA_LIBS).find((f) => /^kafka-clients-.*\.jar$/.test(f)) ?? 'unknown') : 'unknown';
  return {
    nproc: os.cpus().length,
    memoryGb: round(os.totalmem() / 2 ** 30, 1),
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    kernel: os.release(),
    node: process.version,
    postgres: sh('psql', psqlArgs('postgres', 'SHOW server_version').concat(['-At'])),
    kafka: kafkaJar.replace(/^kafka-clients-|\.jar$/g, ''),
    kafkaClient: `@platformatic/kafka ${kafkaClient}`,
    pgbench: sh('pgbench', ['--version']),
  };
}

const fmt = (n: number | null | undefined, d = 0) => (n === null || n === undefined ? '-' : n.toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d }));

function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => '| ' + cells.map((c, i) => c.padStart(widths[i])).join(' | ') + ' |';
  return [line(headers), '|' + widths.map((w) => '-'.repeat(w + 2)).join('|') + '|', ...rows.map(line)].join('\n');
}

interface ConnectorsResult {
  connectors: number;
  startSeconds: number;
  idleRssMb: number;
  peakRssMb: number;
  offeredRate: number;
  pgbenchTps: number;
  publishedPerSec: number;
  /** The largest lag of any one connector, sampled every second. */
  maxLagSeconds: number;
  peakSessions: number;
  cpu: CpuReport;
}

/**
 * Many connectors in one worker (docs/scale-out.md): its memory idle and under a change rate spread
 * over all the tables, the lag it keeps, and the PostgreSQL sessions it opens, for 1, 10 and 100
 * connectors on one database. Memory per connector is the slope between the counts.
 */
async function connectorsBench(): Promise<ConnectorsResult[]> {
  const counts = (process.env.BENCH_CONNECTOR_COUNTS ?? '1,10,100').split(',').map(Number);
  const rate = Number(process.env.BENCH_CONNECTOR_RATE ?? 500);
  const seconds = Number(process.env.BENCH_CONNECTOR_SECONDS ?? 30);
  const results: ConnectorsResult[] = [];
  for (const n of counts) {
    const db = `pgkc_bench_connectors_${n}`;
    await freshDatabase(db);
    const c = await pg(db);
    try {
      for (let i = 1; i <= n; i++) {
        await c.query(`CREATE TABLE t${i} (id int PRIMARY KEY, v int, updated_at timestamptz)`);
        await c.query(`INSERT INTO t${i} SELECT g, g, now() FROM generate_series(1, 1000) AS g`);
      }
      await c.query(`CREATE FUNCTION touch(t int, k int) RETURNS void LANGUAGE plpgsql AS $$
        BEGIN EXECUTE format('UPDATE t%s SET v = v + 1, updated_at = clock_timestamp() WHERE id = $1', t) USING k; END $$`);
    } finally {
      await c.end();
    }
    const script = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'pgkc-bench-conn-')), 'touch.sql');
    fs.writeFileSync(script, `\\set t random(1, ${n})\n\\set k random(1, 1000)\nSELECT touch(:t, :k);\n`);
    const names = Array.from({ length: n }, (_, i) => `bench-conn-${n}-${i + 1}`);
    const topics = names.map((name) => `pgkc-${name}-${RUN_ID}`);
    TOPICS.push(...topics, ...names.map((name) => `pg-kafka-cdc.offsets.${name}`));
    const started = Date.now();
    const worker = await BenchWorker.start({
      dbUrl: pgUrl(db),
      tag: `connectors-${n}`,
      connectors: names.map((name, i) => ({ name, source: { table_name: `t${i + 1}`, notification: {} }, sink: { topic: topics[i] } })),
    });
    const sessions = async () => {
      const q = await pg(db);
      try {
        return Number(
          (await q.query(`SELECT count(*) AS n FROM pg_stat_activity WHERE datname = current_database() AND (application_name LIKE 'pg-kafka-cdc%' OR application_name LIKE 'pgkc member%')`)).rows[0]
            .n,
        );
      } finally {
        await q.end();
      }
    };
    try {
      await worker.waitFor(
        async () => {
          for (const name of names) if ((await worker.connector(name))?.state !== 'streaming') return false;
          return true;
        },
        600_000,
        `${n} connectors streaming`,
        500,
      );
      const startSeconds = (Date.now() - started) / 1000;
      await sleep(5000);
      const idleRssMb = round((procStatusKb(worker.pid, 'VmRSS') ?? 0) / 1024, 1);
      log(`connectors ${n}: streaming after ${round(startSeconds, 1)} s, idle RSS ${idleRssMb} MB; pgbench -R ${rate} for ${seconds} s`);
      const m0 = await worker.metrics();
      const cpu = new CpuSampler(() => worker.pid).start();
      let peakSessions = await sessions();
      let maxLag = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peakSessions = Math.max(peakSessions, await sessions());
          const text = await worker.metrics();
          for (const name of names) maxLag = Math.max(maxLag, metricSum(text, 'pg_kafka_cdc_lag_seconds', { connector: name }));
          await sleep(1000);
        }
      })();
      const t0 = Date.now();
      const bench = await pgbench(db, [{ file: script, weight: 1 }], { seconds, clients: 4, rate });
      const windowSeconds = (Date.now() - t0) / 1000;
      sampling = false;
      await sampler;
      const m1 = await worker.metrics();
      const cpuReport = cpu.stop();
      const published = (t: string) => metricSum(t, 'pg_kafka_cdc_records_published_total', { op: 'upsert' });
      results.push({
        connectors: n,
        startSeconds: round(startSeconds, 1),
        idleRssMb,
        peakRssMb: worker.peakRssMb(),
        offeredRate: rate,
        pgbenchTps: bench.tps,
        publishedPerSec: round((published(m1) - published(m0)) / windowSeconds),
        maxLagSeconds: round(maxLag, 2),
        peakSessions,
        cpu: cpuReport,
      });
      log(`connectors ${n}: ${JSON.stringify(results[results.length - 1])}`);
    } finally {
      await worker.stop();
      await deleteTopics(topics);
    }
  }
  return results;
}

interface Results {
  connectors?: ConnectorsResult[];
  snapshot?: SnapshotResult[];
  stream?: StreamResult[];
  backlog?: BacklogResult[];
  overhead?: OverheadResult[];
}

/** The median of a few runs (NaN for none). */
function median(xs: number[]): number {
  return (
    quantile(
      [...xs].sort((a, b) => a - b),
      0.5,
    ) ?? NaN
  );
}

function report(results: Results): string {
  const out: string[] = [];
  if (results.connectors) {
    const [first, last] = [results.connectors[0], results.connectors[results.connectors.length - 1]];
    const perConnector = last && first && last.connectors > first.connectors ? round(((last.idleRssMb - first.idleRssMb) * 1024) / (last.connectors - first.connectors)) : null;
    out.push(`Connectors in one worker, one database (memory per connector, idle: ${perConnector ?? '-'} KB)`);
    out.push(
      table(
        ['connectors', 'streaming after s', 'idle RSS MB', 'peak RSS MB', 'offered/s', 'pgbench tps', 'published/s', 'max lag s', 'peak PG sessions', 'worker cores busy'],
        results.connectors.map((r) => [
          fmt(r.connectors),
          String(r.startSeconds),
          String(r.idleRssMb),
          String(r.peakRssMb),
          fmt(r.offeredRate),
          fmt(r.pgbenchTps),
          fmt(r.publishedPerSec),
          String(r.maxLagSeconds),
          String(r.peakSessions),
          String(r.cpu.coresByGroup.worker ?? '-'),
        ]),
      ),
    );
    out.push('');
  }
  if (results.snapshot) {
    out.push('Snapshot (worker = real CLI, snapshot only; PG = COPY row_to_json to /dev/null; Kafka = ProducerPerformance acks=all)');
    out.push(
      table(
        ['rows', 'B/row', 'worker rows/s', 'MB/s', 'us/row', 'peak RSS MB', 'PG rows/s', 'Kafka rows/s', 'vs PG', 'vs Kafka', 'cores busy (worker/pg/java)'],
        results.snapshot.map((s) => [
          fmt(s.rows),
          fmt(s.avgKeyBytes + s.avgValueBytes),
          fmt(s.worker.rowsPerSec),
          fmt(s.worker.mbPerSec, 1),
          fmt(s.worker.usPerRow, 2),
          fmt(s.worker.peakRssMb, 1),
          fmt(s.postgresCopy.rowsPerSec),
          fmt(s.kafkaProducerPerf.rowsPerSec),
          fmt(s.ratioToPostgres, 2),
          fmt(s.ratioToKafka, 2),
          `${fmt(s.worker.cpu.coresBusy, 2)} (${fmt(s.worker.cpu.coresByGroup.worker, 2)}/${fmt(s.worker.cpu.coresByGroup.postgres, 2)}/${fmt(s.worker.cpu.coresByGroup.java, 2)})`,
        ]),
      ),
    );
    if (results.snapshot.length >= 2) {
      const [a, b] = results.snapshot;
      out.push(`time per row ${fmt(b.rows)} vs ${fmt(a.rows)}: ${fmt(b.worker.usPerRow / a.worker.usPerRow, 2)}x; peak RSS ${fmt(b.worker.peakRssMb, 1)} vs ${fmt(a.worker.peakRssMb, 1)} MB`);
    }
    out.push('');
    out.push("Snapshot by sink.compression and sink.delivery (same table, one worker run each; broker bytes = the topic's log segments)");
    out.push(
      table(
        ['rows', 'compression', 'delivery', 'rows/s', 'vs Kafka', 'worker CPU s per 1M rows', 'peak RSS MB', 'broker MB', 'broker B/row'],
        results.snapshot.flatMap((s) =>
          s.variants.map((v) => [
            fmt(s.rows),
            v.compression,
            v.delivery,
            fmt(v.rowsPerSec),
            fmt(v.rowsPerSec / s.kafkaProducerPerf.rowsPerSec, 2),
            fmt(v.workerCpuUsPerRow, 1),
            fmt(v.peakRssMb, 1),
            v.brokerBytes === null ? '-' : fmt(v.brokerBytes / 1e6, 1),
            v.brokerBytes === null ? '-' : fmt(v.brokerBytes / s.rows, 0),
          ]),
        ),
      ),
    );
    out.push('');
  }
  if (results.stream) {
    out.push(`Streaming (pgbench c clients, 90% single-row UPDATE / 10% INSERT, ${SECONDS} s; latency ms: direct = broker LogAppendTime - updated_at; hist = worker histogram)`);
    out.push(
      table(
        ['load', 'pgbench tps', 'published/s', 'p50', 'p95', 'p99', 'hist p50', 'hist p95', 'hist p99', 'pending at end', 'lag at end s', 'drain s', 'cores busy (worker/pg/java)'],
        results.stream.map((s) => [
          `${s.offeredRate ? `-R ${s.offeredRate}` : 'unthrottled'} c=${s.clients} ${s.delivery}`,
          fmt(s.pgbench.tps),
          fmt(s.publishedPerSec),
          fmt(s.latencyDirect.p50),
          fmt(s.latencyDirect.p95),
          fmt(s.latencyDirect.p99),
          fmt(s.latencyFromHistogram.p50, 1),
          fmt(s.latencyFromHistogram.p95, 1),
          fmt(s.latencyFromHistogram.p99, 1),
          fmt(s.endLag.pending),
          fmt(s.endLag.oldestAgeSeconds, 2),
          fmt(s.drainSeconds, 1),
          `${fmt(s.cpu.coresBusy, 2)} (${fmt(s.cpu.coresByGroup.worker, 2)}/${fmt(s.cpu.coresByGroup.postgres, 2)}/${fmt(s.cpu.coresByGroup.java, 2)})`,
        ]),
      ),
    );
    out.push('');
  }
  if (results.snapshot && DELIVERIES.length > 1) {
    for (const s of results.snapshot) {
      const of = (d: string) => s.variants.filter((v) => v.delivery === d && v.compression === COMPRESSIONS[0]);
      const med = (d: string, f: (v: WorkerSnapshot) => number) => median(of(d).map(f));
      const [head, ...others] = DELIVERIES;
      for (const o of others) {
        out.push(
          `snapshot ${fmt(s.rows)}, median of ${of(head).length} alternating runs each: ${head} ${fmt(med(head, (v) => v.rowsPerSec))} rows/s vs ${o} ${fmt(med(o, (v) => v.rowsPerSec))} rows/s = ` +
            `${fmt(med(head, (v) => v.rowsPerSec) / med(o, (v) => v.rowsPerSec), 3)}x (runs: ${of(head)
              .map((v) => fmt(v.rowsPerSec))
              .join(', ')} vs ${of(o)
              .map((v) => fmt(v.rowsPerSec))
              .join(', ')}); ` +
            `worker CPU ${fmt(
              med(head, (v) => v.workerCpuUsPerRow),
              1,
            )} vs ${fmt(
              med(o, (v) => v.workerCpuUsPerRow),
              1,
            )} s per 1M rows`,
        );
      }
    }
    out.push('');
  }
  if (results.backlog) {
    for (const b of results.backlog) {
      out.push(
        `Backlog drain, ${b.delivery} (worker's own limit): ${fmt(b.changes)} changes committed with no worker, drained in ${fmt(b.seconds, 1)} s from worker start = ${fmt(b.changesPerSec)} changes/s; cores busy ${fmt(b.cpu.coresBusy, 2)} (worker ${fmt(b.cpu.coresByGroup.worker, 2)}, postgres ${fmt(b.cpu.coresByGroup.postgres, 2)}, java ${fmt(b.cpu.coresByGroup.java, 2)})`,
      );
    }
    if (DELIVERIES.length > 1) {
      const med = (d: string) => median(results.backlog!.filter((b) => b.delivery === d).map((b) => b.changesPerSec));
      out.push(
        `backlog drain, median of alternating runs: ${DELIVERIES[0]} ${fmt(med(DELIVERIES[0]))} vs ${DELIVERIES[1]} ${fmt(med(DELIVERIES[1]))} changes/s = ${fmt(med(DELIVERIES[0]) / med(DELIVERIES[1]), 3)}x`,
      );
    }
    out.push('');
  }
  if (results.overhead) {
    const ovh = results.overhead;
    const syncNote = process.env.BENCH_OVERHEAD_ASYNC_COMMIT === '1' ? 'synchronous_commit=off' : 'synchronous_commit=on';
    out.push(
      `Source overhead, ${syncNote}: single-row UPDATE by random key (4 clients, ${OVERHEAD_SECONDS} s; with the worker draining, and with no worker: the triggers alone) and 1,000-row UPDATE (2 clients, ${OVERHEAD_BULK_SECONDS} s, no worker); ${OVERHEAD_ROUNDS} alternating rounds, medians`,
    );
    const rows: string[][] = [];
    for (const workload of ['single-row', 'single-row, no worker', '1000-row'] as const) {
      const of = (v: OverheadVariant) => ovh.filter((o) => o.workload === workload && o.variant === v);
      const base = median(of('no trigger').map((o) => o.rowsPerSec));
      for (const v of OVERHEAD_VARIANTS) {
        const runs = of(v);
        const med = median(runs.map((o) => o.rowsPerSec));
        rows.push([workload, v, runs.map((o) => fmt(o.rowsPerSec)).join(' / '), fmt(med), fmt(med / base, 3), fmt(median(runs.map((o) => o.cpu.coresByGroup.postgres)), 2)]);
      }
    }
    out.push(table(['workload', 'variant', 'rows/s per round', 'median rows/s', 'vs no trigger', 'postgres cores'], rows));
    out.push('');
  }
  const profiles = [
    ...(results.snapshot ?? []).flatMap((s) => s.variants.map((v) => [`snapshot ${s.rows} ${v.compression} ${v.delivery}`, v.profile] as const)),
    ...(results.stream ?? []).map((s) => [`stream ${s.label}`, s.profile] as const),
    ...(results.backlog ?? []).map((b) => [`backlog drain ${b.delivery}`, b.profile] as const),
  ];
  for (const [what, p] of profiles) {
    if (!p) continue;
    out.push(`CPU profile, ${what} (${p.file}, ${fmt(p.totalMs)} ms sampled): top self time`);
    for (const e of p.top) out.push(`  ${fmt(e.selfPercent, 1).padStart(5)}%  ${e.fn}  ${e.where}`);
    out.push('  by module: ' + p.byModule.map((m) => `${m.module} ${fmt(m.selfPercent, 1)}%`).join(', '));
    out.push('');
  }
  return out.join('\n');
}

async function main(): Promise<void> {
  ensurePgbench();
  const started = new Date().toISOString();
  const env = environment();
  log(`environment: ${JSON.stringify(env)}`);
  const results: Results = {};
  try {
    if (ONLY.has('snapshot')) results.snapshot = await snapshotBench();
    if (ONLY.has('stream') || ONLY.has('backlog')) {
      if (ONLY.has('stream')) results.stream = await streamBench();
      results.backlog = [];
      for (let r = 1; r <= DELIVERY_ROUNDS; r++) for (const delivery of DELIVERIES) results.backlog.push(await backlogBench(delivery, r));
    }
    if (ONLY.has('overhead')) results.overhead = await overheadBench();
    if (ONLY.has('connectors')) results.connectors = await connectorsBench();
  } finally {
    await deleteTopics(TOPICS);
  }
  const text = report(results);
  process.stdout.write('\n' + text + '\n');
  const file = path.join(REPO_ROOT, 'bench', 'results.json');
  fs.writeFileSync(
    file,
    JSON.stringify(
      {
        runId: RUN_ID,
        started,
        finished: new Date().toISOString(),
        settings: { seconds: SECONDS, overheadSeconds: OVERHEAD_SECONDS, sizes: SIZES, snapshotBatch: SNAPSHOT_BATCH ?? 'default', profile: PROFILE },
        environment: env,
        results,
        table: text,
      },
      null,
      2,
    ) + '\n',
  );
  log(`wrote ${path.relative(REPO_ROOT, file)}`);
}

main().catch((err) => {
  process.stderr.write(`bench failed: ${(err as Error).stack ?? String(err)}\n`);
  process.exitCode = 1;
});
