/**
 * Spreading connectors over the replicas of a deployment (issue 15), coordinated through PostgreSQL.
 *
 * Membership: each replica keeps one "member" session open on the coordination database (the
 * database of the first connector by name; every replica of a deployment has the same connectors,
 * so the same one). Its application_name, `pgkc member {group} {replica}`, is the membership record:
 * pg_stat_activity lists the live members, and a replica that dies leaves it when its session ends
 * (at once for a killed process, within the keepalive and idle_session_timeout for a lost host).
 * The group is a digest of the connector names, so two deployments on one database never count
 * each other.
 *
 * Shares: with M connectors and the live members sorted by id, the first M mod N members own
 * ceil(M/N) connectors and the others floor(M/N): the shares sum to M, so every connector has a
 * replica under its share until it is owned. A replica tries a connector's ownership lock only while
 * it owns fewer than its share, and releases (at a batch boundary) the connectors beyond it.
 *
 * Safety does not rest on this: a connector's ownership lock (an advisory lock on its own control
 * session) is what makes a replica its only owner, and with exactly_once its transactional id fences
 * a stale owner in Kafka. Membership only decides who tries: a wrong count (a split, a slow view of
 * pg_stat_activity) can delay a takeover or unbalance the spread, never give a connector two
 * publishing owners. When the coordination database cannot be reached, a replica counts itself
 * alone and takes what it can get: a connector is never left without an owner for that.
 */
import { createHash } from 'node:crypto';
import * as os from 'node:os';
import type { Client } from 'pg';
import type { EventBus } from '../observe/events';
import type { Logger } from '../observe/logger';
import { endWithin } from '../postgres/connection';
import { openWatchedSession, sessionsNamed } from '../postgres/control';
import { describeError } from '../util/errors';
import { DEFAULT_TIMINGS, type Timings } from '../timings';

const PREFIX = 'pgkc member';

/** The longest replica id: it must fit PostgreSQL's 63 bytes of application_name after "pg-kafka-cdc control @". */
export const MAX_REPLICA_ID = 40;

/**
 * This replica's id: PGKC_REPLICA_ID (the Helm chart sets the pod's name), else host name and process
 * id. ASCII only: PostgreSQL shows other characters of application_name as '?', and the id read back
 * must match. A longer id is cut and completed with a hash of the whole, so that two ids that share
 * their first 40 characters (pod names of one Deployment) stay distinct.
 */
export function replicaId(env: NodeJS.ProcessEnv = process.env): string {
  const raw = env.PGKC_REPLICA_ID?.trim() || `${os.hostname()}-${process.pid}`;
  const id = raw.replace(/[^A-Za-z0-9._-]+/g, '_');
  if (id.length <= MAX_REPLICA_ID) return id;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 8);
  return `${id.slice(0, MAX_REPLICA_ID - hash.length - 1)}-${hash}`;
}

/** The group of a deployment: a digest of its connector names (replicas with the same connectors share it). */
export function groupOf(connectors: string[]): string {
  return createHash('sha256')
    .update([...connectors].sort().join('\n'))
    .digest('hex')
    .slice(0, 8);
}

/** The share of the member at rank (0-based, members sorted by id) when n members split m connectors. */
export function shareOf(m: number, n: number, rank: number): number {
  if (n <= 0 || rank < 0) return m;
  return Math.floor(m / n) + (rank < m % n ? 1 : 0);
}

export class Membership {
  private client: Client | null = null;
  private timer: NodeJS.Timeout | null = null;
  private members: string[];
  private readonly owned = new Set<string>();
  /** Connectors taken because nobody held them for ORPHAN_TAKEOVER_MS: run, not counted in the share. */
  private readonly orphans = new Set<string>();
  /** Connectors this replica ran to their end (snapshot only): nobody owns them any more, and they count as held. */
  private readonly finished = new Set<string>();
  /** Lock attempts under way (counted against the share until they end). */
  private readonly trying = new Set<string>();
  private readonly startedAt = Date.now();
  private heldShare = false;
  private warned = false;
  private stopped = false;
  /** Consecutive refreshes that found this replica over its share (a release waits for two). */
  private overFor = 0;

  constructor(
    readonly replica: string,
    readonly group: string,
    private readonly connectors: string[],
    private readonly databaseUrl: string | null,
    private readonly events: EventBus,
    private readonly log: Logger,
    /** Told which owned connectors to give up (the last by name beyond the share), after two refreshes over it. */
    private readonly release: (connectors: string[]) => void,
    private readonly timings: Timings = DEFAULT_TIMINGS,
  ) {
    this.members = [replica];
  }

