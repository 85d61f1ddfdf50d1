/** Per-connector status for /connectors and /readyz, kept from the event stream. */
import type { ConnectorState, EventBus } from './events';

export interface ConnectorStatus {
  name: string;
  topic: string;
  table: string;
  state: ConnectorState;
  since: string;
  snapshot: Progress & { completed: boolean };
  /** The re-snapshot on demand in progress, or the last one and how it ended; null when none ran since the worker started. */
  resnapshot: (Progress & { request: string; where: string | null; state: 'running' | 'done' | 'cancelled' | 'failed'; error: string | null; repair: boolean; tombstones: number }) | null;
  lag_seconds: number;
  pending_changes: number;
  records_published: number;
  last_error: { message: string; at: string } | null;
  /** Change-log entries set aside as unreadable since the worker started (kafka_cdc.rejected_changes holds them), and the last reason. */
  rejected_changes: { count: number; last_reason: string | null; at: string | null };
  /** A session that is not a worker and holds the connector's ownership lock, since when; null when none does. */
  ownership_blocked_by: { pid: number; role: string | null; application_name: string; client_addr: string | null; since: string } | null;
  /** The replica that owns the connector, as this one last saw it (its own id when it owns it); null when none does. */
  owner: string | null;
}

/** This replica's place in the spread of connectors over the replicas (cluster/membership.ts). */
export interface ReplicaStatus {
  id: string;
  /** Live replicas of the deployment this one counts (itself included). */
  replicas: number;
  /** Connectors this replica should own. */
  share: number;
  /** Connectors it owns. */
  owned: number;
}

/** How far a snapshot has come, and when it will be done at the rate of the last seconds. */
export interface Progress {
  rows_done: number;
  rows_estimated: number;
  percent: number;
  rows_per_second: number;
  eta_seconds: number | null;
}

/** Follows the rate of a growing row count (measured over at least a second) and turns it into an ETA. */
export class RateMeter {
  private last: { at: number; rows: number } | null = null;
  private perSecond = 0;

  constructor(private readonly now: () => number) {}

  reset(): void {
    this.last = null;
    this.perSecond = 0;
  }

  progress(rows: number, estimated: number, done: boolean): Progress {
    const t = this.now();
    if (this.last && t - this.last.at >= 1000) {
      this.perSecond = Math.round(((rows - this.last.rows) * 1000) / (t - this.last.at));
      this.last = { at: t, rows };
    } else if (!this.last) this.last = { at: t, rows };
    const total = Math.max(estimated, rows);
    return {
      rows_done: rows,
      rows_estimated: total,
      percent: done ? 100 : total > 0 ? Math.min(99.9, Math.round((rows / total) * 1000) / 10) : 0,
      rows_per_second: done ? 0 : this.perSecond,
      eta_seconds: done ? 0 : this.perSecond > 0 ? Math.round((total - rows) / this.perSecond) : null,
    };
  }
}

export class StatusBoard {
  private readonly byName = new Map<string, ConnectorStatus>();
  private readonly rates = new Map<string, { snapshot: RateMeter; resnapshot: RateMeter }>();
  private replicaView: ReplicaStatus | null = null;
  /** Whether this replica holds its share of the connectors (set by the worker when it spreads them). */
  holdsShare: () => boolean = () => true;

