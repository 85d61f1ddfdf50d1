/**
 * Downstream interop with Apache Flink (2.2, SQL, embedded from Maven Central's jars): the same table
 * mirrored twice by one worker, into a sink.format debezium topic read with Flink's kafka connector
 * and debezium-json format, and into a json topic read with Flink's upsert-kafka connector. After churn
 * with inserts, updates, deletes and primary-key moves, each changelog Flink yields folds into the
 * table, every column declared in a Flink type and compared with PostgreSQL's own rendering.
 */
import { expect } from 'chai';
import { assertConverges } from '../helpers/converge';
import { createTestDb, type TestDb } from '../helpers/db';
import { foldChangelog, runFlinkSql, type FlinkRow } from '../helpers/flink';
import { KAFKA_BROKERS } from '../helpers/services';
import { readTopic, uniqueTopic } from '../helpers/kafka';
import { eventually } from '../helpers/wait';
import { freePort, printLogsIfFailed, type WorkerHandle, writeConfig } from '../helpers/worker';
import { InProcessWorker } from '../helpers/in-process';

const DDL = `CREATE TABLE items (
  id bigint PRIMARY KEY, big bigint, amount numeric(20,4), ratio double precision, ts timestamptz, local_ts timestamp,
  day date, t time, doc jsonb, tags text[], counts int[], flag boolean, note text, raw bytea, uid uuid)`;

/** A SQL array as the Flink runner prints it: a JSON array of the elements' text (null kept). */
const arrayText = (c: string) => `CASE WHEN ${c} IS NULL THEN NULL ELSE coalesce((SELECT json_agg(x::text) FROM unnest(${c}) AS x), '[]') END`;
/** ISO-like text to the microsecond, as Flink's DATE_FORMAT(x, 'yyyy-MM-dd HH:mm:ss.SSSSSS') prints it. */
const micros = (c: string) => `to_char(${c}, 'YYYY-MM-DD HH24:MI:SS.US')`;

/** Fields compared as numbers (Java prints 1.0 where PostgreSQL prints 1) and as JSON documents. */
function normalize(fields: FlinkRow['fields']): unknown[] {
  return fields.map((f, i) => (f === null ? null : i === 3 ? Number(f) : i === 8 ? JSON.stringify(JSON.parse(f as string)) : f));
}

async function expectedRows(db: TestDb, cols: { ts: string; local: string; day: string; t: string; raw: string }): Promise<Map<string, unknown[]>> {
  const rows = await db.query<{ r: FlinkRow['fields'] }>(
    `SELECT json_build_array(id::text, big::text, amount::text, ratio::text, ${cols.ts}, ${cols.local}, ${cols.day}, ${cols.t}, doc::text,
            ${arrayText('tags')}, ${arrayText('counts')}, flag::text, note, ${cols.raw}, uid::text) AS r FROM items`,
  );
  return new Map(rows.map(({ r }) => [JSON.stringify([r[0]]), normalize(r)]));
}

function compare(name: string, expected: Map<string, unknown[]>, changelog: FlinkRow[]): void {
  const actual = new Map([...foldChangelog(changelog)].map(([k, v]) => [k, normalize(v)]));
  const problems: string[] = [];
  for (const [k, v] of expected) {
    if (!actual.has(k)) problems.push(`missing ${k}`);
    else if (JSON.stringify(actual.get(k)) !== JSON.stringify(v)) problems.push(`differs ${k}:\n    flink ${JSON.stringify(actual.get(k))}\n    table ${JSON.stringify(v)}`);
  }
  for (const k of actual.keys()) if (!expected.has(k)) problems.push(`extra ${k}`);
  expect(problems.slice(0, 5), `${name}: Flink's table differs from PostgreSQL's (${problems.length} rows)`).to.deep.equal([]);
}

