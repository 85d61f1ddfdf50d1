/**
 * What a committed batch leaves behind (a position), and what a batch commits (a checkpoint: the
 * position with the change-log entries it trims and the database's history it was read on). Kafka's
 * offsets topic holds checkpoints (kafka/offsets.ts), the database the positions (store.ts).
 */
export type SnapshotState = 'pending' | 'running' | 'done';

/** Where the connector stands after its last committed batch. */
export interface Position {
  /** One snapshot-and-stream of the connector: new after every reset (16 hex digits). */
  run: string;
  /** Batches committed in this run (every stored position has a greater one than the last). */
  commit: number;
  snapshotState: SnapshotState;
  /** Key (as text per key column) of the last row of the last committed snapshot batch. */
  snapshotKey: string[] | null;
  snapshotRows: number;
  /** Ordinal polling position: [ordinal, ...key] as text, [ordinal] alone at the start, [] from the very start (the table was empty when pinned). */
  watermark: string[] | null;
  /** A re-snapshot on demand in progress: its request's id, the key of the last row committed, rows done. */
  resnapshot: ResnapshotPosition | null;
}

export interface ResnapshotPosition {
  id: string;
  key: string[] | null;
  rows: number;
}

/** The change-log entries a drained batch covered, trimmed once the batch is committed. */
export interface Trim {
  /** The change log's table oid: seqs restart when the log is created again, so they only count for this one. */
  logOid: number;
  seqs: string[];
  /**
   * The latest changed_at of those entries (microseconds since the epoch, as text): recovery trims a
   * seq only when its entry is that old, so an entry that got the same seq later (the sequence was
   * restarted) is never deleted unpublished. Null in checkpoints written before it existed.
   */
  untilUs: string | null;
}

/** A position with the change-log entries of the batch that leads to it: what a batch commits. */
export interface Checkpoint extends Position {
  trim: Trim | null;
  /**
   * The database's history the batch was read on: "{system identifier}:{timeline}" (postgres/progress.ts
   * databaseOrigin). A checkpoint from another timeline than the database's now was committed before
   * a failover or a point-in-time restore that may have lost what it covered.
   */
  origin: string | null;
}
