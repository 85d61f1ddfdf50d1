/** What the worker needs to know about a table, read from the catalogs. */
import type { TableName } from './sql';
import type { Queryable } from './connection';
import { quoteTable } from './sql';

export interface Column {
  name: string;
  /**
   * The column's type as format_type() renders it, with its modifier (character(5), numeric(12,2)):
   * the type key values are cast back to. Without the modifier, character means character(1) and
   * would truncate keys.
   */
  type: string;
  /**
   * The same type for casts in the worker's queries: schema-qualified unless it is PostgreSQL's own,
   * so a cast means the same whatever the search_path of the session (a re-snapshot's pages run with
   * pg_catalog alone).
   */
  castType: string;
  /** pg_type.typcategory: A array, C composite, N numeric, S string, ... */
  category: string;
  /** pg_type.typname of the column's type (int8, timestamptz, ...). */
  typname: string;
  /** 1-based position in the primary key, or null. */
  keyPosition: number | null;
}

export interface TableInfo {
  oid: number;
  /** The database the table is in (current_database()): the source of Debezium-format records names it. */
  database: string;
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

/**
 * Why a primary-key column's type cannot be a Kafka key, or null when it can. Keys must render to the
 * same JSON text on every path (compaction compares bytes): floats render differently under a
 * writer's extra_float_digits, and arrays and composites do not survive the change log's round trip.
 */
export function unsupportedKeyType(c: Column): string | null {
  if (c.typname === 'float4' || c.typname === 'float8') return 'floating-point keys are inexact';
  if (c.category === 'A') return 'array keys are not supported';
  if (c.category === 'C') return 'composite-type keys are not supported';
  return null;
}

/** Returns null when no such table is visible. */
export async function introspectTable(db: Queryable, table: TableName): Promise<TableInfo | null> {
  const rel = await db.query<{ oid: string; db: string; nspname: string; relname: string; relkind: string; est: string; can_select: boolean; is_owner: boolean }>(
    `SELECT c.oid::int8::text AS oid, current_database() AS db, n.nspname, c.relname, c.relkind, greatest(c.reltuples, 0)::int8::text AS est,
            has_table_privilege(c.oid, 'SELECT') AS can_select, pg_has_role(c.relowner, 'USAGE') AS is_owner
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE c.oid = to_regclass($1)`,
    [quoteTable(table)],
  );
  if (rel.rows.length === 0) return null;
  const r = rel.rows[0];
  const cols = await db.query<{ attname: string; type: string; cast_type: string; typname: string; category: string; key_pos: number | null }>(
    `SELECT a.attname, format_type(a.atttypid, a.atttypmod) AS type, t.typname, t.typcategory AS category,
            CASE WHEN t.typnamespace = 'pg_catalog'::regnamespace OR NOT pg_type_is_visible(t.oid) THEN format_type(a.atttypid, a.atttypmod)
                 ELSE quote_ident(tn.nspname) || '.' || format_type(a.atttypid, a.atttypmod) END AS cast_type,
            (SELECT k.ord::int FROM pg_index i, unnest(i.indkey) WITH ORDINALITY AS k(attnum, ord)
              WHERE i.indrelid = a.attrelid AND i.indisprimary AND k.attnum = a.attnum) AS key_pos
       FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid JOIN pg_namespace tn ON tn.oid = t.typnamespace
      WHERE a.attrelid = $1::oid AND a.attnum > 0 AND NOT a.attisdropped
      ORDER BY a.attnum`,
    [r.oid],
  );
  const columns: Column[] = cols.rows.map((c) => ({ name: c.attname, type: c.type, castType: c.cast_type, typname: c.typname, category: c.category, keyPosition: c.key_pos }));
  const keyColumns = columns.filter((c) => c.keyPosition !== null).sort((a, b) => (a.keyPosition as number) - (b.keyPosition as number));
  return {
    oid: Number(r.oid),
    database: r.db,
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

/**
 * The schema a table is in: its real schema when it exists, else the configured one, else the
 * session's current schema (teardown must find a connector's function even when the table is gone).
 */
export async function schemaOfTable(db: Queryable, table: TableName): Promise<string> {
  const r = await db.query<{ schema: string | null; cur: string }>(
    `SELECT (SELECT n.nspname FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace WHERE c.oid = to_regclass($1)) AS schema, current_schema() AS cur`,
    [quoteTable(table)],
  );
  return r.rows[0].schema ?? table.schema ?? r.rows[0].cur;
}
