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
import type { Queryable } from './connection';
import { quoteIdent } from './sql';

const W = quoteIdent(WORKER_SCHEMA);
const T = `${W}.snapshot_requests`;

export type RequestState = 'pending' | 'running' | 'done' | 'cancelled' | 'failed';

export interface SnapshotRequest {
  id: string;
  connector: string;
  /** The --where predicate, or null for the whole table. */
  predicate: string | null;
  state: RequestState;
  requestedAt: string;
  /** The role that inserted the request (set by the table's guard trigger: PostgreSQL's word, not the requester's). */
  requestedBy: string;
  rows: number | null;
  estimatedRows: number | null;
  error: string | null;
  /** Sessions that started serving it. */
  attempts: number;
  /** A repairing re-snapshot: also tombstones keys the topic holds and the table does not. */
  repair: boolean;
}

/**
 * The DDL of the requests table (part of the worker schema: progress.ts). Who asked and what they
 * asked for are PostgreSQL's word, never the row's: a guard trigger sets requested_by to the role
 * that inserts the row (whatever the INSERT says), starts every row pending, and keeps what was
 * asked (connector, predicate, repair, who and when) from being changed afterwards; only the state
 * of a request moves.
 */
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
    // Sessions that served the request: a request that never finishes is failed, not served for ever.
    `ALTER TABLE ${T} ADD COLUMN IF NOT EXISTS attempts int NOT NULL DEFAULT 0`,
    // A repairing re-snapshot also tombstones keys the topic holds and the table does not; reason: why the worker asked for one itself.
    `ALTER TABLE ${T} ADD COLUMN IF NOT EXISTS repair boolean NOT NULL DEFAULT false, ADD COLUMN IF NOT EXISTS reason text`,
    `CREATE OR REPLACE FUNCTION ${W}.snapshot_request_guard() RETURNS trigger LANGUAGE plpgsql SET search_path = pg_catalog, pg_temp AS $guard$
BEGIN
  IF TG_OP = 'INSERT' THEN
    NEW.requested_by := current_user; -- the role that inserts the row, whatever the row says
    NEW.requested_at := now();
    NEW.state := 'pending';
    NEW.started_at := NULL; NEW.finished_at := NULL; NEW.rows := NULL; NEW.error := NULL; NEW.attempts := 0;
    RETURN NEW;
  END IF;
  IF NEW.id IS DISTINCT FROM OLD.id OR NEW.connector IS DISTINCT FROM OLD.connector OR NEW.predicate IS DISTINCT FROM OLD.predicate
     OR NEW.repair IS DISTINCT FROM OLD.repair OR NEW.requested_by IS DISTINCT FROM OLD.requested_by
     OR NEW.requested_at IS DISTINCT FROM OLD.requested_at OR NEW.attempts < OLD.attempts THEN
    RAISE EXCEPTION 'a re-snapshot request cannot be changed once it is made, only its state: make a new request' USING ERRCODE = '42501';
  END IF;
  RETURN NEW;
END
$guard$`,
    `DROP TRIGGER IF EXISTS snapshot_request_guard ON ${T}`,
    `CREATE TRIGGER snapshot_request_guard BEFORE INSERT OR UPDATE ON ${T} FOR EACH ROW EXECUTE FUNCTION ${W}.snapshot_request_guard()`,
  ];
}

const COLUMNS = `id::text, connector, predicate, state, requested_at::text AS requested_at, requested_by, rows::float8 AS rows, estimated_rows::float8 AS estimated_rows, error, attempts, repair`;
interface RequestRow {
  id: string;
  connector: string;
  predicate: string | null;
  state: RequestState;
  requested_at: string;
  requested_by: string;
  rows: number | null;
  estimated_rows: number | null;
  error: string | null;
  attempts: number;
  repair: boolean;
}
const fromRow = (r: RequestRow): SnapshotRequest => ({
  id: r.id,
  connector: r.connector,
  predicate: r.predicate,
  state: r.state,
  requestedAt: r.requested_at,
  requestedBy: r.requested_by,
  rows: r.rows,
  estimatedRows: r.estimated_rows,
  error: r.error,
  attempts: r.attempts,
  repair: r.repair,
});

export async function insertRequest(
  db: Queryable,
  connector: string,
  predicate: string | null,
  estimatedRows: number,
  opts: { repair?: boolean; reason?: string | null } = {},
): Promise<SnapshotRequest> {
  const r = await db.query<RequestRow>(`INSERT INTO ${T} (connector, predicate, estimated_rows, repair, reason) VALUES ($1, $2, $3, $4, $5) RETURNING ${COLUMNS}`, [
    connector,
    predicate,
    estimatedRows,
    opts.repair ?? false,
    opts.reason ?? null,
  ]);
  return fromRow(r.rows[0]);
}

/** Cancels every pending or running request of the connector; returns the cancelled ones. */
export async function cancelRequests(db: Queryable, connector: string): Promise<SnapshotRequest[]> {
  const r = await db.query<RequestRow>(`UPDATE ${T} SET state = 'cancelled', finished_at = now() WHERE connector = $1 AND state IN ('pending', 'running') RETURNING ${COLUMNS}`, [connector]);
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

/** A request a session starts serving: running, one attempt more; false when it was cancelled meanwhile. */
export async function markRunning(db: Queryable, id: string, estimatedRows: number): Promise<boolean> {
  const r = await db.query(
    `UPDATE ${T} SET state = 'running', started_at = coalesce(started_at, now()), estimated_rows = $2, attempts = attempts + 1 WHERE id = $1 AND state IN ('pending', 'running')`,
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
