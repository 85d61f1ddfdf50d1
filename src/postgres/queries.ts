/**
 * The data-path queries, built once per connector from its TablePlan. Identifiers reach SQL only
 * through quoteIdent; values (keys, positions, batch sizes) are always parameters.
 *
 * Every row a query returns is already the record: PostgreSQL renders the key and the value as
 * JSON text (row_to_json), so the worker never parses or re-serialises a row.
 */
import { types } from 'pg';
import type { Column } from './introspect';
import { keySignature, type TablePlan } from './plan';
import { WORKER_SCHEMA } from './names';
import { expressionSettings, type CheckedExpression } from './expression';
import { inTransaction, type Queryable } from './connection';
import { quoteIdent, quoteTable } from './sql';
import { isConnectionFailure, sqlstateOf } from './sqlstate';

/** A row as every data query returns it. */
export interface RecordRow {
  /** The key as JSON text: the primary-key columns in key order. */
  k: string;
  /** The value as JSON text, or null when the row no longer exists (a tombstone). */
  v: string | null;
  /** The ordinal column's value as JSON renders it (without quotes), or null. */
  o: string | null;
}

export interface SnapshotRow extends RecordRow {
  /**
   * The key columns (with the ordinal first when polling) as a text[] literal, for the next keyset
   * page and the stored progress. Left as text: only the last row of a page needs it, and parsing
   * an array per row was 3% of the snapshot's CPU. positionOf() parses it.
   */
  p: string;
}

/** node-postgres' own parser of text[] (oid 1009), the same one a text[] column would get. */
const parseTextArray = (types.getTypeParser as (oid: number) => (text: string) => string[])(1009);

/** The position (key columns as text) of a snapshot or polling row. */
export function positionOf(row: SnapshotRow): string[] {
  return parseTextArray(row.p);
}

/** A drained change: the current row of a logged key (v null: the row is gone), and the log entries it stands for. */
export interface ChangeRow extends RecordRow {
  /** The change-log sequence numbers this row stands for (one key may have changed many times). */
  seqs: string[];
  /** When the oldest of those changes was made, in ms since the epoch (Postgres' clock). */
  changed_ms: number;
  /** PostgreSQL's clock when it read the batch, in ms since the epoch. */
  now_ms: number;
  /** When the newest of those changes was made, in microseconds since the epoch (text): bounds the trim (progress/store.ts Trim). */
  last_us: string;
  /** Among the entries: one a TRUNCATE logged (every key of the table, before the rows went). */
  truncated: boolean;
  /**
   * The key's first entry in the batch was logged by an INSERT: the key did not exist before (op c
   * in the debezium format). Only read for that format; false otherwise.
   */
  inserted: boolean;
  /** A part of the logged key is missing (a log entry not written by the connector's trigger): set aside, never published. */
  bad: boolean;
}

/** Keyset pages of the table in primary-key order. */
export interface SnapshotStatements {
  /** Up to limit rows after the key (from the start when null). */
  page(db: Queryable, limit: number, after: string[] | null): Promise<SnapshotRow[]>;
}

/** The change log of trigger capture (notification on). */
export interface ChangeLogStatements {
  /**
   * Up to limit log entries from the floor on (connector/drain-floor.ts), oldest first, grouped by
   * key and joined to the current rows; leaves out the entries in flight. With the snapshot it read
   * them in (null when it read none).
   */
  drain(db: Queryable, limit: number, inFlight: string[], floor: string): Promise<{ rows: ChangeRow[]; snapshot: { xmin: string; xmax: string } | null }>;
  /** Whether the log's sequence hands out numbers in order (CACHE 1), as the drain floor needs. */
  inOrder(db: Queryable): Promise<boolean>;
  /** The change log's table oid (null when it does not exist). Its entries are trimmed with the position: progress/store.ts. */
  oid(db: Queryable): Promise<number | null>;
  hasChanges(db: Queryable, floor: string): Promise<boolean>;
  /**
   * The entries among the next `limit` (in-flight ones left out) whose key the drain cannot read (not
   * castable to the key's types, or a part missing), each with the reason. One statement per entry:
   * only used once a drain failed on such a key.
   */
  unreadable(db: Queryable, limit: number, inFlight: string[], floor: string): Promise<Array<{ seq: string; k: string; reason: string }>>;
  /** Moves entries out of the log into kafka_cdc.rejected_changes, with the reason, in one statement. */
  setAside(db: Queryable, connector: string, seqs: string[], reason: string): Promise<void>;
  /** Pending entries (exact up to a million) and the age of the oldest, from the log's index. */
  pendingStats(db: Queryable, floor: string): Promise<{ pending: number; lagSeconds: number }>;
}

