/**
 * Re-snapshot on demand (`pg-kafka-cdc snapshot`) against the real services: requested through the
 * database while the connector streams, in turns with change batches under write churn, resumed
 * after kill -9, cancelled, served when requested while no worker ran, limited by a predicate that
 * is checked before anything runs.
 */
import { expect } from 'chai';
import { runCli } from '../helpers/cli';
import { assertConverges } from '../helpers/converge';
import { duplicateChanges, fold, readTopic, type TopicRecord } from '../helpers/kafka';
import { diff, tableState } from '../helpers/converge';
import { kafkaClient } from '../helpers/services';
import { itemsScenario, scenarioPerTest, type Scenario } from '../helpers/scenario';
import { startWriter } from '../helpers/writer';
import { eventually } from '../helpers/wait';
import type { WorkerProcess } from '../helpers/worker';

const requested = (records: TopicRecord[], request: string) => records.filter((r) => r.headers.change_id?.includes(`:r${request}.`));
const snapshotCli = (s: Scenario, ...args: string[]) => runCli(['snapshot', '--config', s.workerFile, '--connector', s.name, ...args]);
const requestRows = (s: Scenario) =>
  s.db.query<{ id: string; state: string; rows: string | null; predicate: string | null; error: string | null }>(
    'SELECT id::text, state, rows::text, predicate, error FROM kafka_cdc.snapshot_requests ORDER BY id',
  );

async function resnapshotState(w: WorkerProcess, name: string, states: string[], timeoutMs = 120_000) {
  return eventually(
    async () => {
      const r = (await w.connector(name)).resnapshot;
      return r && states.includes(r.state) ? r : null;
    },
    timeoutMs,
    `a re-snapshot ${states.join(' or ')}`,
    50,
  );
}

