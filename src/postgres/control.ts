/**
 * The statements of the control sessions (connector/session.ts): server-side keepalives,
 * the ownership lock, LISTEN and the heartbeat's check that the LISTEN is still there.
 */
import type { Client } from 'pg';
import { connect, destroyClient, type ConnectOptions } from './connection';
import type { Queryable } from './connection';
import { quoteIdent } from './sql';

/**
 * Lets the server notice a vanished worker within about 30 s (10 s idle, then 4 probes 5 s apart),
 * so that a standby can take its lock: a kill -9 on another host sends no FIN.
 */
export async function setServerKeepalives(db: Queryable): Promise<void> {
  await db.query('SET tcp_keepalives_idle = 10; SET tcp_keepalives_interval = 5; SET tcp_keepalives_count = 4');
}

/**
 * Makes the server end this session when it has been idle for longer than ms (PostgreSQL 14 and
 * later; older servers ignore it). The heartbeat queries it more often than that: a session that
 * stays silent belongs to a worker that is frozen (a long GC pause, SIGSTOP, a stalled VM), and
 * ending it frees the ownership lock for a standby instead of holding it for as long as the freeze
 * lasts. Returns whether the server applied it.
 */
export async function setIdleSessionTimeout(db: Queryable, ms: number): Promise<boolean> {
  const r = await db.query<{ applied: boolean }>(
    `SELECT CASE WHEN current_setting('server_version_num')::int >= 140000
                 THEN set_config('idle_session_timeout', $1, false) IS NOT NULL ELSE false END AS applied`,
    [`${Math.round(ms)}ms`],
  );
  return r.rows[0].applied;
}

/**
 * Opens a long-lived session that holds locks or membership (the control and the member sessions):
 * with server-side keepalives, and ended by the server after idleMs of silence, so that a frozen
 * worker lets go of what it holds. A session whose setup fails is closed, never leaked.
 */
export async function openWatchedSession(url: string, opts: ConnectOptions, idleMs: number): Promise<Client> {
  const client = await connect(url, opts);
  try {
    await setServerKeepalives(client);
    await setIdleSessionTimeout(client, idleMs);
  } catch (err) {
    destroyClient(client);
    throw err;
  }
  return client;
}

/**
 * Whether the URL leads through a transaction-mode pooler (PgBouncer, Supavisor, RDS Proxy): there
 * the server session may change between two statements of one connection, so session advisory locks,
 * LISTEN and the session's settings do not hold. Probed with a second connection: this one reads its
 * server session, the second opens a transaction (taking a free server session: a transaction pooler
 * hands out the one just released first), and this one reads its server session again. A direct
 * connection or a session pooler keeps the first; a transaction pooler gives another, or the same to
 * the second connection. Returns the problem in words, or null.
 */
export async function transactionPoolingProblem(db: Queryable, withOther: <T>(fn: (other: Queryable) => Promise<T>) => Promise<T>): Promise<string | null> {
  const pid = async (q: Queryable) => (await q.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0].pid;
  // Three rounds, this connection looking three times in each: under load, another client of the
  // pooler may take the released server session first (measured against PgBouncer 1.18: one round
  // missed 3 to 8 times in 200; three rounds never did). Without a pooler, it never changes.
  const pooled = await withOther(async (other) => {
    for (let round = 0; round < 3; round++) {
      const first = await pid(db);
      await other.query('BEGIN');
      try {
        const others = await pid(other);
        let moved = false;
        for (let i = 0; i < 3; i++) if ((await pid(db)) !== first) moved = true;
        if (others === first || moved) return true;
      } finally {
        await other.query('ROLLBACK');
      }
    }
    return false;
  });
  return pooled
    ? 'the database URL leads to a transaction-mode pooler (the server session changed between two statements of one connection): ' +
        'session advisory locks and LISTEN do not work through it. Use session pooling (pool_mode = session) or connect directly'
    : null;
}

/** A second connection for transactionPoolingProblem, opened for it and closed after. */
export function probeConnection(url: string, opts: ConnectOptions): <T>(fn: (other: Queryable) => Promise<T>) => Promise<T> {
  return async (fn) => {
    const other = await connect(url, { ...opts, applicationName: `${opts.applicationName} probe` });
    try {
      return await fn(other);
    } finally {
      await other.end().catch(() => undefined);
    }
  };
}

