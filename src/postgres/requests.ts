/**
 * Re-snapshot requests: the table kafka_cdc.snapshot_requests in the source database. The command
 * `pg-kafka-cdc snapshot` inserts a request and NOTIFYs the connector's channel; whichever worker
 * owns the connector (wherever it runs) picks it up, and a request made while no worker runs is
 * served at the next start. The request travels through the database only: no network path to the
 * worker is needed. The worker's position inside a running re-snapshot is part of the connector's
 * stored progress (progress.ts), committed with each page; the request row tells its state to
 * people and to the command.
 */
import { WORKER_SCHEMA } from './names';
import { wrapPredicate } from './predicate';
import type { Queryable } from './queries';
import { inTransaction } from './transaction';
import { quoteIdent } from './sql';

const T = `${quoteIdent(WORKER_SCHEMA)}.snapshot_requests`;

export type RequestState = 'pending' | 'running' | 'done' | 'cancelled' | 'failed';

export interface SnapshotRequest {
  id: string;
  connector: string;
  /** The --where predicate, or null for the whole table. */
  predicate: string | null;
  state: RequestState;
  requestedAt: string;
  rows: number | null;
  estimatedRows: number | null;
  error: string | null;
}

/** The DDL of the requests table (part of the worker schema: progress.ts). */
export function requestsTableStatements(): string[] {
  return [
    `CREATE TABLE IF NOT EXISTS ${T} (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    connector text NOT NULL,
    predicate text,
    state text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'running', 'done', 'cancelled', 'failed')),
    requested_at timestamptz NOT NULL DEFAULT now(),
    requested_by text NOT NULL DEFAULT current_user,
    started_at timestamptz,
    finished_at timestamptz,
    rows bigint,
    estimated_rows bigint,
    error text)`,
    `CREATE INDEX IF NOT EXISTS snapshot_requests_open ON ${T} (connector, id) WHERE state IN ('pending', 'running')`,
  ];
}

const COLUMNS = `id::text, connector, predicate, state, requested_at::text AS requested_at, rows::float8 AS rows, estimated_rows::float8 AS estimated_rows, error`;
interface RequestRow {
  id: string;
  connector: string;
  predicate: string | null;
  state: RequestState;
  requested_at: string;
  rows: number | null;
  estimated_rows: number | null;
  error: string | null;
}
const fromRow = (r: RequestRow): SnapshotRequest => ({
  id: r.id,
  connector: r.connector,
  predicate: r.predicate,
  state: r.state,
  requestedAt: r.requested_at,
  rows: r.rows,
  estimatedRows: r.estimated_rows,
  error: r.error,
});

export async function insertRequest(db: Queryable, connector: string, predicate: string | null, estimatedRows: number): Promise<SnapshotRequest> {
  const r = await db.query<RequestRow>(`INSERT INTO ${T} (connector, predicate, estimated_rows) VALUES ($1, $2, $3) RETURNING ${COLUMNS}`, [connector, predicate, estimatedRows]);
  return fromRow(r.rows[0]);
}

/** Cancels every pending or running request of the connector; returns the cancelled ones. */
export async function cancelRequests(db: Queryable, connector: string): Promise<SnapshotRequest[]> {
  const r = await db.query<RequestRow>(
    `UPDATE ${T} SET state = 'cancelled', finished_at = now() WHERE connector = $1 AND state IN ('pending', 'running') RETURNING ${COLUMNS}`,
    [connector],
  );
  return r.rows.map(fromRow);
}

/** The connector's pending and running requests, oldest first. */
export async function openRequests(db: Queryable, connector: string): Promise<SnapshotRequest[]> {
  const r = await db.query<RequestRow>(`SELECT ${COLUMNS} FROM ${T} WHERE connector = $1 AND state IN ('pending', 'running') ORDER BY id`, [connector]);
  return r.rows.map(fromRow);
}

export async function requestById(db: Queryable, id: string): Promise<SnapshotRequest | null> {
  const r = await db.query<RequestRow>(`SELECT ${COLUMNS} FROM ${T} WHERE id = $1`, [id]);
  return r.rows.length === 0 ? null : fromRow(r.rows[0]);
}

/** A request the worker starts: running, unless it was cancelled meanwhile (returns false then). */
export async function markRunning(db: Queryable, id: string, estimatedRows: number): Promise<boolean> {
  const r = await db.query(
    `UPDATE ${T} SET state = 'running', started_at = coalesce(started_at, now()), estimated_rows = $2 WHERE id = $1 AND state IN ('pending', 'running')`,
    [id, estimatedRows],
  );
  return (r.rowCount ?? 0) > 0;
}

/** The end of a request: done (with its row count) or failed (with the reason). A cancelled request stays cancelled. */
export async function finishRequest(db: Queryable, id: string, outcome: { state: 'done'; rows: number } | { state: 'failed'; error: string; rows: number }): Promise<void> {
  await db.query(`UPDATE ${T} SET state = $2, rows = $3, error = $4, finished_at = now() WHERE id = $1 AND state IN ('pending', 'running')`, [
    id,
    outcome.state,
    outcome.rows,
    outcome.state === 'failed' ? outcome.error : null,
  ]);
}

/** Wakes the owner of a connector that waits for changes on this channel (it looks at its requests then). */
export async function notifyChannel(db: Queryable, channel: string): Promise<void> {
  await db.query('SELECT pg_notify($1, $2)', [channel, '']);
}

/**
 * Checks a predicate against the table in PostgreSQL, read-only: planned (unknown columns, types,
 * a non-boolean expression are errors) and evaluated on one row (a function that writes fails in a
 * READ ONLY transaction). Returns the planner's estimate of the rows it matches. Throws PostgreSQL's
 * error otherwise. The text must have passed predicateTextProblem() first.
 */
export async function checkPredicate(db: Queryable, table: string, predicate: string): Promise<{ estimatedRows: number }> {
  const where = wrapPredicate(predicate);
  return inTransaction(db, async (tx) => {
    await tx.query(`SELECT set_config('statement_timeout', '10s', true)`);
    const plan = await tx.query<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${table} AS t WHERE ${where}`);
    await tx.query(`SELECT ${where}::boolean AS matches FROM ${table} AS t LIMIT 1`);
    return { estimatedRows: Math.round(plan.rows[0]['QUERY PLAN'][0].Plan['Plan Rows']) };
  }, 'BEGIN READ ONLY');
}
