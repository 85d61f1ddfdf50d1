/**
 * The connector's control session: a dedicated, unpooled PostgreSQL connection that
 * - holds the advisory lock that makes this worker the connector's only owner (hot standbys wait),
 * - LISTENs on the channel and turns notifications into wake-ups,
 * - checks itself every heartbeat (pg_listening_channels()) so a half-open socket is found,
 * - is ended by the server after a few silent heartbeat intervals (idle_session_timeout, timings.ts),
 *   so a frozen owner cannot keep the lock from a standby for longer than that,
 * and aborts the connector's session the moment it is lost (after pg-boss' listen()).
 */
import type { Client, Notification } from 'pg';
import { connect, endWithin } from '../postgres/connect';
import { ownershipLockKey } from '../postgres/names';
import { isListening, listen, ownerOf, ping, setIdleSessionTimeout, setServerKeepalives, tryAdvisoryLock } from '../postgres/control';
import { RetriableError } from '../util/errors';
import { CONTROL_CLOSE_MS, frozenOwnerTimeoutMs, OWNERSHIP_POLL_MS } from '../timings';
import { sleep } from '../util/retry';

export class ControlSession {
  private client: Client | null = null;
  private heartbeat: NodeJS.Timeout | null = null;
  private wakeResolvers: Array<() => void> = [];
  private woken = false;
  /** The channel the heartbeat checks (set once LISTEN succeeded). */
  private channel: string | null = null;
  private listening: string | null = null;

  constructor(
    private readonly url: string,
    private readonly connector: string,
    private readonly heartbeatMs: number,
    /** Called once when the session is lost (socket error, end, failed heartbeat). */
    private readonly onLost: (err: Error) => void,
    /** This replica's id: in the session's application_name, so that any replica can name a connector's owner. */
    private readonly replica: string | null = null,
  ) {}

  async open(): Promise<void> {
    const client = await connect(this.url, {
      applicationName: controlApplicationName(this.connector, this.replica),
      nameDatabase: true,
      queryTimeoutMs: Math.max(5000, this.heartbeatMs),
    });
    this.client = client;
    await setServerKeepalives(client);
    await setIdleSessionTimeout(client, frozenOwnerTimeoutMs(this.heartbeatMs));
    client.on('error', (err) => this.lost(new RetriableError(`control connection failed: ${err.message}`, err)));
    client.on('end', () => this.lost(new RetriableError('control connection closed')));
    client.on('notification', (n: Notification) => {
      if (n.channel === this.listening) this.wake();
    });
    this.startHeartbeat();
  }

  /**
   * Tries to become the owner; waits as a standby (polling) until it is, or until the signal aborts.
   * The gate says whether this replica may try now (it owns less than its share of the connectors:
   * cluster/membership.ts); a standby tells who owns the connector (its replica id, or null).
   */
  async acquireOwnership(signal: AbortSignal, onStandby: (owner: string | null) => void, gate: OwnershipGate = ALWAYS, pollMs = OWNERSHIP_POLL_MS): Promise<boolean> {
    const key = ownershipLockKey(this.connector);
    while (!signal.aborted) {
      if (gate.tryReserve(this.connector)) {
        let acquired = false;
        try {
          acquired = await this.run((db) => tryAdvisoryLock(db, key));
        } finally {
          gate.settle(this.connector, acquired);
        }
        if (acquired) return true;
      }
      onStandby(replicaOfOwner(await this.run((db) => ownerOf(db, key))));
      await sleep(pollMs, signal);
    }
    return false;
  }

  async listen(channel: string): Promise<void> {
    this.listening = channel; // notifications may arrive as soon as LISTEN runs
    await this.run((db) => listen(db, channel));
    this.channel = channel; // only now may the heartbeat expect it
  }

  /** Checks the session every heartbeat interval, from open to close (snapshot included). */
  startHeartbeat(): void {
    if (this.heartbeat) return;
    this.heartbeat = setInterval(() => {
      // A control query in flight answers for the connection already (and pg wants one at a time).
      if (!this.client || this.inFlight > 0) return;
      const channel = this.channel;
      this.run((db) => (channel === null ? ping(db).then(() => true) : isListening(db, channel)))
        .then((listening) => {
          if (channel !== null && !listening) this.lost(new RetriableError(`no longer listening on ${channel}`));
        })
        .catch((err: Error) => this.lost(new RetriableError(`heartbeat failed: ${err.message}`, err)));
    }, this.heartbeatMs);
    this.heartbeat.unref();
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

  async close(): Promise<void> {
    if (this.heartbeat) clearInterval(this.heartbeat);
    this.heartbeat = null;
    const client = this.client;
    this.client = null;
    this.onLostCalled = true;
    // Closing the session releases the advisory lock and the LISTEN. A half-open socket never
    // answers a graceful end: after a moment, destroy it.
    if (client) await endWithin(client, CONTROL_CLOSE_MS);
  }

  private onLostCalled = false;

  private lost(err: Error): void {
    if (this.onLostCalled) return;
    this.onLostCalled = true;
    this.onLost(err);
  }

  private wake(): void {
    const resolvers = this.wakeResolvers;
    if (resolvers.length === 0) {
      this.woken = true;
      return;
    }
    this.wakeResolvers = [];
    for (const r of resolvers) r();
  }

  private inFlight = 0;

  /** Runs statements on the control connection, counted so the heartbeat does not add one meanwhile. */
  private async run<T>(fn: (db: Client) => Promise<T>): Promise<T> {
    this.inFlight += 1;
    try {
      return await fn(this.require());
    } finally {
      this.inFlight -= 1;
    }
  }

  private require(): Client {
    if (!this.client) throw new RetriableError('control session is closed');
    return this.client;
  }
}

/** Decides whether this replica may try to own a connector now (cluster/membership.ts). */
export interface OwnershipGate {
  tryReserve(connector: string): boolean;
  settle(connector: string, acquired: boolean): void;
}

const ALWAYS: OwnershipGate = { tryReserve: () => true, settle: () => undefined };

/** The control session's application_name: the connector, then the replica (PostgreSQL keeps 63 bytes). */
export function controlApplicationName(connector: string, replica: string | null): string {
  return replica === null ? `pg-kafka-cdc control ${connector}` : `pg-kafka-cdc control ${connector} @${replica}`;
}

/** The replica id in a lock holder's description (ownerOf), or the description itself when it names none. */
export function replicaOfOwner(who: string | null): string | null {
  if (who === null) return null;
  const m = /^pg-kafka-cdc control .* @(\S+)(?: from .*)?$/.exec(who);
  return m ? m[1] : who;
}