describe('re-snapshot on demand', function () {
  this.timeout(300_000);
  const slot = scenarioPerTest();

  it('re-snapshots the table while streaming under write churn, resumes after kill -9, and the topic converges', async () => {
    const s = (slot.s = await itemsScenario('resnap churn', { rows: 20_000, connector: { snapshot: { batch_size: 500 }, capture: { batch_size: 200 } } }));
    const w1 = s.startWorker();
    await w1.waitForState(s.name, ['streaming'], 120_000);
    const writer = startWriter(s.db.url, { idSpace: 20_000 });
    await writer.commitsMore(200);

    const asked = await snapshotCli(s);
    expect(asked.stderr).to.equal('');
    expect(asked.code).to.equal(0);
    expect(asked.stdout).to.match(/re-snapshot request 1 for items: the whole table \(about \d+ rows\)/);
    expect(asked.stdout).to.contain('the owner (pg-kafka-cdc control @');

    await eventually(async () => ((await w1.connector(s.name)).resnapshot?.rows_done ?? 0) >= 4000, 120_000, 're-snapshot progress', 20);
    const upserts = await w1.metric('pg_kafka_cdc_records_published_total', { connector: s.name, op: 'upsert' });
    expect(upserts, 'changes flowed while the re-snapshot ran').to.be.greaterThan(0);
    w1.kill('SIGKILL');
    await w1.waitForExit();
    const [stored] = await s.db.query<{ resnapshot_id: string; resnapshot_rows: string }>('SELECT resnapshot_id::text, resnapshot_rows::text FROM kafka_cdc.progress');
    expect(stored.resnapshot_id).to.equal('1');
    expect(Number(stored.resnapshot_rows)).to.be.greaterThan(0);

    const w2 = s.startWorker();
    const done = await resnapshotState(w2, s.name, ['done']);
    expect(w2.logs()).to.contain('resuming re-snapshot');
    await writer.commitsMore(200);
    await writer.stop();
    await assertConverges(s.db, 'items', ['id'], s.topic);

    const records = await readTopic(s.topic);
    const dup = duplicateChanges(records);
    expect(dup.snapshotRows.slice(0, 5), 're-snapshot rows published twice').to.deep.equal([]);
    expect(dup.snapshotKeys.slice(0, 5), 're-snapshot keys published twice').to.deep.equal([]);
    expect(dup.changeSeqs.slice(0, 5), 'change-log entries published twice').to.deep.equal([]);
    const again = requested(records, '1');
    // Numbered 1..n without a gap across the crash: each committed page once, resumed after the last.
    const numbers = again.map((r) => Number(r.headers.change_id.split('.').pop())).sort((a, b) => a - b);
    expect(numbers[0]).to.equal(1);
    expect(numbers[numbers.length - 1]).to.equal(numbers.length);
    expect(again.every((r) => r.headers.op === 'snapshot')).to.equal(true);
    expect(again.length).to.be.within(15_000, 25_000); // the writers deleted and moved some rows meanwhile
    expect(done.rows_done).to.equal(again.length);
    const [request] = await requestRows(s);
    expect(request).to.include({ state: 'done', rows: String(again.length), error: null });
    expect(await w2.metric('pg_kafka_cdc_resnapshots_total', { connector: s.name, outcome: 'done' })).to.equal(1);
    expect(await w2.metric('pg_kafka_cdc_resnapshot_running', { connector: s.name })).to.equal(0);
    expect(await w2.metric('pg_kafka_cdc_resnapshot_rows', { connector: s.name })).to.equal(again.length);
  });

  it('re-snapshots only the rows a predicate matches, and refuses a bad predicate before anything runs', async () => {
    const s = (slot.s = await itemsScenario('resnap where', { rows: 1000 }));
    await s.db.query('CREATE SEQUENCE counter');
    const w = s.startWorker();
    await w.waitForState(s.name, ['streaming']);

    // PostgreSQL decides what the text is (postgres/expression.ts), and says why it refuses it.
    const refused: Array<[string, RegExp]> = [
      ['id > 1; DROP TABLE items', /--where: the predicate cannot insert multiple commands into a prepared statement \(42601\)/],
      ['id > (1', /--where: the predicate syntax error at end of input \(42601\)/],
      ['id > 1) OR (true', /--where: the predicate syntax error at or near "\)" \(42601\)/],
      ["note = 'x", /--where: the predicate unterminated quoted string/],
      ['id > 1 /* note', /--where: the predicate unterminated \/\* comment/],
      ['   ', /--where: the predicate is empty/],
      ['nope > 1', /--where: the predicate column "nope" does not exist \(42703\)/],
      ['id + 1', /--where: the predicate is not a boolean expression/],
      ["nextval('public.counter') > 0", /--where: the predicate calls nextval\(regclass\) \(volatile\): an expression may call only PostgreSQL's built-in immutable functions/],
      ['id IN (SELECT id FROM public.items)', /--where: the predicate uses a subquery/],
    ];
    for (const [predicate, message] of refused) {
      const r = await snapshotCli(s, '--where', predicate);
      expect(r.code, predicate).to.equal(2);
      expect(r.stderr, predicate).to.match(message);
      expect(r.stderr, predicate).not.to.match(/\n\s+at /); // no stack trace
    }
    const [table] = await s.db.query<{ r: string | null }>(`SELECT to_regclass('kafka_cdc.snapshot_requests')::text AS r`);
    expect(table.r === null ? 0 : (await requestRows(s)).length, 'no request written for a refused predicate').to.equal(0);
    expect((await s.db.query<{ n: string }>('SELECT last_value::text AS n FROM counter'))[0].n).to.equal('1'); // never called

    const ok = await snapshotCli(s, '--where', "id % 10 = 0 -- every tenth row\nAND note = 'seed'");
    expect(ok.code, ok.stderr).to.equal(0);
    await resnapshotState(w, s.name, ['done']);
    const again = requested(await readTopic(s.topic), '1');
    expect(again.map((r) => JSON.parse(r.key ?? 'null').id).sort((a: number, b: number) => a - b)).to.deep.equal(Array.from({ length: 100 }, (_, i) => (i + 1) * 10));
    const nothing = await snapshotCli(s, '--cancel');
    expect(nothing.stdout).to.contain('no open re-snapshot request for items: nothing to cancel');
  });

  it('serves a request made while no worker ran at the next start, and stops a cancelled one at once', async () => {
    const s = (slot.s = await itemsScenario('resnap cancel', { rows: 50_000, connector: { snapshot: { batch_size: 100 } } }));
    const w1 = s.startWorker();
    await w1.waitForState(s.name, ['streaming'], 120_000);
    await w1.stop();

    const offline = await snapshotCli(s, '--where', 'id <= 300');
    expect(offline.code, offline.stderr).to.equal(0);
    expect(offline.stdout).to.contain('no worker owns the connector now: the request is served when one starts');
    const whole = await snapshotCli(s);
    expect(whole.stdout).to.contain('1 earlier request is still open');

    const w2 = s.startWorker();
    await eventually(async () => (await requestRows(s))[0].state === 'done', 60_000, 'the offline request served');
    await eventually(async () => ((await w2.connector(s.name)).resnapshot?.rows_done ?? 0) >= 500, 60_000, 'the second request under way', 20);
    const cancelled = await snapshotCli(s, '--cancel');
    expect(cancelled.stdout).to.contain('cancelled re-snapshot request 2 of items');
    const stopped = await resnapshotState(w2, s.name, ['cancelled'], 30_000);
    expect(stopped.request).to.equal('2');
    expect(await w2.metric('pg_kafka_cdc_resnapshots_total', { connector: s.name, outcome: 'cancelled' })).to.equal(1);
    const [first, second] = await requestRows(s);
    expect(first).to.include({ state: 'done', rows: '300' });
    expect(second.state).to.equal('cancelled');
    const records = await readTopic(s.topic);
    expect(requested(records, '1')).to.have.length(300);
    expect(requested(records, '2').length, 'the cancelled re-snapshot stopped early').to.be.within(500, 49_000);
    // The connector goes on streaming.
    await s.db.query(`UPDATE items SET note = 'after cancel' WHERE id = 7`);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    const [progress] = await s.db.query<{ resnapshot_id: string | null }>('SELECT resnapshot_id::text FROM kafka_cdc.progress');
    expect(progress.resnapshot_id).to.equal(null);
  });

  it('serves requests with ordinal polling too (no channel to notify: the poller looks every second)', async () => {
    const s = (slot.s = await itemsScenario('resnap ordinal', { rows: 500, source: { notification: undefined, ordinal_column: 'updated_at' } }));
    const w = s.startWorker();
    await w.waitForState(s.name, ['streaming']);
    const r = await snapshotCli(s, '--where', 'id <= 50');
    expect(r.code, r.stderr).to.equal(0);
    await resnapshotState(w, s.name, ['done'], 30_000);
    expect(requested(await readTopic(s.topic), '1')).to.have.length(50);
  });

  it('recovers a page Kafka committed but the database did not store (exactly_once): no row twice, none skipped', async () => {
    const s = (slot.s = await itemsScenario('resnap commit window', { rows: 1000, connector: { snapshot: { batch_size: 300 } } }));
    const w1 = s.startWorker();
    await w1.waitForState(s.name, ['streaming']);
    await w1.stop();
    // Dies right after the re-snapshot's first page committed in Kafka, before the database stored its position.
    const w2 = s.startWorker({ PG_KAFKA_CDC_FAILPOINT: 'after-kafka-commit:1' });
    await w2.waitForState(s.name, ['streaming']);
    expect((await snapshotCli(s)).code).to.equal(0);
    expect(await w2.waitForExit(60_000)).to.equal(null); // killed by the failpoint
    const [stored] = await s.db.query<{ resnapshot_rows: string }>('SELECT resnapshot_rows::text FROM kafka_cdc.progress');
    expect(stored.resnapshot_rows, 'the database stored no page, Kafka committed one').to.equal('0');
    const w3 = s.startWorker();
    await resnapshotState(w3, s.name, ['done']);
    expect(w3.logs()).to.contain('recovered the position Kafka committed last');
    const again = requested(await readTopic(s.topic), '1');
    expect(again).to.have.length(1000);
    expect(new Set(again.map((r) => r.key)).size).to.equal(1000);
  });

  it('a repairing re-snapshot (--repair) also tombstones keys the topic holds and the table does not, under write churn, and the topic converges', async () => {
    const s = (slot.s = await itemsScenario('resnap repair', { rows: 3000, connector: { snapshot: { batch_size: 400 } } }));
    const w1 = s.startWorker();
    await w1.waitForState(s.name, ['streaming']);
    await w1.stop();
    // Drift that no trigger saw: rows changed and deleted with capture off (a superuser can), and
    // records another producer wrote into the topic (a key the table never had, a wrong value).
    await s.db.query('ALTER TABLE items DISABLE TRIGGER ALL');
    await s.db.query(`DELETE FROM items WHERE id % 7 = 0`);
    await s.db.query(`UPDATE items SET note = 'unseen' WHERE id % 11 = 0`);
    await s.db.query('ALTER TABLE items ENABLE TRIGGER ALL'); // back to ENABLE (not ALWAYS): the worker installs capture again at its start
    const producer = kafkaClient('pgkc-test-foreign').producer();
    await producer.connect();
    await producer.send({
      topic: s.topic,
      messages: [
        { key: '{"id":999999}', value: '{"id":999999,"v":1,"note":"foreign"}' },
        { key: '{"id":1}', value: '{"id":1,"v":-5,"note":"foreign"}' },
        { key: 'not json', value: 'x' },
      ],
    });
    await producer.disconnect();
    const drifted = diff(await tableState(s.db, 'items', ['id']), fold(await readTopic(s.topic)));
    expect(drifted.length, 'the topic drifted from the table').to.be.greaterThan(400);

    const w2 = s.startWorker();
    await w2.waitForState(s.name, ['streaming']);
    const writer = startWriter(s.db.url, { idSpace: 3000 });
    await writer.commitsMore(100);
    const asked = await snapshotCli(s, '--repair');
    expect(asked.code, asked.stderr).to.equal(0);
    expect(asked.stdout).to.contain('repairing re-snapshot request 1 for items: the whole table, and tombstones for the keys the topic holds and the table does not');
    const done = await resnapshotState(w2, s.name, ['done']);
    await writer.commitsMore(100);
    await writer.stop();
    await assertConverges(s.db, 'items', ['id'], s.topic);
    const tombstones = (await readTopic(s.topic)).filter((r) => r.headers.change_id?.includes(':x1.'));
    expect(tombstones.map((r) => r.key)).to.include.members(['{"id":999999}', 'not json']);
    expect(tombstones.every((r) => r.value === null)).to.equal(true);
    expect((done as unknown as { tombstones: number }).tombstones).to.equal(tombstones.length);
    expect(await w2.metric('pg_kafka_cdc_repair_tombstones', { connector: s.name })).to.equal(tombstones.length);
    expect(await snapshotCli(s, '--repair', '--where', 'id > 1')).to.include({ code: 2 });
  });
});
