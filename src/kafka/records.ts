/**
 * The record contract downstream consumers depend on:
 * - key: JSON object of the primary-key columns in key order, e.g. {"id":42};
 * - value: JSON object of key and included columns as row_to_json renders them (UTC), or null
 *   for a delete (a tombstone);
 * - with sink.format connect_json, key and value are Kafka Connect JsonConverter envelopes
 *   {"schema": ..., "payload": ...} (src/format/connect-json.ts); a tombstone is still null;
 * - with sink.format debezium, the key is as in connect_json and the value is Debezium's change
 *   event (before, after, source, op r/c/u/d, ts_ms) in the JsonConverter envelope; a delete is
 *   the event with op d, then the tombstone;
 * - headers: op = snapshot | upsert | delete, connector, change_id, ordinal (when configured),
 *   truncate = true on the tombstones a TRUNCATE of the table caused.
 *
 * change_id names the change a record stands for, so that a consumer (and a test) can find
 * duplicates: {run}:s{n} for the n-th row of the snapshot of a run, {run}:c{seq,...} for the
 * change-log entries a drained change covers, {run}:o{position} for a row ordinal polling found,
 * {run}:r{request}.{n} for the n-th row of a re-snapshot on demand (snapshot --where),
 * {run}:x{request}.{n} for the n-th tombstone a repairing re-snapshot (snapshot --repair) wrote for a
 * key the topic held and the table does not.
 * A run is one snapshot-and-stream of the connector (new after a reset).
 *
 * Records are built as the bytes the Kafka client writes (no serializer pass), and the header
 * names and the op and connector values are encoded once per connector, not once per record. The
 * key and value bytes are the record format's (src/format/): its encoder wraps what PostgreSQL rendered.
 */
export type Op = 'snapshot' | 'upsert' | 'delete';

/** One record to publish: UTF-8 bytes, a null value is a tombstone. */
export interface KafkaRecord {
  topic: string;
  key: Buffer;
  /** null: a tombstone. */
  value: Buffer | null;
  headers: Map<Buffer, Buffer>;
  /** A partition of its own choice instead of the key's (a repair's tombstone for a record left in another partition). */
  partition?: number;
}

/** The columns a record is built from: key JSON, value JSON (null: deleted), ordinal text. */
export interface RowImage {
  k: string;
  v: string | null;
  o: string | null;
}

/** Every header a record can carry: part of the record contract (the README documents each, a test checks it). */
export const HEADERS = ['op', 'connector', 'change_id', 'ordinal', 'truncate'] as const;
const [H_OP, H_CONNECTOR, H_CHANGE_ID, H_ORDINAL, H_TRUNCATE] = HEADERS.map((h) => Buffer.from(h));
const TRUE = Buffer.from('true');
const OP_VALUES: Record<Op, Buffer> = { snapshot: Buffer.from('snapshot'), upsert: Buffer.from('upsert'), delete: Buffer.from('delete') };

/** Debezium's op of a record: r a snapshot read, c a created row, u an updated one, d a deleted one (the formats' change event). */
export type EventOp = 'r' | 'c' | 'u' | 'd';
/** Debezium's source.snapshot: true for the initial snapshot, incremental for a re-snapshot on demand. */
export type SnapshotKind = 'true' | 'false' | 'incremental';
/** What a record stands for, for the formats that write change events (debezium); the others ignore it. */
export interface ChangeEvent {
  op: EventOp;
  snapshot: SnapshotKind;
  /** When the change was made (ms since the epoch, PostgreSQL's clock); the encoder's clock when absent. */
  sourceMs?: number;
}

/**
 * How keys and values become bytes: the encoder side of a record format (src/format/). PostgreSQL
 * renders the key and value payloads; the encoder only wraps them, with constant text computed once.
 */
export interface RecordEncoder {
  /** The key's text from the key PostgreSQL rendered. */
  key(k: string): string;
  /** The value's text of a row (its event: what the record stands for), or null for a tombstone. */
  value(row: RowImage, changeId: string, event: ChangeEvent): string | null;
  /** A delete is an event record before its tombstone (the debezium format), not the tombstone alone. */
  readonly deleteEvent: boolean;
}

/** Plain JSON: key and value as PostgreSQL rendered them. */
export const PLAIN_JSON: RecordEncoder = { key: (k) => k, value: (row) => row.v, deleteEvent: false };

export class RecordBuilder {
  private readonly connector: Buffer;

  constructor(
    private readonly topic: string,
    connectorName: string,
    /** The run the change ids name. */
    readonly run: string,
    private readonly encoder: RecordEncoder = PLAIN_JSON,
  ) {
    this.connector = Buffer.from(connectorName);
  }

