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
 *
 * The worker reads them from the Timings it was built with (WorkerOptions.timings, or
 * PG_KAFKA_CDC_TIMINGS for a worker process): the defaults below unless a test shortens some.
 * withTimings() refuses a set that breaks one of the relations above, so a shortened set keeps
 * every guarantee the defaults give.
 */

const DEFAULTS = {
  // ---- stopping
  /** The process exits after this long even when a graceful stop has not finished (cli/run.ts). */
  SHUTDOWN_TIMEOUT_MS: 10_000,
  /** How long stop() lets a batch in flight finish before it closes the connections under it. */
  STOP_GRACE_MS: 7_000,
  /** How long a graceful end of the data connection may take before its socket is destroyed. */
  DATA_CLOSE_MS: 1_000,
  /** The same for the control session (its end also releases the ownership lock and the LISTEN). */
  CONTROL_CLOSE_MS: 1_000,

  // ---- retrying
  /** How often a failed connector (a cause an operator must fix) looks again whether it was fixed. */
  FAILED_RETRY_MS: 60_000,
  /** Backoff of a retriable failure: first delay, ceiling, growth factor, and +-jitter. */
  BACKOFF: { initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.3 },

  // ---- PostgreSQL
  /** A data query that takes longer has hit a dead connection (keyset pages and drains are fast). */
  DATA_QUERY_TIMEOUT_MS: 60_000,
  /**
   * The server cancels a data statement that runs longer (statement_timeout of the data sessions):
   * before the client gives up on it (DATA_QUERY_TIMEOUT_MS), so no statement the worker abandoned
   * goes on running on the server.
   */
  DATA_STATEMENT_TIMEOUT_MS: 50_000,
  /**
   * The longest a connector waits for a data connection of its database's pool (pg-pool bounds the wait
   * and the connect with one setting), before its session fails and is retried with backoff.
   */
  POOL_WAIT_TIMEOUT_MS: 15_000,
  /** A wait for a data connection this long is worth a (rate-limited) warning that the pool is saturated. */
  POOL_WAIT_LOG_MS: 2_000,
  /** Connecting to PostgreSQL. */
  PG_CONNECT_TIMEOUT_MS: 10_000,
  /** TCP keepalives of every PostgreSQL connection start after this much silence (a dead peer is found). */
  PG_KEEPALIVE_DELAY_MS: 10_000,
  /** A data connection idle this long is closed by the pool. */
  POOL_IDLE_CLOSE_MS: 30_000,
  /** The pool says it is saturated at most this often. */
  POOL_SATURATED_LOG_EVERY_MS: 60_000,
  /** A statement of the control or member connection that takes longer has hit a dead connection (the control one at least its heartbeat). */
  CONTROL_QUERY_TIMEOUT_MS: 5_000,
  /** Connecting for the read-only checks of validate and run (preflight), and each of their statements. */
  PREFLIGHT_CONNECT_TIMEOUT_MS: 5_000,
  PREFLIGHT_QUERY_TIMEOUT_MS: 30_000,
  /** The server cancels the check of a re-snapshot predicate that takes longer (postgres/expression.ts). */
  EXPRESSION_CHECK_TIMEOUT_MS: 10_000,
  /** How often the leaders of a new topic's partitions are looked at. */
  TOPIC_LEADER_POLL_MS: 100,
  /** How long `tail` lets the broker hold a fetch that has nothing yet. */
  TAIL_FETCH_WAIT_MS: 500,
  /** How often a standby tries to take the connector's lock. */
  OWNERSHIP_POLL_MS: 2_000,

  // ---- spreading connectors over replicas (cluster/membership.ts)
  /**
   * A connector whose lock nobody has held for this long is tried by any replica, whatever its share:
   * the replica whose share it is may be unable to run it. Longer than a hand-over (a release, then
   * a poll of the replica under its share) takes.
   */
  ORPHAN_TAKEOVER_MS: 10_000,
  /** How often a replica counts the live replicas (and gives up connectors beyond its share). */
  MEMBERSHIP_REFRESH_MS: 2_000,
  /**
   * The server ends a member session silent for this long, so a frozen replica leaves the count (its
   * share goes to the others) no later than its control sessions end (FROZEN_OWNER_MIN_MS): a frozen
   * member still counted would keep a survivor at a share too small to take the connectors over.
   * Refreshed every MEMBERSHIP_REFRESH_MS, well within it.
   */
  MEMBER_SESSION_IDLE_MS: 5_000,
  /** A new replica reports ready once it holds its share, or after this long at most (a share that cannot be had must not block a rolling update). */
  READY_SHARE_WAIT_MS: 60_000,
  /**
   * The server ends a control session that stayed silent for this many heartbeat intervals, and at
   * least FROZEN_OWNER_MIN_MS (idle_session_timeout, PostgreSQL 14+): a frozen owner then blocks a
   * takeover for at most that + MEMBERSHIP_REFRESH_MS + OWNERSHIP_POLL_MS (34 s with the default 10 s heartbeat). The floor
   * keeps an event-loop pause of a busy but healthy worker from ending its session.
   */
  FROZEN_OWNER_HEARTBEATS: 3,
  FROZEN_OWNER_MIN_MS: 5_000,

  /**
   * How long a worker going idle waits for its idle lock (capped by poll_interval_ms): the writers that
   * hold it shared did not NOTIFY, and must commit first. A long or prepared transaction may hold it
   * longer; the worker then polls at poll_interval_ms instead.
   */
  IDLE_LOCK_WAIT_MS: 250,
  /** How often a streaming connector checks that its table is still the one it planned (a catalog read). */
  SCHEMA_CHECK_MS: 2_000,
  /**
   * How often a busy connector looks at its re-snapshot requests (one indexed read). An idle one is
   * woken by the NOTIFY the snapshot command sends and looks at once; ordinal polling looks this often.
   */
  RESNAPSHOT_CHECK_MS: 1_000,
  /** How often pending changes and lag are measured, independently of the session. */
  BACKLOG_INTERVAL_MS: 2_000,

  // ---- Kafka (src/kafka/client.ts passes these to the client)
  /** One TCP (and TLS, SASL) connection to a broker. */
  KAFKA_CONNECT_TIMEOUT_MS: 5_000,
  /** One request's answer (a produce waits for acks=all within it). */
  KAFKA_REQUEST_TIMEOUT_MS: 30_000,
  /** Tries of one request inside the client before the connector's own backoff takes over (must be > 1: the client makes 0 or 1 infinite for an idempotent producer). */
  KAFKA_CLIENT_RETRIES: 3,
  KAFKA_CLIENT_RETRY_DELAY_MS: 250,
  /** The pause (times the attempt) before AddPartitionsToTxn is sent again while the coordinator finishes the previous transaction. */
  CONCURRENT_TRANSACTIONS_RETRY_MS: 2,
  /** How long the offsets topic may show an open transaction after fencing (its markers on their way) before the read fails. */
  OFFSETS_STABLE_WAIT_MS: 10_000,
  /** How long a new topic may take until every partition has a leader. */
  TOPIC_LEADER_WAIT_MS: 30_000,

  // ---- observing
  /** Snapshot progress (rows, rate, ETA) is logged this often. */
  PROGRESS_LOG_MS: 10_000,

  /** The takeover time the README promises for a hot standby (kill -9 of the owner). */
  DOCUMENTED_TAKEOVER_MS: 10_000,

  // ---- re-snapshots on demand (connector/resnapshot.ts)
  /**
   * The server cancels a re-snapshot page that takes longer (statement_timeout): a page that is slow
   * (an expensive predicate) must not hold change capture, which takes turns with it, for long, nor
   * run on after the worker gave up on it. The request's pages then get smaller; a page of one row that
   * is still too slow fails the request. Well under DATA_QUERY_TIMEOUT_MS, the client's own limit.
   */
  RESNAPSHOT_PAGE_TIMEOUT_MS: 20_000,
  /** A request that sessions started serving this often without finishing it is failed, never served for ever. */
  MAX_REQUEST_ATTEMPTS: 10,
};