  /** Joins (opens the member session) and counts the members once. Never fails: alone when it cannot. */
  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.timings.MEMBERSHIP_REFRESH_MS);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    const client = this.client;
    this.client = null;
    if (client) await endWithin(client, this.timings.CONTROL_CLOSE_MS);
  }

  /** This replica's share now. */
  share(): number {
    return shareOf(this.connectors.length, this.members.length, this.members.indexOf(this.replica));
  }

  /**
   * May this replica try to take a connector's lock now? Counts the attempt against the share until
   * settle(). force: the connector is an orphan (nobody held it for ORPHAN_TAKEOVER_MS), tried whatever
   * the share and not counted in it.
   */
  tryReserve(connector: string, force = false): boolean {
    if (this.owned.has(connector) || force) return true;
    if (this.owned.size + this.trying.size >= this.share()) return false;
    this.trying.add(connector);
    return true;
  }

  /**
   * The end of an attempt tryReserve allowed. An orphan taken (forced) is run but not counted in the
   * share: counted, it would put this replica over its share, and the hand-over would give it back to
   * the replica that could not run it.
   */
  settle(connector: string, acquired: boolean, forced = false): void {
    this.trying.delete(connector);
    if (acquired) (forced && !this.owned.has(connector) ? this.orphans : this.owned).add(connector);
    this.publish();
  }

  /** A connector this replica owned is no longer owned (its session ended). */
  dropped(connector: string): void {
    const had = this.owned.delete(connector);
    if (this.orphans.delete(connector) || had) this.publish();
  }

  /** A connector this replica ran to its end (snapshot only, nothing more to do). */
  completed(connector: string): void {
    this.finished.add(connector);
  }

  /** Connectors this replica runs: its share's, and orphans it took. */
  ownedCount(): number {
    return this.owned.size + this.orphans.size;
  }

  /** Ready, as far as the spread goes: holds its share, has held it since start, or waited long enough (a share that cannot be had must not block a rollout). */
  holdsShare(): boolean {
    if (this.owned.size + this.finished.size >= this.share()) this.heldShare = true;
    return this.heldShare || Date.now() - this.startedAt >= this.timings.READY_SHARE_WAIT_MS;
  }

  view(): { replica: string; group: string; members: string[]; share: number; owned: string[] } {
    return { replica: this.replica, group: this.group, members: [...this.members], share: this.share(), owned: [...this.owned, ...this.orphans].sort() };
  }

  private publish(): void {
    this.events.emit('membership', { replica: this.replica, members: this.members.length, share: this.share(), owned: this.ownedCount() });
  }

  private refreshing = false;

  private async refresh(): Promise<void> {
    if (this.stopped || this.databaseUrl === null || this.refreshing) return; // a slow connect must not overlap the next tick
    this.refreshing = true;
    try {
      await this.count(this.databaseUrl);
    } finally {
      this.refreshing = false;
    }
  }

  private async count(databaseUrl: string): Promise<void> {
    try {
      if (!this.client) await this.join(databaseUrl);
      const members = await sessionsNamed(this.client as Client, `${PREFIX} ${this.group} `);
      if (!members.includes(this.replica)) members.push(this.replica);
      members.sort();
      if (members.join() !== this.members.join())
        this.log.info({ members, share: shareOf(this.connectors.length, members.length, members.indexOf(this.replica)) }, 'replicas of this deployment changed');
      this.members = members;
      this.warned = false;
    } catch (err) {
      if (!this.warned) this.log.warn({ err: describeError(err) }, 'cannot count the replicas (coordination database unreachable): taking every connector it can until it can');
      this.warned = true;
      this.members = [this.replica];
      const client = this.client;
      this.client = null;
      if (client) void endWithin(client, this.timings.CONTROL_CLOSE_MS);
    }
    const over = this.owned.size - this.share();
    this.overFor = over > 0 ? this.overFor + 1 : 0;
    if (this.overFor >= 2) {
      this.overFor = 0;
      // The last by name, so that replicas agree on which move; orphans are not in the share, never given back.
      this.release([...this.owned].sort().reverse().slice(0, over));
    }
    this.publish();
  }

  private async join(url: string): Promise<void> {
    const client = await openWatchedSession(
      url,
      { applicationName: `${PREFIX} ${this.group} ${this.replica}`, nameDatabase: true, queryTimeoutMs: this.timings.CONTROL_QUERY_TIMEOUT_MS },
      this.timings.MEMBER_SESSION_IDLE_MS,
    );
    client.on('error', () => undefined); // found by the next refresh
    if (this.stopped) return void endWithin(client, this.timings.CONTROL_CLOSE_MS);
    this.client = client;
  }
}
