/** Per-connector status for /connectors and /readyz, kept from the event stream. */
import type { ConnectorState, EventBus } from './events';

export interface ConnectorStatus {
  name: string;
  topic: string;
  table: string;
  state: ConnectorState;
  since: string;
  snapshot: { rows_done: number; rows_estimated: number; percent: number; rows_per_second: number; eta_seconds: number | null; completed: boolean };
  lag_seconds: number;
  pending_changes: number;
  records_published: number;
  last_error: { message: string; at: string } | null;
}

export class StatusBoard {
  private readonly byName = new Map<string, ConnectorStatus>();
  private readonly rate = new Map<string, { at: number; rows: number }>();

  constructor(events: EventBus, connectors: Array<{ name: string; topic: string; table: string }>, private readonly now: () => number = Date.now) {
    for (const c of connectors) {
      this.byName.set(c.name, {
        name: c.name,
        topic: c.topic,
        table: c.table,
        state: 'starting',
        since: new Date(now()).toISOString(),
        snapshot: { rows_done: 0, rows_estimated: 0, percent: 0, rows_per_second: 0, eta_seconds: null, completed: false },
        lag_seconds: 0,
        pending_changes: 0,
        records_published: 0,
        last_error: null,
      });
    }
    events.on('state', (e) => this.update(e.connector, (s) => {
      if (s.state !== e.state) s.since = new Date(this.now()).toISOString();
      s.state = e.state;
      if (e.error) s.last_error = { message: e.error, at: new Date(this.now()).toISOString() };
    }));
    events.on('error', (e) => this.update(e.connector, (s) => (s.last_error = { message: e.message, at: new Date(this.now()).toISOString() })));
    events.on('backlog', (e) => this.update(e.connector, (s) => {
      s.lag_seconds = e.lagSeconds;
      s.pending_changes = e.pending;
    }));
    events.on('published', (e) => this.update(e.connector, (s) => (s.records_published += e.records)));
    events.on('snapshot', (e) => this.update(e.connector, (s) => this.snapshotProgress(s, e.rows, e.estimated, e.done)));
  }

  private snapshotProgress(s: ConnectorStatus, rows: number, estimated: number, done: boolean): void {
    const t = this.now();
    const prev = this.rate.get(s.name);
    let perSecond = s.snapshot.rows_per_second;
    if (prev && t - prev.at >= 1000) {
      perSecond = Math.round(((rows - prev.rows) * 1000) / (t - prev.at));
      this.rate.set(s.name, { at: t, rows });
    } else if (!prev) this.rate.set(s.name, { at: t, rows });
    const total = Math.max(estimated, rows);
    s.snapshot = {
      rows_done: rows,
      rows_estimated: total,
      percent: done ? 100 : total > 0 ? Math.min(99.9, Math.round((rows / total) * 1000) / 10) : 0,
      rows_per_second: done ? 0 : perSecond,
      eta_seconds: done ? 0 : perSecond > 0 ? Math.round((total - rows) / perSecond) : null,
      completed: done,
    };
  }

  private update(name: string, fn: (s: ConnectorStatus) => void): void {
    const s = this.byName.get(name);
    if (s) fn(s);
  }

  all(): ConnectorStatus[] {
    return [...this.byName.values()].map((s) => ({ ...s, snapshot: { ...s.snapshot } }));
  }

  get(name: string): ConnectorStatus | undefined {
    return this.byName.get(name);
  }

  /** Ready while every connector is working (snapshotting, streaming, a standby, or finished). */
  readiness(): { ready: boolean; notReady: Array<{ name: string; state: ConnectorState; last_error: string | null }> } {
    const ok = new Set<ConnectorState>(['snapshotting', 'streaming', 'standby', 'stopped']);
    const notReady = this.all()
      .filter((s) => !ok.has(s.state))
      .map((s) => ({ name: s.name, state: s.state, last_error: s.last_error?.message ?? null }));
    return { ready: notReady.length === 0, notReady };
  }
}
