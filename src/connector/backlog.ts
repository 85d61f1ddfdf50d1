/**
 * Measures how far behind a connector is, independently of whether it is running: pending changes
 * in its change log and the age of the oldest (true lag, on Postgres' clock). Keeps measuring while
 * the connector retries (Kafka down), so lag is visible exactly when it matters.
 */
import type { Client } from 'pg';
import { connect } from '../postgres/connect';
import type { EventBus } from '../observe/events';
import { sleep } from '../util/retry';

export class BacklogMonitor {
  private client: Client | null = null;
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private query: string | null = null;

  constructor(
    private readonly url: string,
    private readonly connector: string,
    private readonly events: EventBus,
    private readonly intervalMs = 2000,
  ) {}

  /** Starts measuring with the connector's stats query (once its change log exists). Idempotent. */
  watch(pendingStatsQuery: string): void {
    this.query = pendingStatsQuery;
    if (!this.loop) this.loop = this.run();
  }

  private async run(): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        if (!this.client) this.client = await connect(this.url, { applicationName: `pg-kafka-cdc backlog ${this.connector}`, queryTimeoutMs: 10_000 });
        const r = await this.client.query<{ pending: string; oldest_ms: number | null; now_ms: number }>(this.query as string);
        const row = r.rows[0];
        const pending = Number(row.pending);
        const lagSeconds = pending === 0 || row.oldest_ms === null ? 0 : Math.max(0, (Number(row.now_ms) - Number(row.oldest_ms)) / 1000);
        this.events.emit('backlog', { connector: this.connector, pending, lagSeconds });
      } catch {
        const c = this.client;
        this.client = null;
        if (c) await c.end().catch(() => undefined);
      }
      await sleep(this.intervalMs, this.abort.signal);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
    const c = this.client;
    this.client = null;
    if (c) await c.end().catch(() => undefined);
  }
}
