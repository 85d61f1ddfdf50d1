/** Primary keys whose equality and text differ: the topic must still converge, byte for byte. */
import { expect } from 'chai';
import { assertConverges } from '../helpers/converge';
import { createTestDb, type TestDb } from '../helpers/db';
import { uniqueTopic } from '../helpers/kafka';
import { freePort, type WorkerHandle, writeConfig, printLogsIfFailed } from '../helpers/worker';
import { InProcessWorker } from '../helpers/in-process';

describe('primary keys of many kinds', function () {
  this.timeout(120_000);
  const workers: WorkerHandle[] = [];
  const dbs: TestDb[] = [];
  afterEach(async function () {
    printLogsIfFailed(this, workers);
    await Promise.all(workers.splice(0).map((w) => w.stop()));
    for (const db of dbs.splice(0)) await db.close();
  });

  async function mirror(title: string, ddl: string, extra: Record<string, unknown> = {}): Promise<{ db: TestDb; topic: string; w: WorkerHandle }> {
    const db = await createTestDb(title);
    dbs.push(db);
    await db.query(ddl);
    const topic = uniqueTopic('keys');
    const port = await freePort();
    const file = writeConfig({
      databaseUrl: db.url,
      httpPort: port,
      connectors: [{ name: 'k', source: { table_name: 't', notification: {} }, sink: { topic }, snapshot: { batch_size: 3 }, ...extra }],
    });
    const w = await InProcessWorker.start(file);
    workers.push(w);
    return { db, topic, w };
  }

  it('pages and captures char(n) keys without truncating them', async () => {
    const { db, topic, w } = await mirror(
      'keys char n',
      `CREATE TABLE t (code char(5) PRIMARY KEY, v int);
      INSERT INTO t SELECT 'k' || g, g FROM generate_series(1, 7) g`,
    );
    await w.waitForState('k', ['streaming']);
    await db.query(`UPDATE t SET v = 100 WHERE code = 'k1'`);
    await db.query(`INSERT INTO t VALUES ('zz', 1), ('k', 2)`);
    await db.query(`DELETE FROM t WHERE code = 'k7'`);
    await assertConverges(db, 't', ['code'], topic);
    expect((await w.connector('k')).snapshot.rows_done).to.equal(7);
  });

  it('gives the old text of an equal key its tombstone: numeric 1.5 -> 1.50', async () => {
    const { db, topic, w } = await mirror('keys numeric scale', `CREATE TABLE t (id numeric PRIMARY KEY, v int); INSERT INTO t VALUES (1.5, 1), (2, 2)`);
    await w.waitForState('k', ['streaming']);
    await db.query(`UPDATE t SET id = 1.50 WHERE id = 1.5`);
    await assertConverges(db, 't', ['id'], topic);
    await db.query(`DELETE FROM t WHERE id = 1.5`);
    await assertConverges(db, 't', ['id'], topic);
  });

  it('gives the old text of an equal key its tombstone under a case-insensitive collation', async () => {
    const { db, topic, w } = await mirror(
      'keys case insensitive',
      `CREATE COLLATION IF NOT EXISTS ci (provider = icu, locale = 'und-u-ks-level2', deterministic = false);
      CREATE TABLE t (id text COLLATE ci PRIMARY KEY, v int); INSERT INTO t VALUES ('abc', 1), ('x', 2)`,
    );
    await w.waitForState('k', ['streaming']);
    await db.query(`UPDATE t SET id = 'ABC' WHERE id = 'abc'`);
    await assertConverges(db, 't', ['id'], topic);
  });

  it('round-trips composite keys of dates, timestamps, uuids and text written under another DateStyle and TimeZone', async () => {
    const { db, topic, w } = await mirror(
      'keys composite',
      `CREATE TABLE t (d date, ts timestamptz, u uuid, s text, v int, PRIMARY KEY (d, ts, u, s));
      INSERT INTO t SELECT date '2024-01-01' + g, timestamptz '2024-01-01 10:00:00.123456+00' + g * interval '1 hour', md5(g::text)::uuid, 'é "q" \\' || g, g FROM generate_series(1, 10) g`,
    );
    await w.waitForState('k', ['streaming']);
    await db.query(`SET DateStyle = 'SQL, DMY'; SET TimeZone = 'Europe/Amsterdam'; UPDATE t SET v = -v WHERE v <= 5; DELETE FROM t WHERE v = 10; RESET DateStyle; RESET TimeZone`);
    await db.query(`SET TimeZone = 'UTC'`);
    await assertConverges(db, 't', ['d', 'ts', 'u', 's'], topic);
  });
});
