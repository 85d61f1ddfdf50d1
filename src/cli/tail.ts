/** `pg-kafka-cdc tail`: prints a topic's records (partition, offset, op, key, value), for demos and debugging. */
import { createKafka } from '../kafka/client';
import { createLogger } from '../observe/logger';
import type { KafkaSettings } from '../config/types';

export interface TailOptions {
  topic: string;
  kafka: KafkaSettings;
  maxMessages: number | null;
  idleExitMs: number | null;
}

export async function tailCommand(opts: TailOptions, out: (l: string) => void): Promise<number> {
  const kafka = createKafka(opts.kafka, createLogger('error'), '-tail');
  const consumer = kafka.consumer({ groupId: `pg-kafka-cdc-tail-${process.pid}-${Date.now()}` });
  await consumer.connect();
  let seen = 0;
  let idleTimer: NodeJS.Timeout | null = null;
  const finished = new Promise<void>((resolve) => {
    const armIdle = () => {
      if (opts.idleExitMs === null) return;
      if (idleTimer) clearTimeout(idleTimer);
      idleTimer = setTimeout(resolve, opts.idleExitMs);
    };
    armIdle();
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
    void consumer.subscribe({ topic: opts.topic, fromBeginning: true }).then(() =>
      consumer.run({
        eachMessage: async ({ partition, message }) => {
          const op = message.headers?.op?.toString() ?? '?';
          out(`${partition}:${message.offset}\t${op}\t${message.key?.toString() ?? 'null'}\t${message.value?.toString() ?? 'null'}`);
          seen += 1;
          armIdle();
          if (opts.maxMessages !== null && seen >= opts.maxMessages) resolve();
        },
      }),
    );
  });
  await finished;
  if (idleTimer) clearTimeout(idleTimer);
  await consumer.disconnect();
  return 0;
}
