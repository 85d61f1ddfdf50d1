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
import type { Checkpoint } from '../progress/position';
import { failpoint } from '../util/failpoints';
import { sleep } from '../util/retry';
import { kafkaClientOptions } from './client';
import { KafkaError, kafkaErrorCodes, kafkaFailure } from './errors';
import { checkpointRecord } from './offsets';
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
/** The partition Java's partitioner gives a key on a topic of this many partitions (a repair finds records left in another one). */
export function partitionFor(key: Buffer, partitions: number): number {
  return partitions <= 1 ? 0 : compatibilityPartitioner(null as never, key) % partitions;
}

export const javaPartitioner: Partitioner<Buffer, Buffer | null, Buffer, Buffer> = (message, key, context) =>
  context.metadata?.topics.get(message.topic)?.partitionsCount === 1 ? 0 : compatibilityPartitioner(message, key);

/** exactly_once: every publish is one transaction that also writes the checkpoint to the offsets topic. */
export interface TransactionSettings {
  transactionalId: string;
  offsetsTopic: string;
  connector: string;
  /** The run's checkpoint key, known once the session has loaded its progress: authenticates each checkpoint (kafka/offsets.ts). */
  checkpointKey: () => string;
}

export interface PublisherOptions {
  compression: Compression;
  /** null: at_least_once (idempotent producer, no transactions). */
  transactions?: TransactionSettings | null;
  /** Told the outcome and commit time of every transaction (metrics). */
  onTransaction?: (e: { outcome: 'committed' | 'aborted'; seconds: number }) => void;
}

type CdcProducer = Producer<Buffer, Buffer | null, Buffer, Buffer>;
type CdcTransaction = Awaited<ReturnType<CdcProducer['beginTransaction']>>;

export class RecordPublisher {
  /** Values are Buffer, or null for a tombstone (the client writes a null value, length -1). */
  private producer: CdcProducer | null = null;

  constructor(
    private readonly settings: KafkaSettings,
    private readonly topic: string,
    private readonly options: PublisherOptions = { compression: 'none' },
  ) {}

  get transactional(): boolean {
    return Boolean(this.options.transactions);
  }

  /**
   * Opens the producer and gets its producer id, so a broker that cannot be reached fails here. A
   * transactional producer also fences every earlier producer of its transactional id: the broker
   * completes or aborts what they left open, and rejects whatever they send from now on.
   */
  async connect(): Promise<void> {
    if (this.producer) return;
    const tx = this.options.transactions;
    const producer: CdcProducer = new Producer<Buffer, Buffer | null, Buffer, Buffer>({
      ...kafkaClientOptions(this.settings, '-producer'),
      idempotent: true,
      acks: -1,
      compression: this.options.compression,
      partitioner: javaPartitioner,
      autocreateTopics: false,
      // The client would otherwise send producer id 0 / epoch 0 to InitProducerId, which the broker
      // takes for a claim on an existing producer and answers PRODUCER_FENCED after a restart.
      ...(tx ? { transactionalId: tx.transactionalId, producerId: -1n, producerEpoch: -1 } : {}),
    });
    try {
      if (tx) {
        const fence = await producer.beginTransaction(); // InitProducerId with the transactional id
        await fence.cancel(); // nothing was sent: forget it locally, no request
      } else {
        await producer.initIdempotentProducer({});
      }
    } catch (err) {
      await producer.close(true).catch(() => undefined); // no half-open broker connections left behind
      throw kafkaFailure(err, `connecting a ${tx ? `transactional producer (${tx.transactionalId})` : 'producer'} for topic ${this.topic}`, this.settings);
    }
    this.producer = producer;
  }

