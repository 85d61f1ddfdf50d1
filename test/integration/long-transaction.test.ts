/**
 * A long transaction holds back the xmin horizon: vacuum cannot remove the change-log entries the
 * worker deleted, and an index scan cannot mark them dead. The drain starts its scans at its floor
 * (src/connector/drain-floor.ts), so what a batch reads does not grow with the entries drained before
 * it. Measured with PostgreSQL's own count of index entries the log's scans returned
 * (pg_stat_user_indexes.idx_tup_read), not with a clock.
 */
import { expect } from 'chai';
import { Client } from 'pg';
import { assertConverges } from '../helpers/converge';
import { itemsScenario, scenarioPerTest } from '../helpers/scenario';
import { eventually } from '../helpers/wait';

describe('a long transaction holding back the xmin horizon', function () {
  this.timeout(180_000);
  const slot = scenarioPerTest();

  it("keeps the drain's reads per batch flat while the deleted entries pile up, and converges", async () => {
    const s = (slot.s = await itemsScenario('long transaction drain', { rows: 0, connector: { capture: { batch_size: 500 } } }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    const long = new Client({ connectionString: s.db.url });
    await long.connect();
    try {
      // A report that runs for an hour: its snapshot keeps every entry the worker deletes meanwhile.
      await long.query('BEGIN ISOLATION LEVEL REPEATABLE READ');
      await long.query('SELECT count(*) FROM items');
      const read = async () => {
        await s.db.query('SELECT pg_stat_clear_snapshot()');
        return Number((await s.db.query<{ n: string }>(`SELECT idx_tup_read::text AS n FROM pg_stat_user_indexes WHERE indexrelname = 'pgkc_items_items_log_pkey'`))[0].n);
      };
      const before = await read();
      const changes = 20_000;
      for (let i = 0; i < changes / 2000; i++) {
        await s.db.query(`INSERT INTO items (id, v, note) SELECT g, g, 'x' FROM generate_series($1::int, $2::int) AS g`, [i * 2000 + 1, (i + 1) * 2000]);
      }
      await assertConverges(s.db, 'items', ['id'], s.topic);
      const [{ xmin }] = await s.db.query<{ xmin: string | null }>(`SELECT backend_xmin::text AS xmin FROM pg_stat_activity WHERE pid = $1`, [(long as unknown as { processID: number }).processID]);
      expect(xmin, 'the long transaction still holds its snapshot').to.not.equal(null);
      // Without the floor, the 40 batches of 500 walk 0 + 500 + ... + 19,500 deleted entries: about 390,000.
      const scanned = await eventually(
        async () => {
          const n = (await read()) - before;
          return n >= changes ? n : null;
        },
        30_000,
        'the index statistics of the drains',
      );
      expect(scanned, 'index entries the log scans read for 20,000 changes').to.be.below(4 * changes);
    } finally {
      await long.query('ROLLBACK').catch(() => undefined);
      await long.end();
    }
  });
});
