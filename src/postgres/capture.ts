/**
 * The database objects of trigger-based change capture, created on demand and dropped by teardown.
 *
 * For each changed row the trigger function {channel}_n appends the row's key (old and new key when
 * an UPDATE moves the primary key) to the change log kafka_cdc.{channel}_log, in the writing
 * transaction: a rolled-back change leaves nothing, a committed one is durable even while no worker
 * listens. It NOTIFYs the channel only when the worker has said it is idle and waiting
 * (kafka_cdc.wakeup), because NOTIFY takes a global lock at commit: a busy worker drains the log
 * without wake-ups and the source keeps most of its write throughput. The payload is always empty.
 */
import type { ClientBase } from 'pg';
import type { TablePlan } from './plan';
import { captureNames, WORKER_SCHEMA } from './names';
import { quoteIdent, quoteLiteral } from './sql';

const W = quoteIdent(WORKER_SCHEMA);
/** Serialises DDL of the worker schema between connectors and workers (an arbitrary constant). */
const DDL_LOCK = 7_208_811_304;

/** The worker's own schema: progress of every connector, and the idle flags. Idempotent. */
export async function ensureWorkerSchema(db: ClientBase): Promise<void> {
  await inTransaction(db, async () => {
    await db.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK]);
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${W}`);
    await db.query(`CREATE TABLE IF NOT EXISTS ${W}.progress (
      connector text PRIMARY KEY,
      snapshot_state text NOT NULL DEFAULT 'pending' CHECK (snapshot_state IN ('pending', 'running', 'done')),
      snapshot_key text[],
      snapshot_rows bigint NOT NULL DEFAULT 0,
      watermark text[],
      updated_at timestamptz NOT NULL DEFAULT now())`);
    await db.query(`CREATE TABLE IF NOT EXISTS ${W}.wakeup (
      channel text PRIMARY KEY,
      waiting boolean NOT NULL DEFAULT false)`);
  });
}

/** Creates (or replaces) the change log, the function and the trigger. Idempotent. */
export async function installCapture(db: ClientBase, plan: TablePlan, channel: string): Promise<void> {
  const n = captureNames(channel);
  const table = `${quoteIdent(plan.table.schema)}.${quoteIdent(plan.table.name)}`;
  const fn = `${quoteIdent(plan.table.schema)}.${quoteIdent(n.functionName)}`;
  const log = `${W}.${quoteIdent(n.logTable)}`;
  const keyOf = (rec: 'OLD' | 'NEW') => `jsonb_build_array(${plan.keyColumns.map((c) => `${rec}.${quoteIdent(c.name)}`).join(', ')})`;
  const keyChanged = plan.keyColumns.map((c) => `OLD.${quoteIdent(c.name)} IS DISTINCT FROM NEW.${quoteIdent(c.name)}`).join(' OR ');
  const body = `
BEGIN
  IF TG_OP = 'DELETE' THEN
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
  await inTransaction(db, async () => {
    await db.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK]);
    await db.query(`CREATE TABLE IF NOT EXISTS ${log} (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      k jsonb NOT NULL,
      changed_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
    await db.query(`INSERT INTO ${W}.wakeup (channel) VALUES ($1) ON CONFLICT (channel) DO NOTHING`, [channel]);
    await db.query(`CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql SECURITY INVOKER AS $pgkc$${body}$pgkc$`);
    // CREATE OR REPLACE TRIGGER needs PostgreSQL 14; drop-and-create works on every supported version,
    // and inside this transaction no change slips between the two.
    await db.query(`DROP TRIGGER IF EXISTS ${quoteIdent(n.triggerName)} ON ${table}`);
    await db.query(`CREATE TRIGGER ${quoteIdent(n.triggerName)} AFTER INSERT OR UPDATE OR DELETE ON ${table}
      FOR EACH ROW EXECUTE FUNCTION ${fn}()`);
  });
}

/** Whether the trigger is in place (a teardown by hand, or a restored database, may have removed it). */
export async function captureInstalled(db: ClientBase, plan: TablePlan, channel: string): Promise<boolean> {
  const r = await db.query(
    `SELECT 1 FROM pg_trigger WHERE tgrelid = $1::oid AND tgname = $2 AND NOT tgisinternal`,
    [plan.info.oid, captureNames(channel).triggerName],
  );
  return r.rows.length > 0;
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
  await inTransaction(db, async () => {
    await db.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK]);
    if (channel !== null) {
      const n = captureNames(channel);
      if (table !== null) {
        const t = `${quoteIdent(table.schema)}.${quoteIdent(table.name)}`;
        const exists = await db.query('SELECT to_regclass($1) AS r', [t]);
        if (exists.rows[0].r !== null) {
          await db.query(`DROP TRIGGER IF EXISTS ${quoteIdent(n.triggerName)} ON ${t}`);
          dropped.push(`trigger ${n.triggerName}`);
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
  });
  return dropped;
}

export async function inTransaction<T>(db: ClientBase, fn: () => Promise<T>): Promise<T> {
  await db.query('BEGIN');
  try {
    const result = await fn();
    await db.query('COMMIT');
    return result;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}