  /**
   * The records of a drained change, and its op (for the per-op counts of a change batch). A tombstone
   * a TRUNCATE caused says so in a header. In the debezium format a delete is two records: the
   * change event (op d) and then the tombstone that lets compaction drop the key.
   */
  change(row: RowImage & { seqs: string[]; truncated?: boolean; inserted?: boolean; changed_ms?: number }): { records: KafkaRecord[]; op: Op } {
    const op = opOf(row, 'change');
    const changeId = `${this.run}:c${row.seqs.join(',')}`;
    const eventOp: EventOp = row.v === null ? 'd' : row.inserted ? 'c' : 'u';
    const records = [this.record(row, op, changeId, { op: eventOp, snapshot: 'false', sourceMs: row.changed_ms })];
    if (row.v === null && this.encoder.deleteEvent) records.push(this.record(row, op, changeId, null));
    if (row.truncated && row.v === null) for (const r of records) r.headers.set(H_TRUNCATE, TRUE);
    return { records, op };
  }

  /** The record of the n-th row (from 1) of the run's snapshot. */
  snapshot(row: RowImage, n: number): KafkaRecord {
    return this.record(row, 'snapshot', `${this.run}:s${n}`, { op: 'r', snapshot: 'true' });
  }

  /** The record of the n-th row (from 1) of re-snapshot request id: op snapshot, change id {run}:r{id}.{n}. */
  resnapshot(row: RowImage, id: string, n: number): KafkaRecord {
    return this.record(row, 'snapshot', `${this.run}:r${id}.${n}`, { op: 'r', snapshot: 'incremental' });
  }

  /**
   * The tombstone a repair writes for a key the topic holds and the table does not: the key's bytes
   * as the topic has them, into the partition given (null: the key's own). In the debezium format it
   * is preceded by an op d event when the key is this format's (its payload becomes before).
   */
  repairTombstone(key: Buffer, partition: number | null, id: string, n: number): KafkaRecord[] {
    const changeId = `${this.run}:x${id}.${n}`;
    const headers = () =>
      new Map<Buffer, Buffer>([
        [H_OP, OP_VALUES.delete],
        [H_CONNECTOR, this.connector],
        [H_CHANGE_ID, Buffer.from(changeId)],
      ]);
    const out: KafkaRecord[] = [];
    if (this.encoder.deleteEvent) {
      const payload = keyPayload(key);
      const event = payload === null ? null : this.encoder.value({ k: payload, v: null, o: null }, changeId, { op: 'd', snapshot: 'incremental' });
      if (event !== null) out.push({ topic: this.topic, key, value: Buffer.from(event), headers: headers(), ...(partition === null ? {} : { partition }) });
    }
    out.push({ topic: this.topic, key, value: null, headers: headers(), ...(partition === null ? {} : { partition }) });
    return out;
  }

  /** The record of a row ordinal polling found at a position (the p text of the row). */
  polled(row: RowImage & { p: string }): KafkaRecord {
    return this.record(row, 'upsert', `${this.run}:o${row.p}`, { op: 'u', snapshot: 'false' });
  }

  /**
   * One record. event: what the record stands for (formats with change events write it); null for
   * the tombstone after a delete's event.
   */
  record(row: RowImage, op: Op, changeId: string, event: ChangeEvent | null): KafkaRecord {
    const headers = new Map<Buffer, Buffer>([
      [H_OP, OP_VALUES[op]],
      [H_CONNECTOR, this.connector],
      [H_CHANGE_ID, Buffer.from(changeId)],
    ]);
    if (row.o !== null) headers.set(H_ORDINAL, Buffer.from(row.o));
    const value = event === null ? null : this.encoder.value(row, changeId, event);
    return { topic: this.topic, key: Buffer.from(this.encoder.key(row.k)), value: value === null ? null : Buffer.from(value), headers };
  }
}

/** The payload of a key in the JsonConverter envelope, as JSON text; null when the key is not one. */
function keyPayload(key: Buffer): string | null {
  try {
    const parsed = JSON.parse(key.toString()) as { payload?: unknown };
    return parsed && typeof parsed === 'object' && parsed.payload && typeof parsed.payload === 'object' ? JSON.stringify(parsed.payload) : null;
  } catch {
    return null;
  }
}

function opOf(row: RowImage, kind: 'snapshot' | 'change'): Op {
  return kind === 'snapshot' ? 'snapshot' : row.v === null ? 'delete' : 'upsert';
}

/** Counts per op: of a list of ops, or n records of one op. */
export function countOps(ops: Op[]): Record<Op, number> {
  const counts: Record<Op, number> = { snapshot: 0, upsert: 0, delete: 0 };
  for (const op of ops) counts[op] += 1;
  return counts;
}

export function countOf(op: Op, n: number): Record<Op, number> {
  return { snapshot: 0, upsert: 0, delete: 0, [op]: n };
}
