/**
 * Schema changes while a connector streams: an added column shows without a restart, and a change
 * the connector cannot follow (a dropped included column, another primary key, a dropped table)
 * stops it in `failed` with what to do, never a crash loop or silent loss.
 */
import { expect } from 'chai';
import { assertConverges } from '../helpers/converge';
import { itemsScenario, scenarioPerTest } from '../helpers/scenario';
import { eventually } from '../helpers/wait';

describe('schema changes while streaming', function () {
  this.timeout(180_000);
  const slot = scenarioPerTest();

  it('shows a column added to the table in the next records, without a restart', async () => {
    const s = (slot.s = await itemsScenario('schema add column', { rows: 50 }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await s.db.query(`ALTER TABLE items ADD COLUMN color text NOT NULL DEFAULT 'blue'`);
    // Every row changes after the column came: each new record carries it (older records cannot).
    await s.db.query(`UPDATE items SET v = v + 1, color = CASE WHEN id <= 5 THEN 'red' ELSE color END`);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    expect(await w.metric('pg_kafka_cdc_errors_total', { connector: s.name }), 'no session failed on the way').to.equal(0);
    expect((await w.connector(s.name)).state).to.equal('streaming');
  });

  it('stops in failed, naming the column, when a column of included_columns is dropped', async () => {
    const s = (slot.s = await itemsScenario('schema drop included', { rows: 20, source: { included_columns: ['v', 'note'] } }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await s.db.query(`ALTER TABLE items DROP COLUMN note`);
    await s.db.query(`UPDATE items SET v = v + 1 WHERE id = 1`);
    const c = await w.waitForState(s.name, ['failed'], 30_000);
    expect(c.last_error?.message).to.contain('/source/included_columns/1: column "note" does not exist in "items"');
  });

  it('stops in failed, with the fix, when the primary key changes, and stays failed after a restart', async () => {
    const s = (slot.s = await itemsScenario('schema key change', { rows: 20 }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await s.db.query(`ALTER TABLE items DROP CONSTRAINT items_pkey, ADD PRIMARY KEY (id, v)`);
    const c = await w.waitForState(s.name, ['failed'], 30_000);
    expect(c.last_error?.message).to.contain('the primary key of public.items changed from (id bigint) to (id bigint, v integer)');
    expect(c.last_error?.message).to.contain('teardown --delete-topic');
    await w.stop();
    const again = await s.runWorker();
    const c2 = await again.waitForState(s.name, ['failed'], 30_000);
    expect(c2.last_error?.message).to.contain('the primary key of public.items changed');
  });

  it('stops in failed when the table is dropped', async () => {
    const s = (slot.s = await itemsScenario('schema drop table', { rows: 20 }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await s.db.query(`DROP TABLE items`);
    const c = await eventually(
      async () => {
        const v = await w.connector(s.name);
        return v.state === 'failed' ? v : null;
      },
      30_000,
      'the connector to fail',
    );
    expect(c.last_error?.message).to.contain('/source/table_name: table "items" does not exist');
  });
});
