/** What happens around the pipeline: other writers, restarts, config changes, wide rows. */
import { expect } from 'chai';
import * as fs from 'node:fs';
import { assertConverges } from '../helpers/converge';
import { readTopic, uniqueTopic } from '../helpers/kafka';
import { itemsScenario, type Scenario } from '../helpers/scenario';
import { pgUrl } from '../helpers/services';
import { printLogsIfFailed } from '../helpers/worker';
import { Client } from 'pg';

describe('the connector over its lifetime', function () {
  this.timeout(180_000);
  let s: Scenario | null = null;
  afterEach(async function () {
    printLogsIfFailed(this, s?.workers ?? []);
    if (s) await s.cleanup();
    s = null;
  });

  it('lets roles that only write to the table keep writing once the trigger is installed', async () => {
    s = await itemsScenario('life other writer', { rows: 10 });
    await s.db.query(`DROP ROLE IF EXISTS pgkc_app_writer; CREATE ROLE pgkc_app_writer LOGIN; GRANT INSERT, UPDATE, DELETE, SELECT ON items TO pgkc_app_writer`);
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    const app = new Client({ connectionString: pgUrl(s.db.name).replace('postgres@', 'pgkc_app_writer@') });
    await app.connect();
    try {
      await app.query(`INSERT INTO items (id, v, note) VALUES (100, 1, 'from the app')`);
      await app.query(`UPDATE items SET note = 'app' WHERE id = 1`);
      await app.query(`DELETE FROM items WHERE id = 2`);
    } finally {
      await app.end();
    }
    await assertConverges(s.db, 'items', ['id'], s.topic);
  });

  it('does not re-create the trigger on a restart (no table lock behind open transactions)', async () => {
    s = await itemsScenario('life no ddl on restart', { rows: 10 });
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    const [before] = await s.db.query<{ oid: string }>(`SELECT oid::text FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal`);
    await w.stop();
    // An application holds a write transaction open on the table while the worker restarts.
    const app = new Client({ connectionString: s.db.url });
    await app.connect();
    await app.query(`BEGIN; UPDATE items SET v = v WHERE id = 1`);
    try {
      const w2 = await s.runWorker();
      await w2.waitForState(s.name, ['streaming'], 20_000);
    } finally {
      await app.query('ROLLBACK');
      await app.end();
    }
    const [after] = await s.db.query<{ oid: string }>(`SELECT oid::text FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal`);
    expect(after.oid).to.equal(before.oid);
  });

  it('starts over with a new snapshot when its topic or its capture mode changes', async () => {
    s = await itemsScenario('life config change', { rows: 20, source: { notification: undefined, ordinal_column: 'updated_at' }, connector: { capture: { poll_interval_ms: 200 } } });
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await w.stop();
    // While it is down: changes polling cannot see (a delete).
    await s.db.query(`DELETE FROM items WHERE id = 3`);
    // Now with change capture, and into another topic.
    const cfgDir = s.workerFile.replace(/worker\.json$/, 'connectors/items.json');
    const c = JSON.parse(fs.readFileSync(cfgDir, 'utf8')) as { source: Record<string, unknown>; sink: { topic: string } };
    c.source.notification = {};
    const newTopic = uniqueTopic('items-moved');
    c.sink.topic = newTopic;
    fs.writeFileSync(cfgDir, JSON.stringify(c));
    const w2 = await s.runWorker();
    await w2.waitForState(s.name, ['streaming']);
    expect(w2.logs()).to.contain('starting over with a new snapshot');
    await assertConverges(s.db, 'items', ['id'], newTopic);
    // Back to polling: the capture objects of the channel no longer used are removed.
    await w2.stop();
    delete c.source.notification;
    fs.writeFileSync(cfgDir, JSON.stringify(c));
    const w3 = await s.runWorker();
    await w3.waitForState(s.name, ['streaming']);
    const left = await s.db.query(`SELECT tgname FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal`);
    expect(left).to.deep.equal([]);
  });

  it('snapshots wide rows with the default batch size (produce requests stay under the broker limit)', async () => {
    s = await itemsScenario('life wide rows', { rows: 0 });
    await s.db.query(`INSERT INTO items (id, v, note) SELECT g, g, repeat(md5(g::text), 8) FROM generate_series(1, 12000) g`);
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming'], 120_000);
    const records = await readTopic(s.topic);
    expect(records.filter((r) => r.headers.op === 'snapshot')).to.have.length(12000);
  });

  it('fails visibly, naming the record and the fix, when a row is larger than the broker accepts', async () => {
    s = await itemsScenario('life too large', { rows: 5 });
    // Random hex, so that the connector's compression (zstd by default) cannot shrink it under the limit.
    await s.db.query(`UPDATE items SET note = (SELECT string_agg(md5(random()::text || g), '') FROM generate_series(1, 120000) g) WHERE id = 3`);
    const w = await s.runWorker();
    const status = await w.waitForState(s.name, ['failed'], 60_000);
    expect(status.last_error?.message).to.contain('too large').and.contain('{"id":3}').and.contain('max.message.bytes');
    expect(await w.metric('pg_kafka_cdc_errors_total', { connector: s.name, kind: 'kafka' })).to.be.at.least(1);
  });
});
