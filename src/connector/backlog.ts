/**
 * Measures how far behind a connector is, independently of whether it is running: pending changes
 * in its change log and the age of the oldest (true lag, on Postgres' clock). Keeps measuring while
 * the connector retries (Kafka down), so lag is visible exactly when it matters.
 */
import type { EventBus } from '../observe/events';
import type { DataPool, DataScope } from '../postgres/pool';
import type { ChangeLogStatements } from '../postgres/queries';
import type { DrainFloor } from './drain-floor';
import { DEFAULT_TIMINGS } from '../timings';
import { sleep } from '../util/retry';

export class BacklogMonitor {
  /** Its own use of the pool: stop() cuts off a measure stuck on a half-open connection. */
  private readonly scope: DataScope;
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;

  constructor(
    /** The database's data pool: a measure takes a connection for one statement. */
    data: DataPool,
    private readonly connector: string,
    private readonly events: EventBus,
    private readonly intervalMs = DEFAULT_TIMINGS.BACKLOG_INTERVAL_MS,
  ) {
    this.scope = data.scope();
  }

  /** Starts measuring the connector's change log (once it exists), from the drain's floor. Idempotent. */
  watch(log: ChangeLogStatements, floor: DrainFloor): void {
    if (!this.loop) this.loop = this.run(log, floor);
  }

  private async run(log: ChangeLogStatements, floor: DrainFloor): Promise<void> {
    while (!this.abort.signal.aborted) {
      try {
        const { pending, lagSeconds } = await log.pendingStats(this.scope, floor.seq);
        this.events.emit('backlog', { connector: this.connector, pending, lagSeconds });
      } catch {
        // unreachable for now: measured again at the next interval
      }
      await sleep(this.intervalMs, this.abort.signal);
    }
  }

  async stop(): Promise<void> {
    this.abort.abort();
    this.scope.destroyActive();
    await this.loop;
  }
}