export type Timings = { readonly [K in keyof typeof DEFAULTS]: (typeof DEFAULTS)[K] extends number ? number : { readonly [P in keyof (typeof DEFAULTS)[K]]: number } };

/** The timings of a production worker. */
export const DEFAULT_TIMINGS: Timings = Object.freeze(DEFAULTS);

/** How long a silent control session lives on the server (see FROZEN_OWNER_HEARTBEATS). */
export function frozenOwnerTimeoutMs(t: Timings, heartbeatMs: number): number {
  return Math.max(t.FROZEN_OWNER_HEARTBEATS * heartbeatMs, t.FROZEN_OWNER_MIN_MS);
}

/** The relations the timings must keep (see the header), each broken one as a sentence. */
export function timingProblems(t: Timings): string[] {
  const rules: Array<[boolean, string]> = [
    [
      t.STOP_GRACE_MS + t.DATA_CLOSE_MS + t.CONTROL_CLOSE_MS < t.SHUTDOWN_TIMEOUT_MS,
      'STOP_GRACE_MS + DATA_CLOSE_MS + CONTROL_CLOSE_MS must be below SHUTDOWN_TIMEOUT_MS (a graceful stop must finish before the process gives up)',
    ],
    [t.OWNERSHIP_POLL_MS < t.DOCUMENTED_TAKEOVER_MS / 2, 'OWNERSHIP_POLL_MS must be below half of DOCUMENTED_TAKEOVER_MS'],
    [t.MEMBER_SESSION_IDLE_MS <= t.FROZEN_OWNER_MIN_MS, 'MEMBER_SESSION_IDLE_MS must be at most FROZEN_OWNER_MIN_MS (a frozen replica leaves the count before its connectors are free)'],
    [t.MEMBERSHIP_REFRESH_MS * 2 < t.MEMBER_SESSION_IDLE_MS, 'MEMBERSHIP_REFRESH_MS must be below half of MEMBER_SESSION_IDLE_MS (a live member refreshes well within it)'],
    [t.MEMBERSHIP_REFRESH_MS + t.OWNERSHIP_POLL_MS < t.DOCUMENTED_TAKEOVER_MS / 2, 'MEMBERSHIP_REFRESH_MS + OWNERSHIP_POLL_MS must be below half of DOCUMENTED_TAKEOVER_MS'],
    [t.ORPHAN_TAKEOVER_MS > 2 * t.MEMBERSHIP_REFRESH_MS + 2 * t.OWNERSHIP_POLL_MS, 'ORPHAN_TAKEOVER_MS must be above 2 * MEMBERSHIP_REFRESH_MS + 2 * OWNERSHIP_POLL_MS (a hand-over finishes first)'],
    [t.RESNAPSHOT_PAGE_TIMEOUT_MS < t.DATA_STATEMENT_TIMEOUT_MS, 'RESNAPSHOT_PAGE_TIMEOUT_MS must be below DATA_STATEMENT_TIMEOUT_MS'],
    [t.DATA_STATEMENT_TIMEOUT_MS < t.DATA_QUERY_TIMEOUT_MS, 'DATA_STATEMENT_TIMEOUT_MS must be below DATA_QUERY_TIMEOUT_MS (the server cancels before the client gives up)'],
    [t.IDLE_LOCK_WAIT_MS < 1000, 'IDLE_LOCK_WAIT_MS must be below 1000'],
    [t.KAFKA_CLIENT_RETRIES > 1, 'KAFKA_CLIENT_RETRIES must be more than 1 (0 or 1 make the idempotent producer retry for ever)'],
    [t.KAFKA_CONNECT_TIMEOUT_MS < t.KAFKA_REQUEST_TIMEOUT_MS, 'KAFKA_CONNECT_TIMEOUT_MS must be below KAFKA_REQUEST_TIMEOUT_MS'],
    [
      t.BACKOFF.maxMs > t.ORPHAN_TAKEOVER_MS,
      'BACKOFF.maxMs must be above ORPHAN_TAKEOVER_MS (a replica that keeps failing a connector must leave it unheld long enough for another replica to take it as an orphan)',
    ],
    [t.FAILED_RETRY_MS >= t.BACKOFF.maxMs, 'FAILED_RETRY_MS must be at least BACKOFF.maxMs (a failed connector looks again less often than a retriable one)'],
  ];
  return rules.filter(([ok]) => !ok).map(([, why]) => why);
}