  constructor(
    events: EventBus,
    connectors: Array<{ name: string; topic: string; table: string }>,
    private readonly now: () => number = Date.now,
  ) {
    for (const c of connectors) {
      this.byName.set(c.name, {
        name: c.name,
        topic: c.topic,
        table: c.table,
        state: 'starting',
        since: new Date(now()).toISOString(),
        snapshot: { rows_done: 0, rows_estimated: 0, percent: 0, rows_per_second: 0, eta_seconds: null, completed: false },
        resnapshot: null,
        lag_seconds: 0,
        pending_changes: 0,
        records_published: 0,
        last_error: null,
        rejected_changes: { count: 0, last_reason: null, at: null },
        ownership_blocked_by: null,
        owner: null,
      });
      this.rates.set(c.name, { snapshot: new RateMeter(now), resnapshot: new RateMeter(now) });
    }
    events.on('state', (e) =>
      this.update(e.connector, (s) => {
        if (s.state !== e.state) s.since = new Date(this.now()).toISOString();
        s.state = e.state;
        if (e.error) s.last_error = { message: e.error, at: new Date(this.now()).toISOString() };
      }),
    );
    events.on('error', (e) => this.update(e.connector, (s) => (s.last_error = { message: e.message, at: new Date(this.now()).toISOString() })));
    events.on('owner', (e) => this.update(e.connector, (s) => (s.owner = e.owner)));
    events.on('membership', (e) => (this.replicaView = { id: e.replica, replicas: e.members, share: e.share, owned: e.owned }));
    events.on('backlog', (e) =>
      this.update(e.connector, (s) => {
        s.lag_seconds = e.lagSeconds;
        s.pending_changes = e.pending;
      }),
    );
    events.on('published', (e) => this.update(e.connector, (s) => (s.records_published += e.records)));
    events.on('ownership_blocked', (e) =>
      this.update(e.connector, (s) => {
        s.ownership_blocked_by = e.holder && { ...e.holder, since: new Date(this.now()).toISOString() };
      }),
    );
    events.on('rejected', (e) =>
      this.update(e.connector, (s) => {
        s.rejected_changes = { count: s.rejected_changes.count + e.entries, last_reason: e.reason, at: new Date(this.now()).toISOString() };
      }),
    );
    events.on('snapshot', (e) =>
      this.update(e.connector, (s) => {
        s.snapshot = { ...this.meters(s).snapshot.progress(e.rows, e.estimated, e.done), completed: e.done };
      }),
    );
    events.on('resnapshot', (e) =>
      this.update(e.connector, (s) => {
        const meter = this.meters(s).resnapshot;
        if (s.resnapshot?.request !== e.id) meter.reset();
        const ended = e.state !== 'running';
        const progress = meter.progress(e.rows, e.estimated, ended);
        s.resnapshot = {
          request: e.id,
          where: e.where,
          state: e.state,
          ...progress,
          ...(ended && e.state !== 'done' ? { percent: s.resnapshot?.percent ?? 0, eta_seconds: null } : {}),
          error: e.error ?? null,
          repair: e.repair ?? false,
          tombstones: e.tombstones ?? 0,
        };
      }),
    );
  }

  private meters(s: ConnectorStatus): { snapshot: RateMeter; resnapshot: RateMeter } {
    return this.rates.get(s.name) as { snapshot: RateMeter; resnapshot: RateMeter };
  }

  private update(name: string, fn: (s: ConnectorStatus) => void): void {
    const s = this.byName.get(name);
    if (s) fn(s);
  }

  all(): ConnectorStatus[] {
    return [...this.byName.values()].map((s) => ({ ...s, snapshot: { ...s.snapshot }, resnapshot: s.resnapshot && { ...s.resnapshot }, rejected_changes: { ...s.rejected_changes } }));
  }

  get(name: string): ConnectorStatus | undefined {
    return this.byName.get(name);
  }

  /** This replica's id, the replicas it counts, its share and what it owns; null before the first count. */
  replica(): ReplicaStatus | null {
    return this.replicaView && { ...this.replicaView };
  }

  /**
   * Ready while every connector is working (snapshotting, streaming, a standby, or finished), and,
   * with connectors spread over replicas, once this replica holds its share (so that a rolling update
   * waits for the new pod to take its connectors; see cluster/membership.ts for the time limit).
   */
  readiness(): { ready: boolean; notReady: Array<{ name: string; state: ConnectorState; last_error: string | null }>; share: string | null } {
    const ok = new Set<ConnectorState>(['snapshotting', 'streaming', 'standby', 'stopped']);
    const notReady = this.all()
      .filter((s) => !ok.has(s.state))
      .map((s) => ({ name: s.name, state: s.state, last_error: s.last_error?.message ?? null }));
    const r = this.replicaView;
    const share = this.holdsShare() ? null : `owns ${r?.owned ?? 0} of its share of ${r?.share ?? '?'} connectors (${r?.replicas ?? '?'} replicas)`;
    return { ready: notReady.length === 0 && share === null, notReady, share };
  }
}
