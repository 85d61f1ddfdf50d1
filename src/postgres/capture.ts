/**
 * The database objects of trigger-based change capture, created on demand and dropped by teardown.
 *
 * For each changed row the trigger function {channel}_n appends the row's key (old and new key when
 * an UPDATE moves the primary key) to the change log kafka_cdc.{channel}_log, in the writing
 * transaction: a rolled-back change leaves nothing, a committed one is durable even while no worker
 * listens. It NOTIFYs the channel only when the worker has said it is idle and waiting
 * (kafka_cdc.wakeup), because NOTIFY takes a global lock at commit: a busy worker drains the log
 * without wake-ups and the source keeps most of its write throughput. The payload is always empty.
 *
 * TRUNCATE fires no row trigger: the statement trigger {channel}_tt (BEFORE TRUNCATE) logs every key
 * of the table, marked truncated, in the truncating transaction, so each gets its tombstone. Its
 * cost grows with the table (one log row per key), paid by the TRUNCATE.
 */
import type { ClientBase } from 'pg';
import type { TablePlan } from './plan';
import type { Queryable } from './queries';
import { captureNames, WORKER_SCHEMA } from './names';
import { quoteIdent, quoteLiteral, quoteTable } from './sql';
import { inDdlTransaction } from './transaction';

const W = quoteIdent(WORKER_SCHEMA);
/**
 * The trigger function's body. Keys are logged as JSON (rendered the same whatever the writer's
 * DateStyle). An UPDATE logs the old key too when any key column's text changes, not only its value:
 * 1.5 -> 1.50 (numeric) or 'abc' -> 'ABC' (case-insensitive collation) are equal keys to PostgreSQL
 * but different Kafka keys, and the old one needs its tombstone.
 */
export function triggerBody(plan: TablePlan, channel: string): string {
  const log = `${W}.${quoteIdent(captureNames(channel).logTable)}`;
  const keyOf = (rec: 'OLD' | 'NEW') => `jsonb_build_array(${plan.keyColumns.map((c) => `${rec}.${quoteIdent(c.name)}`).join(', ')})`;
  const asText = (rec: 'OLD' | 'NEW', c: { name: string }) => `${rec}.${quoteIdent(c.name)}::text COLLATE "C"`;
  const keyChanged = plan.keyColumns.map((c) => `${asText('OLD', c)} IS DISTINCT FROM ${asText('NEW', c)}`).join(' OR ');
  const allKeys = `SELECT jsonb_build_array(${plan.keyColumns.map((c) => `t.${quoteIdent(c.name)}`).join(', ')}), true FROM ONLY ${quoteTable(plan.table)} AS t`;
  return `
BEGIN
  IF TG_OP = 'TRUNCATE' THEN
    -- Before the rows go: every key gets its tombstone from the log, marked as a truncate.
    INSERT INTO ${log} (k, truncated) ${allKeys};
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO ${log} (k) VALUES (${keyOf('OLD')});
  ELSIF TG_OP = 'UPDATE' AND (${keyChanged}) THEN
    INSERT INTO ${log} (k) VALUES (${keyOf('OLD')}), (${keyOf('NEW')});
  ELSE
    INSERT INTO ${log} (k) VALUES (${keyOf('NEW')});
  END IF;
  IF EXISTS (SELECT 1 FROM ${W}.wakeup WHERE channel = ${quoteLiteral(channel)} AND waiting) THEN
    PERFORM pg_notify(${quoteLiteral(channel)}, '');
  END IF;
  RETURN NULL;
END`;
}

/** A dollar-quote tag that does not occur in the body (a column may be named a$pgkc$b). */
function dollarTag(body: string): string {
  let i = 0;
  while (body.includes(`$pgkc${i}$`)) i++;
  return `$pgkc${i}$`;
}

