/**
 * The worker against other roles of its database (docs/security.md): real roles with only the rights
 * the docs give them, against a connector streaming normally as the database's superuser (the worker
 * of most small installs). An operator who may request re-snapshots, and a login with no rights at
 * all, try to turn the worker against the database; each attempt ends in convergence or in the
 * documented refusal.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { Client } from 'pg';
import { runCli } from '../helpers/cli';
import { assertConverges } from '../helpers/converge';
import { readTopic } from '../helpers/kafka';
import { javaProduce } from '../helpers/kafka-tools';
import { kafkaClient, pgUrl } from '../helpers/services';
import { itemsScenario, scenarioPerTest, type Scenario } from '../helpers/scenario';

import { eventually } from '../helpers/wait';
import { writeConfig } from '../helpers/worker';
import { ownershipLockKey } from '../../src/postgres/names';

interface Role {
  name: string;
  url: string;
  /** A connection as the role. */
  client: Client;
}

async function loginRole(s: Scenario, prefix: string, grants: string[]): Promise<Role> {
  const name = `${prefix}_${randomBytes(3).toString('hex')}`;
  await s.db.query(`CREATE ROLE ${name} LOGIN`);
  for (const g of grants) await s.db.query(g.replace(/\bROLE\b/g, name));
  const url = pgUrl(s.db.name).replace('postgres@', `${name}@`);
  const client = new Client({ connectionString: url });
  client.on('error', () => undefined);
  await client.connect();
  roles.push({ name, url, client, db: s });
  return { name, url, client };
}
const roles: Array<Role & { db: Scenario }> = [];

/** The grants docs/least-privilege.md gives a role that may request re-snapshots. */
const OPERATOR_GRANTS = ['GRANT USAGE ON SCHEMA kafka_cdc TO ROLE', 'GRANT SELECT, INSERT, UPDATE ON kafka_cdc.snapshot_requests TO ROLE'];

const requests = (s: Scenario) =>
  s.db.query<{ id: string; state: string; predicate: string | null; requested_by: string; error: string | null; rows: string | null }>(
    'SELECT id::text, state, predicate, requested_by, error, rows::text FROM kafka_cdc.snapshot_requests ORDER BY id',
  );

