/** Turns connector events into log lines, at a sane rate for progress. */
import { DEFAULT_TIMINGS } from '../timings';
import type { EventBus } from './events';
import type { Logger } from './logger';
import type { StatusBoard } from './status';

export function logEvents(events: EventBus, logFor: (connector: string) => Logger, status: StatusBoard, progressEveryMs = DEFAULT_TIMINGS.PROGRESS_LOG_MS): void {
  const lastProgress = new Map<string, number>();
  events.on('state', (e) => logFor(e.connector).info({ state: e.state }, `connector is ${e.state}`));
  events.on('snapshot', (e) => {
    const now = Date.now();
    if (!e.done && now - (lastProgress.get(e.connector) ?? 0) < progressEveryMs) return;
    lastProgress.set(e.connector, now);
    const s = status.get(e.connector)?.snapshot;
    logFor(e.connector).info(
      { rows: e.rows, estimated: e.estimated, percent: s?.percent, rowsPerSecond: s?.rows_per_second, etaSeconds: s?.eta_seconds },
      e.done ? 'snapshot progress: complete' : 'snapshot progress',
    );
  });
  // Its start and end are logged by the connector; here the progress in between.
  events.on('resnapshot', (e) => {
    const now = Date.now();
    const key = `${e.connector} r`;
    if (e.state !== 'running' || now - (lastProgress.get(key) ?? 0) < progressEveryMs) return;
    lastProgress.set(key, now);
    const s = status.get(e.connector)?.resnapshot;
    logFor(e.connector).info({ request: e.id, rows: e.rows, estimated: e.estimated, percent: s?.percent, rowsPerSecond: s?.rows_per_second, etaSeconds: s?.eta_seconds }, 're-snapshot progress');
  });
}
