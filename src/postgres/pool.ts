/**
 * The data connections of one database: a small bounded pool (pg.Pool) shared by every connector of
 * this replica on that database. A connector holds a connection only for one statement (a snapshot
 * page, a drain, a progress write) or one short transaction (withClient), never across a Kafka send,
 * so a replica's connections stay at the cap whatever its number of connectors (docs/scale-out.md).
 * When every connection is busy, a connector waits its turn; the pool logs that it is saturated, at
 * most once a minute, rather than failing and retrying.
 */
import { Pool, type PoolClient, type QueryResult, type QueryResultRow } from 'pg';
import { DEFAULT_TIMINGS, type Timings } from '../timings';
import { applySessionSettings, clientConfig, describeDatabase, destroyClient, namedConnectError, sessionSettings } from './connection';
import type { Queryable } from './connection';
import { RetriableError } from '../util/errors';
import { sqlstateOf } from './sqlstate';

/** Where the pool says that it is saturated (the worker's logger). */
export interface PoolLog {
  warn(obj: object, msg: string): void;
}

export class DataPool implements Queryable {
  private readonly pool: Pool;
  private lastSaturatedLog = 0;
  /** Connections whose session settings are applied (once, at their first checkout). */
  private readonly prepared = new WeakSet<PoolClient>();
  private readonly session: { applicationName: string; queryTimeoutMs: number; statementTimeoutMs: number };

  constructor(
    private readonly url: string,
    readonly cap: number,
    private readonly log: PoolLog,
    private readonly timings: Timings = DEFAULT_TIMINGS,
  ) {
    this.session = { applicationName: 'pg-kafka-cdc data', queryTimeoutMs: timings.DATA_QUERY_TIMEOUT_MS, statementTimeoutMs: timings.DATA_STATEMENT_TIMEOUT_MS };
    this.pool = new Pool({
      ...clientConfig(url, this.session),
      max: cap,
      // Also the longest wait for a free connection (pg-pool uses one setting for both).
      connectionTimeoutMillis: timings.POOL_WAIT_TIMEOUT_MS,
      idleTimeoutMillis: timings.POOL_IDLE_CLOSE_MS,
    });
    // An idle connection that fails (a restarted server) is dropped by the pool; the next checkout opens another.
    this.pool.on('error', () => undefined);
  }

  async query<R extends QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
    return this.withClient((c) => c.query<R>(text, values));
  }

  /** A connection for fn alone (a transaction, or statements that need one session), given back after. */
  async withClient<T>(fn: (client: PoolClient) => Promise<T>, scope?: { active: Set<PoolClient>; cutOff: Promise<never> | null }): Promise<T> {
    const checkout = this.checkout();
    let client: PoolClient;
    try {
      client = scope?.cutOff ? await Promise.race([checkout, scope.cutOff]) : await checkout;
    } catch (err) {
      // A cut-off session stops waiting for a connection; one that comes later goes back to the pool.
      checkout.then(
        (c) => c.release(),
        () => undefined,
      );
      throw err;
    }
    const active = scope?.active;
    active?.add(client);
    let broken: Error | undefined;
    // A connection ended under a statement (a terminated backend) emits 'error' on the client, which
    // pg-pool does not listen to while it is checked out: the statement fails with it anyway.
    const onError = (err: Error) => (broken = err);
    client.on('error', onError);
    try {
      return await fn(client);
    } catch (err) {
      // A failure without a PostgreSQL error code is the connection's (timeout, reset): do not reuse it.
      if (sqlstateOf(err) === null) broken = err as Error;
      throw err;
    } finally {
      client.off('error', onError);
      active?.delete(client);
      client.release(broken);
    }
  }

  /** The pool as one connector session uses it: what it has checked out can be cut off at once (DataScope.destroyActive). */
  scope(): DataScope {
    return new DataScope(this);
  }

  /** Connections open, idle and asked for, for metrics and the docs' measurements. */
  stats(): { total: number; idle: number; waiting: number } {
    return { total: this.pool.totalCount, idle: this.pool.idleCount, waiting: this.pool.waitingCount };
  }

  /** Closes the pool; a connection still in use (a half-open one) is left to the process exit after ms. */
  async end(ms = this.timings.DATA_CLOSE_MS): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([this.pool.end().catch(() => undefined), new Promise((resolve) => (timer = setTimeout(resolve, ms)))]);
    clearTimeout(timer);
  }

  private async checkout(): Promise<PoolClient> {
    const started = Date.now();
    const saturated = this.pool.totalCount >= this.cap && this.pool.idleCount === 0;
    try {
      const client = await this.pool.connect();
      if (!this.prepared.has(client)) {
        try {
          await applySessionSettings(client, sessionSettings(this.session));
        } catch (err) {
          client.release(err as Error);
          throw err;
        }
        this.prepared.add(client);
      }
      return client;
    } catch (err) {
      throw namedConnectError(this.url, err);
    } finally {
      const waited = Date.now() - started;
      if (saturated && waited >= this.timings.POOL_WAIT_LOG_MS && Date.now() - this.lastSaturatedLog >= this.timings.POOL_SATURATED_LOG_EVERY_MS) {
        this.lastSaturatedLog = Date.now();
        this.log.warn(
          { database: describeDatabase(this.url), cap: this.cap, waitedMs: waited, waiting: this.pool.waitingCount },
          'every data connection of this database is busy: connectors wait for one (raise postgres.data_pool_size in the worker file, or add replicas)',
        );
      }
    }
  }
}

/**
 * One connector session's use of the pool. When the session loses its ownership, the statements it
 * has in flight are cut off (their connections destroyed, not given back), as closing a dedicated
 * data connection did: a half-open connection must not hold the session for the query timeout.
 */
export class DataScope implements Queryable {
  readonly active = new Set<PoolClient>();
  /** Rejects once the session is cut off: its waits for a connection end then. */
  cutOff: Promise<never> | null = null;
  private cut: ((err: Error) => void) | null = null;

  constructor(private readonly pool: DataPool) {
    this.cutOff = new Promise<never>((_, reject) => (this.cut = reject));
    this.cutOff.catch(() => undefined);
  }

  async query<R extends QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>> {
    return this.withClient((c) => c.query<R>(text, values));
  }

  withClient<T>(fn: (client: PoolClient) => Promise<T>): Promise<T> {
    return this.pool.withClient(fn, this);
  }

  /** Cuts the session off: its statements in flight fail at once, and so does any wait for a connection. */
  destroyActive(): void {
    this.cut?.(new RetriableError('the connector session ended (it lost its control session)'));
    for (const client of this.active) destroyClient(client);
  }
}
