/**
 * The core, in process, against the real PostgreSQL (no Kafka, no worker process): the statements
 * of postgres/queries.ts, the trigger and its change log, the idle handshake, record building.
 * Fast, and precise about what each piece does; the process-level tests check them together.
 */
import { expect } from 'chai';
import { RecordBuilder } from '../../src/kafka/records';
import { installCapture, stillRunning, transactionsInProgress } from '../../src/postgres/capture';
import { introspectTable } from '../../src/postgres/introspect';
import { captureNames } from '../../src/postgres/names';
import { planTable, type TablePlan } from '../../src/postgres/plan';
import { ensureWorkerSchema } from '../../src/postgres/progress';
import { positionOf, tableStatements } from '../../src/postgres/queries';
import { ProgressStore } from '../../src/progress/store';
import { connectorConfig } from '../helpers/connector-config';
import { createTestDb, openTestDb, type TestDb } from '../helpers/db';

async function planFor(db: TestDb, over: Parameters<typeof connectorConfig>[0] = {}): Promise<TablePlan> {
  const cfg = connectorConfig(over);
  const planned = planTable(cfg, await introspectTable(db.client, cfg.table), '');
  if (!planned.ok) throw new Error(planned.problems.join('; '));
  return planned.plan;
}

describe('the core, in process', () => {
  let db: TestDb;
  before(async () => {
    db = await createTestDb('core in process');
    await db.query(`CREATE TABLE orders (tenant text, id int, amount numeric(10,2), updated_at timestamptz NOT NULL DEFAULT '2024-01-01Z', PRIMARY KEY (tenant, id))`);
    await db.query(`INSERT INTO orders (tenant, id, amount) SELECT t, g, g * 1.5 FROM unnest(ARRAY['a', 'b', 'c']) AS t, generate_series(1, 40) AS g`);
    await ensureWorkerSchema(db.client);
  });
  after(() => db.close());

  it('reads the table in keyset pages by composite key, and resumes after any key without a gap or a repeat', async () => {
    const plan = await planFor(db);
    const { snapshot } = tableStatements(plan, null);
    const seen: string[] = [];
    let after: string[] | null = null;
    for (;;) {
      const page = await snapshot.page(db.client, 7, after);
      if (page.length === 0) break;
      seen.push(...page.map((r) => r.k));
      after = positionOf(page[page.length - 1]);
    }
    expect(seen).to.have.length(120);
    expect(new Set(seen).size).to.equal(120);
    expect(seen[0]).to.equal('{"tenant":"a","id":1}');
    // Resuming after a stored position (as a restarted worker does) continues with the next key.
    const resumed = await snapshot.page(db.client, 2, ['b', '40']);
    expect(resumed.map((r) => r.k)).to.deep.equal(['{"tenant":"c","id":1}', '{"tenant":"c","id":2}']);
    expect(JSON.parse(resumed[0].v as string)).to.deep.equal({ tenant: 'c', id: 1, amount: 1.5, updated_at: '2024-01-01T00:00:00+00:00' });
  });

  it('polls by ordinal past a watermark, key order breaking ties', async () => {
    const plan = await planFor(db, { ordinalColumn: 'updated_at' });
    const { ordinal } = tableStatements(plan, null);
    expect(ordinal).to.not.equal(null);
    expect(await ordinal!.maxOrdinal(db.client)).to.match(/^2024-01-01/);
    // [] is the pin of a table that was empty: everything, from the start.
    expect(await ordinal!.page(db.client, 500, [])).to.have.length(120);
    await db.query(`UPDATE orders SET updated_at = '2024-02-01Z' WHERE id = 5`);
    const fresh = await ordinal!.page(db.client, 10, ['2024-01-01 00:00:00+00']);
    expect(fresh.map((r) => r.k)).to.deep.equal(['{"tenant":"a","id":5}', '{"tenant":"b","id":5}', '{"tenant":"c","id":5}']);
    const next = await ordinal!.page(db.client, 10, positionOf(fresh[0]));
    expect(next.map((r) => r.k)).to.deep.equal(['{"tenant":"b","id":5}', '{"tenant":"c","id":5}']);
  });

  it('logs every change in the writing transaction, drains it grouped by key with tombstones, and leaves out entries in flight', async () => {
    const plan = await planFor(db, { channel: 'core_orders' });
    expect(await installCapture(db.client, plan, 'core_orders')).to.equal('installed');
    expect(await installCapture(db.client, plan, 'core_orders'), 'a second install changes nothing').to.equal('current');
    const log = tableStatements(plan, captureNames('core_orders').logTable).changeLog!;
    await db.query(`UPDATE orders SET amount = 0 WHERE tenant = 'a' AND id IN (1, 2)`);
    await db.query(`UPDATE orders SET amount = 1 WHERE tenant = 'a' AND id = 1`);
    await db.query(`DELETE FROM orders WHERE tenant = 'b' AND id = 3`);
    await db.query(`UPDATE orders SET id = 99 WHERE tenant = 'c' AND id = 4`); // a key move: old key deleted, new key upserted
    await db.query(`BEGIN; UPDATE orders SET amount = 7 WHERE tenant = 'a' AND id = 9; ROLLBACK`);
    expect(await log.pendingStats(db.client)).to.include({ pending: 6 });

    const rows = await log.drain(db.client, 100, []);
    expect(rows.map((r) => [r.k, r.v === null ? null : JSON.parse(r.v).amount, r.seqs.length])).to.deep.equal([
      ['{"tenant":"a","id":1}', 1, 2],
      ['{"tenant":"a","id":2}', 0, 1],
      ['{"tenant":"b","id":3}', null, 1],
      ['{"tenant":"c","id":4}', null, 1],
      ['{"tenant":"c","id":99}', 6, 1],
    ]);
    const firstTwo = rows.slice(0, 2).flatMap((r) => r.seqs);
    const rest = await log.drain(db.client, 100, firstTwo);
    expect(rest.map((r) => r.k), 'entries in flight are left out').to.deep.equal(rows.slice(2).map((r) => r.k));
    // A batch's entries are trimmed in the statement that stores the position after it.
    const store = new ProgressStore(db.client, 'core-log', captureNames('core_orders').logTable);
    await store.loadOrCreate();
    const logOid = await log.oid(db.client);
    expect(logOid).to.be.a('number');
    await store.save(store.next({}, { logOid: logOid as number, seqs: rows.flatMap((r) => r.seqs) }));
    expect(await log.hasChanges(db.client)).to.equal(false);
    expect(await log.pendingStats(db.client)).to.deep.equal({ pending: 0, lagSeconds: 0 });
    expect((await store.loadOrCreate()).commit).to.equal(1);

    const builder = new RecordBuilder('orders', 'core', 'run');
    const tombstone = builder.change(rows[2]);
    expect(tombstone.op).to.equal('delete');
    expect(tombstone.record.value).to.equal(null);
  });

  it('the idle handshake sees a writer whose transaction is still open, and no longer once it commits', async () => {
    const writer = await openTestDb(db.name);
    try {
      await writer.query('BEGIN');
      await writer.query(`UPDATE orders SET amount = 2 WHERE tenant = 'a' AND id = 10`);
      // The writer is the newest transaction of the server: a snapshot's xip list would not name it.
      const [{ xid }] = await writer.query<{ xid: string }>('SELECT backend_xid::text AS xid FROM pg_stat_activity WHERE pid = pg_backend_pid()');
      const open = await transactionsInProgress(db.client);
      expect(open).to.include(xid);
      expect(await stillRunning(db.client, [xid])).to.equal(1);
      await writer.query('COMMIT');
      expect(await stillRunning(db.client, [xid])).to.equal(0);
    } finally {
      await writer.close();
    }
  });

  it("stores progress in the connector's row, created on first load, and resets it", async () => {
    const store = new ProgressStore(db.client, 'core');
    expect(await store.loadOrCreate()).to.deep.include({ snapshotState: 'pending', snapshotKey: null, snapshotRows: 0, identity: null });
    const first = await store.loadOrCreate();
    expect(first.run).to.match(/^[0-9a-f]{16}$/);
    await store.advance({ snapshotState: 'running', snapshotKey: ['a', '7'], snapshotRows: 7 });
    await store.saveIdentity({ topic: 't', tableOid: 1, tableName: 'public.orders', channel: null, key: 'id bigint' });
    expect(await store.loadOrCreate()).to.deep.include({ snapshotState: 'running', snapshotKey: ['a', '7'], snapshotRows: 7, commit: 1, run: first.run });
    await store.reset();
    const after = await store.loadOrCreate();
    expect(after).to.deep.include({ snapshotState: 'pending', snapshotKey: null, commit: 0 });
    expect(after.run, 'a reset starts a new run').to.not.equal(first.run);
    expect(after.identity).to.deep.equal({ topic: 't', tableOid: 1, tableName: 'public.orders', channel: null, key: 'id bigint' });
  });

  it('keeps a later position when an earlier one arrives late (a fenced worker finishing a write), and adopts a checkpoint only when it is ahead and of its run', async () => {
    const store = new ProgressStore(db.client, 'core-monotonic');
    const start = await store.loadOrCreate();
    const one = store.next({ snapshotState: 'running', snapshotKey: ['1'], snapshotRows: 1 });
    await store.save(one);
    const two = store.next({ snapshotState: 'running', snapshotKey: ['2'], snapshotRows: 2 });
    await store.save(two);
    await store.save(one); // late
    const other = new ProgressStore(db.client, 'core-monotonic');
    expect(await other.loadOrCreate()).to.deep.include({ commit: 2, snapshotKey: ['2'] });

    expect(await other.reconcile({ ...two, commit: 2 }, null), 'not ahead').to.equal(null);
    expect(await other.reconcile({ ...two, run: 'another', commit: 9 }, null), 'another run').to.equal(null);
    expect(await other.reconcile({ ...two, commit: 3, snapshotKey: ['3'], snapshotRows: 3 }, null)).to.deep.equal({ from: 2, to: 3, trimmed: 0 });
    expect(await other.loadOrCreate()).to.deep.include({ run: start.run, commit: 3, snapshotKey: ['3'], snapshotRows: 3 });
  });
});
