/**
 * The one place where identifiers from config reach SQL. Every table, column, schema, function,
 * trigger and channel name goes through quoteIdent; values always travel as query parameters.
 */

/** A table reference split into schema (null: resolved by search_path) and name. */
export interface TableName {
  schema: string | null;
  name: string;
}

/** Quotes an identifier for PostgreSQL: wraps it in double quotes and doubles inner quotes. */
export function quoteIdent(name: string): string {
  if (name.length === 0) throw new Error('empty SQL identifier');
  if (name.includes('\u0000')) throw new Error('SQL identifier contains a NUL byte');
  return '"' + name.replace(/"/g, '""') + '"';
}

/** Quotes a string literal (for the few places, like function bodies, where parameters cannot go). */
export function quoteLiteral(value: string): string {
  if (value.includes('\u0000')) throw new Error('SQL literal contains a NUL byte');
  return "'" + value.replace(/'/g, "''") + "'";
}

/** "schema"."table", or "table" when the schema is resolved by search_path. */
export function quoteTable(t: TableName): string {
  return t.schema === null ? quoteIdent(t.name) : `${quoteIdent(t.schema)}.${quoteIdent(t.name)}`;
}

/** A table as users wrote it, for messages: sales.orders, or orders when the schema is resolved by search_path. */
export function displayTable(t: { schema: string | null; name: string }): string {
  return t.schema === null ? t.name : `${t.schema}.${t.name}`;
}

/** Splits "sales.orders" or "orders" (already checked against the schema's pattern). */
export function parseTableName(text: string): TableName {
  const dot = text.indexOf('.');
  return dot < 0 ? { schema: null, name: text } : { schema: text.slice(0, dot), name: text.slice(dot + 1) };
}

/** Byte length as PostgreSQL counts it for its 63-byte identifier limit (NAMEDATALEN - 1). */
export function identBytes(name: string): number {
  return Buffer.byteLength(name, 'utf8');
}

export const MAX_IDENT_BYTES = 63;
