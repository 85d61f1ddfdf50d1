/**
 * The record contract downstream consumers depend on:
 * - key: JSON object of the primary-key columns in key order, e.g. {"id":42};
 * - value: JSON object of key and included columns as row_to_json renders them (UTC), or null
 *   for a delete (a tombstone);
 * - headers: op = snapshot | upsert | delete, ordinal (when configured), connector.
 */
import type { Message } from 'kafkajs';
import type { RecordRow } from '../postgres/queries';

export type Op = 'snapshot' | 'upsert' | 'delete';

export function toMessage(row: RecordRow, op: 'snapshot' | 'change', connector: string): { message: Message; op: Op } {
  const actual: Op = op === 'snapshot' ? 'snapshot' : row.v === null ? 'delete' : 'upsert';
  const headers: Record<string, string> = { op: actual, connector };
  if (row.o !== null) headers.ordinal = row.o;
  return { message: { key: row.k, value: row.v, headers }, op: actual };
}

export function countOps(ops: Op[]): Record<Op, number> {
  const counts: Record<Op, number> = { snapshot: 0, upsert: 0, delete: 0 };
  for (const op of ops) counts[op] += 1;
  return counts;
}
