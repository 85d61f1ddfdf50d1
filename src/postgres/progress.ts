/**
 * The worker's own tables in its schema (kafka_cdc): progress, one row per connector, and the
 * re-snapshot requests (requests.ts). Their DDL and every statement on them live here; the progress
 * store (progress/store.ts) gives them meaning.
 */
import type { ClientBase } from 'pg';
import { WORKER_SCHEMA } from './names';
import type { Queryable } from './connection';
import { requestsTableStatements } from './requests';
import { quoteIdent } from './sql';
import { asInstallStep, inDdlTransaction } from './ddl';

const W = quoteIdent(WORKER_SCHEMA);
const T = `${W}.progress`;

/**
 * The DDL of the worker schema, in order: progress of every connector, and re-snapshot requests.
 * Idempotent; `install --print-sql` prints it. (The idle flags of 0.1 lived in a table wakeup; they
 * are advisory locks now.)
 */
export function workerSchemaStatements(): string[] {
  return [
    `CREATE SCHEMA IF NOT EXISTS ${W}`,
    `CREATE TABLE IF NOT EXISTS ${T} (
      connector text PRIMARY KEY,
      snapshot_state text NOT NULL DEFAULT 'pending' CHECK (snapshot_state IN ('pending', 'running', 'done')),
      snapshot_key text[],
      snapshot_rows bigint NOT NULL DEFAULT 0,
      watermark text[],
      updated_at timestamptz NOT NULL DEFAULT now())`,
    // What the connector ran with last time: a change of topic, table or capture means a new snapshot.
    `ALTER TABLE ${T} ADD COLUMN IF NOT EXISTS topic text,
      ADD COLUMN IF NOT EXISTS table_oid oid, ADD COLUMN IF NOT EXISTS table_name text, ADD COLUMN IF NOT EXISTS channel text`,
    // run: names one snapshot-and-stream of the connector (new on every reset); commit_seq: the last
    // position committed, counted per run. Kafka's offsets topic holds the same pair (exactly_once).
    `ALTER TABLE ${T} ADD COLUMN IF NOT EXISTS run text, ADD COLUMN IF NOT EXISTS commit_seq bigint NOT NULL DEFAULT 0`,
    // The primary key the records were keyed by ("id bigint, tenant text"): a changed key stops the connector.
    `ALTER TABLE ${T} ADD COLUMN IF NOT EXISTS key_columns text`,
    // A re-snapshot on demand in progress: its request, the last key and the rows done (committed with each page).
    `ALTER TABLE ${T} ADD COLUMN IF NOT EXISTS resnapshot_id bigint, ADD COLUMN IF NOT EXISTS resnapshot_key text[],
      ADD COLUMN IF NOT EXISTS resnapshot_rows bigint NOT NULL DEFAULT 0`,
    // The key that authenticates the run's checkpoints in Kafka (kafka/offsets.ts), and the history of
    // the database (system identifier and timeline) the last session ran on.
    `ALTER TABLE ${T} ADD COLUMN IF NOT EXISTS checkpoint_key text, ADD COLUMN IF NOT EXISTS origin text`,
    // More of what the records were written with: a change of any leaves records no later one replaces.
    `ALTER TABLE ${T} ADD COLUMN IF NOT EXISTS format text, ADD COLUMN IF NOT EXISTS partitions int, ADD COLUMN IF NOT EXISTS topic_id text, ADD COLUMN IF NOT EXISTS leaves text`,
    ...requestsTableStatements(),
    // Change-log entries the drain could not read (a key of the wrong shape: not written by the
    // connector's trigger), set aside with the reason rather than failing the connector.
    `CREATE TABLE IF NOT EXISTS ${W}.rejected_changes (
      connector text NOT NULL,
      log_table text NOT NULL,
      seq bigint NOT NULL,
      k text NOT NULL,
      changed_at timestamptz,
      reason text NOT NULL,
      rejected_at timestamptz NOT NULL DEFAULT now(),
      PRIMARY KEY (log_table, seq))`,
    // The version of the whole schema, the last statement: a worker whose version finds it runs no DDL.
    `COMMENT ON TABLE ${T} IS '${SCHEMA_MARK}'`,
  ];
}