  /**
   * Sends records and waits for acks=all of every one. With transactions, the records and the
   * checkpoint they lead to are one transaction, committed before this resolves. Throws a KafkaError
   * (retriable unless the broker refused for good; reason 'fenced' when another owner took over).
   *
   * records may be a function that builds them: a transaction then builds them while its
   * AddPartitionsToTxn is on the way (and the coordinator finishes the previous transaction), which
   * hides that round trip behind the CPU work of the batch.
   */
  async publish(records: KafkaRecord[] | (() => KafkaRecord[]), checkpoint?: Checkpoint): Promise<void> {
    const producer = this.producer;
    if (!producer) throw new KafkaError(`publishing to topic ${this.topic}: the producer is not connected`, { retriable: true, reason: 'client', codes: [] });
    const tx = this.options.transactions;
    if (!tx) {
      const built = typeof records === 'function' ? records() : records;
      if (built.length > 0) await this.sendAll(built, (chunk) => producer.send({ messages: chunk }));
      return;
    }
    if (!checkpoint) throw new Error(`publishing to topic ${this.topic}: a transaction needs the checkpoint it commits`);
    let transaction: CdcTransaction | null = null;
    try {
      transaction = await producer.beginTransaction();
      const adding = this.addPartitions(producer, transaction, tx.offsetsTopic);
      adding.catch(() => undefined); // awaited below, after the records are built
      const built = typeof records === 'function' ? records() : records;
      await adding;
      const t = transaction;
      await this.sendAll([...built, checkpointRecord(tx.offsetsTopic, tx.connector, checkpoint, tx.checkpointKey())], (chunk) => t.send({ messages: chunk }));
      failpoint('before-kafka-commit');
      const started = process.hrtime.bigint();
      await transaction.commit();
      failpoint('after-kafka-commit');
      this.options.onTransaction?.({ outcome: 'committed', seconds: Number(process.hrtime.bigint() - started) / 1e9 });
    } catch (err) {
      const error = kafkaFailure(err, `publishing a transaction to topic ${this.topic}`, this.settings);
      if (transaction && !transaction.completed && error.reason !== 'fenced') {
        // Best effort: whatever happens, the next owner's fencing aborts it anyway.
        const started = process.hrtime.bigint();
        if (
          await transaction.abort().then(
            () => true,
            () => false,
          )
        ) {
          this.options.onTransaction?.({ outcome: 'aborted', seconds: Number(process.hrtime.bigint() - started) / 1e9 });
        }
      }
      throw error;
    }
  }

  /**
   * Adds every partition of the topic and the offsets partition to the transaction at once. The
   * client would add them per send, but concurrent sends share one AddPartitionsToTxn and lose the
   * partitions of all but the first. Right after a commit the coordinator may still be writing the
   * previous transaction's markers (CONCURRENT_TRANSACTIONS): retried after a short pause, as Kafka's
   * Java producer does.
   *
   * Then every send of the transaction skips the client's own per-record bookkeeping of partitions
   * (a key string per record: 3.4% of the CPU of a transactional snapshot, profiled), as long as the
   * partition counts are the ones added here; should a topic have grown meanwhile, the client's own
   * addPartitions adds the new partitions.
   */
  private async addPartitions(producer: CdcProducer, transaction: CdcTransaction, offsetsTopic: string): Promise<void> {
    const metadata = await producer.metadata({ topics: [this.topic, offsetsTopic] });
    const counts = new Map([this.topic, offsetsTopic].map((topic) => [topic, metadata.topics.get(topic)?.partitionsCount ?? 1]));
    const partitions = [...counts].flatMap(([topic, count]) => Array.from({ length: count }, (_, partition) => ({ topic, partition, value: NO_VALUE })));
    for (let attempt = 0; ; attempt++) {
      try {
        await transaction.addPartitions(metadata, partitions);
        break;
      } catch (err) {
        if (!kafkaErrorCodes(err).includes('CONCURRENT_TRANSACTIONS') || attempt >= CONCURRENT_TRANSACTIONS_TRIES) throw err;
        await sleep(Math.min(5 * (attempt + 1), 50));
      }
    }
    const own = transaction.addPartitions.bind(transaction);
    const allAdded = (md: typeof metadata) => [...counts].every(([topic, count]) => md.topics.get(topic)?.partitionsCount === count);
    transaction.addPartitions = ((md: typeof metadata, messages: Parameters<typeof own>[1], callback?: (error?: Error | null) => void) => {
      if (callback && allAdded(md) && messages.every((m) => counts.has(m.topic))) {
        callback(null);
        return undefined;
      }
      return callback ? own(md, messages, callback) : own(md, messages);
    }) as typeof transaction.addPartitions;
  }

  /** Sends the records in chunks (queued together), waits for all, and explains a record too large. */
  private async sendAll(records: KafkaRecord[], send: (chunk: KafkaRecord[]) => Promise<unknown>): Promise<void> {
    const settled = await Promise.allSettled(chunkRecords(records).map(send));
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

/** addPartitions() reads only the topic and partition of the records it is given. */
const NO_VALUE = Buffer.alloc(0);
/** Tries of AddPartitionsToTxn while the previous transaction's markers are written (about 2 s in all). */
const CONCURRENT_TRANSACTIONS_TRIES = 50;
