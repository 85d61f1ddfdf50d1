/**
 * TRUNCATE of a captured table: every key that existed gets its tombstone (marked by a truncate
 * header), so the topic folded by key equals the table again, whether the connector streams or is
 * in the middle of its snapshot, and for several tables truncated in one statement; a TRUNCATE whose
 * trigger could not see every row it removes (REPEATABLE READ, SERIALIZABLE) is refused.
 */
import { expect } from 'chai';
import { assertConverges } from '../helpers/converge';
import { fold, readTopic, uniqueTopic } from '../helpers/kafka';
import { itemsScenario, scenarioPerTest } from '../helpers/scenario';
import { eventually } from '../helpers/wait';
import { freePort, type WorkerHandle, writeConfig } from '../helpers/worker';
import { InProcessWorker } from '../helpers/in-process';
import { createTestDb } from '../helpers/db';

describe('TRUNCATE', function () {
  this.timeout(180_000);
  const slot = scenarioPerTest();

  it('tombstones every key after a TRUNCATE while streaming, marked as a truncate, and goes on with new rows', async () => {
    const s = (slot.s = await itemsScenario('truncate streaming', { rows: 300 }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await s.db.query('TRUNCATE items');
    await s.db.query(`INSERT INTO items (id, v, note) VALUES (7, 7, 'after the truncate')`);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    const records = await readTopic(s.topic);
    const truncated = records.filter((r) => r.headers.truncate === 'true');
    expect(truncated.length, 'tombstones marked as a truncate').to.be.at.least(299);
    for (const r of truncated) expect(r.value).to.equal(null);
    expect([...fold(records).keys()]).to.deep.equal(['{"id":7}']);
  });

  it('refuses a TRUNCATE under REPEATABLE READ or SERIALIZABLE (its trigger would miss rows committed after the snapshot), and takes it under READ COMMITTED', async () => {
    const s = (slot.s = await itemsScenario('truncate isolation', { rows: 100 }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    for (const level of ['REPEATABLE READ', 'SERIALIZABLE']) {
      await s.db.query(`BEGIN ISOLATION LEVEL ${level}`);
      const refused = await s.db.query('TRUNCATE items').catch((e: Error & { code?: string }) => e);
      await s.db.query('ROLLBACK');
      expect(String(refused), level).to.contain('TRUNCATE of public.items must run in a READ COMMITTED transaction');
      expect((refused as { code?: string }).code, level).to.equal('0A000');
    }
    expect((await s.db.query<{ n: number }>('SELECT count(*)::int AS n FROM items'))[0].n).to.equal(100);
    await s.db.query('BEGIN ISOLATION LEVEL READ COMMITTED');
    await s.db.query('TRUNCATE items');
    await s.db.query('COMMIT');
    await assertConverges(s.db, 'items', ['id'], s.topic);
  });

  it('converges after a TRUNCATE in the middle of the snapshot', async () => {
    const s = (slot.s = await itemsScenario('truncate snapshot', { rows: 30_000, connector: { snapshot: { batch_size: 500 } } }));
    const w = await s.runWorker();
    await eventually(async () => (await w.connector(s.name)).snapshot.rows_done >= 3000, 60_000, 'snapshot progress', 20);
    await s.db.query('TRUNCATE items');
    await s.db.query(`INSERT INTO items (id, v, note) SELECT g, g, 'refilled' FROM generate_series(1, 100) AS g`);
    await w.waitForState(s.name, ['streaming'], 120_000);
    await assertConverges(s.db, 'items', ['id'], s.topic);
  });

  it('converges for every captured table of one TRUNCATE statement', async () => {
    const db = await createTestDb('truncate two tables');
    const workers: WorkerHandle[] = [];
    try {
      for (const t of ['a_items', 'b_items']) {
        await db.query(`CREATE TABLE ${t} (id bigint PRIMARY KEY, v int)`);
        await db.query(`INSERT INTO ${t} SELECT g, g FROM generate_series(1, 200) AS g`);
      }
      const topics = { a_items: uniqueTopic('trunc-a'), b_items: uniqueTopic('trunc-b') };
      const port = await freePort();
      const file = writeConfig({
        databaseUrl: db.url,
        httpPort: port,
        connectors: Object.entries(topics).map(([t, topic]) => ({ name: t, source: { table_name: t, notification: {} }, sink: { topic } })),
      });
      const w = await InProcessWorker.start(file);
      workers.push(w);
      for (const t of Object.keys(topics)) await w.waitForState(t, ['streaming']);
      await db.query('TRUNCATE a_items, b_items');
      await db.query('INSERT INTO b_items VALUES (1, 100)');
      for (const [t, topic] of Object.entries(topics)) await assertConverges(db, t, ['id'], topic);
    } catch (err) {
      for (const w of workers) console.log(`--- worker logs ---\n${w.logs().slice(-8000)}`);
      throw err;
    } finally {
      await Promise.all(workers.map((w) => w.stop()));
      await db.close();
    }
  });
});