/**
 * Creates the change log, the function and the trigger, unless they are already in place and
 * current. Re-creating a trigger takes a lock that waits behind every open write transaction on
 * the table, and every later writer queues behind it: so it is done only when something changed,
 * and then with a lock timeout (a timeout is retried later).
 *
 * The function is SECURITY DEFINER, with a fixed search_path and every name qualified: the roles
 * that write to the table need no rights on the worker's schema.
 */
export async function installCapture(db: ClientBase, plan: TablePlan, channel: string): Promise<'installed' | 'current'> {
  const n = captureNames(channel);
  const table = quoteTable(plan.table);
  const fn = `${quoteIdent(plan.table.schema)}.${quoteIdent(n.functionName)}`;
  const log = `${W}.${quoteIdent(n.logTable)}`;
  const body = triggerBody(plan, channel);
  const current = await db.query(
    `SELECT 1 FROM pg_trigger t JOIN pg_proc p ON p.oid = t.tgfoid
      WHERE t.tgrelid = $1::oid AND t.tgname = $2 AND NOT t.tgisinternal AND t.tgenabled <> 'D'
        AND p.prosrc = $3 AND p.prosecdef AND to_regclass($4) IS NOT NULL
        AND EXISTS (SELECT 1 FROM ${W}.wakeup WHERE channel = $5)
        AND EXISTS (SELECT 1 FROM pg_trigger x WHERE x.tgrelid = $1::oid AND x.tgname = $6 AND x.tgfoid = t.tgfoid AND x.tgenabled <> 'D')
        AND EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = to_regclass($4) AND a.attname = 'truncated' AND NOT a.attisdropped)`,
    [plan.info.oid, n.triggerName, body, `${WORKER_SCHEMA}.${quoteIdent(n.logTable)}`, channel, n.truncateTriggerName],
  );
  if (current.rows.length > 0) return 'current';
  const tag = dollarTag(body);
  await inDdlTransaction(db, async () => {
    await db.query(`CREATE TABLE IF NOT EXISTS ${log} (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      k jsonb NOT NULL,
      changed_at timestamptz NOT NULL DEFAULT clock_timestamp())
      WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000)`);
    await db.query(`ALTER TABLE ${log} ADD COLUMN IF NOT EXISTS truncated boolean NOT NULL DEFAULT false`);
    await db.query(`INSERT INTO ${W}.wakeup (channel) VALUES ($1) ON CONFLICT (channel) DO NOTHING`, [channel]);
    await db.query(`CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql
      SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS ${tag}${body}${tag}`);
    // CREATE OR REPLACE TRIGGER needs PostgreSQL 14; drop-and-create works on every supported version,
    // and inside this transaction no change slips between the two.
    await db.query(`DROP TRIGGER IF EXISTS ${quoteIdent(n.triggerName)} ON ${table}`);
    await db.query(`CREATE TRIGGER ${quoteIdent(n.triggerName)} AFTER INSERT OR UPDATE OR DELETE ON ${table}
      FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
    await db.query(`DROP TRIGGER IF EXISTS ${quoteIdent(n.truncateTriggerName)} ON ${table}`);
    await db.query(`CREATE TRIGGER ${quoteIdent(n.truncateTriggerName)} BEFORE TRUNCATE ON ${table}
      FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()`);
  }, { lockTimeout: '10s' }); // a timeout is retried later, rather than queueing every writer behind us
  return 'installed';
}

/**
 * The idle handshake's first half: the transactions that have written and are still open now (their
 * xids). A writer among them may have run its trigger before the idle flag was visible, and so did
 * not NOTIFY. Read from pg_stat_activity.backend_xid (visible to every role): a snapshot's xip list
 * (txid_current_snapshot) does not list the newest running transactions (those at or past its xmax),
 * which are exactly the ones a just-raised flag can miss. Only this database's writers (the table's
 * are among them), and prepared transactions too.
 */
export async function transactionsInProgress(db: Queryable): Promise<string[]> {
  const r = await db.query<{ x: string[] }>(
    `SELECT coalesce(array_agg(x), '{}') AS x FROM (
       SELECT backend_xid::text AS x FROM pg_stat_activity
        WHERE backend_xid IS NOT NULL AND pid <> pg_backend_pid() AND datid = (SELECT oid FROM pg_database WHERE datname = current_database())
       UNION ALL
       SELECT transaction::text FROM pg_prepared_xacts WHERE database = current_database()) AS open`,
  );
  return r.rows[0].x;
}

/** The idle handshake's second half: how many of those transactions are still open. */
export async function stillRunning(db: Queryable, xids: string[]): Promise<number> {
  if (xids.length === 0) return 0;
  const r = await db.query<{ n: number }>(
    `SELECT (SELECT count(*) FROM pg_stat_activity WHERE backend_xid::text = ANY($1::text[]))::int
          + (SELECT count(*) FROM pg_prepared_xacts WHERE transaction::text = ANY($1::text[]))::int AS n`,
    [xids],
  );
  return r.rows[0].n;
}

/** Sets the idle flag the trigger reads before it NOTIFYs. */
export async function setWaiting(db: ClientBase, channel: string, waiting: boolean): Promise<void> {
  await db.query(`UPDATE ${W}.wakeup SET waiting = $2 WHERE channel = $1 AND waiting IS DISTINCT FROM $2`, [channel, waiting]);
}

/**
 * Drops the trigger, the function, the change log, the idle flag and the stored progress of a
 * connector. Idempotent; works whether or not the table still exists.
 */
export async function dropConnectorObjects(
  db: ClientBase,
  connector: string,
  channel: string | null,
  table: { schema: string; name: string } | null,
): Promise<string[]> {
  const dropped: string[] = [];
  await inDdlTransaction(db, async () => {
    if (channel !== null) {
      const n = captureNames(channel);
      if (table !== null) {
        const t = quoteTable(table);
        const exists = await db.query('SELECT to_regclass($1) AS r', [t]);
        if (exists.rows[0].r !== null) {
          await db.query(`DROP TRIGGER IF EXISTS ${quoteIdent(n.triggerName)} ON ${t}`);
          await db.query(`DROP TRIGGER IF EXISTS ${quoteIdent(n.truncateTriggerName)} ON ${t}`);
          dropped.push(`trigger ${n.triggerName}`, `trigger ${n.truncateTriggerName}`);
        }
        await db.query(`DROP FUNCTION IF EXISTS ${quoteIdent(table.schema)}.${quoteIdent(n.functionName)}()`);
        dropped.push(`function ${table.schema}.${n.functionName}`);
      }
      await db.query(`DROP TABLE IF EXISTS ${W}.${quoteIdent(n.logTable)}`);
      dropped.push(`table ${WORKER_SCHEMA}.${n.logTable}`);
      const hasWakeup = await db.query(`SELECT to_regclass('${WORKER_SCHEMA}.wakeup') AS r`);
      if (hasWakeup.rows[0].r !== null) await db.query(`DELETE FROM ${W}.wakeup WHERE channel = $1`, [channel]);
    }
    const hasProgress = await db.query(`SELECT to_regclass('${WORKER_SCHEMA}.progress') AS r`);
    if (hasProgress.rows[0].r !== null) {
      const r = await db.query(`DELETE FROM ${W}.progress WHERE connector = $1`, [connector]);
      if (r.rowCount) dropped.push('stored progress');
    }
    const hasRequests = await db.query(`SELECT to_regclass('${WORKER_SCHEMA}.snapshot_requests') AS r`);
    if (hasRequests.rows[0].r !== null) {
      const r = await db.query(`DELETE FROM ${W}.snapshot_requests WHERE connector = $1`, [connector]);
      if (r.rowCount) dropped.push(`${r.rowCount} re-snapshot request${r.rowCount === 1 ? '' : 's'}`);
    }
  });
  return dropped;
}