/** Ordinal polling (no notification, an ordinal column). */
export interface OrdinalStatements {
  /** Up to limit rows past the watermark ([ordinal] alone, or [ordinal, ...key]; from the start when null or []). */
  page(db: Queryable, limit: number, watermark: string[] | null): Promise<SnapshotRow[]>;
  /** The table's greatest ordinal as text, or null for an empty table. */
  maxOrdinal(db: Queryable): Promise<string | null>;
}

/** The statements of one connector's table, built once from its plan; a mode it does not have is null. */
export interface TableStatements {
  snapshot: SnapshotStatements;
  changeLog: ChangeLogStatements | null;
  ordinal: OrdinalStatements | null;
}

/**
 * How a record format renders keys and values in SQL (its SQL side: src/format/): expressions over a
 * row of alias, each giving JSON text. The statements here put them where they belong.
 */
export interface Rendering {
  key(alias: string, plan: TablePlan): string;
  value(alias: string, plan: TablePlan): string;
  /** The drain reads whether a key's first entry was an INSERT (op c). */
  readonly readsInserted: boolean;
}

/** A column of alias, quoted: t."name". */
export const col = (alias: string, c: Column) => `${alias}.${quoteIdent(c.name)}`;

/** JSON object text of some columns of alias, named as the columns: {"id":1,"name":"x"}. */
export function jsonOf(alias: string, cols: Column[]): string {
  return `(SELECT row_to_json(_j) FROM (SELECT ${cols.map((c) => col(alias, c)).join(', ')}) AS _j)::text`;
}

function ordinalOf(alias: string, ordinal: Column | null): string {
  return ordinal ? `to_json(${col(alias, ordinal)}) #>> '{}'` : 'NULL::text';
}

/** (t."a", t."b") > ($1::int8, $2::text): a keyset condition the primary-key index serves. */
function keysetAfter(alias: string, cols: Column[], firstParam: number): string {
  const left = cols.map((c) => col(alias, c)).join(', ');
  const right = cols.map((c, i) => `$${firstParam + i}::${c.castType}`).join(', ');
  return `(${left}) > (${right})`;
}

export function tableStatements(plan: TablePlan, logTable: string | null, render: Rendering): TableStatements {
  const table = quoteTable(plan.table);
  const { order, record } = recordParts(plan, render);
  return {
    snapshot: snapshotStatements(plan, render),
    changeLog: logTable === null ? null : changeLogStatements(plan, table, logTable, render),
    ordinal: plan.ordinal ? ordinalStatements(plan, plan.ordinal, table, record, order) : null,
  };
}

/** The ORDER BY and the record columns of a query over the table (alias t). */
function recordParts(plan: TablePlan, render: Rendering): { order: string; record: string; keyText: string; k: string; v: string; o: string } {
  const keys = plan.keyColumns;
  const k = render.key('t', plan);
  const v = render.value('t', plan);
  const o = ordinalOf('t', plan.ordinal);
  return {
    order: keys.map((c) => col('t', c)).join(', '),
    record: `${k} AS k, ${v} AS v, ${o} AS o`,
    keyText: `ARRAY[${keys.map((c) => `${col('t', c)}::text`).join(', ')}]::text AS p`,
    k,
    v,
    o,
  };
}

/** Keyset pages of the table in primary-key order (the initial snapshot, and a re-snapshot of the whole table). */
export function snapshotStatements(plan: TablePlan, render: Rendering): SnapshotStatements {
  const table = quoteTable(plan.table);
  const { order, record, keyText } = recordParts(plan, render);
  const first = `SELECT ${record}, ${keyText} FROM ${table} AS t ORDER BY ${order} LIMIT $1`;
  const next = `SELECT ${record}, ${keyText} FROM ${table} AS t WHERE ${keysetAfter('t', plan.keyColumns, 2)} ORDER BY ${order} LIMIT $1`;
  return {
    page: async (db: Queryable, limit: number, after: string[] | null) => (await db.query<SnapshotRow>(after === null ? first : next, after === null ? [limit] : [limit, ...after])).rows,
  };
}

/** A page of a re-snapshot with a predicate: the rows that match among the next `limit` rows in key order. */
export interface FilteredPage {
  rows: SnapshotRow[];
  /** The position after the page: the key of the last row read, matched or not (null: nothing read). */
  last: string[] | null;
  /** Rows read (a page that reads fewer than asked was the last one). */
  read: number;
}

export interface FilteredSnapshotStatements {
  page(db: Queryable, limit: number, after: string[] | null): Promise<FilteredPage>;
}

/**
 * Pages of a re-snapshot with a predicate that PostgreSQL has accepted (postgres/expression.ts,
 * pasted as its own rendering of it). A page reads the next `limit` rows in key order and returns
 * those that match, so its cost never depends on how few rows match; it runs in a READ ONLY
 * transaction, with names resolved in pg_catalog only and a server-side statement timeout, so a page
 * that is too slow is cancelled by the server rather than left running.
 */
