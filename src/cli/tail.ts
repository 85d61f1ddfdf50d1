/** `pg-kafka-cdc tail`: prints a topic's records (partition, offset, op, key, value), for demos and debugging. */
import { DEFAULT_TIMINGS } from '../timings';
import { Consumer, MessagesStreamModes } from '@platformatic/kafka';
import { kafkaClientOptions } from '../kafka/client';
import { kafkaFailure } from '../kafka/errors';
import type { KafkaSettings } from '../config/types';

export interface TailOptions {
  topic: string;
  kafka: KafkaSettings;
  maxMessages: number | null;
  idleExitMs: number | null;
}

/** Reads the topic from its start (committed records only) until maxMessages, idleExitMs of silence, or SIGINT/SIGTERM. */
export async function tailCommand(opts: TailOptions, out: (l: string) => void): Promise<number> {
  const consumer = new Consumer({
    ...kafkaClientOptions(opts.kafka, '-tail'),
    groupId: `pg-kafka-cdc-tail-${process.pid}-${Date.now()}`,
    autocommit: false,
    maxWaitTime: DEFAULT_TIMINGS.TAIL_FETCH_WAIT_MS,
    isolationLevel: 1, // READ_COMMITTED: what a downstream consumer should see
  });
  let seen = 0;
  let idleTimer: NodeJS.Timeout | null = null;
  const stopSignals = new AbortController();
  const onSignal = () => stopSignals.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    const stream = await consumer.consume({ topics: [opts.topic], mode: MessagesStreamModes.EARLIEST, autocommit: false });
    const stop = () => void stream.close().catch(() => undefined);
    const armIdle = () => {
      if (opts.idleExitMs === null) return;
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = setTimeout(stop, opts.idleExitMs);
    };
    stopSignals.signal.addEventListener('abort', stop, { once: true });
    if (stopSignals.signal.aborted) stop(); // a signal while the consumer was joining
    armIdle();
    for await (const message of stream) {
      const op = headerOf(message.headerEntries, 'op');
      out(`${message.partition}:${message.offset}\t${op}\t${message.key?.toString() ?? 'null'}\t${message.value?.toString() ?? 'null'}`);
      seen += 1;
      armIdle();
      if (opts.maxMessages !== null && seen >= opts.maxMessages) break;
    }
    return 0;
  } catch (err) {
    throw kafkaFailure(err, `reading topic ${opts.topic}`, opts.kafka);
  } finally {
    if (idleTimer) clearTimeout(idleTimer);
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await consumer.close(true).catch(() => undefined);
  }
}

function headerOf(entries: Array<[Buffer, Buffer]>, name: string): string {
  for (const [k, v] of entries) if (k.toString() === name) return v.toString();
  return '?';
}
