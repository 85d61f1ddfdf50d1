/**
 * The database objects of trigger-based change capture, created on demand and dropped by teardown.
 *
 * Every changed key (old and new key when an UPDATE moves the primary key) is appended to the change
 * log kafka_cdc.{channel}_log by the function {channel}_n, in the writing transaction: a rolled-back
 * change leaves nothing, a committed one is durable even while no worker listens.
 *
 * On a plain table the function runs once per statement, not once per row: AFTER INSERT, UPDATE and
 * DELETE statement triggers ({channel}_t, _tu, _td) with transition tables log a statement's keys in
 * one INSERT ... SELECT, and a row trigger ({channel}_tk) whose WHEN clause (evaluated without
 * calling a function) fires only for an UPDATE that changes a key's text logs the old key. That cuts
 * the cost of a 1,000-row UPDATE by about 2.5x and of a single-row UPDATE by about a tenth
 * (docs/benchmarks.md). A partitioned table keeps one row trigger {channel}_t for the three events:
 * statement triggers on the parent miss DML run on a partition directly, and a row moving between
 * partitions fires no UPDATE trigger.
 *
 * TRUNCATE fires no row or DML trigger: the statement trigger {channel}_tt (BEFORE TRUNCATE) logs
 * every key of the table (all partitions), marked truncated, so each gets its tombstone. Its cost
 * grows with the table (one log row per key), paid by the TRUNCATE.
 *
 * The function serves its own table only: nobody but its owner may execute it (EXECUTE is revoked
 * from PUBLIC, and CREATE TRIGGER needs it), and it logs nothing for any other table it is attached
 * to (a foreign row's key would be of another shape). The triggers are ENABLE ALWAYS: they fire
 * whatever the writer's session_replication_role (a replica-mode session, a logical replication
 * apply worker, a restore with triggers "disabled" for replicas), so no writer can bypass them.
 *
 * The function NOTIFYs the channel only when the worker is idle, because NOTIFY takes a global lock
 * at commit: a busy worker drains the log without wake-ups. "Idle" is an advisory lock, the channel's
 * idle lock, that the idle worker holds exclusively: a writer takes it shared for its transaction
 * (pg_try_advisory_xact_lock_shared, no wait) and NOTIFYs when it cannot. The payload is always empty.
 */
import type { ClientBase } from 'pg';
import type { TablePlan } from './plan';
import { captureNames, idleLockKey, WORKER_SCHEMA } from './names';
import type { Queryable } from './connection';
import { displayTable, quoteIdent, quoteLiteral, quoteTable } from './sql';
import { asInstallStep, inDdlTransaction } from './ddl';
import { isLockNotAvailable } from './sqlstate';

const W = quoteIdent(WORKER_SCHEMA);

/** Whether the table gets statement-level triggers (a plain table) or row triggers (a partitioned one). */
function statementLevel(plan: TablePlan): boolean {
  return plan.info.kind !== 'partitioned table';
}

/** The triggers of a table, as CREATE TRIGGER statements by name. */
function triggerDefinitions(plan: TablePlan, channel: string, fn: string): Array<{ name: string; sql: string }> {
  const n = captureNames(channel);
  const table = quoteTable(plan.table);
  const truncate = { name: n.truncateTriggerName, sql: `BEFORE TRUNCATE ON ${table} FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()` };
  if (!statementLevel(plan)) return [{ name: n.triggerName, sql: `AFTER INSERT OR UPDATE OR DELETE ON ${table} FOR EACH ROW EXECUTE FUNCTION ${fn}()` }, truncate];
  return [
    { name: n.triggerName, sql: `AFTER INSERT ON ${table} REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()` },
    { name: n.updateTriggerName, sql: `AFTER UPDATE ON ${table} REFERENCING NEW TABLE AS n FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()` },
    { name: n.deleteTriggerName, sql: `AFTER DELETE ON ${table} REFERENCING OLD TABLE AS o FOR EACH STATEMENT EXECUTE FUNCTION ${fn}()` },
    { name: n.keyTriggerName, sql: `AFTER UPDATE ON ${table} FOR EACH ROW WHEN (${keyTextChanged(plan)}) EXECUTE FUNCTION ${fn}()` },
    truncate,
  ];
}

