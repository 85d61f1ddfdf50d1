/**
 * The one commit path of every unit of work (a snapshot page, a re-snapshot page, a repair's
 * tombstones, a drained batch of changes, a polled page): publish its records with the position
 * after it, then save that position (which trims the change-log entries it covers, in the same
 * statement), then report it. The delivery guarantee lives here and nowhere else:
 *   exactly_once   the records and the checkpoint are one Kafka transaction; the saved position is
 *                  only the database's copy (recovery brings it in line with the checkpoint);
 *   at_least_once  the position is saved only after Kafka acknowledged the records, so a crash in
 *                  between repeats the unit, never skips it.
 */
import type { EventBus, ConnectorEvents } from '../observe/events';
import type { KafkaRecord } from '../kafka/records';
import type { Checkpoint } from '../progress/position';
import type { SessionContext } from './context';

type Published = ConnectorEvents['published'];

export interface Unit {
  /** The records, or a function that builds them while the producer's first round trip is on its way. */
  records: KafkaRecord[] | (() => KafkaRecord[]);
  /** The position after the unit (ProgressStore.next). */
  checkpoint: Checkpoint;
  /** What the metrics are told once it is saved (ackMs: when Kafka acknowledged it); null: nothing to tell. */
  report(ackMs: number): Omit<Published, 'connector' | 'produceSeconds'> | null;
}

/** Publishes, saves, reports one unit; resolves once its position is saved. */
export async function commitUnit(ctx: Pick<SessionContext, 'cfg' | 'publisher' | 'progress' | 'events' | 'madeProgress'>, unit: Unit): Promise<void> {
  const started = process.hrtime.bigint();
  await ctx.publisher.publish(unit.records, unit.checkpoint);
  const ackMs = Date.now();
  const produceSeconds = Number(process.hrtime.bigint() - started) / 1e9;
  await ctx.progress.save(unit.checkpoint);
  ctx.madeProgress();
  report(ctx.events, ctx.cfg.name, unit.report(ackMs), produceSeconds);
}

function report(events: EventBus, connector: string, what: Omit<Published, 'connector' | 'produceSeconds'> | null, produceSeconds: number): void {
  if (what !== null) events.emit('published', { connector, produceSeconds, ...what });
}
