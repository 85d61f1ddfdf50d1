/**
 * Convergence under faults: whatever happens to the worker, PostgreSQL or Kafka, once the worker
 * runs undisturbed the topic folded by key equals the table, and nothing rolled back is published.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as path from 'node:path';
import { assertConverges } from '../helpers/converge';
import { openTestDb } from '../helpers/db';
import { readTopic } from '../helpers/kafka';
import { HalfOpenProxy } from '../helpers/proxy';
import { itemsScenario, type Scenario } from '../helpers/scenario';
import { startWriter } from '../helpers/writer';
import { eventually } from '../helpers/wait';
import { REPO_ROOT, printLogsIfFailed } from '../helpers/worker';

const script = (p: string) => execFileSync(path.join(REPO_ROOT, 'scripts', p), { stdio: 'pipe', timeout: 120_000 });

async function noRolledBackValues(topic: string): Promise<void> {
  const records = await readTopic(topic);
  const leaked = records.filter((r) => (r.value ?? '').includes('ROLLED BACK'));
  expect(leaked, 'values from rolled-back transactions').to.have.length(0);
}

describe('convergence under faults', function () {
  this.timeout(240_000);
  let s: Scenario | null = null;
  afterEach(async function () {
    printLogsIfFailed(this, s?.workers ?? []);
    if (s) await s.cleanup();
    s = null;
  });

  it('resumes a snapshot killed with kill -9 after the last acknowledged key, not from the start', async () => {
    const rows = 60_000;
    s = await itemsScenario('faults snapshot kill', { rows, connector: { snapshot: { batch_size: 250 } } });
    const w1 = s.startWorker();
    await eventually(async () => (await w1.connector(s!.name)).snapshot.rows_done >= 5000, 60_000, 'snapshot progress', 20);
    w1.kill('SIGKILL');
    await w1.waitForExit();
    const [progress] = await s.db.query<{ snapshot_state: string; snapshot_rows: string; snapshot_key: string[] }>(`SELECT snapshot_state, snapshot_rows::text, snapshot_key FROM kafka_cdc.progress`);
    expect(progress.snapshot_state).to.equal('running');
    const doneBefore = Number(progress.snapshot_rows);
    expect(doneBefore).to.be.within(5000, rows - 1);
    expect(progress.snapshot_key).to.deep.equal([String(doneBefore)]);

    // Changes made while no worker runs are kept in the change log.
    await s.db.query(`DELETE FROM items WHERE id % 1000 = 1`);
    await s.db.query(`UPDATE items SET note = 'while down' WHERE id % 1000 = 2`);

    const w2 = s.startWorker();
    await w2.waitForState(s.name, ['streaming'], 120_000);
    expect(w2.logs()).to.contain('resuming snapshot');
    await assertConverges(s.db, 'items', ['id'], s.topic);
    const snapshotRecords = (await readTopic(s.topic)).filter((r) => r.headers.op === 'snapshot');
    // Resumed, not restarted: at most the unacknowledged batches in flight at the kill are repeated.
    expect(snapshotRecords.length).to.be.at.most(rows + 8 * 250);
    expect(snapshotRecords.length).to.be.at.least(rows - 60 - 60);
  });

  it('converges after kill -9 of the worker mid-stream while writers keep writing', async () => {
    s = await itemsScenario('faults stream kill', { rows: 2000 });
    const w1 = s.startWorker();
    await w1.waitForState(s.name, ['streaming']);
    const writer = startWriter(s.db.url, { idSpace: 2000 });
    await eventually(async () => (await w1.metric('pg_kafka_cdc_records_published_total', { connector: s!.name, op: 'upsert' })) >= 50, 30_000, 'changes published', 20);
    w1.kill('SIGKILL');
    await w1.waitForExit();
    await writer.commitsMore(100); // changes commit while nobody listens
    const w2 = s.startWorker();
    await w2.waitForState(s.name, ['streaming']);
    await writer.commitsMore(100); // and while the new owner streams
    const { committed } = await writer.stop();
    expect(committed).to.be.greaterThan(100);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    await noRolledBackValues(s.topic);
  });

  it('drains a backlog larger than a batch (the next batch read while Kafka acknowledges), killed mid-drain, and converges', async () => {
    // batch_size 50: a backlog of thousands of log entries is drained in full batches, each next one
    // read while the previous is in flight; keys repeat across batches, some rows are deleted.
    s = await itemsScenario('faults backlog prefetch', { rows: 3000, connector: { capture: { batch_size: 50 } } });
    const w1 = s.startWorker();
    await w1.waitForState(s.name, ['streaming']);
    await w1.stop();
    for (let round = 0; round < 4; round++) await s.db.query(`UPDATE items SET v = v + 1, note = 'round ${round}' WHERE id % 3 = ${round % 3}`);
    await s.db.query(`DELETE FROM items WHERE id % 7 = 0`);
    await s.db.query(`INSERT INTO items (id, v, note) SELECT g, g, 'late' FROM generate_series(3001, 3500) AS g`);
    const [{ n }] = await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM kafka_cdc.pgkc_items_items_log`);
    expect(n, 'log entries waiting').to.be.greaterThan(1000);
    const w2 = s.startWorker();
    await eventually(async () => (await w2.metric('pg_kafka_cdc_records_published_total', { connector: s!.name })) >= 200, 60_000, 'part of the backlog published', 20);
    w2.kill('SIGKILL');
    await w2.waitForExit();
    const w3 = s.startWorker();
    await w3.waitForState(s.name, ['streaming']);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    const [{ left }] = await s.db.query<{ left: number }>(`SELECT count(*)::int AS left FROM kafka_cdc.pgkc_items_items_log`);
    expect(left, 'log entries left after the drain').to.equal(0);
  });

  it("converges after the worker's PostgreSQL sessions are terminated with pg_terminate_backend", async () => {
    s = await itemsScenario('faults terminate backend', { rows: 1000, connector: { capture: { heartbeat_interval_ms: 500 } } });
    const w = s.startWorker();
    await w.waitForState(s.name, ['streaming']);
    const writer = startWriter(s.db.url, { idSpace: 1000 });
    for (let i = 0; i < 3; i++) {
      await w.waitForState(s.name, ['streaming'], 60_000);
      await writer.commitsMore(50);
      const before = await w.metric('pg_kafka_cdc_reconnects_total', { connector: s.name, target: 'postgres' }).catch(() => 0);
      const killed = await s.db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'pg-kafka-cdc%' AND datname = current_database()`);
      expect(killed.length).to.be.greaterThan(0);
      // The worker noticed this very fault (not a state from before it) and came back.
      await eventually(async () => (await w.metric('pg_kafka_cdc_reconnects_total', { connector: s!.name, target: 'postgres' })) > before, 60_000, 'a reconnect after the termination', 50);
    }
    await w.waitForState(s.name, ['streaming'], 60_000);
    await writer.commitsMore(50);
    await writer.stop();
    await assertConverges(s.db, 'items', ['id'], s.topic);
    expect(await w.metric('pg_kafka_cdc_reconnects_total', { connector: s.name, target: 'postgres' })).to.be.greaterThan(0);
    await noRolledBackValues(s.topic);
  });

  it('converges across a PostgreSQL server restart', async () => {
    s = await itemsScenario('faults postgres restart', { rows: 1000 });
    const w = s.startWorker();
    await w.waitForState(s.name, ['streaming']);
    const writer = startWriter(s.db.url, { idSpace: 1000 });
    await writer.commitsMore(100);
    const before = await w.metric('pg_kafka_cdc_reconnects_total', { connector: s.name, target: 'postgres' }).catch(() => 0);
    script('postgres/restart.sh');
    // Streaming again after a reconnect counted since the restart, not the state from before it.
    await eventually(async () => (await w.metric('pg_kafka_cdc_reconnects_total', { connector: s!.name, target: 'postgres' })) > before, 90_000, 'a reconnect after the restart', 100);
    await w.waitForState(s.name, ['streaming'], 90_000);
    await writer.commitsMore(50, 60_000);
    await writer.stop();
    const db = await openTestDb(s.db.name); // the old connection died with the server
    try {
      await assertConverges(db, 'items', ['id'], s.topic);
    } finally {
      await db.close();
    }
    await noRolledBackValues(s.topic);
  });

  it('converges across a Kafka broker restart, with lag and pending changes growing while it is down', async () => {
    s = await itemsScenario('faults kafka restart', { rows: 1000 });
    const w = s.startWorker();
    await w.waitForState(s.name, ['streaming']);
    const writer = startWriter(s.db.url, { idSpace: 1000, pauseMs: 5 });
    await writer.commitsMore(50);
    script('kafka/down.sh');
    try {
      // The backlog is measured from PostgreSQL, so it stays visible while Kafka is away.
      await eventually(async () => (await w.metric('pg_kafka_cdc_pending_changes', { connector: s!.name })) > 50, 60_000, 'pending changes to grow');
      const lag1 = await w.metric('pg_kafka_cdc_lag_seconds', { connector: s.name });
      await eventually(async () => (await w.metric('pg_kafka_cdc_lag_seconds', { connector: s!.name })) > lag1 + 1, 30_000, 'lag to grow');
      await w.waitForState(s.name, ['retrying'], 90_000);
      const ready = await w.get<{ ready: boolean; not_ready: Array<{ name: string; state: string }> }>('/readyz');
      expect(ready.status).to.equal(503);
      expect(ready.body.not_ready[0]).to.include({ name: s.name, state: 'retrying' });
    } finally {
      script('kafka/up.sh');
    }
    await w.waitForState(s.name, ['streaming'], 120_000);
    await writer.stop();
    await assertConverges(s.db, 'items', ['id'], s.topic);
    await eventually(async () => (await w.metric('pg_kafka_cdc_lag_seconds', { connector: s!.name })) === 0, 30_000, 'lag to return to 0');
    await eventually(async () => (await w.metric('pg_kafka_cdc_pending_changes', { connector: s!.name })) === 0, 30_000, 'pending to return to 0');
    expect((await w.get('/readyz')).status).to.equal(200);
    expect(await w.metric('pg_kafka_cdc_errors_total', { connector: s.name, kind: 'kafka' })).to.be.greaterThan(0);
    await noRolledBackValues(s.topic);
  });

  /** A scenario whose worker reaches PostgreSQL through a proxy that can go silent. */
  async function behindProxy(title: string, opts: Parameters<typeof itemsScenario>[1]): Promise<{ proxy: HalfOpenProxy }> {
    const proxy = new HalfOpenProxy(5432);
    const port = await proxy.start();
    s = await itemsScenario(title, opts);
    const fs = await import('node:fs');
    const cfg = JSON.parse(fs.readFileSync(s.workerFile, 'utf8')) as { database: { url: string } };
    cfg.database.url = cfg.database.url.replace(':5432/', `:${port}/`);
    fs.writeFileSync(s.workerFile, JSON.stringify(cfg));
    return { proxy };
  }

  it('finds a half-open LISTEN connection with its heartbeat and reconnects', async () => {
    const { proxy } = await behindProxy('faults half open', { rows: 100, connector: { capture: { heartbeat_interval_ms: 1000 } } });
    try {
      const w = s!.startWorker();
      await w.waitForState(s!.name, ['streaming']);
      proxy.frozen = true;
      await w.waitForState(s!.name, ['retrying'], 30_000);
      await s!.db.query(`UPDATE items SET note = 'during the partition' WHERE id <= 10`);
      proxy.unfreeze();
      await w.waitForState(s!.name, ['streaming'], 90_000);
      await assertConverges(s!.db, 'items', ['id'], s!.topic);
    } finally {
      await proxy.stop();
    }
  });

  it('finds a half-open connection during the snapshot too, and still stops within 10 s', async () => {
    const { proxy } = await behindProxy('faults half open snapshot', { rows: 60_000, connector: { snapshot: { batch_size: 200 }, capture: { heartbeat_interval_ms: 1000 } } });
    try {
      const w = s!.startWorker();
      await eventually(async () => (await w.connector(s!.name)).snapshot.rows_done >= 2000, 60_000, 'snapshot progress', 20);
      proxy.frozen = true;
      await w.waitForState(s!.name, ['retrying'], 30_000);
      const t0 = Date.now();
      w.kill('SIGTERM');
      expect(await w.waitForExit(12_000)).to.equal(0);
      expect(Date.now() - t0).to.be.below(10_000);
    } finally {
      await proxy.stop();
    }
  });
});
