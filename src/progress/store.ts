/**
 * Durable progress of each connector, in the table kafka_cdc.progress of the source database.
 *
 * Why there and not in a Kafka topic (as Kafka Connect does): the change log lives in the same
 * database, the progress row is written in the same round trip as the change log is trimmed, it is
 * readable with plain SQL, and `teardown` removes it with the connector's other objects.
 * Progress is written only after Kafka acknowledged the records it covers: a crash repeats a
 * batch (at-least-once), it never skips one.
 */
import type { ClientBase } from 'pg';
import { quoteIdent } from '../postgres/sql';
import { WORKER_SCHEMA } from '../postgres/names';

const T = `${quoteIdent(WORKER_SCHEMA)}.progress`;

export type SnapshotState = 'pending' | 'running' | 'done';

/** What a connector ran with: when any of it changes, what is in the topic no longer matches. */
export interface Identity {
  topic: string;
  tableOid: number;
  tableName: string;
  channel: string | null;
}

export interface Progress {
  /** What the stored progress was made with; null before the first run. */
  identity: Identity | null;
  snapshotState: SnapshotState;
  /** Key (as text per key column) of the last row of the last acknowledged snapshot batch. */
  snapshotKey: string[] | null;
  snapshotRows: number;
  /** Ordinal polling position: [ordinal, ...key] as text, or [ordinal] alone at the start. */
  watermark: string[] | null;
}

export class ProgressStore {
  constructor(private readonly db: ClientBase, private readonly connector: string) {}

  async load(): Promise<Progress> {
    await this.db.query(`INSERT INTO ${T} (connector) VALUES ($1) ON CONFLICT (connector) DO NOTHING`, [this.connector]);
    const r = await this.db.query<{
      snapshot_state: SnapshotState; snapshot_key: string[] | null; snapshot_rows: string; watermark: string[] | null;
      topic: string | null; table_oid: string | null; table_name: string | null; channel: string | null;
    }>(
      `SELECT snapshot_state, snapshot_key, snapshot_rows::text, watermark, topic, table_oid::text, table_name, channel FROM ${T} WHERE connector = $1`,
      [this.connector],
    );
    const row = r.rows[0];
    const identity =
      row.topic === null || row.table_oid === null
        ? null
        : { topic: row.topic, tableOid: Number(row.table_oid), tableName: row.table_name ?? '', channel: row.channel };
    return { identity, snapshotState: row.snapshot_state, snapshotKey: row.snapshot_key, snapshotRows: Number(row.snapshot_rows), watermark: row.watermark };
  }

  async saveIdentity(id: Identity): Promise<void> {
    await this.db.query(`UPDATE ${T} SET topic = $2, table_oid = $3, table_name = $4, channel = $5, updated_at = now() WHERE connector = $1`, [
      this.connector, id.topic, id.tableOid, id.tableName, id.channel,
    ]);
  }

  /** Forgets the snapshot and the watermark: the next session starts with a new snapshot. */
  async reset(): Promise<void> {
    await this.db.query(
      `UPDATE ${T} SET snapshot_state = 'pending', snapshot_key = NULL, snapshot_rows = 0, watermark = NULL, updated_at = now() WHERE connector = $1`,
      [this.connector],
    );
  }

  async saveSnapshot(state: SnapshotState, key: string[] | null, rows: number): Promise<void> {
    await this.db.query(
      `UPDATE ${T} SET snapshot_state = $2, snapshot_key = $3, snapshot_rows = $4, updated_at = now() WHERE connector = $1`,
      [this.connector, state, key, rows],
    );
  }

  async saveWatermark(watermark: string[]): Promise<void> {
    await this.db.query(`UPDATE ${T} SET watermark = $2, updated_at = now() WHERE connector = $1`, [this.connector, watermark]);
  }
}

/** What differs between the identity of the stored progress and the one now, in words; [] when nothing. */
export function identityChanges(before: Identity | null, now: Identity): string[] {
  if (before === null) return [];
  const out: string[] = [];
  if (before.topic !== now.topic) out.push(`topic ${before.topic} -> ${now.topic}`);
  if (before.tableOid !== now.tableOid) out.push(`table ${before.tableName} (oid ${before.tableOid}) -> ${now.tableName} (oid ${now.tableOid})`);
  if (before.channel !== now.channel) out.push(`change capture ${before.channel ?? 'off'} -> ${now.channel ?? 'off'}`);
  return out;
}
