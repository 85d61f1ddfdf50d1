/**
 * Publishes batches and resolves only once every record is acknowledged by all in-sync replicas.
 * Idempotent producer (no duplicates from its own retries; the client keeps one request in flight
 * per broker, so order holds per partition), and partitioning by key with the Java client's
 * partitioner (murmur2 of the key bytes, made positive with & 0x7fffffff, modulo the partitions),
 * so Java consumers and Kafka Streams co-partition with these topics. The client's own default
 * partitioner (murmur2 >>> 0) is NOT Java-compatible: it differs for about half of all keys.
 *
 * A batch is sent as several produce requests of bounded size ("chunks"): the broker refuses a
 * record batch above message.max.bytes (1 MiB by default), and a snapshot page of 5,000 rows of
 * 200 bytes is already larger than that. The chunks of a batch are handed to the client together:
 * it queues them on the broker's connection in the order given, so the next chunk is encoded while
 * the previous one is in flight. The batch resolves when every chunk is acknowledged, and fails
 * when any chunk fails (after all have settled). Callers never put two records of one key in a
 * batch, so per-key order holds even if a retry reorders chunks; the next batch is only sent once
 * this one is acknowledged.
 */
import { compatibilityPartitioner, Producer, type Partitioner } from '@platformatic/kafka';
import type { KafkaSettings } from '../config/types';
import { kafkaClientOptions } from './client';
import { KafkaError, kafkaFailure } from './errors';
import type { KafkaRecord } from './records';

export type Compression = 'none' | 'gzip' | 'snappy' | 'lz4' | 'zstd';

/**
 * Bytes of keys, values and headers per produce request: under the broker's 1 MiB default
 * message.max.bytes with room for framing.
 */
export const CHUNK_BYTES = 900 * 1024;
/** Records per produce request. */
export const CHUNK_RECORDS = 5000;
/** Per-record overhead in the size estimate (record framing, varints). */
const RECORD_OVERHEAD = 24;

/** The size of a record as the broker counts it, near enough to stay under its limit. */
export function recordBytes(r: Pick<KafkaRecord, 'key' | 'value' | 'headers'>): number {
  let n = RECORD_OVERHEAD + r.key.length + (r.value === null ? 0 : r.value.length);
  for (const [k, v] of r.headers) n += k.length + v.length + 2;
  return n;
}

export function chunkRecords<R extends Pick<KafkaRecord, 'key' | 'value' | 'headers'>>(records: R[], maxBytes = CHUNK_BYTES, maxRecords = CHUNK_RECORDS): R[][] {
  const chunks: R[][] = [];
  let current: R[] = [];
  let bytes = 0;
  for (const r of records) {
    const size = recordBytes(r);
    if (current.length > 0 && (bytes + size > maxBytes || current.length >= maxRecords)) {
      chunks.push(current);
      current = [];
      bytes = 0;
    }
    current.push(r);
    bytes += size;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

/**
 * Java's partitioner, without hashing the key when the topic has one partition (the answer is 0
 * either way): murmur2 was 5% of the snapshot's CPU profile on a one-partition topic.
 */
export const javaPartitioner: Partitioner<Buffer, Buffer | null, Buffer, Buffer> = (message, key, context) =>
  context.metadata?.topics.get(message.topic)?.partitionsCount === 1 ? 0 : compatibilityPartitioner(message, key);

export interface PublisherOptions {
  compression: Compression;
}

export class RecordPublisher {
  /** Values are Buffer, or null for a tombstone (the client writes a null value, length -1). */
  private producer: Producer<Buffer, Buffer | null, Buffer, Buffer> | null = null;

  constructor(
    private readonly settings: KafkaSettings,
    private readonly topic: string,
    private readonly options: PublisherOptions = { compression: 'none' },
  ) {}

  /** Opens the producer and gets its idempotent producer id, so a broker that cannot be reached fails here. */
  async connect(): Promise<void> {
    if (this.producer) return;
    const producer = new Producer<Buffer, Buffer | null, Buffer, Buffer>({
      ...kafkaClientOptions(this.settings, '-producer'),
      idempotent: true,
      acks: -1,
      compression: this.options.compression,
      partitioner: javaPartitioner,
      autocreateTopics: false,
    });
    try {
      await producer.initIdempotentProducer({});
    } catch (err) {
      await producer.close(true).catch(() => undefined); // no half-open broker connections left behind
      throw kafkaFailure(err, `connecting a producer for topic ${this.topic}`, this.settings);
    }
    this.producer = producer;
  }

  /** Sends records and waits for acks=all of every one. Throws a KafkaError (retriable unless the broker refused for good). */
  async publish(records: KafkaRecord[]): Promise<void> {
    if (records.length === 0) return;
    const producer = this.producer;
    if (!producer) throw new KafkaError(`publishing to topic ${this.topic}: the producer is not connected`, { retriable: true, reason: 'client', codes: [] });
    const sends = chunkRecords(records).map((chunk) => producer.send({ messages: chunk }));
    const settled = await Promise.allSettled(sends);
    const failed = settled.find((s): s is PromiseRejectedResult => s.status === 'rejected');
    if (!failed) return;
    const error = kafkaFailure(failed.reason, `publishing to topic ${this.topic}`, this.settings);
    if (error.has('MESSAGE_TOO_LARGE') || error.has('RECORD_LIST_TOO_LARGE')) {
      // No retry can help: say which record and what to change.
      const largest = records.reduce((a, b) => (recordBytes(b) > recordBytes(a) ? b : a));
      throw new KafkaError(
        `the broker refuses a record of topic ${this.topic} as too large (the largest in the batch, key ${largest.key.toString().slice(0, 200)}, ` +
          `has a value of ${largest.value?.length ?? 0} bytes): raise max.message.bytes on the topic, or leave wide columns out with included_columns`,
        { retriable: false, reason: 'broker', codes: error.codes, cause: failed.reason },
      );
    }
    throw error;
  }

  /** Closes the producer; idempotent. Pending sends fail (their batch was not acknowledged, so it is repeated). */
  async disconnect(): Promise<void> {
    const p = this.producer;
    this.producer = null;
    if (p) await p.close(true).catch(() => undefined);
  }
}
