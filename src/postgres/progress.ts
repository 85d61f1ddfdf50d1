/**
 * The worker's own tables in its schema (kafka_cdc): progress, one row per connector, and wakeup,
 * the idle flags the triggers read. Their DDL and every statement on them live here; the progress
 * store (progress/store.ts) gives them meaning.
 */
import type { ClientBase } from 'pg';
import { WORKER_SCHEMA } from './names';
import type { Queryable } from './queries';
import { quoteIdent } from './sql';
import { inDdlTransaction } from './transaction';

const W = quoteIdent(WORKER_SCHEMA);
const T = `${W}.progress`;

/** The worker's own schema: progress of every connector, and the idle flags. Idempotent. */
export async function ensureWorkerSchema(db: ClientBase): Promise<void> {
  await inDdlTransaction(db, async () => {
    await db.query(`CREATE SCHEMA IF NOT EXISTS ${W}`);
    await db.query(`CREATE TABLE IF NOT EXISTS ${T} (
      connector text PRIMARY KEY,
      snapshot_state text NOT NULL DEFAULT 'pending' CHECK (snapshot_state IN ('pending', 'running', 'done')),
      snapshot_key text[],
      snapshot_rows bigint NOT NULL DEFAULT 0,
      watermark text[],
      updated_at timestamptz NOT NULL DEFAULT now())`);
    // What the connector ran with last time: a change of topic, table or capture means a new snapshot.
    await db.query(`ALTER TABLE ${T} ADD COLUMN IF NOT EXISTS topic text,
      ADD COLUMN IF NOT EXISTS table_oid oid, ADD COLUMN IF NOT EXISTS table_name text, ADD COLUMN IF NOT EXISTS channel text`);
    await db.query(`CREATE TABLE IF NOT EXISTS ${W}.wakeup (
      channel text PRIMARY KEY,
      waiting boolean NOT NULL DEFAULT false)`);
  });
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
}

/** The connector's progress row, created (empty: pending snapshot) when it has none. */
export async function selectOrInsertProgress(db: Queryable, connector: string): Promise<ProgressRow> {
  await db.query(`INSERT INTO ${T} (connector) VALUES ($1) ON CONFLICT (connector) DO NOTHING`, [connector]);
  const r = await db.query<ProgressRow>(
    `SELECT snapshot_state, snapshot_key, snapshot_rows::text, watermark, topic, table_oid::text, table_name, channel FROM ${T} WHERE connector = $1`,
    [connector],
  );
  return r.rows[0];
}

export async function updateIdentity(db: Queryable, connector: string, id: { topic: string; tableOid: number; tableName: string; channel: string | null }): Promise<void> {
  await db.query(`UPDATE ${T} SET topic = $2, table_oid = $3, table_name = $4, channel = $5, updated_at = now() WHERE connector = $1`, [
    connector, id.topic, id.tableOid, id.tableName, id.channel,
  ]);
}

/** Forgets the snapshot and the watermark (the row stays). */
export async function resetProgress(db: Queryable, connector: string): Promise<void> {
  await db.query(
    `UPDATE ${T} SET snapshot_state = 'pending', snapshot_key = NULL, snapshot_rows = 0, watermark = NULL, updated_at = now() WHERE connector = $1`,
    [connector],
  );
}

export async function updateSnapshotProgress(db: Queryable, connector: string, state: ProgressRow['snapshot_state'], key: string[] | null, rows: number): Promise<void> {
  await db.query(`UPDATE ${T} SET snapshot_state = $2, snapshot_key = $3, snapshot_rows = $4, updated_at = now() WHERE connector = $1`, [connector, state, key, rows]);
}

export async function updateWatermark(db: Queryable, connector: string, watermark: string[]): Promise<void> {
  await db.query(`UPDATE ${T} SET watermark = $2, updated_at = now() WHERE connector = $1`, [connector, watermark]);
}
