/**
 * The initial snapshot: the table in primary-key order, by keyset pages (never OFFSET, never the
 * whole table in memory). The next page is read while the current one is published. Each page and
 * the position after it are committed together (exactly_once: one Kafka transaction that carries the
 * checkpoint; at_least_once: the position is stored once Kafka acknowledged the page), so a crash
 * resumes after the last committed key.
 */
import { countOf } from '../kafka/records';
import { positionOf } from '../postgres/queries';
import type { Progress } from '../progress/store';
import { commitUnit } from './commit';
import type { SessionContext } from './context';

export async function runSnapshot(ctx: SessionContext, progress: Progress): Promise<void> {
  const { cfg, statements, data, records, events, log, signal } = ctx;
  const batch = cfg.snapshotBatchSize;
  let key = progress.snapshotKey;
  let rows = progress.snapshotRows;
  const estimated = ctx.plan.info.estimatedRows;
  const fetch = (after: string[] | null) => statements.snapshot.page(data, batch, after);

  log.info({ resumeAfter: key, rowsDone: rows, estimated }, key ? 'resuming snapshot' : 'starting snapshot');
  if (progress.snapshotState === 'pending') await ctx.progress.advance({ snapshotState: 'running', snapshotKey: null, snapshotRows: 0 });
  events.emit('snapshot', { connector: cfg.name, rows, estimated, done: false });

  let next = fetch(key);
  while (!signal.aborted) {
    const page = await next;
    if (page.length === 0) break;
    const lastKey = positionOf(page[page.length - 1]);
    next = page.length < batch ? Promise.resolve([]) : fetch(lastKey);
    next.catch(() => undefined); // awaited on the next turn; do not let it be "unhandled" meanwhile

    const first = rows + 1;
    await commitUnit(ctx, {
      records: () => page.map((r, i) => records.snapshot(r, first + i)),
      checkpoint: ctx.progress.next({ snapshotState: 'running', snapshotKey: lastKey, snapshotRows: rows + page.length }),
      report: () => ({ ops: countOf('snapshot', page.length), records: page.length, latenciesSeconds: [] }),
    });
    rows += page.length;
    key = lastKey;
    events.emit('snapshot', { connector: cfg.name, rows, estimated: Math.max(estimated, rows), done: false });
  }
  if (signal.aborted) {
    await next.catch(() => undefined);
    return;
  }
  await ctx.progress.advance({ snapshotState: 'done', snapshotKey: key, snapshotRows: rows });
  events.emit('snapshot', { connector: cfg.name, rows, estimated: rows, done: true });
  log.info({ rows }, 'snapshot complete');
}
