/**
 * Durable progress of each connector, in the table kafka_cdc.progress of the source database.
 *
 * A position is what a committed batch leaves behind: the snapshot's state, last key and row count,
 * the ordinal watermark, and a counter (commit) that grows by one with every batch, within a run. A
 * run names one snapshot-and-stream of the connector and is new after every reset.
 *
 * at_least_once: the position is stored here only after Kafka acknowledged the batch it covers, so a
 * crash repeats a batch, never skips one. exactly_once: the same position (a Checkpoint) is also
 * written to the connector's offsets topic inside the batch's Kafka transaction, and Kafka's copy wins
 * when it is ahead (reconcile), because a crash can fall between the Kafka commit and this write.
 * Change capture's position is the change log itself: a batch's entries are trimmed in the same
 * statement that stores its position.
 */
import { randomBytes } from 'node:crypto';
import { positionStatements, resetProgress, selectOrInsertProgress, updateIdentity, type PositionStatements } from '../postgres/progress';
import type { Queryable } from '../postgres/connection';
import type { Checkpoint, Position, ResnapshotPosition, SnapshotState, Trim } from './position';
export type { Checkpoint, Position, ResnapshotPosition, SnapshotState, Trim };

/** What a connector ran with: when any of it changes, what is in the topic no longer matches. */
export interface Identity {
  topic: string;
  tableOid: number;
  tableName: string;
  channel: string | null;
  /** The primary key the records are keyed by, "id bigint, tenant text" ('' when not known: progress from before it was stored). */
  key: string;
  /** sink.format the records were written in (null: not known, progress from before it was stored). */
  format: string | null;
  /** The topic's partition count, and its id (Kafka's topic UUID: another when the topic was deleted and created again). */
  partitions: number | null;
  topicId: string | null;
  /** A partitioned table's leaf partitions (oids, sorted, comma-separated); '' for a plain table. */
  leaves: string | null;
}

export interface Progress extends Position {
  /** What the stored progress was made with; null before the first run. */
  identity: Identity | null;
  /** The database's history (databaseOrigin) the last session ran on; null before it was stored. */
  storedOrigin: string | null;
}

export function newRun(): string {
  return randomBytes(8).toString('hex');
}

/** What recovery did with the last checkpoint Kafka committed (reconcile). */
export type Reconciled =
  | { kind: 'adopted'; from: number; to: number; trimmed: number }
  /** The database is behind by more than the one commit a crash can lose, or on another timeline: it went back in time. Nothing was trimmed. */
  | { kind: 'history'; from: number; to: number; committedOrigin: string | null; origin: string | null };

export class ProgressStore {
  private position: Position | null = null;
  /** The run's checkpoint key (hex): authenticates the checkpoints written to Kafka (kafka/offsets.ts). */
  private key: string | null = null;
  /** The database's history now (databaseOrigin), stamped on every checkpoint. */
  origin: string | null = null;

  /**
   * @param logTable the change log (in the worker schema) whose entries a checkpoint trims, when the connector has one
   */
  private readonly statements: PositionStatements;

  constructor(
    private readonly db: Queryable,
    private readonly connector: string,
    logTable: string | null = null,
  ) {
    this.statements = positionStatements(logTable);
  }

  /** The stored progress; creates the connector's (empty) row the first time, which the saves below update. */
  async loadOrCreate(): Promise<Progress> {
    const row = await selectOrInsertProgress(this.db, this.connector, newRun(), newCheckpointKey());
    this.key = row.checkpoint_key;
    const identity =
      row.topic === null || row.table_oid === null
        ? null
        : {
            topic: row.topic,
            tableOid: Number(row.table_oid),
            tableName: row.table_name ?? '',
            channel: row.channel,
            key: row.key_columns ?? '',
            format: row.format,
            partitions: row.partitions === null ? null : Number(row.partitions),
            topicId: row.topic_id,
            leaves: row.leaves,
          };
    const position: Position = {
      run: row.run as string,
      commit: Number(row.commit_seq),
      snapshotState: row.snapshot_state,
      snapshotKey: row.snapshot_key,
      snapshotRows: Number(row.snapshot_rows),
      watermark: row.watermark,
      resnapshot: row.resnapshot_id === null ? null : { id: row.resnapshot_id, key: row.resnapshot_key, rows: Number(row.resnapshot_rows) },
    };
    this.position = position;
    return { identity, storedOrigin: row.origin, ...position };
  }

  async saveIdentity(id: Identity): Promise<void> {
    await updateIdentity(this.db, this.connector, id);
  }

  /** Forgets the snapshot and the watermark and starts a new run: the next session starts with a new snapshot. */
  async reset(): Promise<void> {
    await resetProgress(this.db, this.connector, newRun(), newCheckpointKey());
    this.position = null;
  }

  /** The key that authenticates this run's checkpoints in Kafka. */
  checkpointKey(): string {
    if (!this.key) throw new Error(`connector ${this.connector}: checkpoint key used before loadOrCreate()`);
    return this.key;
  }

