/**
 * Measures how far behind a connector is, independently of whether it is running: pending changes
 * in its change log and the age of the oldest (true lag, on Postgres' clock). Keeps measuring while
 * the connector retries (Kafka down), so lag is visible exactly when it matters.
 */
import type { Client } from 'pg';
import { connect } from '../postgres/connect';
import type { EventBus } from '../observe/events';
import type { ChangeLogStatements } from '../postgres/queries';
import { BACKLOG_INTERVAL_MS, BACKLOG_QUERY_TIMEOUT_MS } from '../timings';
import { sleep } from '../util/retry';

export class BacklogMonitor {
  private client: Client | null = null;
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    private readonly url: string,
    private readonly connector: string,
    private readonly events: EventBus,
    private readonly intervalMs = BACKLOG_INTERVAL_MS,
  ) {}

  /** Starts measuring the connector's change log (once it exists). Idempotent. */
  watch(log: ChangeLogStatements): void {
    if (!this.loop) this.loop = this.run(log);
  }

  private async run(log: ChangeLogStatements): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        if (!this.client) this.client = await connect(this.url, { applicationName: `pg-kafka-cdc backlog ${this.connector}`, queryTimeoutMs: BACKLOG_QUERY_TIMEOUT_MS });
        const { pending, lagSeconds } = await log.pendingStats(this.client);
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