/** Takes the session-level advisory lock if it is free; true when this session holds it now. */
export async function tryAdvisoryLock(db: Queryable, key: bigint): Promise<boolean> {
  return (await db.query<{ ok: boolean }>('SELECT pg_try_advisory_lock($1::int8) AS ok', [key.toString()])).rows[0].ok;
}

/** The session that holds a connector's ownership lock, as pg_stat_activity shows it. */
export interface LockHolder {
  /** Its application name and address, for messages: "pg-kafka-cdc control @pod-1 from 10.0.0.7". */
  who: string;
  pid: number;
  role: string | null;
  applicationName: string;
  clientAddr: string | null;
  /**
   * It is a worker's control session: it connects as the role this session connects as, and names
   * itself as one. A session of another role holds the lock (any role can take any advisory lock):
   * nothing that is not a worker should, and the connector waits for it as a standby.
   */
  isWorker: boolean;
}

/**
 * Who holds a connector's ownership lock in this database, or null when nobody does. A bigint
 * advisory lock shows in pg_locks as classid (high half), objid (low half), objsubid 1.
 */
export async function lockHolder(db: Queryable, key: bigint): Promise<LockHolder | null> {
  const r = await db.query<{ who: string; pid: number; role: string | null; app: string; addr: string | null; is_worker: boolean }>(
    `SELECT coalesce(nullif(a.application_name, ''), 'pid ' || l.pid) || coalesce(' from ' || host(a.client_addr), '') AS who,
            l.pid, a.usename::text AS role, coalesce(a.application_name, '') AS app, host(a.client_addr) AS addr,
            a.usename = current_user AND starts_with(coalesce(a.application_name, ''), 'pg-kafka-cdc control') AS is_worker
       FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1 AND l.classid = $1::int8::oid AND l.objid = $2::int8::oid
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
    [((key >> 32n) & 0xffffffffn).toString(), (key & 0xffffffffn).toString()],
  );
  const h = r.rows[0];
  return h ? { who: h.who, pid: h.pid, role: h.role, applicationName: h.app, clientAddr: h.addr, isWorker: h.is_worker === true } : null;
}

/** Who holds a connector's ownership lock (its application name and address), or null when nobody does. */
export async function ownerOf(db: Queryable, key: bigint): Promise<string | null> {
  return (await lockHolder(db, key))?.who ?? null;
}

export async function listen(db: Queryable, channel: string): Promise<void> {
  await db.query(`LISTEN ${quoteIdent(channel)}`);
}

/** Every channel this session LISTENs on (the shared control session's heartbeat asks once for all). */
export async function listeningChannels(db: Queryable): Promise<Set<string>> {
  return new Set((await db.query<{ c: string }>('SELECT c FROM pg_listening_channels() AS c')).rows.map((r) => r.c));
}

/** The heartbeat's question before the session listens: does the connection still answer? */
export async function ping(db: Queryable): Promise<void> {
  await db.query('SELECT 1');
}

export async function unlisten(db: Queryable, channel: string): Promise<void> {
  await db.query(`UNLISTEN ${quoteIdent(channel)}`);
}

/** Releases a session-level advisory lock this session holds (a no-op, false, when it does not). */
export async function unlockAdvisory(db: Queryable, key: bigint): Promise<boolean> {
  return (await db.query<{ ok: boolean }>('SELECT pg_advisory_unlock($1::int8) AS ok', [key.toString()])).rows[0].ok;
}

/**
 * The members of a deployment: the distinct suffixes of the application names that start with
 * prefix on this database's sessions (cluster/membership.ts).
 */
export async function sessionsNamed(db: Queryable, prefix: string): Promise<string[]> {
  const r = await db.query<{ id: string }>(
    `SELECT DISTINCT substr(application_name, $2) AS id FROM pg_stat_activity
      WHERE datname = current_database() AND starts_with(application_name, $1) ORDER BY 1`,
    [prefix, prefix.length + 1],
  );
  return r.rows.map((x) => x.id);
}
