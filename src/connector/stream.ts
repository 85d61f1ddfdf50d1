/**
 * Change capture after the snapshot.
 *
 * drainChanges (notification on): read a batch of the change log, re-read the current rows by key
 * in the same query, publish upserts and tombstones with the checkpoint that names the batch's log
 * entries (exactly_once: in one Kafka transaction), and only once that is committed delete exactly
 * the log entries that were read, in the statement that stores the position. A crash before the
 * commit repeats the batch (aborted, so unseen by read_committed consumers); a crash after it is
 * found in the offsets topic at the next start and its entries trimmed then. Nothing is skipped.
 * When the log is empty the worker takes the channel's idle lock so writers NOTIFY it (which waits
 * for every writer that shared the lock, and so did not NOTIFY, to finish), checks once more, then
 * sleeps until a notification or the poll interval.
 *
 * pollByOrdinal (no notification, an ordinal column): rows whose (ordinal, key) advanced past the
 * stored watermark, published as upserts. It cannot see deletes (documented).
 */
import { countOf, countOps, type Op } from '../kafka/records';
import { positionOf, type ChangeLogStatements } from '../postgres/queries';
import { sleep } from '../util/retry';
import type { OrdinalCapture, SessionContext, TriggerCapture } from './context';
import type { Resnapshots } from './resnapshot';
import { commitUnit } from './commit';
import { isCastFailure } from '../postgres/sqlstate';

export async function drainChanges(ctx: SessionContext, mode: TriggerCapture, resnapshots: Resnapshots): Promise<void> {
  const { cfg, data, records, signal, control } = ctx;
  const { log } = mode;
  /**
   * Reads a batch of the log, leaving out the entries of the batch in flight (read, not yet deleted).
   * An entry whose key the drain cannot read (not written by the connector's trigger) is set aside,
   * never allowed to stop the connector: see setAsideUnreadable.
   */
  const readBatch = async (inFlight: string[]) => {
    let read;
    try {
      read = await log.drain(data, cfg.captureBatchSize, inFlight, mode.floor.seq);
    } catch (err) {
      if (!isCastFailure(err) || !(await setAsideUnreadable(ctx, log, inFlight, mode.floor.seq))) throw err;
      read = await log.drain(data, cfg.captureBatchSize, inFlight, mode.floor.seq);
    }
    let rows = read.rows;
    const entries = rows.flatMap((r) => r.seqs);
    const token = mode.floor.read(entries, read.snapshot, entries.length >= cfg.captureBatchSize);
    const bad = rows.filter((r) => r.bad);
    if (bad.length > 0) {
      await setAside(
        ctx,
        log,
        bad.map((r) => ({ seqs: r.seqs, k: r.k, reason: `its key lacks a part of the primary key (${r.k})` })),
      );
      rows = rows.filter((r) => !r.bad);
    }
    return { rows, readAtMs: Date.now(), token };
  };
  let lastPartial = 0;
  let prefetched: ReturnType<typeof readBatch> | null = null;
  const checkSchema = nowAndThen(ctx.timings.SCHEMA_CHECK_MS, () => ctx.checkSchema());
  let pageTurn = true;
  while (!signal.aborted) {
    await checkSchema(); // a changed key must stop the connector even while it is never idle
    await resnapshots.check();
    // A re-snapshot page, in turns with change batches; never while a prefetched batch waits (it was
    // read earlier, so it must reach the topic before anything read after it).
    if (resnapshots.running && pageTurn && prefetched === null) {
      await resnapshots.step();
      pageTurn = false;
      continue;
    }
    pageTurn = true;
    // After a partial batch, capture.drain_pause_ms lets a trickle gather into the next batch.
    const wait = resnapshots.running ? 0 : lastPartial + cfg.drainPauseMs - Date.now();
    if (wait > 0) await sleep(wait, signal);
    if (signal.aborted) break;
    const { rows, readAtMs, token } = await (prefetched ?? readBatch([]));
    prefetched = null;
    if (rows.length === 0) {
      mode.floor.stored(token);
      if (resnapshots.running) continue;
      await idle(ctx, mode);
      await resnapshots.check(true); // the snapshot command's NOTIFY may have been the wake-up
      lastPartial = 0;
      continue;
    }
    const seqs = rows.flatMap((r) => r.seqs);
    let untilUs = 0n;
    for (const r of rows) if (BigInt(r.last_us) > untilUs) untilUs = BigInt(r.last_us);
    const checkpoint = ctx.progress.next({}, { logOid: mode.logOid, seqs, untilUs: untilUs.toString() });
    const ops: Op[] = [];
    let recordCount = 0;
    // Built by the publisher while its transaction's first round trip is on the way.
    const build = () =>
      rows.flatMap((r) => {
        const { records: built, op } = records.change(r);
        resnapshots.saw(built); // a repair in progress need not tombstone these keys
        ops.push(op);
        recordCount += built.length; // a debezium delete is two records
        return built;
      });
    // The LIMIT counts log entries; rows are distinct keys (a key changed twice is one row).
    const full = seqs.length >= cfg.captureBatchSize;
    if (full && !resnapshots.running) {
      // A backlog: read the next batch while this one is built and published (asked first, so the
      // database works on it meanwhile). It is published only after this batch's acks (per-key order
      // holds), and this batch's entries are deleted only after them.
      prefetched = readBatch(seqs);
      prefetched.catch(() => undefined); // awaited on the next turn; the session ends on any failure
    }
    const pgNow = Number(rows[0].now_ms);
    await commitUnit(ctx, {
      records: build,
      checkpoint, // saving it trims the batch's log entries in the same statement
      // Latency from the change in Postgres to Kafka's ack, on Postgres' clock plus our own elapsed time.
      report: (ackMs) => ({ ops: countOps(ops), records: recordCount, latenciesSeconds: rows.map((r) => Math.max(0, (pgNow - Number(r.changed_ms) + (ackMs - readAtMs)) / 1000)) }),
    });
    mode.floor.stored(token);
    if (!full) {
      control.clearWake();
      lastPartial = Date.now();
    } else {
      lastPartial = 0;
    }
  }
  if (prefetched) await prefetched.catch(() => undefined);
}

