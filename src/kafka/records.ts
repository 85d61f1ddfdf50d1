/**
 * The record contract downstream consumers depend on:
 * - key: JSON object of the primary-key columns in key order, e.g. {"id":42};
 * - value: JSON object of key and included columns as row_to_json renders them (UTC), or null
 *   for a delete (a tombstone);
 * - headers: op = snapshot | upsert | delete, ordinal (when configured), connector.
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

const H_OP = Buffer.from('op');
const H_CONNECTOR = Buffer.from('connector');
const H_ORDINAL = Buffer.from('ordinal');
const OP_VALUES: Record<Op, Buffer> = { snapshot: Buffer.from('snapshot'), upsert: Buffer.from('upsert'), delete: Buffer.from('delete') };

export class RecordBuilder {
  private readonly connector: Buffer;
  /** The headers of records without an ordinal are the same for every record of an op: shared, never mutated. */
  private readonly fixedHeaders: Record<Op, Map<Buffer, Buffer>>;

  constructor(
    private readonly topic: string,
    connector: string,
  ) {
    this.connector = Buffer.from(connector);
    const fixed = (op: Op) => new Map<Buffer, Buffer>([[H_OP, OP_VALUES[op]], [H_CONNECTOR, this.connector]]);
    this.fixedHeaders = { snapshot: fixed('snapshot'), upsert: fixed('upsert'), delete: fixed('delete') };
  }

  /** The record of a row, and its op (for the per-op counts of a change batch). */
  build(row: RowImage, kind: 'snapshot' | 'change'): { record: KafkaRecord; op: Op } {
    const op = opOf(row, kind);
    return { record: this.record(row, op), op };
  }

  /** The record alone: the snapshot and ordinal polling know their op for the whole batch. */
  record(row: RowImage, op: Op): KafkaRecord {
    let headers = this.fixedHeaders[op];
    if (row.o !== null) {
      headers = new Map(headers);
      headers.set(H_ORDINAL, Buffer.from(row.o));
    }
    return { topic: this.topic, key: Buffer.from(row.k), value: row.v === null ? null : Buffer.from(row.v), headers };
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