describe('security: other roles of the database cannot turn the worker against it', function () {
  this.timeout(180_000);
  const slot = scenarioPerTest();
  afterEach(async () => {
    for (const r of roles.splice(0)) {
      await r.client.end().catch(() => undefined);
      await r.db.db.query(`DROP OWNED BY ${r.name}`).catch(() => undefined);
      await r.db.db.query(`DROP ROLE IF EXISTS ${r.name}`).catch(() => undefined);
    }
  });

  it('a re-snapshot request written by hand never runs a statement, changes a setting, takes a lock or reads beyond the row, and ends failed', async () => {
    const s = (slot.s = await itemsScenario('security requests', { rows: 200 }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    const op = await loginRole(s, 'operator', [...OPERATOR_GRANTS, 'GRANT SELECT ON items TO ROLE']);
    const log = (await s.db.query<{ t: string }>(`SELECT relname AS t FROM pg_class WHERE relname LIKE '%\\_log' AND relnamespace = 'kafka_cdc'::regnamespace`))[0].t;
    const hostile: Array<[string, RegExp]> = [
      [`true); DELETE FROM kafka_cdc.${log}; SELECT (true`, /syntax error|cannot insert multiple commands/],
      [`true; DELETE FROM kafka_cdc.progress`, /syntax error|cannot insert multiple commands/],
      [`set_config('TimeZone', 'America/New_York', false) IS NOT NULL`, /calls set_config\(text,text,boolean\) \(volatile\)/],
      [`pg_advisory_lock(4242) IS NOT NULL`, /calls pg_advisory_lock\(bigint\) \(volatile\)/],
      [`pg_terminate_backend(pg_backend_pid())`, /calls .*pg_terminate_backend\(integer,bigint\) \(volatile\)/],
      [`EXISTS (SELECT 1 FROM kafka_cdc.progress)`, /uses a subquery/],
      [`length(table_to_xml('kafka_cdc.progress'::regclass, true, true, '')::text) > 0`, /calls table_to_xml\(regclass,boolean,boolean,text\) \(stable\)/],
      [`current_setting('TimeZone') = 'UTC'`, /calls current_setting\(text\) \(stable\)/],
      [`id + 1`, /is not a boolean expression/],
    ];
    for (const [predicate] of hostile) {
      await op.client.query(`INSERT INTO kafka_cdc.snapshot_requests (connector, predicate, requested_by, state) VALUES ('items', $1, 'postgres', 'running')`, [predicate]);
    }
    // Who asked is PostgreSQL's word: the guard trigger overwrote the forged requested_by and state.
    const made = await requests(s);
    expect(made.map((r) => r.requested_by)).to.deep.equal(hostile.map(() => op.name));
    // What was asked cannot be changed afterwards (the requester has UPDATE, for --cancel).
    const changed = await op.client.query(`UPDATE kafka_cdc.snapshot_requests SET predicate = 'true' WHERE id = $1`, [made[0].id]).catch((e: Error) => e);
    expect(String(changed)).to.contain('cannot be changed once it is made');
    await s.db.query(`SELECT pg_notify('pgkc_items_items', '')`);
    const ended = await eventually(
      async () => {
        const rows = await requests(s);
        return rows.every((r) => r.state === 'failed') ? rows : null;
      },
      60_000,
      'every hostile request to end failed',
    );
    hostile.forEach(([predicate, reason], i) => expect(ended[i].error, predicate).to.match(reason));

    // Nothing of it ran: no lock held, no setting changed (records still in UTC), the log and the
    // progress intact, and the connector goes on streaming.
    const locks = await s.db.query(`SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND objid = 4242`);
    expect(locks).to.deep.equal([]);
    expect((await w.connector(s.name)).state).to.equal('streaming');
    await s.db.query(`UPDATE items SET note = 'after', updated_at = '2024-06-01 12:00:00+00' WHERE id <= 20`);
    await assertConverges(s.db, 'items', ['id'], s.topic);
  });

  it('a requester who may not read the table, or the columns its predicate reads, is refused by the command and in a row written by hand', async () => {
    const s = (slot.s = await itemsScenario('security requester rights', { rows: 100 }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    const op = await loginRole(s, 'operator', OPERATOR_GRANTS);
    const opConfig = writeConfig({ databaseUrl: op.url, httpPort: s.port, connectors: [{ name: s.name, source: { table_name: 'items', notification: {} }, sink: { topic: s.topic } }] });
    const cli = (...args: string[]) => runCli(['snapshot', '--config', opConfig, '--connector', s.name, ...args]);

    const whole = await cli();
    expect(whole.code, whole.stderr).to.equal(2);
    expect(whole.stderr).to.contain(`role "${op.name}", which may not SELECT from "public"."items"`);
    await op.client.query(`INSERT INTO kafka_cdc.snapshot_requests (connector) VALUES ('items')`);
    await eventually(async () => (await requests(s))[0]?.state === 'failed', 30_000, 'the whole-table request of a role that may not read the table to fail');

    await s.db.query(`GRANT SELECT (id, v) ON items TO ${op.name}`);
    const secret = await cli('--where', 'note::int > 0');
    expect(secret.code, secret.stderr).to.equal(2);
    expect(secret.stderr).to.contain(`--where: the predicate reads column note of "public"."items", which role "${op.name}" may not SELECT`);
    await op.client.query(`INSERT INTO kafka_cdc.snapshot_requests (connector, predicate) VALUES ('items', 'note::int > 0')`);
    const allowed = await cli('--where', 'v <= 10');
    expect(allowed.code, allowed.stderr).to.equal(0);
    const ended = await eventually(
      async () => {
        const rows = await requests(s);
        return rows.length === 3 && rows.every((r) => ['failed', 'done'].includes(r.state)) ? rows : null;
      },
      60_000,
      'the requests to end',
    );
    expect(ended[0]).to.include({ state: 'failed' });
    expect(ended[0].error).to.contain(`was asked for by role "${op.name}", which may not SELECT from "public"."items"`);
    expect(ended[1]).to.include({ state: 'failed' });
    // Its error names the column, never a value of it (the role may not read those).
    expect(ended[1].error).to.contain('reads column note').and.not.to.contain('seed');
    expect(ended[2]).to.include({ state: 'done', rows: '10' });
  });

  it('a login with no rights cannot attach the capture function to a table of its own; entries the drain cannot read are set aside and capture goes on', async () => {
    const s = (slot.s = await itemsScenario('security capture function', { rows: 50 }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    const nobody = await loginRole(s, 'nobody', []);
    await nobody.client.query('CREATE TEMP TABLE mine (id bigint PRIMARY KEY)');
    const attached = await nobody.client
      .query('CREATE TRIGGER t AFTER INSERT ON mine REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION public.pgkc_items_items_n()')
      .catch((e: Error) => e);
    expect(String(attached)).to.match(/permission denied for function (public\.)?pgkc_items_items_n/);

    // Even its owner cannot make it log another table's rows: it serves its own table only.
    await s.db.query('CREATE TABLE other (id bigint PRIMARY KEY)');
    await s.db.query('CREATE TRIGGER t AFTER INSERT ON other REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION public.pgkc_items_items_n()');
    await s.db.query('INSERT INTO other VALUES (900001)');

    // Entries no trigger of the connector wrote (only the log's owner can): set aside, never a failed connector.
    await s.db.query(`INSERT INTO kafka_cdc.pgkc_items_items_log (k) VALUES ('["not a number"]'), ('{"id": 1}'), ('[]')`);
    await eventually(async () => (await w.metric('pg_kafka_cdc_rejected_changes_total', { connector: s.name })) === 3, 30_000, 'three entries set aside');
    const rejected = await s.db.query<{ k: string; reason: string }>('SELECT k, reason FROM kafka_cdc.rejected_changes ORDER BY seq');
    expect(rejected.map((r) => r.k)).to.deep.equal(['["not a number"]', '{"id": 1}', '[]']);
    expect(rejected[0].reason).to.contain('is not a key of the table (id bigint)').and.to.contain('invalid input syntax for type bigint');
    expect(rejected[1].reason).to.contain('lacks a part of the primary key');
    const status = await w.connector(s.name);
    expect(status.state).to.equal('streaming');
    expect((status as unknown as { rejected_changes: { count: number } }).rejected_changes.count).to.equal(3);
    expect(w.logs()).to.contain('set aside a change-log entry the connector cannot read');

    await s.db.query(`UPDATE items SET note = 'after' WHERE id <= 10`);
    await s.db.query(`DELETE FROM items WHERE id = 50`);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    const stray = (await readTopic(s.topic)).filter((r) => r.key === '{"id":900001}');
    expect(stray, 'a row of another table published').to.deep.equal([]);
  });

  it("a login with no rights that holds a connector's ownership lock is reported by log, status and metric, and the connector is taken over once it lets go", async () => {
    const s = (slot.s = await itemsScenario('security lock holder', { rows: 20 }));
    const nobody = await loginRole(s, 'nobody', []);
    const pid = (await nobody.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
    await nobody.client.query('SELECT pg_advisory_lock($1::int8)', [ownershipLockKey(s.name).toString()]);
    const w = await s.runWorker();
    await w.waitForState(s.name, ['standby']);
    await eventually(async () => (await w.metric('pg_kafka_cdc_ownership_blocked', { connector: s.name })) === 1, 30_000, 'the blocked ownership in the metric');
    const status = (await w.connector(s.name)) as unknown as { ownership_blocked_by: { pid: number; role: string } | null };
    expect(status.ownership_blocked_by).to.include({ pid, role: nobody.name });
    expect(w.logs()).to.contain(`is held by a session that is not a pg-kafka-cdc worker (pid ${pid}, role ${nobody.name})`);
    await nobody.client.end();
    await w.waitForState(s.name, ['streaming'], 30_000);
    expect(await w.metric('pg_kafka_cdc_ownership_blocked', { connector: s.name })).to.equal(0);
    expect(((await w.connector(s.name)) as unknown as { ownership_blocked_by: unknown }).ownership_blocked_by).to.equal(null);
    await assertConverges(s.db, 'items', ['id'], s.topic);
  });

  it("parameters of the database URL cannot change the worker's session settings: its time zone, date style, name or read-only mode", async () => {
    const options = encodeURIComponent('-c TimeZone=America/New_York -c DateStyle=German -c extra_float_digits=-3 -c default_transaction_read_only=on');
    const s = (slot.s = await itemsScenario('security url settings', { rows: 30, urlParams: `application_name=evil&options=${options}` }));
    await s.db.query(`UPDATE items SET updated_at = '2024-01-02 03:04:05.123456+00' WHERE id <= 10`);
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await s.db.query(`UPDATE items SET note = 'later', updated_at = '2024-06-30 23:59:59+00' WHERE id > 20`);
    // The topic renders timestamps as the worker's contract says (UTC, ISO), whatever the URL asked.
    await assertConverges(s.db, 'items', ['id'], s.topic);
    const names = (await s.db.query<{ app: string }>(`SELECT DISTINCT application_name AS app FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid() ORDER BY 1`)).map(
      (r) => r.app,
    );
    expect(names).not.to.include('evil');
    expect(names.some((n) => n.startsWith('pg-kafka-cdc control @'))).to.equal(true);
  });

  it('a checkpoint forged in the offsets topic by another client never makes recovery delete unpublished changes', async () => {
    const s = (slot.s = await itemsScenario('security forged checkpoint', { rows: 100 }));
    const w1 = await s.runWorker();
    await w1.waitForState(s.name, ['streaming']);
    await w1.stop();
    // Changes made while no worker runs: in the change log, not yet published.
    await s.db.query(`UPDATE items SET note = 'pending' WHERE id <= 40`);
    const [p] = await s.db.query<{ run: string; commit_seq: string }>(`SELECT run, commit_seq::text FROM kafka_cdc.progress`);
    const [log] = await s.db.query<{ oid: number; lo: string; hi: string }>(
      `SELECT 'kafka_cdc.pgkc_items_items_log'::regclass::oid::int AS oid, min(seq)::text AS lo, max(seq)::text AS hi FROM kafka_cdc.pgkc_items_items_log`,
    );
    // The next commit of the run, naming the pending entries: what a real crash window leaves, but written by someone else.
    const forged = JSON.stringify({
      format: 1,
      connector: s.name,
      run: p.run,
      commit: Number(p.commit_seq) + 1,
      snapshot: { state: 'done', key: null, rows: 100 },
      watermark: null,
      resnapshot: null,
      trim: { log_oid: log.oid, seqs: `${log.lo}-${log.hi}` },
    });
    javaProduce(`pg-kafka-cdc.offsets.${s.name}`, [{ key: s.name, value: forged }]);
    const producer = kafkaClient('pgkc-test-forger').producer({ transactionalId: `forger-${s.topic}`, maxInFlightRequests: 1, idempotent: true });
    await producer.connect();
    const tx = await producer.transaction();
    await tx.send({ topic: `pg-kafka-cdc.offsets.${s.name}`, messages: [{ key: s.name, value: JSON.stringify({ ...JSON.parse(forged), mac: 'ab'.repeat(32) }) }] });
    await tx.commit();
    await producer.disconnect();

    const w2 = await s.runWorker();
    await w2.waitForState(s.name, ['streaming']);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    expect(await w2.metric('pg_kafka_cdc_ignored_checkpoint_records_total', { connector: s.name })).to.equal(2);
    expect(w2.logs()).to.contain('ignored a record in the offsets topic that this worker did not write');
  });
});
