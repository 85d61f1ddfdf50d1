/**
 * Durable progress of each connector, in the table kafka_cdc.progress of the source database.
 *
 * Why there and not in a Kafka topic (as Kafka Connect does): the change log lives in the same
 * database, the progress row is written in the same round trip as the change log is trimmed, it is
 * readable with plain SQL, and `teardown` removes it with the connector's other objects.
 * Snapshot progress and the ordinal watermark are written only after Kafka acknowledged the records
 * they cover: a crash repeats a batch (at-least-once), it never skips one. (Change capture keeps no
 * position here: the change log itself is the position, trimmed after each acknowledged batch.)
 */
import { resetProgress, selectOrInsertProgress, updateIdentity, updateSnapshotProgress, updateWatermark } from '../postgres/progress';
import type { Queryable } from '../postgres/queries';

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
  /** Ordinal polling position: [ordinal, ...key] as text, [ordinal] alone at the start, [] from the very start (the table was empty when pinned). */
  watermark: string[] | null;
}

export class ProgressStore {
  constructor(private readonly db: Queryable, private readonly connector: string) {}

  /** The stored progress; creates the connector's (empty) row the first time, which the saves below update. */
  async loadOrCreate(): Promise<Progress> {
    const row = await selectOrInsertProgress(this.db, this.connector);
    const identity =
      row.topic === null || row.table_oid === null
        ? null
        : { topic: row.topic, tableOid: Number(row.table_oid), tableName: row.table_name ?? '', channel: row.channel };
    return { identity, snapshotState: row.snapshot_state, snapshotKey: row.snapshot_key, snapshotRows: Number(row.snapshot_rows), watermark: row.watermark };
  }

  async saveIdentity(id: Identity): Promise<void> {
    await updateIdentity(this.db, this.connector, id);
  }

  /** Forgets the snapshot and the watermark: the next session starts with a new snapshot. */
  async reset(): Promise<void> {
    await resetProgress(this.db, this.connector);
  }

  async saveSnapshot(state: SnapshotState, key: string[] | null, rows: number): Promise<void> {
    await updateSnapshotProgress(this.db, this.connector, state, key, rows);
  }

  async saveWatermark(watermark: string[]): Promise<void> {
    await updateWatermark(this.db, this.connector, watermark);
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