describe('downstream: Apache Flink SQL', function () {
  this.timeout(400_000);
  let db: TestDb;
  let worker: WorkerHandle | null = null;
  const topics = { debezium: uniqueTopic('interop-flink-dbz'), json: uniqueTopic('interop-flink-json') };

  before(async function () {
    db = await createTestDb('interop flink');
    await db.query(DDL);
    await db.query(`INSERT INTO items
      SELECT g, 9007199254740993 + g, (g * 1234567.8901)::numeric(20,4), g / 7.0, '2026-11-26 10:00:00.123456+00'::timestamptz + g * interval '1 second',
             '2026-11-26 10:00:00.654321'::timestamp - g * interval '1 day', DATE '2024-02-29' + g, '23:59:59.999999'::time - g * interval '1 minute',
             jsonb_build_object('n', g, 'tags', jsonb_build_array('a', g)), ARRAY['x', NULL, 'y' || g], ARRAY[g, g + 1], g % 2 = 0,
             'row ' || g || E' "\\u00e9\\u4e2d"', decode(md5(g::text), 'hex'), md5(g::text)::uuid
        FROM generate_series(1, 300) AS g`);
    const port = await freePort();
    const file = writeConfig({
      databaseUrl: db.url,
      httpPort: port,
      connectors: [
        { name: 'items_dbz', source: { table_name: 'items', notification: {} }, sink: { topic: topics.debezium, format: 'debezium' }, capture: { batch_size: 100 } },
        { name: 'items_json', source: { table_name: 'items', notification: {} }, sink: { topic: topics.json }, capture: { batch_size: 100 } },
      ],
    });
    worker = await InProcessWorker.start(file);
    const started = worker;
    await Promise.all([started.waitForState('items_dbz', ['streaming'], 60_000), started.waitForState('items_json', ['streaming'], 60_000)]).catch((err: Error) => {
      throw new Error(`${err.message}\n--- worker logs ---\n${started.logs().slice(-4000)}`);
    });

    // Churn: updates of every type, deletes, inserts, key moves (a delete of the old key, a new key).
    await db.query(`UPDATE items SET amount = amount * -1, ts = ts + interval '1 hour', doc = doc || '{"updated": true}', tags = tags || 'z'::text, note = NULL WHERE id % 3 = 0`);
    await db.query(`DELETE FROM items WHERE id % 10 = 1`);
    await db.query(`UPDATE items SET id = id + 1000 WHERE id BETWEEN 50 AND 59`);
    await db.query(`INSERT INTO items (id, big, amount, ts, local_ts, day, doc, tags, flag) VALUES
      (5000, -9223372036854775808, 99999999999999.9999, '1999-12-31 23:59:59.999999+00', '2000-01-01 00:00:00', '1970-01-01', '[]', '{}', NULL)`);
    await db.query(`UPDATE items SET ratio = 0.1 + 0.2, local_ts = '2000-01-01 00:00:00.000001' WHERE id = 2`);
    await db.query(`INSERT INTO items (id) VALUES (6000)`);
    await db.query(`DELETE FROM items WHERE id = 6000`);

    // Both connectors caught up: the json topic folds into the table, and every change log is drained.
    await assertConverges(db, 'items', ['id'], topics.json);
    await eventually(
      async () => {
        const logs = await db.query<{ relname: string }>(`SELECT relname FROM pg_class WHERE relnamespace = 'kafka_cdc'::regnamespace AND relname LIKE '%\\_log'`);
        for (const { relname } of logs) if ((await db.query(`SELECT 1 FROM kafka_cdc."${relname}" LIMIT 1`)).length > 0) return false;
        return logs.length === 2;
      },
      60_000,
      'the change logs to be drained',
    );
  });
  afterEach(function () {
    printLogsIfFailed(this, worker ? [worker] : []);
  });
  after(async () => {
    await worker?.stop();
    await db?.close();
  });

  it('writes Debezium change events: r for the snapshot, c for inserts, u and d with the key in before, a tombstone after each d', async () => {
    const records = await readTopic(topics.debezium);
    type Event = { payload: { before: { id: number } | null; after: { id: number } | null; op: string; source: { snapshot: string; table: string; change_id: string } } };
    const events = records.map((r) => ({ key: r.key, event: r.value === null ? null : (JSON.parse(r.value) as Event).payload }));
    const ops = (id: number) =>
      events
        .filter((e) => e.event && (e.event.after ?? e.event.before)?.id === id)
        .map((e) => e.event?.op)
        .join(' ');
    expect(ops(3), 'a snapshot row, then an UPDATE').to.equal('r u');
    // Inserted, then deleted: c then d, or d alone when both changes were drained in one batch (the row was gone).
    expect(ops(6000), 'inserted, then deleted').to.be.oneOf(['c d', 'd']);
    expect(ops(5000)).to.equal('c');
    expect(ops(1050), 'a row an UPDATE moved to a new key').to.equal('u');
    expect(ops(50), 'the old key of a moved row').to.equal('r d');
    for (const [i, e] of events.entries()) {
      if (e.event === null) {
        expect(events[i - 1].event?.op, 'a tombstone follows a d event of the same key').to.equal('d');
        expect(events[i - 1].key).to.equal(e.key);
        continue;
      }
      const { before, after, op, source } = e.event;
      if (op === 'r' || op === 'c') expect(before, op).to.equal(null);
      if (op === 'u' || op === 'd')
        expect(
          Object.entries(before ?? {}).filter(([, v]) => v !== null),
          `${op}: before holds the key only`,
        ).to.deep.equal([['id', JSON.parse(e.key!).payload.id]]);
      if (op === 'd') expect(after).to.equal(null);
      else expect(after?.id, 'after is the row of the key').to.equal(JSON.parse(e.key!).payload.id);
      expect(source.snapshot).to.equal(op === 'r' ? 'true' : 'false');
      expect(source.table).to.equal('items');
      if (op === 'd') expect(events[i + 1]?.event, 'followed by its tombstone').to.equal(null);
    }
  });

  const kafka = (topic: string) => `'topic' = '${topic}', 'properties.bootstrap.servers' = '${KAFKA_BROKERS.join(',')}',
    'properties.isolation.level' = 'read_committed', 'scan.bounded.mode' = 'latest-offset'`;

  it('reads the debezium topic with debezium-json, and the changelog folds into the table, every column in a Flink type', async () => {
    const changelog = await runFlinkSql([
      `SET 'table.exec.source.cdc-events-duplicate' = 'true'`,
      `CREATE TABLE items (
         id BIGINT, big BIGINT, amount DECIMAL(20, 4), ratio DOUBLE, ts TIMESTAMP_LTZ(6), local_ts BIGINT, \`day\` INT, t BIGINT,
         doc STRING, tags ARRAY<STRING>, counts ARRAY<INT>, flag BOOLEAN, note STRING, \`raw\` BYTES, uid STRING,
         PRIMARY KEY (id) NOT ENFORCED
       ) WITH ('connector' = 'kafka', ${kafka(topics.debezium)}, 'scan.startup.mode' = 'earliest-offset',
         'format' = 'debezium-json', 'debezium-json.schema-include' = 'true', 'debezium-json.timestamp-format.standard' = 'ISO-8601')`,
      `SELECT id, big, amount, ratio, DATE_FORMAT(ts, 'yyyy-MM-dd HH:mm:ss.SSSSSS'), local_ts, \`day\`, t, doc, tags, counts, flag, note, \`raw\`, uid FROM items`,
    ]);
    expect(changelog.length, 'Flink yielded a changelog').to.be.greaterThan(300);
    expect(
      changelog.some((r) => r.kind === '-D'),
      'deletes reach Flink as retractions',
    ).to.equal(true);
    compare(
      'debezium-json',
      await expectedRows(db, {
        ts: micros(`ts AT TIME ZONE 'UTC'`),
        local: `(extract(epoch FROM local_ts) * 1000000)::int8::text`,
        day: `(day - DATE '1970-01-01')::text`,
        t: `(extract(epoch FROM t) * 1000000)::int8::text`,
        raw: `'\\x' || encode(raw, 'hex')`,
      }),
      changelog,
    );
  });

  it('reads the json topic with upsert-kafka, and the changelog folds into the table', async () => {
    const changelog = await runFlinkSql([
      `CREATE TABLE items (
         id BIGINT, big BIGINT, amount DECIMAL(20, 4), ratio DOUBLE, ts STRING, local_ts TIMESTAMP(6), \`day\` DATE, t STRING,
         doc STRING, tags ARRAY<STRING>, counts ARRAY<INT>, flag BOOLEAN, note STRING, \`raw\` STRING, uid STRING,
         PRIMARY KEY (id) NOT ENFORCED
       ) WITH ('connector' = 'upsert-kafka', ${kafka(topics.json)},
         'key.format' = 'json', 'value.format' = 'json', 'value.json.timestamp-format.standard' = 'ISO-8601')`,
      `SELECT id, big, amount, ratio, ts, DATE_FORMAT(local_ts, 'yyyy-MM-dd HH:mm:ss.SSSSSS'), CAST(\`day\` AS STRING), t, doc, tags, counts, flag, note, \`raw\`, uid FROM items`,
    ]);
    compare(
      'upsert-kafka',
      await expectedRows(db, {
        ts: `to_json(ts AT TIME ZONE 'UTC') #>> '{}' || '+00:00'`,
        local: micros('local_ts'),
        day: 'day::text',
        t: 't::text',
        raw: 'raw::text',
      }),
      changelog,
    );
  });
});
