/**
 * The record contract downstream consumers depend on:
 * - key: JSON object of the primary-key columns in key order, e.g. {"id":42};
 * - value: JSON object of key and included columns as row_to_json renders them (UTC), or null
 *   for a delete (a tombstone);
 * - with sink.format connect_json, key and value are Kafka Connect JsonConverter envelopes
 *   {"schema": ..., "payload": ...} (postgres/formats.ts); a tombstone is still null;
 * - headers: op = snapshot | upsert | delete, connector, change_id, ordinal (when configured),
 *   truncate = true on the tombstones a TRUNCATE of the table caused.
 *
 * change_id names the change a record stands for, so that a consumer (and a test) can find
 * duplicates: {run}:s{n} for the n-th row of the snapshot of a run, {run}:c{seq,...} for the
 * change-log entries a drained change covers, {run}:o{position} for a row ordinal polling found,
 * {run}:r{request}.{n} for the n-th row of a re-snapshot on demand (snapshot --where).
 * A run is one snapshot-and-stream of the connector (new after a reset).
 *
 * Records are built as the bytes the Kafka client writes (no serializer pass), and the header
 * names and the op and connector values are encoded once per connector, not once per record.
 */
export type Op = 'snapshot' | 'upsert' | 'delete';

/** One record to publish: UTF-8 bytes, a null value is a tombstone. */
export interface KafkaRecord {
  topic: string;
  key: Buffer;
  /** null: a tombstone. */
  value: Buffer | null;
  headers: Map<Buffer, Buffer>;
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

export class RecordBuilder {
  private readonly connector: Buffer;
  private readonly keyPrefix: string | null;
  private readonly valuePrefix: string | null;

  constructor(
    private readonly topic: string,
    connector: string,
    /** The run the change ids name. */
    readonly run: string,
    /** sink.format connect_json: the JsonConverter schemas the key and value payloads are wrapped with (null: plain JSON). */
    envelope: { key: string; value: string } | null = null,
  ) {
    this.connector = Buffer.from(connector);
    this.keyPrefix = envelope && `{"schema":${envelope.key},"payload":`;
    this.valuePrefix = envelope && `{"schema":${envelope.value},"payload":`;
  }

  /** The record of a drained change, and its op (for the per-op counts of a change batch). A tombstone a TRUNCATE caused says so in a header. */
  change(row: RowImage & { seqs: string[]; truncated?: boolean }): { record: KafkaRecord; op: Op } {
    const op = opOf(row, 'change');
    const record = this.record(row, op, `${this.run}:c${row.seqs.join(',')}`);
    if (row.truncated && row.v === null) record.headers.set(H_TRUNCATE, TRUE);
    return { record, op };
  }

  /** The record of the n-th row (from 1) of the run's snapshot. */
  snapshot(row: RowImage, n: number): KafkaRecord {
    return this.record(row, 'snapshot', `${this.run}:s${n}`);
  }

  /** The record of the n-th row (from 1) of re-snapshot request id: op snapshot, change id {run}:r{id}.{n}. */
  resnapshot(row: RowImage, id: string, n: number): KafkaRecord {
    return this.record(row, 'snapshot', `${this.run}:r${id}.${n}`);
  }

  /** The record of a row ordinal polling found at a position (the p text of the row). */
  polled(row: RowImage & { p: string }): KafkaRecord {
    return this.record(row, 'upsert', `${this.run}:o${row.p}`);
  }

  record(row: RowImage, op: Op, changeId: string): KafkaRecord {
    const headers = new Map<Buffer, Buffer>([
      [H_OP, OP_VALUES[op]],
      [H_CONNECTOR, this.connector],
      [H_CHANGE_ID, Buffer.from(changeId)],
    ]);
    if (row.o !== null) headers.set(H_ORDINAL, Buffer.from(row.o));
    const key = this.keyPrefix === null ? row.k : `${this.keyPrefix}${row.k}}`;
    const value = row.v === null ? null : this.valuePrefix === null ? row.v : `${this.valuePrefix}${row.v}}`;
    return { topic: this.topic, key: Buffer.from(key), value: value === null ? null : Buffer.from(value), headers };
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
