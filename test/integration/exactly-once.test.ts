/**
 * Exactly-once delivery (sink.delivery exactly_once, the default) against the real services: a
 * read_committed reader finds every snapshot row once per run and every change-log entry in one
 * record only, across kill -9 at any point, crashes placed exactly in the window between the Kafka
 * commit and the database write (failpoints), a frozen owner and a network split with a standby
 * taking over. at_least_once keeps converging as before.
 */
import { expect } from 'chai';
import { assertConverges } from '../helpers/converge';
import { duplicateChanges, readTopic, type TopicRecord } from '../helpers/kafka';
import { itemsScenario, type Scenario } from '../helpers/scenario';
import { startWriter } from '../helpers/writer';
import { eventually } from '../helpers/wait';
import { freePort, printLogsIfFailed, WorkerProcess, writeConfig } from '../helpers/worker';

function expectNoDuplicates(records: TopicRecord[]): void {
  const dup = duplicateChanges(records);
  expect(dup.missingIds, 'records without a change_id header').to.equal(0);
  expect(dup.snapshotRows.slice(0, 5), 'snapshot rows published twice in one run').to.deep.equal([]);
  expect(dup.snapshotKeys.slice(0, 5), 'snapshot keys published twice in one run').to.deep.equal([]);
  expect(dup.changeSeqs.slice(0, 5), 'change-log entries published twice').to.deep.equal([]);
}

const logEntries = async (s: Scenario) => (await s.db.query<{ n: number }>('SELECT count(*)::int AS n FROM kafka_cdc.pgkc_items_items_log'))[0].n;

/**
 * With a writer running throughout: kill -9 once the snapshot passed snapshotRows, kill -9 again once
 * the next worker streamed 100 changes, start a third, stop the writer, wait for convergence.
 */
async function killMidSnapshotAndMidStream(s: Scenario, idSpace: number, snapshotRows: number): Promise<WorkerProcess> {
  const writer = startWriter(s.db.url, { idSpace });
  const w1 = s.startWorker();
  await eventually(async () => (await w1.connector(s.name)).snapshot.rows_done >= snapshotRows, 60_000, 'snapshot progress', 20);
  w1.kill('SIGKILL');
  await w1.waitForExit();
  const w2 = s.startWorker();
  await w2.waitForState(s.name, ['streaming'], 120_000);
  const upserts = () => w2.metric('pg_kafka_cdc_records_published_total', { connector: s.name, op: 'upsert' });
  const before = await upserts();
  await eventually(async () => (await upserts()) >= before + 100, 60_000, 'changes published', 20);
  w2.kill('SIGKILL');
  await w2.waitForExit();
  await writer.commitsMore(100); // while nobody runs
  const w3 = s.startWorker();
  await w3.waitForState(s.name, ['streaming'], 120_000);
  await writer.commitsMore(100);
  await writer.stop();
  await assertConverges(s.db, 'items', ['id'], s.topic);
  return w3;
}

