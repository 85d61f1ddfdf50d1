/**
 * Least privilege against the real PostgreSQL and Kafka: the worker runs as a role that owns nothing
 * and has only the documented grants, after an administrator ran `install`. Every missing grant is a
 * clear problem from `validate` and a clear failure from `run`, never a half-installed trigger.
 */
import { expect } from 'chai';
import { randomBytes } from 'node:crypto';
import { runCli } from '../helpers/cli';
import { assertConverges } from '../helpers/converge';
import { createTestDb, type TestDb } from '../helpers/db';
import { uniqueTopic } from '../helpers/kafka';
import { pgUrl } from '../helpers/services';
import { freePort, printLogsIfFailed, type WorkerHandle, writeConfig } from '../helpers/worker';
import { InProcessWorker } from '../helpers/in-process';

describe('least privilege', function () {
  this.timeout(180_000);
  let db: TestDb;
  let role: string;
  let port: number;
  let workerFile: string;
  const topic = uniqueTopic('lp-items');
  const workers: WorkerHandle[] = [];
  const admin = () => ({ ADMIN_DB_URL: db.url });

  before(async () => {
    db = await createTestDb('least privilege');
    role = `pgkc_lp_${randomBytes(4).toString('hex')}`;
    await db.query(`CREATE ROLE ${role} LOGIN`);
    await db.query(`CREATE TABLE items (id bigint PRIMARY KEY, v int, note text)`);
    await db.query(`INSERT INTO items SELECT g, g, 'seed' FROM generate_series(1, 500) AS g`);
    await db.query(`CREATE TABLE other (id int PRIMARY KEY)`);
    await db.query(`GRANT SELECT ON other TO ${role}`);
    port = await freePort();
    workerFile = writeConfig({
      databaseUrl: pgUrl(db.name).replace('postgres@', `${role}@`),
      httpPort: port,
      connectors: [{ name: 'items', source: { table_name: 'items', notification: {} }, sink: { topic } }],
    });
  });

  afterEach(async function () {
    printLogsIfFailed(this, workers);
    for (const w of workers.splice(0)) await w.stop();
  });

  after(async () => {
    await db.query(`DROP OWNED BY ${role}`).catch(() => undefined);
    await db.query(`DROP ROLE IF EXISTS ${role}`).catch(() => undefined);
    await db.close();
  });

  it('runs the whole pipeline as a role with only the grants install gives it, owning nothing', async () => {
    // Before install: validate names each missing right, read-only.
    const before = await runCli(['validate', '--config', workerFile]);
    expect(before.code, before.stdout).to.equal(2);
    expect(before.stderr).to.contain('/source/table_name: this database user may not SELECT from "items"');
    await db.query(`GRANT SELECT ON items TO ${role}`); // install grants it too; here to see the other problems
    const withSelect = await runCli(['validate', '--config', workerFile]);
    expect(withSelect.code).to.equal(2);
    expect(withSelect.stderr).to.contain(
      `/source/database: the worker schema kafka_cdc is missing or older than this version, and database user "${role}" may not create it: run \`pg-kafka-cdc install`,
    );
    expect(withSelect.stderr).to.contain(
      `/source/notification: change capture of public.items (trigger pgkc_items_items_t) is not installed or is older than this version, and database user "${role}" may not create it (it does not own the table)`,
    );
    await db.query(`REVOKE SELECT ON items FROM ${role}`); // install must grant it

    // --print-sql shows the statements and changes nothing.
    const printed = await runCli(['install', '--config', workerFile, '--database-url-env', 'ADMIN_DB_URL', '--print-sql'], admin());
    expect(printed.code, printed.stderr).to.equal(0);
    expect(printed.stdout).to.contain('CREATE SCHEMA IF NOT EXISTS "kafka_cdc";').and.to.contain('CREATE TRIGGER "pgkc_items_items_t" AFTER INSERT ON "public"."items"');
    expect(printed.stdout).to.contain(`GRANT SELECT, DELETE ON "kafka_cdc"."pgkc_items_items_log" TO "${role}";`);
    expect((await db.query<{ s: string | null }>(`SELECT to_regnamespace('kafka_cdc')::text AS s`))[0].s, 'print-sql created nothing').to.equal(null);

    // What it printed is the whole transaction install runs: run by hand (as psql -f would), it installs everything.
    expect(printed.stdout)
      .to.match(/^-- pg-kafka-cdc install, connector items[^\n]*\nBEGIN;\n/)
      .and.to.match(/\nCOMMIT;\n*$/);
    await db.query(printed.stdout);
    const validByHand = await runCli(['validate', '--config', workerFile]);
    expect(validByHand.code, validByHand.stderr).to.equal(0);

    // install itself (idempotent over what the script made).
    const installed = await runCli(['install', '--config', workerFile, '--database-url-env', 'ADMIN_DB_URL'], admin());
    expect(installed.code, installed.stderr).to.equal(0);
    expect(installed.stdout).to.contain(`installed connector items: public.items, change capture on channel pgkc_items_items, rights for role ${role}`);
    const valid = await runCli(['validate', '--config', workerFile]);
    expect(valid.code, valid.stderr).to.equal(0);

    const w = await InProcessWorker.start(workerFile);
    workers.push(w);
    await w.waitForState('items', ['streaming'], 60_000);
    await db.query(`UPDATE items SET v = v + 1 WHERE id <= 100`);
    await db.query(`DELETE FROM items WHERE id > 450`);
    await db.query(`INSERT INTO items VALUES (1000, 1, 'new')`);
    await assertConverges(db, 'items', ['id'], topic);
    const owned = await db.query<{ n: number }>(
      `SELECT ((SELECT count(*) FROM pg_class WHERE relowner = $1::regrole) + (SELECT count(*) FROM pg_proc WHERE proowner = $1::regrole)
             + (SELECT count(*) FROM pg_namespace WHERE nspowner = $1::regrole))::int AS n`,
      [role],
    );
    expect(owned[0].n, 'the worker role owns nothing').to.equal(0);
  });

  it('a missing grant is a clear problem from validate and a clear failure from run', async () => {
    await db.query(`REVOKE DELETE ON kafka_cdc.pgkc_items_items_log FROM ${role}`);
    const v = await runCli(['validate', '--config', workerFile]);
    expect(v.code).to.equal(2);
    expect(v.stderr).to.contain(`/source/notification: database user "${role}" lacks DELETE on kafka_cdc.pgkc_items_items_log: GRANT DELETE ON "kafka_cdc"."pgkc_items_items_log" TO "${role}"`);
    expect(v.stderr).not.to.match(/\n\s+at /);
    // run checks the same before it touches Kafka or a table: exit 2 with the same words.
    const refused = await runCli(['run', '--config', workerFile], {}, 60_000);
    expect(refused.code).to.equal(2);
    expect(refused.stderr).to.contain('lacks DELETE on kafka_cdc.pgkc_items_items_log');
    await db.query(`GRANT DELETE ON kafka_cdc.pgkc_items_items_log TO ${role}`);

    // A grant revoked while the connector runs: it fails with the grant named, not a retry loop.
    const w = await InProcessWorker.start(workerFile);
    workers.push(w);
    await w.waitForState('items', ['streaming'], 60_000);
    await db.query(`REVOKE DELETE ON kafka_cdc.pgkc_items_items_log FROM ${role}`);
    await db.query(`UPDATE items SET note = 'after revoke' WHERE id = 1`);
    const failed = await w.waitForState('items', ['failed'], 60_000);
    expect(failed.last_error?.message).to.contain(`lacks DELETE on kafka_cdc.pgkc_items_items_log: GRANT DELETE ON "kafka_cdc"."pgkc_items_items_log" TO "${role}"`);
    await db.query(`GRANT DELETE ON kafka_cdc.pgkc_items_items_log TO ${role}`);
  });

  it('names each documented grant when it is missing', async () => {
    const grants: Array<[string, string, string]> = [
      ['USAGE', 'SCHEMA kafka_cdc', `lacks USAGE on schema kafka_cdc`],
      ['SELECT', 'kafka_cdc.progress', 'lacks SELECT on kafka_cdc.progress'],
      ['INSERT', 'kafka_cdc.progress', 'lacks INSERT on kafka_cdc.progress'],
      ['UPDATE', 'kafka_cdc.progress', 'lacks UPDATE on kafka_cdc.progress'],
      ['SELECT', 'kafka_cdc.snapshot_requests', 'lacks SELECT on kafka_cdc.snapshot_requests'],
      ['INSERT', 'kafka_cdc.snapshot_requests', 'lacks INSERT on kafka_cdc.snapshot_requests'],
      ['UPDATE', 'kafka_cdc.snapshot_requests', 'lacks UPDATE on kafka_cdc.snapshot_requests'],
      ['INSERT', 'kafka_cdc.rejected_changes', 'lacks INSERT on kafka_cdc.rejected_changes'],
      ['SELECT', 'kafka_cdc.pgkc_items_items_log', 'lacks SELECT on kafka_cdc.pgkc_items_items_log'],
      ['DELETE', 'kafka_cdc.pgkc_items_items_log', 'lacks DELETE on kafka_cdc.pgkc_items_items_log'],
      ['SELECT', 'items', 'may not SELECT from "items"'],
    ];
    for (const [privilege, object, message] of grants) {
      await db.query(`REVOKE ${privilege} ON ${object} FROM ${role}`);
      try {
        const v = await runCli(['validate', '--config', workerFile]);
        expect(v.code, `${privilege} on ${object}`).to.equal(2);
        expect(v.stderr, `${privilege} on ${object}`).to.contain(message);
      } finally {
        await db.query(`GRANT ${privilege} ON ${object} TO ${role}`);
      }
    }
    expect((await runCli(['validate', '--config', workerFile])).code, 'every grant back').to.equal(0);
  });

  it('tears down as the administrator: nothing of the connector is left', async () => {
    const r = await runCli(['teardown', '--config', workerFile, '--connector', 'items', '--database-url-env', 'ADMIN_DB_URL'], admin());
    expect(r.code, r.stderr).to.equal(0);
    const left = await db.query<{ what: string }>(`
      SELECT 'trigger ' || tgname AS what FROM pg_trigger WHERE tgrelid = 'items'::regclass AND NOT tgisinternal
      UNION ALL SELECT 'function ' || proname FROM pg_proc WHERE proname LIKE 'pgkc_items%'
      UNION ALL SELECT 'log ' || relname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = 'kafka_cdc' AND relname LIKE '%_log'
      UNION ALL SELECT 'progress ' || connector FROM kafka_cdc.progress`);
    expect(left).to.deep.equal([]);
  });

  it('never installs half a trigger: a connector whose capture was not installed fails and leaves the table as it was', async () => {
    const file = writeConfig({
      databaseUrl: pgUrl(db.name).replace('postgres@', `${role}@`),
      httpPort: port,
      connectors: [{ name: 'other', source: { table_name: 'other', notification: {} }, sink: { topic: uniqueTopic('lp-other') } }],
    });
    const v = await runCli(['validate', '--config', file]);
    expect(v.code).to.equal(2);
    expect(v.stderr).to.contain('change capture of public.other (trigger pgkc_other_other_t) is not installed');
    const run = await runCli(['run', '--config', file], {}, 60_000);
    expect(run.code).to.equal(2);
    expect(run.stderr).to.contain('change capture of public.other (trigger pgkc_other_other_t) is not installed');
    const triggers = await db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'other'::regclass`);
    expect(triggers[0].n).to.equal(0);
    expect((await db.query<{ r: string | null }>(`SELECT to_regclass('kafka_cdc.pgkc_other_other_log')::text AS r`))[0].r).to.equal(null);
  });
});