/** Bumped whenever workerSchemaStatements() changes, so that a worker knows the schema is as it needs it. */
export const WORKER_SCHEMA_VERSION = 2;
const SCHEMA_MARK = `pg-kafka-cdc worker schema ${WORKER_SCHEMA_VERSION}`;

/** Whether the worker schema is as this version needs it (its version mark, set last): a worker then runs no DDL. */
export async function workerSchemaCurrent(db: Queryable): Promise<boolean> {
  const r = await db.query<{ ok: boolean }>(`SELECT coalesce(obj_description(to_regclass('${WORKER_SCHEMA}.progress'), 'pg_class') = $1, false) AS ok`, [SCHEMA_MARK]);
  return r.rows[0].ok;
}

/**
 * Creates or upgrades the worker schema when it is not current. A worker without the rights for
 * that (least privilege: an administrator ran `install`) never gets here once it is current; when it
 * is not, it fails with what to run.
 */
export async function ensureWorkerSchema(db: ClientBase): Promise<void> {
  if (await workerSchemaCurrent(db)) return;
  await asInstallStep(db, `the worker schema ${WORKER_SCHEMA} is missing or older than this version`, () =>
    inDdlTransaction(db, async () => {
      for (const statement of workerSchemaStatements()) await db.query(statement);
    }),
  );
}

export interface ProgressRow {
  snapshot_state: 'pending' | 'running' | 'done';
  snapshot_key: string[] | null;
  snapshot_rows: string;
  watermark: string[] | null;
  topic: string | null;
  table_oid: string | null;
  table_name: string | null;
  channel: string | null;
  run: string | null;
  commit_seq: string;
  key_columns: string | null;
  resnapshot_id: string | null;
  resnapshot_key: string[] | null;
  resnapshot_rows: string;
  checkpoint_key: string;
  origin: string | null;
  format: string | null;
  partitions: number | null;
  topic_id: string | null;
  leaves: string | null;
}

/** The connector's progress row, created (empty: pending snapshot, a new run) when it has none, or given a run when it has none yet. */
export async function selectOrInsertProgress(db: Queryable, connector: string, newRun: string, newKey: string): Promise<ProgressRow> {
  await db.query(
    `INSERT INTO ${T} (connector, run, checkpoint_key) VALUES ($1, $2, $3)
       ON CONFLICT (connector) DO UPDATE SET run = coalesce(${T}.run, $2), checkpoint_key = coalesce(${T}.checkpoint_key, $3)
       WHERE ${T}.run IS NULL OR ${T}.checkpoint_key IS NULL`,
    [connector, newRun, newKey],
  );
  const r = await db.query<ProgressRow>(
    `SELECT snapshot_state, snapshot_key, snapshot_rows::text, watermark, topic, table_oid::text, table_name, channel, run, commit_seq::text, key_columns, resnapshot_id::text, resnapshot_key, resnapshot_rows::text, checkpoint_key, origin, format, partitions, topic_id, leaves FROM ${T} WHERE connector = $1`,
    [connector],
  );
  return r.rows[0];
}

/**
 * The database's history as "{system identifier}:{timeline}": a failover or a point-in-time restore
 * starts a new timeline. Null parts when the server will not say (a standby has no current WAL
 * position; some managed services restrict pg_control_system).
 */
export async function databaseOrigin(db: Queryable): Promise<string | null> {
  const sys = await db.query<{ s: string }>(`SELECT system_identifier::text AS s FROM pg_control_system()`).then(
    (r) => r.rows[0].s,
    () => null,
  );
  const tli = await db.query<{ t: number | null }>(`SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int END AS t`).then(
    (r) => r.rows[0].t,
    () => null,
  );
  return sys === null || tli === null ? null : `${sys}:${tli}`;
}

/** Stores the history of the database the session runs on (a warning is due when it changed: connector.ts). */
export async function updateOrigin(db: Queryable, connector: string, origin: string | null): Promise<void> {
  await db.query(`UPDATE ${T} SET origin = $2 WHERE connector = $1`, [connector, origin]);
}