/**
 * An UPDATE changed a key's text, not only its value: 1.5 -> 1.50 (numeric) or 'abc' -> 'ABC' (a
 * case-insensitive collation) are equal keys to PostgreSQL but different Kafka keys, and the old one
 * needs its tombstone.
 */
function keyTextChanged(plan: TablePlan): string {
  const asText = (rec: 'OLD' | 'NEW', name: string) => `${rec}.${quoteIdent(name)}::pg_catalog.text COLLATE pg_catalog."C"`;
  return plan.keyColumns.map((c) => `${asText('OLD', c.name)} IS DISTINCT FROM ${asText('NEW', c.name)}`).join(' OR ');
}

/**
 * The trigger function's body. Keys are logged as JSON arrays (rendered the same whatever the
 * writer's DateStyle). Every name is schema-qualified; the function also runs with a fixed
 * search_path (installCapture).
 */
export function triggerBody(plan: TablePlan, channel: string): string {
  const log = `${W}.${quoteIdent(captureNames(channel).logTable)}`;
  const oid = `${plan.info.oid}::pg_catalog.oid`;
  // Its own table only (a restored database gives the table another oid: the worker then installs
  // capture again, and snapshots the table anew, since the oid is part of its identity).
  const own = statementLevel(plan)
    ? `IF TG_RELID <> ${oid} THEN RETURN NULL; END IF;`
    : `IF TG_RELID <> ${oid} AND NOT EXISTS (SELECT 1 FROM pg_catalog.pg_partition_ancestors(TG_RELID) AS a WHERE a.relid = ${oid}) THEN RETURN NULL; END IF;`;
  const keyOf = (rec: string) => `pg_catalog.jsonb_build_array(${plan.keyColumns.map((c) => `${rec}.${quoteIdent(c.name)}`).join(', ')})`;
  const [k1, k2] = idleLockKey(channel);
  // Under REPEATABLE READ or SERIALIZABLE the SELECT below would see the transaction's snapshot, and
  // rows committed after it, which the TRUNCATE removes too, would never get their tombstones.
  const truncate = `IF pg_catalog.current_setting('transaction_isolation') <> 'read committed' THEN
      RAISE EXCEPTION 'TRUNCATE of % must run in a READ COMMITTED transaction: pg-kafka-cdc captures it (channel %), and under % its trigger would not see the rows committed after the transaction began, which the TRUNCATE removes too', ${quoteLiteral(displayTable(plan.table))}, ${quoteLiteral(channel)}, pg_catalog.current_setting('transaction_isolation')
        USING ERRCODE = '0A000', HINT = 'Run the TRUNCATE in its own READ COMMITTED transaction, or DELETE the rows instead.';
    END IF;
    -- The transaction's xid before its first seq: the drain's floor counts on it (connector/drain-floor.ts).
    PERFORM pg_catalog.pg_current_xact_id();
    -- Before the rows go: every key gets its tombstone from the log, marked as a truncate.
    INSERT INTO ${log} (k, truncated) SELECT ${keyOf('t')}, true FROM ${statementLevel(plan) ? 'ONLY ' : ''}${quoteTable(plan.table)} AS t;`;
  const notify = `-- The idle worker holds the channel's idle lock exclusively: a writer that cannot share it NOTIFYs.
  IF NOT pg_catalog.pg_try_advisory_xact_lock_shared(${k1}, ${k2}) THEN
    PERFORM pg_catalog.pg_notify(${quoteLiteral(channel)}, '');
  END IF;
  RETURN NULL;`;
  if (!statementLevel(plan)) {
    return `
BEGIN
  ${own}
  IF TG_OP = 'TRUNCATE' THEN
    ${truncate}
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO ${log} (k) VALUES (${keyOf('OLD')});
  ELSIF TG_OP = 'INSERT' THEN
    INSERT INTO ${log} (k, inserted) VALUES (${keyOf('NEW')}, true);
  ELSIF ${keyTextChanged(plan)} THEN
    INSERT INTO ${log} (k) VALUES (${keyOf('OLD')}), (${keyOf('NEW')});
  ELSE
    INSERT INTO ${log} (k) VALUES (${keyOf('NEW')});
  END IF;
  ${notify}
END`;
  }
  return `
BEGIN
  ${own}
  IF TG_LEVEL = 'ROW' THEN
    -- ${captureNames(channel).keyTriggerName}: an UPDATE changed this row's key; the old key needs its tombstone (the statement trigger logs the new one).
    INSERT INTO ${log} (k) VALUES (${keyOf('OLD')});
    RETURN NULL;
  ELSIF TG_OP = 'TRUNCATE' THEN
    ${truncate}
  ELSIF TG_OP = 'DELETE' THEN
    INSERT INTO ${log} (k) SELECT ${keyOf('o')} FROM o;
  ELSIF TG_OP = 'INSERT' THEN -- marked: the debezium format tells a created row (op c) from an updated one
    INSERT INTO ${log} (k, inserted) SELECT ${keyOf('n')}, true FROM n;
  ELSE -- UPDATE: every new key
    INSERT INTO ${log} (k) SELECT ${keyOf('n')} FROM n;
  END IF;
  ${notify}
END`;
}