export function filteredSnapshotStatements(plan: TablePlan, render: Rendering, where: CheckedExpression, statementTimeoutMs: number): FilteredSnapshotStatements {
  const table = quoteTable(plan.table);
  const { order, keyText, k, v, o } = recordParts(plan, render);
  const select = `SELECT CASE WHEN f.m THEN ${k} END AS k, CASE WHEN f.m THEN ${v} END AS v, CASE WHEN f.m THEN ${o} END AS o, ${keyText}, f.m
    FROM ${table} AS t CROSS JOIN LATERAL (SELECT coalesce((${where.canonical}), false) AS m) AS f`;
  const first = `${select} ORDER BY ${order} LIMIT $1`;
  const next = `${select} WHERE ${keysetAfter('t', plan.keyColumns, 2)} ORDER BY ${order} LIMIT $1`;
  return {
    page: (db, limit, after) =>
      inTransaction(
        db,
        async (tx) => {
          await tx.query(expressionSettings(statementTimeoutMs));
          const read = (await tx.query<SnapshotRow & { m: boolean }>(after === null ? first : next, after === null ? [limit] : [limit, ...after])).rows;
          return { rows: read.filter((r) => r.m), last: read.length === 0 ? null : positionOf(read[read.length - 1]), read: read.length };
        },
        'BEGIN READ ONLY',
      ),
  };
}

