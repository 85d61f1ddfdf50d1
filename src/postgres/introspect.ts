/** What the worker needs to know about a table, read from the catalogs. */
import type { ClientBase } from 'pg';
import type { TableName } from '../config/types';
import { quoteTable } from './sql';

export interface Column {
  name: string;
  /** format_type() without typmod: safe to use in a cast. */
  type: string;
  /** pg_type.typname of the column's type (int8, timestamptz, ...). */
  typname: string;
  /** 1-based position in the primary key, or null. */
  keyPosition: number | null;
}

export interface TableInfo {
  oid: number;
  schema: string;
  name: string;
  kind: 'table' | 'partitioned table' | 'other';
  estimatedRows: number;
  canSelect: boolean;
  isOwner: boolean;
  /** All columns in table order. */
  columns: Column[];
  /** Primary-key columns in key order; empty when the table has no primary key. */
  keyColumns: Column[];
}

export const ORDINAL_TYPES = new Set(['int2', 'int4', 'int8', 'timestamp', 'timestamptz']);

/** Returns null when no such table is visible. */
export async function introspectTable(db: ClientBase, table: TableName): Promise<TableInfo | null> {
  const rel = await db.query<{ oid: string; nspname: string; relname: string; relkind: string; est: string; can_select: boolean; is_owner: boolean }>(
    `SELECT c.oid::int8::text AS oid, n.nspname, c.relname, c.relkind, greatest(c.reltuples, 0)::int8::text AS est,
            has_table_privilege(c.oid, 'SELECT') AS can_select, pg_has_role(c.relowner, 'USAGE') AS is_owner
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass($1)`,
    [quoteTable(table)],
  );
  if (rel.rows.length === 0) return null;
  const r = rel.rows[0];
  const cols = await db.query<{ attname: string; type: string; typname: string; key_pos: number | null }>(
    `SELECT a.attname, format_type(a.atttypid, NULL) AS type, t.typname,
            (SELECT k.ord::int FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
              WHERE i.indrelid = a.attrelid AND i.indisprimary AND k.attnum = a.attnum) AS key_pos
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [r.oid],
  );
  const columns: Column[] = cols.rows.map((c) => ({ name: c.attname, type: c.type, typname: c.typname, keyPosition: c.key_pos }));
  const keyColumns = columns.filter((c) => c.keyPosition !== null).sort((a, b) => (a.keyPosition as number) - (b.keyPosition as number));
  return {
    oid: Number(r.oid),
    schema: r.nspname,
    name: r.relname,
    kind: r.relkind === 'r' ? 'table' : r.relkind === 'p' ? 'partitioned table' : 'other',
    estimatedRows: Number(r.est),
    canSelect: r.can_select,
    isOwner: r.is_owner,
    columns,
    keyColumns,
  };
}