describe('exactly-once delivery', function () {
  this.timeout(300_000);
  let s: Scenario | null = null;
  const extra: WorkerProcess[] = [];
  /** The scenario's worker streaming, and a second worker process (another port, the same connector) waiting as its standby. */
  async function ownerAndStandby(sc: Scenario, capture: Record<string, number>): Promise<{ owner: WorkerProcess; standby: WorkerProcess }> {
    const owner = sc.startWorker();
    await owner.waitForState(sc.name, ['streaming']);
    const port = await freePort();
    const file = writeConfig({
      databaseUrl: sc.db.url,
      httpPort: port,
      connectors: [{ name: sc.name, source: { table_name: 'items', notification: {} }, sink: { topic: sc.topic }, capture }],
    });
    const standby = WorkerProcess.start(file, port);
    extra.push(standby);
    await standby.waitForState(sc.name, ['standby']);
    return { owner, standby };
  }

  afterEach(async function () {
    printLogsIfFailed(this, [...(s?.workers ?? []), ...extra]);
    for (const w of extra.splice(0)) {
      w.kill('SIGCONT');
      await w.stop();
    }
    if (s) await s.cleanup();
    s = null;
  });

  it('shows a read_committed reader each snapshot row and each change once across kill -9 mid-snapshot and mid-stream, with writers running', async () => {
    s = await itemsScenario('eos kill', { rows: 20_000, connector: { snapshot: { batch_size: 500 }, capture: { batch_size: 200 } } });
    const w3 = await killMidSnapshotAndMidStream(s, 20_000, 4000);
    const records = await readTopic(s.topic);
    expectNoDuplicates(records);
    // One run, each row it passed once (the writers deleted and moved some rows before it got there).
    const snapshot = records.filter((r) => r.headers.op === 'snapshot');
    expect(new Set(snapshot.map((r) => r.headers.change_id.split(':')[0])).size, 'snapshot runs').to.equal(1);
    expect(snapshot.length).to.be.within(18_000, 22_000);
    expect(await w3.metric('pg_kafka_cdc_transactions_total', { connector: s.name, outcome: 'committed' })).to.be.greaterThan(0);
    expect(await w3.metric('pg_kafka_cdc_transaction_commit_seconds_count', { connector: s.name })).to.be.greaterThan(0);
  });

  it('recovers the position Kafka committed when the worker dies before the database stored it, in the snapshot and in the stream', async () => {
    s = await itemsScenario('eos commit window', { rows: 3000, connector: { snapshot: { batch_size: 500 }, capture: { batch_size: 100 } } });
    // Dies right after the 3rd snapshot page's transaction committed, before its position is stored.
    const w1 = s.startWorker({ PG_KAFKA_CDC_FAILPOINT: 'after-kafka-commit:3' });
    expect(await w1.waitForExit(60_000)).to.equal(null); // killed
    const [stored] = await s.db.query<{ snapshot_rows: string }>('SELECT snapshot_rows::text FROM kafka_cdc.progress');
    expect(stored.snapshot_rows, 'the database stored 2 pages, Kafka committed 3').to.equal('1000');
    const w2 = s.startWorker();
    await w2.waitForState(s.name, ['streaming'], 60_000);
    expect(w2.logs()).to.contain('recovered the position Kafka committed last');
    await w2.stop();

    // Changes while nobody runs; then a worker that dies right after the first drained batch committed.
    await s.db.query(`UPDATE items SET v = v + 1, note = 'window' WHERE id <= 300`);
    expect(await logEntries(s)).to.equal(300);
    const w3 = s.startWorker({ PG_KAFKA_CDC_FAILPOINT: 'after-kafka-commit:1' });
    expect(await w3.waitForExit(60_000)).to.equal(null);
    expect(await logEntries(s), 'the committed batch is still in the change log').to.equal(300);
    const w4 = s.startWorker();
    await w4.waitForState(s.name, ['streaming'], 60_000);
    expect(w4.logs()).to.contain('recovered the position Kafka committed last');
    await assertConverges(s.db, 'items', ['id'], s.topic);
    expect(await logEntries(s)).to.equal(0);
    expectNoDuplicates(await readTopic(s.topic));
  });

  it('aborts the transaction of a worker that died before its commit: read_committed readers never see it, read_uncommitted readers do', async () => {
    s = await itemsScenario('eos abort', { rows: 100, connector: { capture: { batch_size: 1000 } } });
    const w1 = s.startWorker();
    await w1.waitForState(s.name, ['streaming']);
    await w1.stop();
    await s.db.query(`UPDATE items SET note = 'aborted once' WHERE id <= 50`);
    const w2 = s.startWorker({ PG_KAFKA_CDC_FAILPOINT: 'before-kafka-commit:1' });
    expect(await w2.waitForExit(60_000)).to.equal(null);
    const w3 = s.startWorker(); // fences w2's producer: the broker aborts its open transaction
    await w3.waitForState(s.name, ['streaming'], 60_000);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    const committed = await readTopic(s.topic);
    const uncommitted = await readTopic(s.topic, 30_000, { readUncommitted: true });
    expectNoDuplicates(committed);
    expect(committed.filter((r) => r.headers.op === 'upsert')).to.have.length(50);
    expect(
      uncommitted.filter((r) => r.headers.op === 'upsert'),
      'the aborted batch and its repetition',
    ).to.have.length(100);
  });

  it('fences an owner frozen mid-batch whose sessions were ended (a network split): nothing it sends after the takeover becomes visible', async () => {
    s = await itemsScenario('eos fencing', { rows: 2000, connector: { capture: { batch_size: 500, heartbeat_interval_ms: 1000 } } });
    const { owner, standby } = await ownerAndStandby(s, { batch_size: 500, heartbeat_interval_ms: 1000 });
    const writer = startWriter(s.db.url, { idSpace: 2000 });
    await eventually(async () => (await owner.metric('pg_kafka_cdc_records_published_total', { connector: s!.name, op: 'upsert' })) >= 200, 30_000, 'the owner streaming changes', 20);
    owner.kill('SIGSTOP'); // frozen, most likely between reading a batch and committing it
    extra.push(owner); // resumed in afterEach whatever happens
    const ended = await s.db.query(`SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE 'pg-kafka-cdc%' AND datname = current_database()`);
    expect(ended.length).to.be.greaterThan(0);
    await standby.waitForState(s.name, ['streaming'], 30_000);
    const taken = await standby.metric('pg_kafka_cdc_records_published_total', { connector: s.name });
    await eventually(async () => (await standby.metric('pg_kafka_cdc_records_published_total', { connector: s!.name })) > taken + 100, 30_000, 'the new owner publishing', 20);
    owner.kill('SIGCONT');
    // The old owner finds its sessions gone (and its producer fenced) and stands down.
    await owner.waitForState(s.name, ['standby'], 60_000);
    expect(owner.logs()).to.match(/standing down/);
    await writer.commitsMore(200);
    await writer.stop();
    await assertConverges(s.db, 'items', ['id'], s.topic);
    expectNoDuplicates(await readTopic(s.topic));
  });

  it('lets a standby take over from an owner frozen while it still holds its session, within the documented bound', async () => {
    s = await itemsScenario('eos frozen', { rows: 500, connector: { capture: { heartbeat_interval_ms: 1000 } } });
    const { owner, standby } = await ownerAndStandby(s, { heartbeat_interval_ms: 1000 });
    owner.kill('SIGSTOP'); // a GC pause that never ends: the session stays open, the lock held
    extra.push(owner);
    const frozenAt = Date.now();
    await s.db.query(`UPDATE items SET note = 'after the freeze' WHERE id <= 10`);
    await standby.waitForState(s.name, ['streaming'], 30_000);
    const takeoverMs = Date.now() - frozenAt;
    // idle_session_timeout max(3 x 1 s, 5 s) (the frozen replica's member session ends then too) + the
    // standby's 2 s count of the replicas + its 2 s poll, and some slack for the machine.
    expect(takeoverMs, 'takeover time').to.be.below(14_000);
    owner.kill('SIGCONT');
    await owner.waitForState(s.name, ['standby'], 60_000);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    expectNoDuplicates(await readTopic(s.topic));
  });

  it('with at_least_once, converges across kill -9 mid-snapshot and mid-stream without transactions or an offsets topic', async () => {
    s = await itemsScenario('alo kill', { rows: 10_000, connector: { sink: { delivery: 'at_least_once' }, snapshot: { batch_size: 500 } } });
    const w3 = await killMidSnapshotAndMidStream(s, 10_000, 2000);
    expect(await w3.metric('pg_kafka_cdc_transactions_total', { connector: s.name })).to.equal(0);
    expect(duplicateChanges(await readTopic(s.topic)).missingIds, 'change ids on every record here too').to.equal(0);
  });
});
