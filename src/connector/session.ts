/**
 * Control sessions: one dedicated, unpooled PostgreSQL connection per database (a ControlHub),
 * shared by every connector of this replica on that database, that
 * - holds the advisory lock of each connector this replica owns (hot standbys elsewhere wait),
 * - LISTENs on their channels and turns notifications into wake-ups,
 * - holds the idle lock of each channel whose connector is idle (postgres/capture.ts),
 * - checks itself every heartbeat (pg_listening_channels()) so a half-open socket is found,
 * - is ended by the server after a few silent heartbeat intervals (idle_session_timeout, timings.ts),
 *   so a frozen owner cannot keep its locks from a standby for longer than that,
 * and aborts the session of every connector that uses it the moment it is lost (after pg-boss'
 * listen()): its locks are gone with it.
 *
 * A connector's session takes a ControlSession, its lease on the hub: what it owns, listens to and
 * holds is released when the lease closes (or all at once with the hub's connection). Sharing one
 * connection is what keeps a replica's connections from growing with its connectors (docs/scale-out.md).
 */
import type { Client, Notification } from 'pg';
import { lowerIdleFlag, raiseIdleFlag } from '../postgres/capture';
import { destroyClient, endWithin } from '../postgres/connection';
import { ownershipLockKey } from '../postgres/names';
import {
  listen,
  listeningChannels,
  lockHolder,
  openWatchedSession,
  ping,
  probeConnection,
  transactionPoolingProblem,
  tryAdvisoryLock,
  unlisten,
  unlockAdvisory,
  type LockHolder,
} from '../postgres/control';
import { FatalError, RetriableError } from '../util/errors';
import type { Queryable } from '../postgres/connection';
import { DEFAULT_TIMINGS, frozenOwnerTimeoutMs, type Timings } from '../timings';
import { sleep } from '../util/retry';
import { sqlstateOf } from '../postgres/sqlstate';

/** The shared control connection of one database. */
export class ControlHub {
  private client: Client | null = null;
  private opening: Promise<Client> | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private readonly leases = new Set<ControlSession>();
  private inFlight = 0;
  /** Statements run one after the other on the shared connection (node-postgres would queue them too, with a deprecation warning). */
  private tail: Promise<unknown> = Promise.resolve();

  constructor(
    private readonly url: string,
    /** The shortest heartbeat interval of the connectors that share it. */
    private readonly heartbeatMs: number,
    /** This replica's id: in the session's application_name, so that any replica can name a connector's owner. */
    private readonly replica: string | null = null,
    /** A second connection to the database for the pooler probe (a connection of the data pool: no extra session). */
    private readonly probe: <T>(fn: (other: Queryable) => Promise<T>) => Promise<T> = probeConnection(url, { applicationName: controlApplicationName(replica) }),
    readonly timings: Timings = DEFAULT_TIMINGS,
  ) {}

  /** The connection, opened on first use (one open at a time, whoever asks). */
  async session(): Promise<Client> {
    if (this.client) return this.client;
    this.opening ??= this.open().finally(() => (this.opening = null));
    return this.opening;
  }

  private async open(): Promise<Client> {
    const client = await openWatchedSession(
      this.url,
      { applicationName: controlApplicationName(this.replica), nameDatabase: true, queryTimeoutMs: Math.max(this.timings.CONTROL_QUERY_TIMEOUT_MS, this.heartbeatMs) },
      frozenOwnerTimeoutMs(this.timings, this.heartbeatMs),
    );
    // Its locks and LISTENs need one server session for as long as it lives: not through a transaction pooler.
    const pooled = await transactionPoolingProblem(client, this.probe).catch((err: unknown) => {
      destroyClient(client);
      throw err;
    });
    if (pooled) {
      destroyClient(client);
      throw new FatalError(pooled);
    }
    client.on('error', (err) => this.lost(client, new RetriableError(`control connection failed: ${err.message}`, err)));
    client.on('end', () => this.lost(client, new RetriableError('control connection closed')));
    client.on('notification', (n: Notification) => {
      for (const lease of this.leases) if (lease.channel === n.channel) lease.wake();
    });
    this.client = client;
    this.startHeartbeat();
    return client;
  }

  attach(lease: ControlSession): void {
    this.leases.add(lease);
  }

  /** A lease closed: the last one ends the connection (a standby replica keeps none). */
  async detach(lease: ControlSession): Promise<void> {
    this.leases.delete(lease);
    if (this.leases.size > 0 || !this.client) return;
    const client = this.client;
    this.client = null;
    this.stopHeartbeat();
    await endWithin(client, this.timings.CONTROL_CLOSE_MS);
  }

