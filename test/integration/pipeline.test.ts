import { expect } from 'chai';
import { assertConverges } from '../helpers/converge';
import { createTestDb } from '../helpers/db';
import { fold, readTopic, topicExists, uniqueTopic } from '../helpers/kafka';
import { itemsScenario, type Scenario } from '../helpers/scenario';
import { eventually } from '../helpers/wait';
import { CLI, freePort, printLogsIfFailed, REPO_ROOT, WorkerProcess, writeConfig } from '../helpers/worker';
import { execFileSync } from 'node:child_process';

describe('the change-data pipeline', function () {
  this.timeout(180_000);
  let cleanup: Array<() => Promise<void>> = [];
  afterEach(async function () {
    printLogsIfFailed(
      this,
      scenarios.flatMap((s) => s.workers),
    );
    for (const c of cleanup.reverse()) await c();
    cleanup = [];
    scenarios = [];
  });
  let scenarios: Scenario[] = [];
  async function scenario(title: string, opts: Parameters<typeof itemsScenario>[1] = {}): Promise<Scenario> {
    const s = await itemsScenario(title, opts);
    scenarios.push(s);
    cleanup.push(() => s.cleanup());
    return s;
  }

  it('publishes every row in key order, then upserts, tombstones and key moves, exactly as PostgreSQL renders them', async () => {
    const db = await createTestDb('pipeline contract');
    cleanup.push(() => db.close());
    await db.query(`CREATE TABLE kinds (
      tenant text, id int8, amount numeric, ratio float8, at timestamptz, day date, local timestamp(6),
      blob bytea, tags text[], doc jsonb, flag boolean, nothing text, hidden text, PRIMARY KEY (tenant, id))`);
    await db.query(`INSERT INTO kinds VALUES
      ('a', 9007199254740993, 12345678901234567890.0123456789, 'NaN', '2024-02-29 23:59:59.123456+05', '2024-01-01', '2024-01-01 00:00:00.000001',
       '\\xdeadbeef', ARRAY['x','y z','ü'], '{"n": {"deep": [1, 2.50, null]}}', true, NULL, 'secret'),
      ('a', 2, 'Infinity'::numeric, 'Infinity', '-infinity', '2000-02-29', 'infinity', '\\x', '{}', '[]', false, NULL, 'secret'),
      ('b', 1, -0.5, '-Infinity', '1970-01-01 00:00:00+00', '1999-12-31', '1999-12-31 23:59:59', NULL, NULL, 'null', NULL, NULL, 'secret')`);
    const topic = uniqueTopic('kinds');
    const port = await freePort();
    const cols = ['amount', 'ratio', 'at', 'day', 'local', 'blob', 'tags', 'doc', 'flag', 'nothing'];
    const workerFile = writeConfig({
      databaseUrl: db.url,
      httpPort: port,
      connectors: [{ name: 'kinds', source: { table_name: 'public.kinds', included_columns: cols, notification: {} }, sink: { topic, partitions: 3 } }],
    });
    const w = WorkerProcess.start(workerFile, port);
    scenarios.push({ workers: [w] } as unknown as Scenario);
    cleanup.push(() => w.stop());
    await w.waitForState('kinds', ['streaming']);

    const snap = await readTopic(topic);
    expect(snap).to.have.length(3);
    // Key order within a partition follows the primary key order of the snapshot.
    for (const p of [0, 1, 2]) {
      const keys = snap.filter((r) => r.partition === p).map((r) => JSON.parse(r.key as string) as { tenant: string; id: number });
      const sorted = [...keys].sort((x, y) => (x.tenant < y.tenant ? -1 : x.tenant > y.tenant ? 1 : x.id - y.id));
      expect(keys).to.deep.equal(sorted);
    }
    // Values are exactly row_to_json of key + included columns in table order, in UTC (an independent rendering).
    const expected = await db.query<{ k: string; v: string }>(
      `SELECT (SELECT row_to_json(x) FROM (SELECT tenant, id) x)::text AS k,
              (SELECT row_to_json(x) FROM (SELECT tenant, id, ${cols.join(', ')}) x)::text AS v FROM kinds`,
    );
    const byKey = new Map(snap.map((r) => [r.key, r]));
    const run = snap[0].headers.change_id.split(':')[0];
    expect(run).to.match(/^[0-9a-f]{16}$/);
    for (const e of expected) {
      expect(byKey.get(e.k)?.value, e.k).to.equal(e.v);
      expect(byKey.get(e.k)?.headers).to.deep.include({ op: 'snapshot', connector: 'kinds' });
    }
    // Each snapshot row is named by its number in the run's key order: 1..n, each once.
    const numbers = snap.map((r) => r.headers.change_id).sort();
    expect(numbers).to.deep.equal(expected.map((_, i) => `${run}:s${i + 1}`).sort());
    const first = byKey.get('{"tenant":"a","id":9007199254740993}');
    expect(first?.value).to.contain('"id":9007199254740993').and.contain('12345678901234567890.0123456789').and.contain('"2024-02-29T18:59:59.123456+00:00"');
    expect(first?.value).to.contain('"blob":"\\\\xdeadbeef"').and.contain('"doc":{"n": {"deep": [1, 2.50, null]}}').and.contain('"ratio":"NaN"').and.not.contain('secret');

    // Changes: update, delete, insert, and a primary-key move.
    await db.query(`UPDATE kinds SET amount = 1.5 WHERE tenant = 'b' AND id = 1`);
    await db.query(`DELETE FROM kinds WHERE tenant = 'a' AND id = 2`);
    await db.query(`INSERT INTO kinds (tenant, id, amount, hidden) VALUES ('c', 3, 3, 'secret')`);
    await db.query(`UPDATE kinds SET id = 4 WHERE tenant = 'c' AND id = 3`);
    const all = await eventually(
      async () => {
        const recs = await readTopic(topic);
        // c/3 may be drained once (insert and move in one batch) or twice: wait for the move's two
        // records. They go to different partitions, and a reader may look between their two appends.
        const moved = recs.some((r) => r.key === '{"tenant":"c","id":4}') && recs.some((r) => r.key === '{"tenant":"c","id":3}' && r.value === null);
        return moved ? recs : null;
      },
      30_000,
      'the change records',
    );
    const changes = all.slice(0).filter((r) => r.headers.op !== 'snapshot');
    const ops = changes.map((r) => `${r.headers.op} ${r.key}`);
    expect(ops).to.include.members(['upsert {"tenant":"b","id":1}', 'delete {"tenant":"a","id":2}', 'delete {"tenant":"c","id":3}', 'upsert {"tenant":"c","id":4}']);
    for (const r of changes.filter((x) => x.headers.op === 'delete')) expect(r.value).to.equal(null);
    for (const r of changes) expect(r.headers.change_id, 'a change names its change-log entries').to.match(new RegExp(`^${run}:c\\d+(,\\d+)*$`));
    // All records of one key land in one partition (key-hash partitioning).
    const partitionOf = new Map<string, number>();
    for (const r of all) {
      const p = partitionOf.get(r.key as string);
      if (p !== undefined) expect(r.partition, `key ${r.key}`).to.equal(p);
      partitionOf.set(r.key as string, r.partition);
    }
    const state = fold(all);
    expect([...state.keys()].sort()).to.deep.equal(['{"tenant":"a","id":9007199254740993}', '{"tenant":"b","id":1}', '{"tenant":"c","id":4}']);
  });

  it('creates the topic with the configured partitions and compaction, and leaves an existing topic alone', async () => {
    const s = await scenario('pipeline topic creation', { rows: 10, connector: {} });
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    const { kafkaClient } = await import('../helpers/services');
    const admin = kafkaClient().admin();
    await admin.connect();
    try {
      const meta = await admin.fetchTopicMetadata({ topics: [s.topic] });
      expect(meta.topics[0].partitions).to.have.length(1);
      const cfg = await admin.describeConfigs({ resources: [{ type: 2, name: s.topic, configNames: ['cleanup.policy'] }], includeSynonyms: false });
      expect(cfg.resources[0].configEntries[0].configValue).to.equal('compact');
    } finally {
      await admin.disconnect();
    }
  });

  it('never publishes a value from a rolled-back transaction', async () => {
    const s = await scenario('pipeline rollback', { rows: 20 });
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await s.db.query('BEGIN');
    await s.db.query(`UPDATE items SET note = 'ROLLED BACK' WHERE id <= 10`);
    await s.db.query(`INSERT INTO items (id, v, note) VALUES (999, 0, 'ROLLED BACK')`);
    await s.db.query('ROLLBACK');
    await s.db.query(`UPDATE items SET note = 'committed' WHERE id = 1`);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    const records = await readTopic(s.topic);
    expect(records.filter((r) => (r.value ?? '').includes('ROLLED BACK'))).to.have.length(0);
    expect(records.filter((r) => r.key === '{"id":999}')).to.have.length(0);
  });

  it('polls by ordinal column when notification is off, carrying the ordinal in a header', async () => {
    const s = await scenario('pipeline ordinal polling', {
      rows: 50,
      source: { notification: undefined, ordinal_column: 'updated_at' },
      connector: { capture: { poll_interval_ms: 200 } },
    });
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await s.db.query(`UPDATE items SET v = -v, updated_at = clock_timestamp() WHERE id % 10 = 0`);
    await s.db.query(`INSERT INTO items (id, v, note) VALUES (1000, 1, 'new')`);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    const records = await readTopic(s.topic);
    const upserts = records.filter((r) => r.headers.op === 'upsert');
    expect(upserts.map((r) => r.key)).to.include('{"id":1000}');
    expect(upserts.length).to.be.at.least(6);
    for (const r of records) expect(r.headers.ordinal).to.match(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?\+00:00$/);
    // No trigger was created in this mode.
    const triggers = await s.db.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal`);
    expect(triggers).to.have.length(0);
  });

  it('finishes after the snapshot when neither notification nor an ordinal column is set', async () => {
    const s = await scenario('pipeline snapshot only', { rows: 30, source: { notification: undefined } });
    const w = await s.runWorker();
    await w.waitForState(s.name, ['stopped']);
    expect((await w.get('/readyz')).status).to.equal(200);
    await assertConverges(s.db, 'items', ['id'], s.topic);
  });

  it('with snapshot mode never, publishes only the changes', async () => {
    const s = await scenario('pipeline snapshot never', { rows: 30, connector: { snapshot: { mode: 'never' } } });
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await s.db.query(`UPDATE items SET v = 0 WHERE id = 7`);
    const records = await eventually(
      async () => {
        const r = await readTopic(s.topic);
        return r.length > 0 ? r : null;
      },
      30_000,
      'the change',
    );
    expect(records.map((r) => `${r.headers.op} ${r.key}`)).to.deep.equal(['upsert {"id":7}']);
  });

  it('teardown drops the trigger, the function, the change log, the stored progress and the offsets topic', async () => {
    const s = await scenario('pipeline teardown', { rows: 5 });
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await w.stop();
    const offsetsTopic = `pg-kafka-cdc.offsets.${s.name}`;
    expect(await topicExists(offsetsTopic), 'exactly_once keeps its position in the offsets topic').to.equal(true);
    const out = execFileSync(process.execPath, [CLI, 'teardown', '--config', s.workerFile, '--connector', s.name], { cwd: REPO_ROOT }).toString();
    expect(out).to.contain('dropped').and.contain(`offsets topic ${offsetsTopic}: deleted`);
    expect(await topicExists(offsetsTopic)).to.equal(false);
    const leftovers = await s.db.query<{ what: string }>(`
      SELECT 'trigger ' || tgname AS what FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal
      UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE 'pgkc_%'
      UNION ALL SELECT 'table ' || relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'kafka_cdc' AND relname LIKE '%_log'
      UNION ALL SELECT 'progress ' || connector FROM kafka_cdc.progress`);
    expect(leftovers).to.deep.equal([]);
    // A second teardown is harmless.
    execFileSync(process.execPath, [CLI, 'teardown', '--config', s.workerFile, '--connector', s.name], { cwd: REPO_ROOT });
    // Writes to the table no longer cost anything.
    await s.db.query(`UPDATE items SET v = 1`);
  });

  it('keeps the source write path cheap: NOTIFY only while the worker is idle, never a payload', async () => {
    const s = await scenario('pipeline notify idle', { rows: 5 });
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    const [fn] = await s.db.query<{ src: string }>(`SELECT prosrc AS src FROM pg_proc WHERE proname LIKE '%\\_n' ESCAPE '\\'`);
    expect(fn.src)
      .to.match(/pg_try_advisory_xact_lock_shared\(\d+, -?\d+\)/)
      .and.to.match(/pg_notify\('[a-z0-9_]+', ''\)/);
    const idleLocks = () => s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 2 AND mode = 'ExclusiveLock' AND granted`);
    await eventually(async () => (await idleLocks())[0].n === 1, 10_000, 'the idle lock');
    await w.stop();
    expect((await idleLocks())[0].n, 'a stopped worker holds no idle lock, so writers stop notifying').to.equal(0);
  });
});
