/**
 * Publishes batches and resolves only once every record is acknowledged by all in-sync replicas.
 * Idempotent producer (no duplicates from its own retries), one request in flight (order kept per
 * partition), partitioning by key with kafkajs' Java-compatible default partitioner (murmur2), so
 * Java consumers and Kafka Streams co-partition with these topics.
 */
import { CompressionTypes, Partitioners, type Kafka, type Message, type Producer } from 'kafkajs';
import { RetriableError } from '../util/errors';

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
    await producer.connect();
    this.producer = producer;
  }

  /** Sends messages (in order) and waits for acks=all. Throws a RetriableError when Kafka is unavailable. */
  async publish(messages: Message[]): Promise<void> {
    if (messages.length === 0) return;
    if (!this.producer) throw new RetriableError('producer is not connected');
    try {
      await this.producer.send({ topic: this.topic, acks: -1, timeout: 30000, compression: CompressionTypes.None, messages });
    } catch (err) {
      throw new RetriableError(`publishing to topic ${this.topic} failed: ${(err as Error).message}`, err);
    }
  }

  async disconnect(): Promise<void> {
    const p = this.producer;
    this.producer = null;
    if (p) await p.disconnect().catch(() => undefined);
  }
}
