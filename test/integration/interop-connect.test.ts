/**
 * Downstream interop with a real Kafka Connect sink: Kafka Connect standalone (the broker's own jars)
 * runs the Debezium JDBC sink connector (io.debezium:debezium-connector-jdbc 3.5.0.Final from Maven
 * Central) on a topic the worker writes with sink.format connect_json, and on one it writes with
 * sink.format debezium (change events, as Debezium's own connectors write them), into a second PostgreSQL
 * database: upsert by key, deletes from tombstones. After churn with inserts, updates, deletes and
 * primary-key moves, the copy equals the source column by column across the lossless types.
 */
import { expect } from 'chai';
import { ConnectStandalone } from '../helpers/connect';
import { createTestDb, type TestDb } from '../helpers/db';
import { eventually } from '../helpers/wait';
import { freePort, printLogsIfFailed, type WorkerHandle, writeConfig } from '../helpers/worker';
import { InProcessWorker } from '../helpers/in-process';
import { uniqueTopic } from '../helpers/kafka';

const DDL = (table: string) => `CREATE TABLE ${table} (
  id bigint PRIMARY KEY,
  big bigint,
  amount numeric(20,4),
  ratio double precision,
  ts timestamptz,
  local_ts timestamp,
  day date,
  doc jsonb,
  tags text[],
  counts int[],
  flag boolean,
  note text,
  raw bytea,
  uid uuid)`;

/** Every column as text, by key: what "equal column by column" compares. */
const snapshotOf = async (db: TestDb, table: string) =>
  (await db.query<{ r: string }>(`SELECT concat_ws(' | ', id, big, amount, ratio, ts, local_ts, day, doc, tags, counts, flag, note, raw, uid) AS r FROM ${table} ORDER BY id`)).map((x) => x.r);

describe('downstream: Kafka Connect with the Debezium JDBC sink', function () {
  this.timeout(300_000);
  let source: TestDb;
  let target: TestDb;
  let connect: ConnectStandalone | null = null;
  let worker: WorkerHandle | null = null;

  before(async () => {
    source = await createTestDb('interop connect source');
    target = await createTestDb('interop connect target');
  });
  afterEach(function () {
    printLogsIfFailed(this, worker ? [worker] : []);
    if (this.currentTest?.state === 'failed' && connect) console.log(`--- Kafka Connect logs ---\n${connect.logs().slice(-6000)}`);
  });
  after(async () => {
    await connect?.stop();
    await worker?.stop();
    await source?.close();
    await target?.close();
  });

  /** Mirrors a fresh table in a format, runs the sink on it, churns the table, and checks that the copy equals it. */
  async function copyThroughJdbcSink(format: 'connect_json' | 'debezium'): Promise<void> {
    const items = `items_${format}`;
    const copy = `${items}_copy`;
    await connect?.stop(); // the previous test's
    await worker?.stop();
    await source.query(DDL(items));
    await target.query(DDL(copy)); // as users create their target tables
    await source.query(`INSERT INTO ${items}
      SELECT g, 9007199254740993 + g, (g * 1234567.8901)::numeric(20,4), g / 7.0, '2026-11-26 10:00:00.123456+00'::timestamptz + g * interval '1 second',
             '2026-11-26 10:00:00.654321'::timestamp - g * interval '1 day', DATE '2024-02-29' + g, jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g)),
             ARRAY['x', 'y' || g], ARRAY[g, g + 1], g % 2 = 0, 'row ' || g || E' \\u00e9\\u4e2d', decode(md5(g::text), 'hex'), md5(g::text)::uuid
        FROM generate_series(1, 300) AS g`);
    const topic = uniqueTopic('interop-connect');
    const port = await freePort();
    const file = writeConfig({
      databaseUrl: source.url,
      httpPort: port,
      connectors: [{ name: items, source: { table_name: items, notification: {} }, sink: { topic, format }, capture: { batch_size: 100 } }],
    });
    worker = await InProcessWorker.start(file);
    await worker.waitForState(items, ['streaming'], 60_000);

    connect = ConnectStandalone.start(await freePort(), {
      name: `copy-${items}`,
      'connector.class': 'io.debezium.connector.jdbc.JdbcSinkConnector',
      'tasks.max': 1,
      topics: topic,
      'connection.url': `jdbc:postgresql://127.0.0.1:5432/${target.name}`,
      'connection.username': 'postgres',
      'connection.password': 'unused',
      'insert.mode': 'upsert',
      'delete.enabled': true,
      'primary.key.mode': 'record_key',
      'schema.evolution': 'none',
      'collection.name.format': copy,
      'consumer.override.auto.offset.reset': 'earliest',
      'consumer.override.isolation.level': 'read_committed',
    });
    await connect.waitRunning(`copy-${items}`);

    // Churn while both run: updates of every type, deletes, inserts, key moves (a tombstone and a new key).
    await source.query(`UPDATE ${items} SET amount = amount * -1, ts = ts + interval '1 hour', doc = doc || '{"updated": true}', tags = tags || 'z'::text, note = NULL WHERE id % 3 = 0`);
    await source.query(`DELETE FROM ${items} WHERE id % 10 = 1`);
    await source.query(`UPDATE ${items} SET id = id + 1000 WHERE id BETWEEN 50 AND 59`);
    await source.query(
      `INSERT INTO ${items} (id, big, amount, ts, day, doc, tags, flag) VALUES (5000, -9223372036854775808, 99999999999999.9999, '1999-12-31 23:59:59.999999+00', '1970-01-01', '[]', '{}', NULL)`,
    );
    await source.query(`UPDATE ${items} SET ratio = 0.1 + 0.2, local_ts = '2000-01-01 00:00:00.000001' WHERE id = 2`);

    const expected = await snapshotOf(source, items);
    await eventually(
      async () => {
        const trace = await connect!.taskTrace(`copy-${items}`);
        if (trace) throw new Error(`Kafka Connect task failed: ${trace.slice(0, 1500)}`);
        const actual = await snapshotOf(target, copy);
        return actual.length === expected.length && actual.every((r, i) => r === expected[i]);
      },
      120_000,
      'the copy to equal the source',
    ).catch(async (err: Error) => {
      const actual = await snapshotOf(target, copy);
      const missing = expected.filter((r) => !actual.includes(r)).slice(0, 3);
      const extra = actual.filter((r) => !expected.includes(r)).slice(0, 3);
      throw new Error(`${err.message}\n  rows: source ${expected.length}, copy ${actual.length}\n  only in source: ${missing.join('\n    ')}\n  only in copy: ${extra.join('\n    ')}`);
    });
    expect(await snapshotOf(target, copy)).to.deep.equal(expected);
    const moved = await target.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${copy} WHERE id BETWEEN 50 AND 59`);
    expect(moved[0].n, 'moved keys are deleted in the copy').to.equal(0);
  }

  it('copies a connect_json topic into another PostgreSQL, equal column by column after churn with key moves and deletes', async () => {
    await copyThroughJdbcSink('connect_json');
  });

  it('copies a debezium topic the same way: the sink reads the change events (after for c, u and r, d for deletes)', async () => {
    await copyThroughJdbcSink('debezium');
  });
});