/** A dollar-quote tag that does not occur in the body (a column may be named a$pgkc$b). */
function dollarTag(body: string): string {
  let i = 0;
  while (body.includes(`$pgkc${i}$`)) i++;
  return `$pgkc${i}$`;
}

/**
 * Creates the change log, the function and the triggers, unless they are already in place and
 * current. Re-creating a trigger takes a lock that waits behind every open write transaction on
 * the table, and every later writer queues behind it: so it is done only when something changed,
 * and then with a lock timeout (a timeout is retried later).
 *
 * The function is SECURITY DEFINER, with a fixed search_path and every name qualified: the roles
 * that write to the table need no rights on the worker's schema, and cannot write the change log
 * themselves (a writer with INSERT on it could forge entries or seqs and stall the connector or
 * the table's writers). On statement-level triggers it costs about 2 us per statement.
 */
export async function installCapture(db: ClientBase, plan: TablePlan, channel: string): Promise<'installed' | 'current'> {
  if (await captureCurrent(db, plan, channel)) return 'current';
  await asInstallStep(
    db,
    `change capture of ${displayTable(plan.table)} (channel ${channel}) is not installed or is older than this version`,
    () =>
      inDdlTransaction(
        db,
        async () => {
          for (const statement of captureStatements(plan, channel)) await db.query(statement);
        },
        { lockTimeout: '10s' },
      ), // a timeout is retried later, rather than queueing every writer behind us
  );
  return 'installed';
}

/**
 * Whether the change log, the function and exactly the triggers this version wants are in place:
 * enabled ALWAYS (a disabled trigger, or one that fires only in some sessions, misses changes), and
 * the function not executable by PUBLIC.
 */
export async function captureCurrent(db: Queryable, plan: TablePlan, channel: string): Promise<boolean> {
  const n = captureNames(channel);
  const fn = `${quoteIdent(plan.table.schema)}.${quoteIdent(n.functionName)}`;
  const wanted = triggerDefinitions(plan, channel, fn);
  const unwanted = allTriggerNames(channel).filter((name) => !wanted.some((t) => t.name === name));
  const current = await db.query(
    `SELECT 1 FROM pg_proc p
      WHERE p.prosrc = $3 AND p.prosecdef AND to_regclass($4) IS NOT NULL
        AND (SELECT count(*) FROM pg_trigger t WHERE t.tgrelid = $1::oid AND t.tgname = ANY($2::text[]) AND t.tgfoid = p.oid AND t.tgenabled = 'A') = cardinality($2::text[])
        AND NOT has_function_privilege('public', p.oid, 'EXECUTE')
        AND NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = $1::oid AND t.tgname = ANY($5::text[]))
        AND (SELECT count(*) FROM pg_attribute a WHERE a.attrelid = to_regclass($4) AND a.attname IN ('truncated', 'inserted') AND NOT a.attisdropped) = 2
        AND p.oid = to_regprocedure($6)`,
    [plan.info.oid, wanted.map((t) => t.name), triggerBody(plan, channel), `${WORKER_SCHEMA}.${quoteIdent(n.logTable)}`, unwanted, `${fn}()`],
  );
  return current.rows.length > 0;
}

