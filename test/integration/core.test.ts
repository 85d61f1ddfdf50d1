/**
 * The core, in process, against the real PostgreSQL (no Kafka, no worker process): the statements
 * of postgres/queries.ts, the trigger and its change log, the idle handshake, record building.
 * Fast, and precise about what each piece does; the process-level tests check them together.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { RecordBuilder } from '../../src/kafka/records';
import { FORMATS } from '../../src/format';
import { REPO_ROOT } from '../helpers/worker';
import { installCapture, lowerIdleFlag, raiseIdleFlag } from '../../src/postgres/capture';
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
    const { snapshot } = tableStatements(plan, null, FORMATS.json);
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
    const { ordinal } = tableStatements(plan, null, FORMATS.json);
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
    const log = tableStatements(plan, captureNames('core_orders').logTable, FORMATS.json).changeLog!;
    await db.query(`UPDATE orders SET amount = 0 WHERE tenant = 'a' AND id IN (1, 2)`);
    await db.query(`UPDATE orders SET amount = 1 WHERE tenant = 'a' AND id = 1`);
    await db.query(`DELETE FROM orders WHERE tenant = 'b' AND id = 3`);
    await db.query(`UPDATE orders SET id = 99 WHERE tenant = 'c' AND id = 4`); // a key move: old key deleted, new key upserted
    await db.query(`BEGIN; UPDATE orders SET amount = 7 WHERE tenant = 'a' AND id = 9; ROLLBACK`);
    expect(await log.pendingStats(db.client, '0')).to.include({ pending: 6 });

    const { rows, snapshot } = await log.drain(db.client, 100, [], '0');
    expect(snapshot, 'the drain says which snapshot it read in').to.have.keys('xmin', 'xmax');
    expect(rows.map((r) => [r.k, r.v === null ? null : JSON.parse(r.v).amount, r.seqs.length])).to.deep.equal([
      ['{"tenant":"a","id":1}', 1, 2],
      ['{"tenant":"a","id":2}', 0, 1],
      ['{"tenant":"b","id":3}', null, 1],
      ['{"tenant":"c","id":4}', null, 1],
      ['{"tenant":"c","id":99}', 6, 1],
    ]);
    const firstTwo = rows.slice(0, 2).flatMap((r) => r.seqs);
    const rest = (await log.drain(db.client, 100, firstTwo, '0')).rows;
    expect(
      rest.map((r) => r.k),
      'entries in flight are left out',
    ).to.deep.equal(rows.slice(2).map((r) => r.k));
    // A batch's entries are trimmed in the statement that stores the position after it.
    const store = new ProgressStore(db.client, 'core-log', captureNames('core_orders').logTable);
    await store.loadOrCreate();
    const logOid = await log.oid(db.client);
    expect(logOid).to.be.a('number');
    await store.save(store.next({}, { logOid: logOid as number, seqs: rows.flatMap((r) => r.seqs), untilUs: null }));
    expect(await log.hasChanges(db.client, '0')).to.equal(false);
    expect(await log.pendingStats(db.client, '0')).to.deep.equal({ pending: 0, lagSeconds: 0 });
    expect((await store.loadOrCreate()).commit).to.equal(1);

    const builder = new RecordBuilder('orders', 'core', 'run');
    const tombstone = builder.change(rows[2]);
    expect(tombstone.op).to.equal('delete');
    expect(tombstone.records[0].value).to.equal(null);
  });

  it('logs the keys of every statement shape once per statement, and of a partitioned table per row, TRUNCATE included', async () => {
    const logged = async (log: string) => (await db.query<{ k: string }>(`SELECT k::text FROM kafka_cdc.${log} ORDER BY k::text`)).map((r) => r.k);
    const clear = (log: string) => db.query(`DELETE FROM kafka_cdc.${log}`);

    await db.query(`CREATE TABLE shapes (id int PRIMARY KEY, v int)`);
    await db.query(`INSERT INTO shapes SELECT g, g FROM generate_series(1, 10) AS g`);
    const plain = await planFor(db, { table: { schema: null, name: 'shapes' }, channel: 'core_shapes' });
    await installCapture(db.client, plain, 'core_shapes');
    const triggers = await db.query<{ tgname: string }>(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'shapes'::regclass ORDER BY tgname`);
    expect(triggers.map((t) => t.tgname)).to.deep.equal(['core_shapes_t', 'core_shapes_td', 'core_shapes_tk', 'core_shapes_tt', 'core_shapes_tu']);
    await db.query(`UPDATE shapes SET v = v + 1 WHERE id <= 3`);
    expect(await logged('core_shapes_log'), 'a multi-row UPDATE').to.deep.equal(['[1]', '[2]', '[3]']);
    await clear('core_shapes_log');
    await db.query(`UPDATE shapes SET id = id + 100 WHERE id IN (4, 5)`);
    expect(await logged('core_shapes_log'), 'key moves: old and new keys').to.deep.equal(['[104]', '[105]', '[4]', '[5]']);
    await clear('core_shapes_log');
    await db.query(`INSERT INTO shapes VALUES (1, 0), (50, 0) ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v`);
    expect(await logged('core_shapes_log'), 'INSERT ... ON CONFLICT DO UPDATE: the updated and the inserted key').to.deep.equal(['[1]', '[50]']);
    await clear('core_shapes_log');
    await db.query(`WITH d AS (DELETE FROM shapes WHERE id = 6 RETURNING id) DELETE FROM shapes WHERE id = 7`);
    expect(await logged('core_shapes_log'), 'two DELETEs in one statement').to.deep.equal(['[6]', '[7]']);
    await clear('core_shapes_log');
    await db.query(`UPDATE shapes SET v = 0 WHERE false`);
    expect(await logged('core_shapes_log'), 'a statement that changes nothing logs nothing').to.deep.equal([]);

    await db.query(`CREATE TABLE parts (id int PRIMARY KEY, v int) PARTITION BY RANGE (id)`);
    await db.query(`CREATE TABLE parts_low PARTITION OF parts FOR VALUES FROM (0) TO (100)`);
    await db.query(`CREATE TABLE parts_high PARTITION OF parts FOR VALUES FROM (100) TO (1000)`);
    await db.query(`INSERT INTO parts VALUES (1, 1), (2, 2), (150, 3)`);
    const partitioned = await planFor(db, { table: { schema: null, name: 'parts' }, channel: 'core_parts' });
    await installCapture(db.client, partitioned, 'core_parts');
    await db.query(`UPDATE parts SET id = 200 WHERE id = 1`); // moves the row to another partition
    await db.query(`INSERT INTO parts_low VALUES (3, 3)`); // straight into a partition
    expect(await logged('core_parts_log')).to.deep.equal(['[1]', '[200]', '[3]']);
    await clear('core_parts_log');
    await db.query(`TRUNCATE parts`);
    expect(await logged('core_parts_log'), 'TRUNCATE of the parent: every key of every partition').to.deep.equal(['[150]', '[200]', '[2]', '[3]']);
  });

  it('renders a row of every mapped type exactly as the golden files say, in each sink.format', async () => {
    await db.query(`CREATE TABLE formats (
      id bigint PRIMARY KEY, i2 smallint, i4 int, big bigint, amount numeric(20,4), free numeric, r4 real, r8 double precision, nan double precision,
      flag boolean, note text, code char(3), uid uuid, doc jsonb, js json, ts timestamptz, inf_ts timestamptz, local_ts timestamp, day date,
      t time, raw bytea, tags text[], counts int[], stamps timestamptz[], span interval)`);
    await db.query(`INSERT INTO formats VALUES (9007199254740993, -32768, 2147483647, -9223372036854775808, 12345678901234.5678, 1.000000000000000000001,
      1.5, 0.30000000000000004, 'NaN', true, E'line\nbreak "quoted" \u00e9\u4e2d', 'ab', 'c81e728d-9d4c-2f63-6f06-7f89cc14862c', '{"b": [1, 2.50], "a": null}',
      '{"raw":  "kept as written"}', '2026-11-26 10:00:00.123456+01', 'infinity', '2026-11-26 10:00:00.000001', '2024-02-29', '23:59:59.999999',
      '\\xdeadbeef', ARRAY['x', NULL, 'z'], ARRAY[1, 2], ARRAY['2026-01-01 00:00:00+00'::timestamptz], '1 day 2 hours')`);
    for (const format of ['json', 'connect_json', 'debezium'] as const) {
      const plan = await planFor(db, { table: { schema: null, name: 'formats' }, format });
      const [row] = await tableStatements(plan, null, FORMATS[format]).snapshot.page(db.client, 10, null);
      // 2025-11-26T10:00:00Z: ts_ms is the only moving part.
      const encoder = FORMATS[format].encoder({ plan, connector: 'core', version: '0.0.0-test', clock: () => 1764151200000 });
      const record = new RecordBuilder('formats', 'core', 'run', encoder).snapshot(row, 1);
      // The exact bytes of key and value, a line each: numbers beyond 2^53 and decimals must stay as PostgreSQL wrote them.
      let rendered = `${record.key.toString()}\n${record.value?.toString() ?? 'null'}\n`;
      if (format === 'debezium') {
        // The change events too: an insert (c), an update (u, before holds the key), a delete (d, then the tombstone).
        const builder = new RecordBuilder('formats', 'core', 'run', encoder);
        const changed = { changed_ms: 1764151199000.5, seqs: ['7'] };
        const events = [
          ...builder.change({ ...row, ...changed, inserted: true }).records,
          ...builder.change({ ...row, ...changed, inserted: false }).records,
          ...builder.change({ k: row.k, v: null, o: null, ...changed }).records,
        ];
        rendered += events.map((r) => `${r.value?.toString() ?? 'null'}\n`).join('');
      }
      const golden = path.join(REPO_ROOT, 'test', 'fixtures', 'formats', `${format}.golden`);
      if (process.env.UPDATE_GOLDEN === '1') fs.writeFileSync(golden, rendered);
      expect(rendered, `${format}: differs from ${golden} (UPDATE_GOLDEN=1 rewrites it after a deliberate change)`).to.equal(fs.readFileSync(golden, 'utf8'));
      expect(record.value?.toString()).to.contain('9007199254740993').and.to.contain('12345678901234.5678');
      expect(() => JSON.parse(record.value?.toString() ?? ''), 'valid JSON').not.to.throw();
    }
  });

  it('the idle handshake: the idle lock waits for writers that shared it, and from then on every writer NOTIFYs', async () => {
    // The capture objects are those of the test above (channel core_orders).
    const writer = await openTestDb(db.name);
    const listener = await openTestDb(db.name);
    const heard: string[] = [];
    listener.client.on('notification', (n) => heard.push(n.channel));
    await listener.query('LISTEN core_orders');
    const settle = () => listener.query('SELECT 1'); // notifications arrive before the answer to a later query
    try {
      await writer.query('BEGIN');
      await writer.query(`UPDATE orders SET amount = 2 WHERE tenant = 'a' AND id = 10`); // shares the lock: no NOTIFY
      expect(await raiseIdleFlag(db.client, 'core_orders', 200), 'an open writer holds the lock shared').to.equal(false);
      await writer.query('COMMIT');
      await settle();
      expect(heard, 'the busy worker was not notified').to.deep.equal([]);
      expect(await raiseIdleFlag(db.client, 'core_orders', 200), 'granted once the writer committed').to.equal(true);
      await writer.query(`UPDATE orders SET amount = 3 WHERE tenant = 'a' AND id = 10`);
      await settle();
      expect(heard, 'a writer NOTIFYs the idle worker').to.deep.equal(['core_orders']);
      await lowerIdleFlag(db.client, 'core_orders');
      await writer.query(`UPDATE orders SET amount = 4 WHERE tenant = 'a' AND id = 10`);
      await settle();
      expect(heard, 'and stops once it is busy again').to.deep.equal(['core_orders']);
    } finally {
      await writer.close();
      await listener.close();
    }
  });

  it("stores progress in the connector's row, created on first load, and resets it", async () => {
    const store = new ProgressStore(db.client, 'core');
    expect(await store.loadOrCreate()).to.deep.include({ snapshotState: 'pending', snapshotKey: null, snapshotRows: 0, identity: null });
    const first = await store.loadOrCreate();
    expect(first.run).to.match(/^[0-9a-f]{16}$/);
    await store.advance({ snapshotState: 'running', snapshotKey: ['a', '7'], snapshotRows: 7 });
    await store.saveIdentity({ topic: 't', tableOid: 1, tableName: 'public.orders', channel: null, key: 'id bigint', format: null, partitions: null, topicId: null, leaves: null });
    expect(await store.loadOrCreate()).to.deep.include({ snapshotState: 'running', snapshotKey: ['a', '7'], snapshotRows: 7, commit: 1, run: first.run });
    await store.reset();
    const after = await store.loadOrCreate();
    expect(after).to.deep.include({ snapshotState: 'pending', snapshotKey: null, commit: 0 });
    expect(after.run, 'a reset starts a new run').to.not.equal(first.run);
    expect(after.identity).to.deep.equal({ topic: 't', tableOid: 1, tableName: 'public.orders', channel: null, key: 'id bigint', format: null, partitions: null, topicId: null, leaves: null });
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
    expect(await other.reconcile({ ...two, commit: 3, snapshotKey: ['3'], snapshotRows: 3 }, null)).to.deep.equal({ kind: 'adopted', from: 2, to: 3, trimmed: 0 });
    expect(await other.loadOrCreate()).to.deep.include({ run: start.run, commit: 3, snapshotKey: ['3'], snapshotRows: 3 });
    // More than one commit ahead, or ahead on another history of the database: it went back in time.
    // Nothing is trimmed and nothing of Kafka's position is taken but its commit counter.
    const behind = await other.reconcile({ ...two, commit: 7, snapshotKey: ['7'], trim: { logOid: 1, seqs: ['1'], untilUs: null } }, 1);
    expect(behind).to.deep.include({ kind: 'history', from: 3, to: 7 });
    expect(await other.loadOrCreate()).to.deep.include({ commit: 7, snapshotKey: ['3'] });
    other.origin = '1:2';
    expect(await other.reconcile({ ...two, commit: 8, origin: '1:1' }, null)).to.deep.include({ kind: 'history', from: 7, to: 8, committedOrigin: '1:1', origin: '1:2' });
  });
});