function changeLogStatements(plan: TablePlan, table: string, logTable: string, render: Rendering): ChangeLogStatements {
  const keys = plan.keyColumns;
  const log = `${quoteIdent(WORKER_SCHEMA)}.${quoteIdent(logTable)}`;
  // The log holds keys as a JSON array (rendered by the trigger, so DateStyle of the writing session
  // does not matter); cast back to the key types, then re-read the current row by key. Keys are
  // grouped by their text: jsonb equality holds [1.5] = [1.50], but they are different Kafka keys.
  const fromKey = keys.map((c, i) => `(keys.k ->> ${i})::${c.castType} AS ${quoteIdent(c.name)}`).join(', ');
  // Equal is not enough: 1.50 = 1.5 and 'ABC' = 'abc' under a case-insensitive collation, but they
  // are different Kafka keys. A logged key whose text no longer exists gets its tombstone.
  const join = keys.map((c) => `${col('t', c)} = ${col('kr', c)} AND ${col('t', c)}::text COLLATE "C" = ${col('kr', c)}::text COLLATE "C"`).join(' AND ');
  const inserted = render.readsInserted ? '(array_agg(inserted ORDER BY seq))[1]' : 'false';
  const drain = `WITH batch AS (SELECT seq, k, changed_at, truncated${render.readsInserted ? ', inserted' : ''} FROM ${log} WHERE seq >= $3::int8 AND seq <> ALL($2::int8[]) ORDER BY seq LIMIT $1),
      snap AS (SELECT pg_snapshot_xmin(s)::text AS xmin, pg_snapshot_xmax(s)::text AS xmax FROM pg_current_snapshot() AS s),
      keys AS (SELECT k::text::jsonb AS k, array_agg(seq) AS seqs, min(seq) AS first_seq, min(changed_at) AS changed_at, max(changed_at) AS last_at, bool_or(truncated) AS truncated,
                      ${inserted} AS inserted FROM batch GROUP BY k::text)
      SELECT keys.seqs::text[] AS seqs, (extract(epoch FROM keys.changed_at) * 1000)::float8 AS changed_ms, (extract(epoch FROM keys.last_at) * 1000000)::int8::text AS last_us, keys.truncated, keys.inserted,
             (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms,
             ${render.key('kr', plan)} AS k,
             CASE WHEN ${col('t', keys[0])} IS NULL THEN NULL ELSE ${render.value('t', plan)} END AS v,
             ${ordinalOf('t', plan.ordinal)} AS o,
             (${keys.map((c) => `${col('kr', c)} IS NULL`).join(' OR ')}) AS bad,
             snap.xmin AS snap_xmin, snap.xmax AS snap_xmax
        FROM keys CROSS JOIN snap CROSS JOIN LATERAL (SELECT ${fromKey}) AS kr
        LEFT JOIN ${table} AS t ON ${join}
       ORDER BY keys.first_seq`;
  const oid = `SELECT to_regclass($1)::oid::int8 AS oid`;
  const hasChanges = `SELECT 1 FROM ${log} WHERE seq >= $1::int8 LIMIT 1`;
  const inOrder = `SELECT coalesce((SELECT s.seqcache = 1 FROM pg_sequence s WHERE s.seqrelid = pg_get_serial_sequence($1, 'seq')::regclass), false) AS ok`;
  const raw = `SELECT seq::text, k::text FROM ${log} WHERE seq >= $3::int8 AND seq <> ALL($2::int8[]) ORDER BY seq LIMIT $1`;
  const readable = `SELECT (${keys.map((c) => `${col('kr', c)} IS NOT NULL`).join(' AND ')}) AS ok FROM (SELECT $1::jsonb AS k) AS keys CROSS JOIN LATERAL (SELECT ${fromKey}) AS kr`;
  const setAside = `WITH moved AS (DELETE FROM ${log} WHERE seq = ANY($1::int8[]) RETURNING seq, k, changed_at)
    INSERT INTO ${quoteIdent(WORKER_SCHEMA)}.rejected_changes (connector, log_table, seq, k, changed_at, reason) SELECT $2, $3, seq, k::text, changed_at, $4 FROM moved`;
  const pendingStats = `SELECT (SELECT count(*) FROM (SELECT 1 FROM ${log} WHERE seq >= $1::int8 ORDER BY seq LIMIT 1000000) AS l)::int8::text AS pending,
      (SELECT extract(epoch FROM changed_at) * 1000 FROM ${log} WHERE seq >= $1::int8 ORDER BY seq LIMIT 1)::float8 AS oldest_ms,
      (extract(epoch FROM clock_timestamp()) * 1000)::float8 AS now_ms`;
  return {
    drain: async (db, limit, inFlight, floor) => {
      const rows = (await db.query<ChangeRow & { snap_xmin: string; snap_xmax: string }>(drain, [limit, inFlight, floor])).rows;
      return { rows, snapshot: rows.length === 0 ? null : { xmin: rows[0].snap_xmin, xmax: rows[0].snap_xmax } };
    },
    inOrder: async (db) => (await db.query<{ ok: boolean }>(inOrder, [log])).rows[0].ok,
    oid: async (db) => {
      const r = (await db.query<{ oid: string | null }>(oid, [log])).rows[0].oid;
      return r === null ? null : Number(r);
    },
    hasChanges: async (db, floor) => (await db.query(hasChanges, [floor])).rows.length > 0,
    unreadable: async (db, limit, inFlight, floor) => {
      const out: Array<{ seq: string; k: string; reason: string }> = [];
      for (const entry of (await db.query<{ seq: string; k: string }>(raw, [limit, inFlight, floor])).rows) {
        try {
          if (!(await db.query<{ ok: boolean }>(readable, [entry.k])).rows[0].ok) out.push({ ...entry, reason: `its key ${entry.k} lacks a part of the primary key (${keySignature(keys)})` });
        } catch (err) {
          if (isConnectionFailure(err)) throw err; // the connection's failure, not the entry's
          out.push({ ...entry, reason: `its key ${entry.k} is not a key of the table (${keySignature(keys)}): ${(err as Error).message} (${sqlstateOf(err)})` });
        }
      }
      return out;
    },
    setAside: async (db, connector, seqs, reason) => {
      await db.query(setAside, [seqs, connector, logTable, reason]);
    },
    pendingStats: async (db, floor) => {
      const row = (await db.query<{ pending: string; oldest_ms: number | null; now_ms: number }>(pendingStats, [floor])).rows[0];
      const pending = Number(row.pending);
      const lagSeconds = pending === 0 || row.oldest_ms === null ? 0 : Math.max(0, (Number(row.now_ms) - Number(row.oldest_ms)) / 1000);
      return { pending, lagSeconds };
    },
  };
}

function ordinalStatements(plan: TablePlan, ord: Column, table: string, record: string, order: string): OrdinalStatements {
  const keys = plan.keyColumns;
  const ordOrder = `${col('t', ord)}, ${order}`;
  const pos = `ARRAY[${col('t', ord)}::text, ${keys.map((c) => `${col('t', c)}::text`).join(', ')}]::text AS p`;
  const pollFirst = `SELECT ${record}, ${pos} FROM ${table} AS t WHERE ($2::${ord.castType} IS NULL OR ${col('t', ord)} > $2::${ord.castType}) ORDER BY ${ordOrder} LIMIT $1`;
  const pollNext = `SELECT ${record}, ${pos} FROM ${table} AS t WHERE ${keysetAfter('t', [ord, ...keys], 2)} ORDER BY ${ordOrder} LIMIT $1`;
  const maxOrdinal = `SELECT max(${col('t', ord)})::text AS m FROM ${table} AS t`;
  return {
    page: async (db, limit, watermark) =>
      (watermark === null || watermark.length <= 1 ? await db.query<SnapshotRow>(pollFirst, [limit, watermark?.[0] ?? null]) : await db.query<SnapshotRow>(pollNext, [limit, ...watermark])).rows,
    maxOrdinal: async (db) => (await db.query<{ m: string | null }>(maxOrdinal)).rows[0].m,
  };
}