  /** Runs statements on the connection it had when the lease was granted; counted so the heartbeat does not add one meanwhile. */
  async run<T>(fn: (db: Client) => Promise<T>, expect?: Client): Promise<T> {
    const client = expect ?? (await this.session());
    if (this.client !== client) throw new RetriableError('control session was lost');
    this.inFlight += 1;
    const run = this.tail.then(() => {
      if (this.client !== client) throw new RetriableError('control session was lost');
      return fn(client);
    });
    this.tail = run.catch(() => undefined);
    try {
      return await run;
    } catch (err) {
      // A failure without a PostgreSQL error code is the connection's (a client-side timeout, a
      // reset): a statement may still run on the server, a lock be granted after we gave up on it.
      // The connection goes, and every lock with it; the heartbeat could not tell, being queued too.
      if (sqlstateOf(err) === null && !(err instanceof RetriableError)) this.lost(client, new RetriableError(`control statement failed: ${(err as Error).message}`, err));
      throw err;
    } finally {
      this.inFlight -= 1;
    }
  }

  /** Whether client is still the hub's connection (a lease's locks live only as long as it). */
  current(client: Client): boolean {
    return this.client === client;
  }

  /** Checks the connection every heartbeat interval: that it answers, and LISTENs on every channel a lease listens to. */
  private startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      const client = this.client;
      if (!client || this.inFlight > 0) return; // a control query in flight answers for the connection already
      const listening = [...this.leases].filter((l) => l.listeningOn(client));
      // One round trip whatever the number of channels.
      this.run((db) => (listening.length === 0 ? ping(db).then(() => new Set<string>()) : listeningChannels(db)), client)
        .then((channels) => {
          for (const lease of listening) if (!channels.has(lease.channel as string)) lease.lost(new RetriableError(`no longer listening on ${lease.channel}`));
        })
        .catch((err: Error) => this.lost(client, new RetriableError(`heartbeat failed: ${err.message}`, err)));
    }, this.heartbeatMs);
    this.heartbeat.unref();
  }

  private stopHeartbeat(): void {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
  }

  /** The connection is gone, and every lock and LISTEN with it: every lease stands down. */
  private lost(client: Client, err: Error): void {
    if (this.client !== client) return;
    this.client = null;
    this.stopHeartbeat();
    destroyClient(client);
    for (const lease of [...this.leases]) lease.lost(err);
  }
}

/** One connector's lease on its database's control hub. start() and close() are idempotent. */
export class ControlSession {
  private client: Client | null = null;
  private wakeResolvers: Array<() => void> = [];
  private woken = false;
  /** The channel this lease LISTENs on (set before LISTEN runs: notifications may arrive at once). */
  channel: string | null = null;
  private listenConfirmed = false;
  private owns = false;
  private readonly idleHeld = new Set<string>();
  private closed = false;
  private onLostCalled = false;

  constructor(
    private readonly hub: ControlHub,
    private readonly connector: string,
    /** Called once when the session is lost (socket error, end, failed heartbeat). */
    private readonly onLost: (err: Error) => void,
  ) {}

  async open(): Promise<void> {
    this.hub.attach(this);
    this.client = await this.hub.session();
  }

  /**
   * Tries to become the owner; waits as a standby (polling) until it is, or until the signal aborts.
   * The gate says whether this replica may try now (it owns less than its share of the connectors:
   * cluster/membership.ts); a standby tells who owns the connector (its replica id, or null), and
   * the holder itself when it is not a worker (any role can take any advisory lock).
   */
  async acquireOwnership(
    signal: AbortSignal,
    onStandby: (owner: string | null, foreign: LockHolder | null) => void,
    gate: OwnershipGate = ALWAYS,
    pollMs = this.hub.timings.OWNERSHIP_POLL_MS,
  ): Promise<boolean> {
    const key = ownershipLockKey(this.connector);
    let freeSince: number | null = null;
    while (!signal.aborted) {
      // A connector nobody has owned for ORPHAN_TAKEOVER_MS is tried whatever the share: the replica
      // whose share it is may be unable to run it (it cannot reach Kafka, or that database).
      const orphaned = freeSince !== null && Date.now() - freeSince >= this.hub.timings.ORPHAN_TAKEOVER_MS;
      if (gate.tryReserve(this.connector, orphaned)) {
        let acquired = false;
        try {
          acquired = await this.run((db) => tryAdvisoryLock(db, key));
        } finally {
          gate.settle(this.connector, acquired, orphaned);
        }
        if (acquired) {
          this.owns = true;
          return true;
        }
      }
      const held = await this.run((db) => lockHolder(db, key));
      const holder = replicaOfOwner(held?.who ?? null);
      freeSince = holder !== null ? null : (freeSince ?? Date.now());
      onStandby(holder, held && !held.isWorker ? held : null);
      await sleep(pollMs, signal);
    }
    return false;
  }

