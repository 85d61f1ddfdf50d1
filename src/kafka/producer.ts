/**
 * Publishes batches and resolves only once every record is acknowledged by all in-sync replicas.
 * Idempotent producer (no duplicates from its own retries), one request in flight per broker (order
 * kept per partition), partitioning by key with kafkajs' Java-compatible default partitioner
 * (murmur2), so Java consumers and Kafka Streams co-partition with these topics.
 *
 * A batch is sent as several produce requests of bounded size ("chunks"):
 * - the broker refuses a record batch above message.max.bytes (1 MiB by default), and a snapshot
 *   page of 5000 rows of 200 bytes is already larger than that;
 * - kafkajs groups a send's messages per partition by copying the group array for every message,
 *   which is quadratic in the records of one send.
 * The chunks of a batch are handed to kafkajs together: it serialises them on the broker's lock in
 * the order given (FIFO), so the next chunk is prepared while the previous one is in flight. The
 * batch resolves only when every chunk is acknowledged, and fails when any chunk fails (after all
 * have settled). Callers never put two records of one key in a batch, so per-key order holds even
 * if kafkajs' retries reorder chunks; the next batch is only sent once this one is acknowledged.
 */
import { CompressionTypes, Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { FatalError, kafkaErrorType, RetriableError } from '../util/errors';

/**
 * Characters of keys, values and headers per produce request. UTF-8 takes at most 3 bytes per
 * UTF-16 unit, so a chunk stays under the broker's 1 MiB default whatever the text.
 */
export const CHUNK_CHARS = 320 * 1024;
/** Records per produce request (bounds kafkajs' quadratic per-partition grouping). */
export const CHUNK_RECORDS = 2000;
/** Per-record overhead in the size estimate (record framing, header names). */
const RECORD_OVERHEAD = 40;

export function chunkMessages(messages: Message[], maxChars = CHUNK_CHARS, maxRecords = CHUNK_RECORDS): Message[][] {
  const chunks: Message[][] = [];
  let current: Message[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = RECORD_OVERHEAD + lengthOf(m.key) + lengthOf(m.value) + headersLength(m.headers);
    if (current.length > 0 && (bytes + size > maxChars || current.length >= maxRecords)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(m);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

function lengthOf(v: Message['key'] | Message['value']): number {
  if (v === null || v === undefined) return 0;
  return v.length;
}

function headersLength(h: Message['headers']): number {
  if (!h) return 0;
  let n = 0;
  for (const k in h) {
    const v = h[k];
    n += k.length + (typeof v === 'string' ? v.length : 16);
  }
  return n;
}

export class RecordPublisher {
  private producer: Producer | null = null;

  constructor(private readonly kafka: Kafka, private readonly topic: string) {}

  async connect(): Promise<void> {
    if (this.producer) return;
    const producer = this.kafka.producer({
      idempotent: true,
      maxInFlightRequests: 1,
      createPartitioner: Partitioners.DefaultPartitioner,
      allowAutoTopicCreation: false,
    });
    try {
      await producer.connect();
    } catch (err) {
      await producer.disconnect().catch(() => undefined); // no half-open broker connections left behind
      throw err;
    }
    this.producer = producer;
  }

  /** Sends messages and waits for acks=all of every one. Throws a RetriableError when Kafka is unavailable. */
  async publish(messages: Message[]): Promise<void> {
    if (messages.length === 0) return;
    const producer = this.producer;
    if (!producer) throw new RetriableError('producer is not connected');
    const sends = chunkMessages(messages).map((chunk) =>
      producer.send({ topic: this.topic, acks: -1, timeout: 30000, compression: CompressionTypes.None, messages: chunk }),
    );
    const settled = await Promise.allSettled(sends);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (failed) {
      if (kafkaErrorType(failed.reason) === 'MESSAGE_TOO_LARGE') {
        // No retry can help: say which record and what to change.
        const largest = messages.reduce((a, b) => (lengthOf(b.value) > lengthOf(a.value) ? b : a));
        throw new FatalError(
          `the broker refuses a record of topic ${this.topic} as too large (the largest in the batch, key ${String(largest.key).slice(0, 200)}, ` +
            `has a value of ${lengthOf(largest.value)} characters): raise max.message.bytes on the topic, or leave wide columns out with included_columns`,
          failed.reason,
        );
      }
      throw new RetriableError(`publishing to topic ${this.topic} failed: ${(failed.reason as Error).message}`, failed.reason);
    }
  }

  async disconnect(): Promise<void> {
    const p = this.producer;
    this.producer = null;
    if (p) await p.disconnect().catch(() => undefined);
  }
}
