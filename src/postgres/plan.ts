/**
 * Checks a connector's source settings against the table as the catalogs describe it, and
 * decides what is read: key columns, value columns, ordinal. Pure: no I/O, so it is unit-tested.
 */
import { captureNames, WORKER_SCHEMA } from './names';
import { displayTable, identBytes, MAX_IDENT_BYTES, type TableName } from './sql';
import { ORDINAL_TYPES, unsupportedKeyType, type Column, type TableInfo } from './introspect';

/** What a connector says of its table (config/types ConnectorConfig has it all). */
export interface TableSpec {
  table: TableName;
  includedColumns: string[] | null;
  ordinalColumn: string | null;
  channel: string | null;
}

export interface TablePlan {
  info: TableInfo;
  /** The table with its real schema, for SQL (always schema-qualified). */
  table: { schema: string; name: string };
  keyColumns: Column[];
  /** Key and included columns, in table order: the fields of the record value. */
  valueColumns: Column[];
  /**
   * No included_columns: the value is the whole row, rendered by row_to_json of the row itself, so
   * a column added while the connector streams appears in the next records without a restart.
   */
  wholeRow: boolean;
  ordinal: Column | null;
}

/** The primary key as text, "id bigint, tenant text": a connector whose key changes cannot go on writing its topic. */
export function keySignature(keyColumns: Column[]): string {
  return keyColumns.map((c) => `${c.name} ${c.type}`).join(', ');
}

export type PlanResult = { ok: true; plan: TablePlan } | { ok: false; problems: string[] };

export function planTable(cfg: TableSpec, info: TableInfo | null, where: string): PlanResult {
  const problems: string[] = [];
  const shownTable = displayTable(cfg.table);
  if (info === null) return { ok: false, problems: [`${where}/source/table_name: table "${shownTable}" does not exist (or is not visible to this user)`] };
  if (info.kind === 'other') problems.push(`${where}/source/table_name: "${shownTable}" is not a table (views and other relations are not supported)`);
  if (!info.canSelect) problems.push(`${where}/source/table_name: this database user may not SELECT from "${shownTable}"`);
  if (info.keyColumns.length === 0) problems.push(`${where}/source/table_name: table "${shownTable}" has no primary key; only tables with a primary key are supported`);
  for (const k of info.keyColumns) {
    const why = unsupportedKeyType(k);
    if (why) problems.push(`${where}/source/table_name: primary-key column "${k.name}" of "${shownTable}" is of type ${k.type}: ${why}`);
  }

  const byName = new Map(info.columns.map((c) => [c.name, c]));
  let included: Column[];
  if (cfg.includedColumns === null) {
    included = info.columns.filter((c) => c.keyPosition === null);
  } else {
    included = [];
    cfg.includedColumns.forEach((name, i) => {
      const col = byName.get(name);
      if (!col) problems.push(`${where}/source/included_columns/${i}: column "${name}" does not exist in "${shownTable}"`);
      else if (col.keyPosition !== null) problems.push(`${where}/source/included_columns/${i}: column "${name}" is a primary-key column; key columns are always included, list only non-key columns`);
      else included.push(col);
    });
  }

  let ordinal: Column | null = null;
  if (cfg.ordinalColumn !== null) {
    const col = byName.get(cfg.ordinalColumn);
    if (!col) problems.push(`${where}/source/ordinal_column: column "${cfg.ordinalColumn}" does not exist in "${shownTable}"`);
    else if (col.keyPosition !== null) problems.push(`${where}/source/ordinal_column: column "${cfg.ordinalColumn}" is part of the primary key; the ordinal column must not be a key column`);
    else if (!ORDINAL_TYPES.has(col.typname))
      problems.push(`${where}/source/ordinal_column: column "${cfg.ordinalColumn}" is of type ${col.type}; supported types are smallint, integer, bigint, timestamp and timestamptz`);
    else ordinal = col;
  }

  if (cfg.channel !== null) {
    const n = captureNames(cfg.channel);
    for (const name of [n.channel, n.functionName, n.triggerName, n.updateTriggerName, n.deleteTriggerName, n.keyTriggerName, n.truncateTriggerName, n.logTable]) {
      if (identBytes(name) > MAX_IDENT_BYTES) problems.push(`${where}/source/notification/channel_name: derived name "${name}" is longer than PostgreSQL's 63-byte identifier limit`);
    }
  }
  if (info.schema === WORKER_SCHEMA) problems.push(`${where}/source/table_name: tables of the worker's own schema ${WORKER_SCHEMA} cannot be mirrored`);

  if (problems.length > 0) return { ok: false, problems };
  const keep = new Set([...info.keyColumns, ...included].map((c) => c.name));
  return {
    ok: true,
    plan: {
      info,
      table: { schema: info.schema, name: info.name },
      keyColumns: info.keyColumns,
      valueColumns: info.columns.filter((c) => keep.has(c.name)),
      wholeRow: cfg.includedColumns === null,
      ordinal,
    },
  };
}