/**
 * The defaults with some replaced (tests shorten the waits). Throws, naming each unknown name and
 * each broken relation, when the result would not keep the guarantees of the defaults.
 */
export function withTimings(overrides: Partial<Record<keyof Timings, unknown>> = {}): Timings {
  const problems: string[] = [];
  const merged: Record<string, unknown> = { ...DEFAULT_TIMINGS };
  for (const [name, value] of Object.entries(overrides)) {
    const base = (DEFAULT_TIMINGS as Record<string, unknown>)[name];
    if (base === undefined) problems.push(`${name} is not a timing (known: ${Object.keys(DEFAULT_TIMINGS).join(', ')})`);
    else if (typeof base === 'number' ? !isDuration(value) : !(typeof value === 'object' && value !== null && Object.values(value).every(isDuration)))
      problems.push(`${name} must be ${typeof base === 'number' ? 'a non-negative number' : 'an object of non-negative numbers'}`);
    else merged[name] = typeof base === 'number' ? value : { ...(base as object), ...(value as object) };
  }
  const t = merged as unknown as Timings;
  problems.push(...(problems.length === 0 ? timingProblems(t) : []));
  if (problems.length > 0) throw new Error(`invalid timings: ${problems.join('; ')}`);
  return t;
}

function isDuration(v: unknown): boolean {
  return typeof v === 'number' && Number.isFinite(v) && v >= 0;
}

/** The timings of a worker process: the defaults, or those PG_KAFKA_CDC_TIMINGS (a JSON object) replaces (for tests). */
export function timingsFromEnv(env: Record<string, string | undefined>): Timings {
  const text = env.PG_KAFKA_CDC_TIMINGS;
  if (text === undefined || text === '') return DEFAULT_TIMINGS;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new Error(`PG_KAFKA_CDC_TIMINGS is not JSON: ${(err as Error).message}`);
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) throw new Error('PG_KAFKA_CDC_TIMINGS must be a JSON object of durations by name');
  return withTimings(parsed as Record<keyof Timings, unknown>);
}