export async function updateIdentity(
  db: Queryable,
  connector: string,
  id: { topic: string; tableOid: number; tableName: string; channel: string | null; key: string; format: string | null; partitions: number | null; topicId: string | null; leaves: string | null },
): Promise<void> {
  await db.query(
    `UPDATE ${T} SET topic = $2, table_oid = $3, table_name = $4, channel = $5, key_columns = $6, format = $7, partitions = $8, topic_id = $9, leaves = $10, updated_at = now() WHERE connector = $1`,
    [connector, id.topic, id.tableOid, id.tableName, id.channel, id.key, id.format, id.partitions, id.topicId, id.leaves],
  );
}

/** Forgets the snapshot and the watermark and starts a new run (the row stays). */
export async function resetProgress(db: Queryable, connector: string, newRun: string, newKey: string): Promise<void> {
  await db.query(
    `UPDATE ${T} SET snapshot_state = 'pending', snapshot_key = NULL, snapshot_rows = 0, watermark = NULL, resnapshot_id = NULL, resnapshot_key = NULL, resnapshot_rows = 0, run = $2, checkpoint_key = $3, commit_seq = 0, updated_at = now() WHERE connector = $1`,
    [connector, newRun, newKey],
  );
}

/** The progress after a committed batch, as stored. */
export interface StoredPosition {
  commit: number;
  snapshotState: ProgressRow['snapshot_state'];
  snapshotKey: string[] | null;
  snapshotRows: number;
  watermark: string[] | null;
  resnapshot: { id: string; key: string[] | null; rows: number } | null;
}

/** The position columns of a progress row, set to a stored position ($3..$10). */
const SET_POSITION = `SET commit_seq = $3, snapshot_state = $4, snapshot_key = $5, snapshot_rows = $6, watermark = $7,
  resnapshot_id = $8, resnapshot_key = $9, resnapshot_rows = $10, updated_at = now()`;
/** Only a later position of the same run: a worker that was fenced off and still finishes a write must not move the progress back. */
const WHERE_LATER = `WHERE connector = $1 AND run = $2 AND commit_seq < $3`;

/** The statements that store a connector's position, built once per connector (its change log's name is in one of them). */
export interface PositionStatements {
  /** Stores a position, unless a later one is stored already (commit_seq only grows within a run). */
  update(db: Queryable, connector: string, run: string, p: StoredPosition): Promise<void>;
  /** The same with the change log's trim in front, in one statement: one round trip per drained batch. untilUs: trim only entries this old (microseconds since the epoch). */
  trimAndUpdate(db: Queryable, connector: string, run: string, p: StoredPosition, seqs: string[], untilUs: string | null): Promise<void>;
}

export function positionStatements(logTable: string | null): PositionStatements {
  const update = `UPDATE ${T} ${SET_POSITION} ${WHERE_LATER}`;
  const trimAndUpdate =
    logTable === null
      ? null
      : `WITH trimmed AS (DELETE FROM ${W}.${quoteIdent(logTable)} WHERE seq = ANY($11::int8[])
                            AND ($12::int8 IS NULL OR changed_at <= 'epoch'::timestamptz + $12::int8 * interval '1 microsecond'))
         UPDATE ${T} ${SET_POSITION} ${WHERE_LATER}`;
  const values = (connector: string, run: string, p: StoredPosition) => [
    connector,
    run,
    p.commit,
    p.snapshotState,
    p.snapshotKey,
    p.snapshotRows,
    p.watermark,
    p.resnapshot?.id ?? null,
    p.resnapshot?.key ?? null,
    p.resnapshot?.rows ?? 0,
  ];
  return {
    update: async (db, connector, run, p) => {
      await db.query(update, values(connector, run, p));
    },
    trimAndUpdate: async (db, connector, run, p, seqs, untilUs) => {
      if (trimAndUpdate === null) throw new Error(`connector ${connector}: a checkpoint trims a change log, but it has none`);
      await db.query(trimAndUpdate, [...values(connector, run, p), seqs, untilUs]);
    },
  };
}