/**
 * Why the capture of the table may have missed changes since it was installed, or null: a trigger is
 * gone, disabled (ALTER TABLE ... DISABLE TRIGGER) or fires only in replica sessions (ENABLE REPLICA
 * TRIGGER), or the function is gone. (A capture merely older than this version, or enabled as ORIGIN
 * by an earlier one, missed nothing.)
 */
export async function captureGap(db: Queryable, plan: TablePlan, channel: string): Promise<string | null> {
  const n = captureNames(channel);
  const fn = `${quoteIdent(plan.table.schema)}.${quoteIdent(n.functionName)}`;
  const wanted = triggerDefinitions(plan, channel, fn).map((t) => t.name);
  const r = await db.query<{ missing: string[]; off: string[]; fn: boolean }>(
    `SELECT array(SELECT w FROM unnest($2::text[]) AS w WHERE NOT EXISTS (SELECT 1 FROM pg_trigger t WHERE t.tgrelid = $1::oid AND t.tgname = w)) AS missing,
            array(SELECT t.tgname::text FROM pg_trigger t WHERE t.tgrelid = $1::oid AND t.tgname = ANY($2::text[]) AND t.tgenabled IN ('D', 'R')) AS off,
            to_regprocedure($3) IS NOT NULL AS fn`,
    [plan.info.oid, wanted, `${fn}()`],
  );
  const { missing, off } = r.rows[0];
  if (!r.rows[0].fn) return `the capture function ${plan.table.schema}.${n.functionName} is gone`;
  if (missing.length > 0) return `the capture trigger${missing.length === 1 ? '' : 's'} ${missing.join(', ')} of ${displayTable(plan.table)} ${missing.length === 1 ? 'is' : 'are'} gone`;
  if (off.length > 0)
    return `the capture trigger${off.length === 1 ? '' : 's'} ${off.join(', ')} of ${displayTable(plan.table)} ${off.length === 1 ? 'is' : 'are'} disabled, or fire${off.length === 1 ? 's' : ''} only in replica sessions`;
  return null;
}

/** A partitioned table's leaf partitions (oids, sorted, comma-separated); '' for a plain table. */
export async function partitionLeaves(db: Queryable, plan: TablePlan): Promise<string> {
  if (statementLevel(plan)) return '';
  const r = await db.query<{ leaves: string | null }>(`SELECT string_agg(relid::oid::int8::text, ',' ORDER BY relid::oid::int8) AS leaves FROM pg_partition_tree($1::oid) WHERE isleaf`, [
    plan.info.oid,
  ]);
  return r.rows[0].leaves ?? '';
}