  async listen(channel: string): Promise<void> {
    this.channel = channel;
    await this.run((db) => listen(db, channel));
    this.listenConfirmed = true; // only now may the heartbeat expect it
  }

  /** Whether the heartbeat should find this lease's LISTEN on client. */
  listeningOn(client: Client): boolean {
    return this.listenConfirmed && this.client === client && this.channel !== null;
  }

  /**
   * The idle handshake (postgres/capture.ts) on the shared connection: the idle lock outlives any
   * one data query, so it cannot live on a pooled connection. False when it waited waitMs in vain.
   */
  async raiseIdleFlag(channel: string, waitMs: number): Promise<boolean> {
    const held = await this.run((db) => raiseIdleFlag(db, channel, waitMs));
    if (held) this.idleHeld.add(channel);
    return held;
  }

  async lowerIdleFlag(channel: string): Promise<void> {
    if (!this.idleHeld.has(channel)) return;
    await this.run((db) => lowerIdleFlag(db, channel));
    this.idleHeld.delete(channel);
  }

  /** Resolves on the next notification (or one that came since the last wait), the timeout, or abort. */
  waitForWake(timeoutMs: number, signal: AbortSignal): Promise<void> {
    if (this.woken) {
      this.woken = false;
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        this.wakeResolvers = this.wakeResolvers.filter((r) => r !== done);
        this.woken = false;
        resolve();
      };
      const timer = setTimeout(done, timeoutMs);
      signal.addEventListener('abort', done, { once: true });
      this.wakeResolvers.push(done);
    });
  }

  /** Forget a wake-up that arrived while we were busy anyway. */
  clearWake(): void {
    this.woken = false;
  }

  /** Gives back what this lease holds (the LISTEN, the idle lock, the ownership lock), then leaves the hub. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.onLostCalled = true;
    const client = this.client;
    if (client && this.hub.current(client)) {
      // On a half-open connection these would wait: the hub's heartbeat ends it, and the locks with it.
      const release = async () => {
        if (this.channel !== null) await this.run((db) => unlisten(db, this.channel as string));
        for (const channel of this.idleHeld) await this.run((db) => lowerIdleFlag(db, channel));
        if (this.owns) await this.run((db) => unlockAdvisory(db, ownershipLockKey(this.connector)));
      };
      // Queued behind other connectors' statements it may take a moment: wait a little, then let it
      // finish in the queue. Statements run in order, so this connector's next lock attempt on this
      // connection comes after the unlock. A dead connection fails the statement and is ended (run()).
      let timer: NodeJS.Timeout | undefined;
      const late = new Promise<void>((resolve) => (timer = setTimeout(resolve, this.hub.timings.CONTROL_CLOSE_MS)));
      await Promise.race([release().catch(() => undefined), late]);
      clearTimeout(timer);
    }
    this.idleHeld.clear();
    this.owns = false;
    await this.hub.detach(this);
  }

  /** The hub lost its connection (or this lease's LISTEN): stand down. */
  lost(err: Error): void {
    if (this.onLostCalled) return;
    this.onLostCalled = true;
    this.onLost(err);
  }

  wake(): void {
    const resolvers = this.wakeResolvers;
    if (resolvers.length === 0) {
      this.woken = true;
      return;
    }
    this.wakeResolvers = [];
    for (const r of resolvers) r();
  }

  private run<T>(fn: (db: Client) => Promise<T>): Promise<T> {
    if (!this.client) throw new RetriableError('control session is not open');
    return this.hub.run(fn, this.client);
  }
}

/** Decides whether this replica may try to own a connector now (cluster/membership.ts). */
export interface OwnershipGate {
  /** force: try even at the share (an orphaned connector). */
  tryReserve(connector: string, force?: boolean): boolean;
  settle(connector: string, acquired: boolean, forced?: boolean): void;
}

const ALWAYS: OwnershipGate = { tryReserve: () => true, settle: () => undefined };

/** The control connection's application_name: the replica it belongs to (PostgreSQL keeps 63 bytes). */
export function controlApplicationName(replica: string | null): string {
  return replica === null ? 'pg-kafka-cdc control' : `pg-kafka-cdc control @${replica}`;
}

/** The replica id in a lock holder's description (ownerOf), or the description itself when it names none. */
export function replicaOfOwner(who: string | null): string | null {
  if (who === null) return null;
  const m = /^pg-kafka-cdc control (?:.* )?@(\S+)(?: from .*)?$/.exec(who);
  return m ? m[1] : who;
}
