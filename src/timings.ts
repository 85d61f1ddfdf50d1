/**
 * Every fixed duration of the worker, in one place, with what each is for. The relations between
 * them (test/unit/timings.test.ts checks them) are what makes a stop graceful and a takeover quick:
 *
 *   STOP_GRACE_MS + DATA_CLOSE_MS + CONTROL_CLOSE_MS < SHUTDOWN_TIMEOUT_MS
 *     a SIGTERM lets the batch in flight finish, then closes the data and control sessions, and
 *     all of it fits before the worker exits on its own (Kubernetes' grace period is 30 s by default);
 *   OWNERSHIP_POLL_MS < the takeover time documented in the README (10 s)
 *     a standby looks for the lock often enough to take over within it.
 *
 * The durations users tune (poll interval, heartbeat, drain pause) are connector settings, in
 * schemas/connector.schema.json.
 */

// ---- stopping
/** The process exits after this long even when a graceful stop has not finished (cli/run.ts). */
export const SHUTDOWN_TIMEOUT_MS = 10_000;
/** How long stop() lets a batch in flight finish before it closes the connections under it. */
export const STOP_GRACE_MS = 7_000;
/** How long a graceful end of the data connection may take before its socket is destroyed. */
export const DATA_CLOSE_MS = 1_000;
/** The same for the control session (its end also releases the ownership lock and the LISTEN). */
export const CONTROL_CLOSE_MS = 1_000;

// ---- retrying
/** How often a failed connector (a cause an operator must fix) looks again whether it was fixed. */
export const FAILED_RETRY_MS = 60_000;
/** Backoff of a retriable failure: first delay, ceiling, growth factor, and +-jitter. */
export const BACKOFF = { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.3 } as const;

// ---- PostgreSQL
/** A data query that takes longer has hit a dead connection (keyset pages and drains are fast). */
export const DATA_QUERY_TIMEOUT_MS = 60_000;
/**
 * The server cancels a data statement that runs longer (statement_timeout of the data sessions):
 * before the client gives up on it (DATA_QUERY_TIMEOUT_MS), so no statement the worker abandoned
 * goes on running on the server.
 */
export const DATA_STATEMENT_TIMEOUT_MS = 50_000;
/**
 * The longest a connector waits for a data connection of its database's pool (pg-pool bounds the wait
 * and the connect with one setting), before its session fails and is retried with backoff.
 */
export const POOL_WAIT_TIMEOUT_MS = 15_000;
/** A wait for a data connection this long is worth a (rate-limited) warning that the pool is saturated. */
export const POOL_WAIT_LOG_MS = 2_000;
/** Connecting to PostgreSQL. */
export const PG_CONNECT_TIMEOUT_MS = 10_000;
/** How often a standby tries to take the connector's lock. */
export const OWNERSHIP_POLL_MS = 2_000;

// ---- spreading connectors over replicas (cluster/membership.ts)
/**
 * A connector whose lock nobody has held for this long is tried by any replica, whatever its share:
 * the replica whose share it is may be unable to run it. Longer than a hand-over (a release, then
 * a poll of the replica under its share) takes.
 */
export const ORPHAN_TAKEOVER_MS = 10_000;
/** How often a replica counts the live replicas (and gives up connectors beyond its share). */
export const MEMBERSHIP_REFRESH_MS = 2_000;
/**
 * The server ends a member session silent for this long, so a frozen replica leaves the count (its
 * share goes to the others) no later than its control sessions end (FROZEN_OWNER_MIN_MS): a frozen
 * member still counted would keep a survivor at a share too small to take the connectors over.
 * Refreshed every MEMBERSHIP_REFRESH_MS, well within it.
 */
export const MEMBER_SESSION_IDLE_MS = 5_000;
/** A new replica reports ready once it holds its share, or after this long at most (a share that cannot be had must not block a rolling update). */
export const READY_SHARE_WAIT_MS = 60_000;
/**
 * The server ends a control session that stayed silent for this many heartbeat intervals, and at
 * least FROZEN_OWNER_MIN_MS (idle_session_timeout, PostgreSQL 14+): a frozen owner then blocks a
 * takeover for at most that + MEMBERSHIP_REFRESH_MS + OWNERSHIP_POLL_MS (34 s with the default 10 s heartbeat). The floor
 * keeps an event-loop pause of a busy but healthy worker from ending its session.
 */
export const FROZEN_OWNER_HEARTBEATS = 3;
export const FROZEN_OWNER_MIN_MS = 5_000;

/** How long a silent control session lives on the server (see FROZEN_OWNER_HEARTBEATS). */
export function frozenOwnerTimeoutMs(heartbeatMs: number): number {
  return Math.max(FROZEN_OWNER_HEARTBEATS * heartbeatMs, FROZEN_OWNER_MIN_MS);
}
/**
 * How long a worker going idle waits for its idle lock (capped by poll_interval_ms): the writers that
 * hold it shared did not NOTIFY, and must commit first. A long or prepared transaction may hold it
 * longer; the worker then polls at poll_interval_ms instead.
 */
export const IDLE_LOCK_WAIT_MS = 250;
/** How often a streaming connector checks that its table is still the one it planned (a catalog read). */
export const SCHEMA_CHECK_MS = 2_000;
/**
 * How often a busy connector looks at its re-snapshot requests (one indexed read). An idle one is
 * woken by the NOTIFY the snapshot command sends and looks at once; ordinal polling looks this often.
 */
export const RESNAPSHOT_CHECK_MS = 1_000;
/** How often pending changes and lag are measured, independently of the session. */
export const BACKLOG_INTERVAL_MS = 2_000;

// ---- Kafka (src/kafka/client.ts passes these to the client)
/** One TCP (and TLS, SASL) connection to a broker. */
export const KAFKA_CONNECT_TIMEOUT_MS = 5_000;
/** One request's answer (a produce waits for acks=all within it). */
export const KAFKA_REQUEST_TIMEOUT_MS = 30_000;
/** Tries of one request inside the client before the connector's own backoff takes over (must be > 1: the client makes 0 or 1 infinite for an idempotent producer). */
export const KAFKA_CLIENT_RETRIES = 3;
export const KAFKA_CLIENT_RETRY_DELAY_MS = 250;
/** The pause (times the attempt) before AddPartitionsToTxn is sent again while the coordinator finishes the previous transaction. */
export const CONCURRENT_TRANSACTIONS_RETRY_MS = 2;
/** How long the offsets topic may show an open transaction after fencing (its markers on their way) before the read fails. */
export const OFFSETS_STABLE_WAIT_MS = 10_000;
/** How long a new topic may take until every partition has a leader. */
export const TOPIC_LEADER_WAIT_MS = 30_000;

// ---- observing
/** Snapshot progress (rows, rate, ETA) is logged this often. */
export const PROGRESS_LOG_MS = 10_000;

/** The takeover time the README promises for a hot standby (kill -9 of the owner). */
export const DOCUMENTED_TAKEOVER_MS = 10_000;

// ---- re-snapshots on demand (connector/resnapshot.ts)
/**
 * The server cancels a re-snapshot page that takes longer (statement_timeout): a page that is slow
 * (an expensive predicate) must not hold change capture, which takes turns with it, for long, nor
 * run on after the worker gave up on it. The request's pages then get smaller; a page of one row that
 * is still too slow fails the request. Well under DATA_QUERY_TIMEOUT_MS, the client's own limit.
 */
export const RESNAPSHOT_PAGE_TIMEOUT_MS = 20_000;
/** A request that sessions started serving this often without finishing it is failed, never served for ever. */
export const MAX_REQUEST_ATTEMPTS = 10;
