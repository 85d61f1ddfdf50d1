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

  build(row: RowImage, op: 'snapshot' | 'change'): { record: KafkaRecord; op: Op } {
    const actual: Op = op === 'snapshot' ? 'snapshot' : row.v === null ? 'delete' : 'upsert';
    let headers = this.fixedHeaders[actual];
    if (row.o !== null) {
      headers = new Map(headers);
      headers.set(H_ORDINAL, Buffer.from(row.o));
    }
    const record: KafkaRecord = { topic: this.topic, key: Buffer.from(row.k), value: row.v === null ? null : Buffer.from(row.v), headers };
    return { record, op: actual };
  }
}

export function countOps(ops: Op[]): Record<Op, number> {
  const counts: Record<Op, number> = { snapshot: 0, upsert: 0, delete: 0 };
  for (const op of ops) counts[op] += 1;
  return counts;
}
