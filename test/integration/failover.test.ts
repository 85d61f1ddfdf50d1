/**
 * The database goes back in time under the worker: a primary that fails over to an asynchronous
 * standby that had not received its last commits (a real pg_basebackup standby, promoted). The
 * topic already holds what the new primary lost, and the change log's sequence hands out its numbers
 * again. Recovery must trim nothing by the old checkpoint (those numbers are new changes now), and
 * the topic must fold to the new primary's table (docs/security.md).
 */
import { expect } from 'chai';
import { Client } from 'pg';
import { PgCluster } from '../helpers/cluster';
import { assertConverges } from '../helpers/converge';
import type { TestDb } from '../helpers/db';
import { readTopic, uniqueTopic } from '../helpers/kafka';
import { eventually } from '../helpers/wait';
import { freePort, printLogsIfFailed, type WorkerHandle, writeConfig } from '../helpers/worker';
import { InProcessWorker } from '../helpers/in-process';

async function dbAt(url: string): Promise<TestDb> {
  const client = new Client({ connectionString: url, options: '-c TimeZone=UTC' });
  client.on('error', () => undefined);
  await client.connect();
  return {
    name: new URL(url).pathname.slice(1),
    url,
    client,
    query: async <T extends object>(sql: string, params?: unknown[]) => (await client.query<T>(sql, params)).rows,
    close: () => client.end().catch(() => undefined),
  };
}

/** Waits until the standby has replayed everything the primary has written. */
async function caughtUp(primary: TestDb, standby: TestDb): Promise<void> {
  const [{ lsn }] = await primary.query<{ lsn: string }>('SELECT pg_current_wal_lsn()::text AS lsn');
  await eventually(async () => (await standby.query<{ ok: boolean }>('SELECT pg_last_wal_replay_lsn() >= $1::pg_lsn AS ok', [lsn]))[0].ok, 30_000, 'the standby to catch up');
}

describe('failover to a standby that lost commits', function () {
  this.timeout(240_000);
  const clusters: PgCluster[] = [];
  const workers: WorkerHandle[] = [];
  const dbs: TestDb[] = [];
  afterEach(async function () {
    printLogsIfFailed(this, workers);
    for (const w of workers.splice(0)) await w.stop();
    for (const d of dbs.splice(0)) await d.close();
    for (const c of clusters.splice(0)) c.remove();
  });

  it("trims nothing by the old checkpoint, re-aligns the topic with a repairing re-snapshot, and publishes the new primary's changes", async () => {
    const primary = await PgCluster.primary();
    clusters.push(primary);
    const setup = await dbAt(primary.url());
    await setup.query('CREATE DATABASE app');
    await setup.close();
    const p = await dbAt(primary.url('app'));
    dbs.push(p);
    await p.query(`CREATE TABLE items (id bigint PRIMARY KEY, v int, note text)`);
    await p.query(`INSERT INTO items SELECT g, g, 'seed' FROM generate_series(1, 500) AS g`);
    const standby = await primary.standby();
    clusters.push(standby);

    const topic = uniqueTopic('failover');
    const port = await freePort();
    const connector = { name: 'items', source: { table_name: 'items', notification: {} }, sink: { topic }, capture: { batch_size: 50 } };
    const before = await InProcessWorker.start(writeConfig({ databaseUrl: primary.url('app'), httpPort: port, connectors: [connector] }));
    workers.push(before);
    await before.waitForState('items', ['streaming'], 60_000);
    await p.query(`UPDATE items SET note = 'replicated' WHERE id <= 100`);
    await assertConverges(p, 'items', ['id'], topic);
    const s = await dbAt(standby.url('app'));
    await caughtUp(p, s);
    await s.close();

    // The standby stops receiving: what the primary commits from now on, only Kafka will have.
    standby.stop('fast');
    await p.query(`UPDATE items SET note = 'lost' WHERE id BETWEEN 101 AND 300`);
    await p.query(`DELETE FROM items WHERE id > 450`);
    await p.query(`INSERT INTO items SELECT g, g, 'lost insert' FROM generate_series(1001, 1100) AS g`);
    await assertConverges(p, 'items', ['id'], topic);
    await before.stop();
    primary.stop('immediate');
    standby.start();
    standby.promote();

    const n = await dbAt(standby.url('app'));
    dbs.push(n);
    // The new primary's own changes, before any worker runs: they take the change log's numbers that
    // the lost ones had, so the old checkpoint's trim names them (450 entries cover the 350 lost ones).
    await n.query(`UPDATE items SET note = 'after failover' WHERE id <= 450`);
    await n.query(`INSERT INTO items SELECT g, g, 'new insert' FROM generate_series(2001, 2050) AS g`);
    const after = await InProcessWorker.start(writeConfig({ databaseUrl: standby.url('app'), httpPort: port, connectors: [connector] }));
    workers.push(after);
    await after.waitForState('items', ['streaming'], 60_000);
    await eventually(async () => (await after.connector('items')).resnapshot?.state === 'done', 60_000, 'the repairing re-snapshot to finish');
    await assertConverges(n, 'items', ['id'], topic);
    expect(after.logs()).to.contain('the database went back in time');
    expect(after.logs()).to.contain('the database is on another timeline than in the last session');
    expect(await after.metric('pg_kafka_cdc_history_changes_total', { connector: 'items', kind: 'behind_kafka' })).to.equal(1);
    const [request] = await n.query<{ repair: boolean; reason: string; state: string }>(`SELECT repair, reason, state FROM kafka_cdc.snapshot_requests`);
    expect(request).to.include({ repair: true, state: 'done' });
    expect(request.reason).to.contain('the database went back in time');
    const tombstoned = (await readTopic(topic)).filter((r) => r.headers.change_id?.includes(':x')).map((r) => JSON.parse(r.key ?? 'null').id);
    expect(tombstoned, 'the rows only the lost primary had').to.include.members([1001, 1050, 1100]);
  });
});
