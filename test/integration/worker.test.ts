/** The worker process: many connectors isolated, graceful stop, hot standby, endpoints and metrics. */
import { expect } from 'chai';
import { assertConverges } from '../helpers/converge';
import { createTestDb } from '../helpers/db';
import { uniqueTopic } from '../helpers/kafka';
import { itemsScenario, type Scenario } from '../helpers/scenario';
import { delay, eventually } from '../helpers/wait';
import { startWriter } from '../helpers/writer';
import { freePort, WorkerProcess, writeConfig, printLogsIfFailed } from '../helpers/worker';

describe('the worker', function () {
  this.timeout(180_000);
  const toStop: WorkerProcess[] = [];
  const scenarios: Scenario[] = [];
  afterEach(async function () {
    printLogsIfFailed(this, [...toStop, ...scenarios.flatMap((s) => s.workers)]);
    await Promise.all(toStop.splice(0).map((w) => w.stop()));
    for (const s of scenarios.splice(0)) await s.cleanup();
  });

  it('keeps the other connectors running while one connector cannot reach its database, and is not ready meanwhile', async () => {
    const db = await createTestDb('worker isolation');
    await db.query(`CREATE TABLE good (id int PRIMARY KEY, v text)`);
    await db.query(`INSERT INTO good SELECT g, 'v' || g FROM generate_series(1, 100) g`);
    const port = await freePort();
    const goodTopic = uniqueTopic('good');
    const file = writeConfig({
      databaseUrl: db.url,
      httpPort: port,
      connectors: [
        { name: 'good', source: { table_name: 'good', notification: {} }, sink: { topic: goodTopic } },
        { name: 'down', source: { table_name: 'good', database: { url: 'postgres://postgres:s3cr3t-pw@127.0.0.1:1/nowhere' } }, sink: { topic: uniqueTopic('down') } },
      ],
    });
    const w = WorkerProcess.start(file, port);
    toStop.push(w);
    await w.waitForState('good', ['streaming']);
    await w.waitForState('down', ['retrying']);
    await db.query(`UPDATE good SET v = 'changed' WHERE id = 1`);
    await assertConverges(db, 'good', ['id'], goodTopic);
    const ready = await w.get<{ ready: boolean; not_ready: Array<{ name: string; state: string; last_error: string }> }>('/readyz');
    expect(ready.status).to.equal(503);
    expect(ready.body.not_ready.map((n) => n.name)).to.deep.equal(['down']);
    expect(ready.body.not_ready[0].last_error).to.contain('127.0.0.1:1');
    // Backoff with jitter: a few attempts, not a hot loop.
    const before = await w.metric('pg_kafka_cdc_reconnects_total', { connector: 'down' });
    await delay(3000);
    const after = await w.metric('pg_kafka_cdc_reconnects_total', { connector: 'down' });
    expect(after - before).to.be.at.most(4);
    expect(await w.metric('pg_kafka_cdc_connector_up', { connector: 'good' })).to.equal(1);
    expect(await w.metric('pg_kafka_cdc_connector_up', { connector: 'down' })).to.equal(0);
    // The password of the unreachable database appears nowhere: logs, status, metrics.
    const everything = w.logs() + JSON.stringify((await w.get('/connectors')).body) + (await w.get<string>('/metrics')).body;
    expect(everything).to.not.contain('s3cr3t-pw');
    // Nor any connection string: /connectors names the database by host, port and name only.
    expect(JSON.stringify((await w.get('/connectors')).body)).to.not.match(/postgres(ql)?:\/\//);
    await db.close();
  });

  it('stops gracefully on SIGTERM within 10 s with exit code 0, and resumes where it stopped', async () => {
    const s = await itemsScenario('worker sigterm', { rows: 40_000, connector: { snapshot: { batch_size: 500 } } });
    scenarios.push(s);
    const w = s.startWorker();
    await eventually(async () => (await w.connector(s.name)).snapshot.rows_done >= 2000, 60_000, 'snapshot progress', 20);
    const t0 = Date.now();
    w.kill('SIGTERM');
    const code = await w.waitForExit(12_000);
    expect(code).to.equal(0);
    expect(Date.now() - t0).to.be.below(10_000);
    expect(w.logs()).to.contain('worker stopped');
    const [p] = await s.db.query<{ snapshot_state: string }>(`SELECT snapshot_state FROM kafka_cdc.progress`);
    expect(p.snapshot_state).to.be.oneOf(['running', 'done']);
    const w2 = s.startWorker();
    await w2.waitForState(s.name, ['streaming']);
    await assertConverges(s.db, 'items', ['id'], s.topic);
  });

  it('runs a connector in one worker at a time: a hot standby takes over within seconds when the owner is killed', async () => {
    const s = await itemsScenario('worker standby', { rows: 1000 });
    scenarios.push(s);
    const owner = s.startWorker();
    await owner.waitForState(s.name, ['streaming']);
    const port2 = await freePort();
    const fs = await import('node:fs');
    const path = await import('node:path');
    // Same connectors, another HTTP port: a second replica.
    const cfg = JSON.parse(fs.readFileSync(s.workerFile, 'utf8')) as { http: { port: number } };
    cfg.http.port = port2;
    const file2 = path.join(path.dirname(s.workerFile), 'worker2.json');
    fs.writeFileSync(file2, JSON.stringify(cfg));
    const standby = WorkerProcess.start(file2, port2);
    toStop.push(standby);
    await standby.waitForState(s.name, ['standby']);
    expect((await standby.get('/readyz')).status, 'a standby is ready (rolling updates must not stall)').to.equal(200);
    expect(await standby.metric('pg_kafka_cdc_records_published_total', { connector: s.name })).to.equal(0);

    const writer = startWriter(s.db.url, { idSpace: 1000 });
    await writer.commitsMore(100);
    owner.kill('SIGKILL');
    const killedAt = Date.now();
    await standby.waitForState(s.name, ['streaming'], 30_000);
    const takeoverMs = Date.now() - killedAt;
    expect(takeoverMs).to.be.below(10_000);
    await writer.commitsMore(100); // changes made under the new owner
    await writer.stop();
    await assertConverges(s.db, 'items', ['id'], s.topic);
  });

  it('counts published records per op and serves health, readiness and status', async () => {
    const s = await itemsScenario('worker metrics', { rows: 25 });
    scenarios.push(s);
    const w = s.startWorker();
    await w.waitForState(s.name, ['streaming']);
    expect(await w.metric('pg_kafka_cdc_records_published_total', { connector: s.name, op: 'snapshot' })).to.equal(25);
    expect(await w.metric('pg_kafka_cdc_snapshot_rows_total', { connector: s.name })).to.equal(25);
    expect(await w.metric('pg_kafka_cdc_snapshot_completed', { connector: s.name })).to.equal(1);
    await s.db.query(`UPDATE items SET v = 0 WHERE id <= 3`);
    await s.db.query(`DELETE FROM items WHERE id > 20`);
    await eventually(async () => (await w.metric('pg_kafka_cdc_records_published_total', { connector: s.name, op: 'delete' })) === 5, 20_000, 'deletes counted');
    expect(await w.metric('pg_kafka_cdc_records_published_total', { connector: s.name, op: 'upsert' })).to.equal(3);
    expect(await w.metric('pg_kafka_cdc_end_to_end_latency_seconds_count', { connector: s.name })).to.equal(8);
    expect(await w.metric('process_resident_memory_bytes')).to.be.greaterThan(0);
    expect(await w.metric('nodejs_eventloop_lag_seconds')).to.be.at.least(0);
    const health = await w.get<{ status: string }>('/healthz');
    expect(health.status).to.equal(200);
    expect(health.body.status).to.equal('ok');
    expect((await w.get('/readyz')).status).to.equal(200);
    const status = await w.connector(s.name);
    expect(status.snapshot).to.include({ rows_done: 25, completed: true });
    expect(status.state).to.equal('streaming');
    expect((await w.get('/nope')).status).to.equal(404);
  });
});