  /** The checkpoint a batch commits: the current position with these changes, one commit further. */
  next(change: Partial<Omit<Position, 'run' | 'commit'>>, trim: Trim | null = null): Checkpoint {
    const current = this.current();
    return { ...current, ...change, commit: current.commit + 1, trim, origin: this.origin };
  }

  /** Stores a checkpoint after its batch was committed (and trims its change-log entries in the same statement). */
  async save(cp: Checkpoint): Promise<void> {
    const { run, trim, origin: _origin, ...position } = cp;
    if (trim && trim.seqs.length > 0) await this.statements.trimAndUpdate(this.db, this.connector, run, position, trim.seqs, trim.untilUs);
    else await this.statements.update(this.db, this.connector, run, position);
    this.position = stripTrim(cp);
  }

  /** next() and save() at once: a change of state that no Kafka transaction has to carry (the snapshot's start and end, the ordinal pin). */
  async advance(change: Partial<Omit<Position, 'run' | 'commit'>>): Promise<void> {
    await this.save(this.next(change));
  }

  /**
   * Brings the stored progress in line with the last checkpoint Kafka committed (exactly_once), in
   * one statement: when Kafka is one commit ahead (a crash fell between its commit and this store),
   * its position is stored and the change-log entries its batch covered are trimmed (unless the
   * change log is another one than the checkpoint's, and only entries as old as the batch's).
   *
   * Kafka further ahead, or ahead on another timeline of the database, means the database went back
   * in time (an asynchronous failover, a point-in-time restore): the entries the checkpoint names may
   * be other, newer changes by now. Nothing is trimmed then; the commit counter moves to Kafka's, so
   * that later checkpoints are newer, and the caller re-aligns the topic. Null: the stored progress
   * was current.
   */
  async reconcile(committed: Checkpoint | null, logOid: number | null): Promise<Reconciled | null> {
    const current = this.current();
    if (committed === null || committed.run !== current.run || committed.commit <= current.commit) return null;
    const otherHistory = committed.origin !== null && this.origin !== null && committed.origin !== this.origin;
    if (committed.commit > current.commit + 1 || otherHistory) {
      await this.save({ ...current, commit: committed.commit, trim: null, origin: this.origin });
      return { kind: 'history', from: current.commit, to: committed.commit, committedOrigin: committed.origin, origin: this.origin };
    }
    const trim = committed.trim && committed.trim.logOid === logOid ? committed.trim : null;
    await this.save({ ...committed, trim }); // one statement: the trim and the position together
    return { kind: 'adopted', from: current.commit, to: committed.commit, trimmed: trim?.seqs.length ?? 0 };
  }

  /** The position after the last committed batch. */
  current(): Position {
    if (!this.position) throw new Error(`connector ${this.connector}: progress used before loadOrCreate()`);
    return this.position;
  }
}

function stripTrim(cp: Checkpoint): Position {
  const { trim: _trim, origin: _origin, ...position } = cp;
  return position;
}

/** A new run's checkpoint key: 32 random bytes, hex. */
export function newCheckpointKey(): string {
  return randomBytes(32).toString('hex');
}

/**
 * What differs between the identity of the stored progress and the one now that means the topic
 * must start over (a new snapshot of a new run), in words; [] when nothing.
 */
export function identityChanges(before: Identity | null, now: Identity): string[] {
  if (before === null) return [];
  const out: string[] = [];
  if (before.topic !== now.topic) out.push(`topic ${before.topic} -> ${now.topic}`);
  else if (before.topicId !== null && now.topicId !== null && before.topicId !== now.topicId) out.push(`topic ${now.topic} was deleted and created again (id ${before.topicId} -> ${now.topicId})`);
  if (before.tableOid !== now.tableOid) out.push(`table ${before.tableName} (oid ${before.tableOid}) -> ${now.tableName} (oid ${now.tableOid})`);
  if (before.channel !== now.channel) out.push(`change capture ${before.channel ?? 'off'} -> ${now.channel ?? 'off'}`);
  return out;
}

/**
 * What differs that leaves records in the topic no later record replaces (keys in another format or
 * in another partition, rows gone without a trigger), in words; [] when nothing. Each needs a
 * repairing re-snapshot (and so does a table dropped and created again: connector.ts).
 */
export function identityDrift(before: Identity | null, now: Identity): string[] {
  if (before === null) return [];
  const out: string[] = [];
  if (before.format !== null && now.format !== null && before.format !== now.format) out.push(`sink.format ${before.format} -> ${now.format}: the keys in the topic are written differently now`);
  if (before.partitions !== null && now.partitions !== null && before.partitions !== now.partitions)
    out.push(`the topic's partitions ${before.partitions} -> ${now.partitions}: keys go to other partitions now`);
  if (before.leaves !== null && now.leaves !== null && before.leaves !== now.leaves && before.tableOid === now.tableOid)
    out.push('the partitions of the table changed (ATTACH, DETACH or DROP PARTITION fire no trigger)');
  return out;
}