/** The DDL of a table's change capture, in order (run in one transaction; `install --print-sql` prints it). */
export function captureStatements(plan: TablePlan, channel: string): string[] {
  const n = captureNames(channel);
  const table = quoteTable(plan.table);
  const fn = `${quoteIdent(plan.table.schema)}.${quoteIdent(n.functionName)}`;
  const log = `${W}.${quoteIdent(n.logTable)}`;
  const body = triggerBody(plan, channel);
  const tag = dollarTag(body);
  return [
    `CREATE TABLE IF NOT EXISTS ${log} (
      seq bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
      k jsonb NOT NULL,
      changed_at timestamptz NOT NULL DEFAULT statement_timestamp())
      WITH (autovacuum_vacuum_scale_factor = 0, autovacuum_vacuum_threshold = 5000)`,
    `ALTER TABLE ${log} ADD COLUMN IF NOT EXISTS truncated boolean NOT NULL DEFAULT false`,
    // Logged by INSERTs (the debezium format's op c); a boolean next to truncated costs no space.
    `ALTER TABLE ${log} ADD COLUMN IF NOT EXISTS inserted boolean NOT NULL DEFAULT false`,
    // The statement's start (clock_timestamp() per row cost 9% of a 1,000-row UPDATE's trigger time).
    `ALTER TABLE ${log} ALTER COLUMN changed_at SET DEFAULT statement_timestamp()`,
    `CREATE OR REPLACE FUNCTION ${fn}() RETURNS trigger LANGUAGE plpgsql
      SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS ${tag}${body}${tag}`,
    // It runs with its owner's rights: nobody else may attach it to a table (CREATE TRIGGER needs
    // EXECUTE; a trigger fires whatever the writer's rights).
    `REVOKE EXECUTE ON FUNCTION ${fn}() FROM PUBLIC`,
    // CREATE OR REPLACE TRIGGER needs PostgreSQL 14; drop-and-create works on every supported version,
    // and inside one transaction no change slips between the two.
    ...allTriggerNames(channel).map((name) => `DROP TRIGGER IF EXISTS ${quoteIdent(name)} ON ${table}`),
    ...triggerDefinitions(plan, channel, fn).flatMap((t) => [
      `CREATE TRIGGER ${quoteIdent(t.name)} ${t.sql}`,
      // Fires whatever the writer's session_replication_role: no session can write around capture.
      `ALTER TABLE ${table} ENABLE ALWAYS TRIGGER ${quoteIdent(t.name)}`,
    ]),
  ];
}

/** Every trigger name a connector may have created on its table (either design, and older versions). */
function allTriggerNames(channel: string): string[] {
  const n = captureNames(channel);
  return [n.triggerName, n.updateTriggerName, n.deleteTriggerName, n.keyTriggerName, n.truncateTriggerName];
}

/**
 * The idle handshake, first half: takes the channel's idle lock exclusively, on the worker's session.
 * From the moment the request is queued every writer NOTIFYs (its shared try-lock fails), and the
 * lock is granted once every writer that shared it (and so did not NOTIFY) has committed or rolled
 * back: after that, the change log shows all their changes. Waits at most waitMs (a long or prepared
 * transaction may hold it shared): returns false then, and the worker polls instead.
 */
export async function raiseIdleFlag(db: ClientBase, channel: string, waitMs: number): Promise<boolean> {
  const [k1, k2] = idleLockKey(channel);
  try {
    // One round trip; a session lock taken in a transaction outlives its commit.
    await db.query(`BEGIN; SET LOCAL lock_timeout = '${Math.max(1, Math.round(waitMs))}ms'; SELECT pg_advisory_lock(${k1}, ${k2}); COMMIT`);
    return true;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    if (isLockNotAvailable(err)) return false; // the timeout
    throw err;
  }
}

/** The idle handshake's end: the worker is busy again, writers stop notifying. */
export async function lowerIdleFlag(db: ClientBase, channel: string): Promise<void> {
  const [k1, k2] = idleLockKey(channel);
  await db.query('SELECT pg_advisory_unlock($1::int4, $2::int4)', [k1, k2]);
}

/**
 * Drops the trigger, the function, the change log, the idle flag and the stored progress of a
 * connector. Idempotent; works whether or not the table still exists.
 */
export async function dropConnectorObjects(db: ClientBase, connector: string, channel: string | null, table: { schema: string; name: string } | null): Promise<string[]> {
  const dropped: string[] = [];
  await inDdlTransaction(db, async () => {
    if (channel !== null) {
      const n = captureNames(channel);
      if (table !== null) {
        const t = quoteTable(table);
        const exists = await db.query('SELECT to_regclass($1) AS r', [t]);
        if (exists.rows[0].r !== null) {
          const present = await db.query<{ tgname: string }>('SELECT tgname FROM pg_trigger WHERE tgrelid = $1::regclass AND tgname = ANY($2::text[]) ORDER BY tgname', [t, allTriggerNames(channel)]);
          for (const { tgname } of present.rows) {
            await db.query(`DROP TRIGGER IF EXISTS ${quoteIdent(tgname)} ON ${t}`);
            dropped.push(`trigger ${tgname}`);
          }
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