/** Finds the entries of the next batch whose key cannot be read, and sets them aside; false when there are none (the failure was something else). */
async function setAsideUnreadable(ctx: SessionContext, log: ChangeLogStatements, inFlight: string[], floor: string): Promise<boolean> {
  const found = await log.unreadable(ctx.data, ctx.cfg.captureBatchSize, inFlight, floor);
  if (found.length === 0) return false;
  await setAside(
    ctx,
    log,
    found.map((f) => ({ seqs: [f.seq], k: f.k, reason: f.reason })),
  );
  return true;
}

/**
 * Moves log entries the connector cannot publish into kafka_cdc.rejected_changes, with the reason,
 * and says so (a log line naming each, a metric, the status): they were not written by its trigger,
 * which serves its own table only, so they stand for no change of the table.
 */
async function setAside(ctx: SessionContext, log: ChangeLogStatements, entries: Array<{ seqs: string[]; k: string; reason: string }>): Promise<void> {
  for (const e of entries) {
    await log.setAside(ctx.data, ctx.cfg.name, e.seqs, e.reason);
    ctx.log.error({ seqs: e.seqs, key: e.k.slice(0, 200), reason: e.reason }, 'set aside a change-log entry the connector cannot read (see kafka_cdc.rejected_changes); the connector goes on');
  }
  ctx.events.emit('rejected', { connector: ctx.cfg.name, entries: entries.reduce((n, e) => n + e.seqs.length, 0), reason: entries[entries.length - 1].reason });
}

async function idle(ctx: SessionContext, mode: TriggerCapture): Promise<void> {
  const { data, control, signal, cfg } = ctx;
  const { channel, log } = mode;
  // Writers that shared the idle lock did not NOTIFY: taking it waits until they have committed, and
  // from the moment it is asked for, every writer NOTIFYs. Then one more look, then sleep.
  const held = await control.raiseIdleFlag(channel, Math.min(cfg.pollIntervalMs, ctx.timings.IDLE_LOCK_WAIT_MS));
  try {
    if (await log.hasChanges(data, mode.floor.seq)) return;
    ctx.madeProgress(); // drained empty
    ctx.events.emit('backlog', { connector: cfg.name, pending: 0, lagSeconds: 0 });
    await control.waitForWake(cfg.pollIntervalMs, signal);
  } finally {
    // Also on stop: writers must not pay for NOTIFY while nobody listens (a lost session drops it anyway).
    if (held) await control.lowerIdleFlag(channel).catch(() => undefined);
  }
}

export async function pollByOrdinal(ctx: SessionContext, mode: OrdinalCapture, startWatermark: string[] | null, resnapshots: Resnapshots): Promise<void> {
  const { cfg, data, records, signal } = ctx;
  let watermark = startWatermark;
  const checkSchema = nowAndThen(ctx.timings.SCHEMA_CHECK_MS, () => ctx.checkSchema());
  while (!signal.aborted) {
    await checkSchema(); // a changed key must stop the connector even while it is never idle
    await resnapshots.check();
    if (resnapshots.running) await resnapshots.step(); // a re-snapshot page, in turns with polled pages
    const rows = await mode.poll.page(data, cfg.captureBatchSize, watermark);
    if (rows.length > 0) {
      // Ordinal polling re-reads existing rows only: every record is an upsert.
      const checkpoint = ctx.progress.next({ watermark: positionOf(rows[rows.length - 1]) });
      await commitUnit(ctx, {
        records: resnapshots.saw(rows.map((row) => records.polled(row))),
        checkpoint,
        report: () => ({ ops: countOf('upsert', rows.length), records: rows.length, latenciesSeconds: [] }),
      });
      watermark = checkpoint.watermark;
    }
    if (rows.length < cfg.captureBatchSize && !resnapshots.running) {
      // Sleep the poll interval, looking at the re-snapshot requests meanwhile (no NOTIFY wakes a poller).
      const until = Date.now() + cfg.pollIntervalMs;
      while (!signal.aborted && !resnapshots.running && Date.now() < until) {
        await sleep(Math.min(ctx.timings.RESNAPSHOT_CHECK_MS, until - Date.now()), signal);
        await resnapshots.check();
      }
    }
  }
}

/** A check that runs when called, at most once per interval (the first time one interval from now). */
function nowAndThen(intervalMs: number, check: () => Promise<void>): () => Promise<void> {
  let due = Date.now() + intervalMs;
  return async () => {
    if (Date.now() < due) return;
    await check();
    due = Date.now() + intervalMs;
  };
}
