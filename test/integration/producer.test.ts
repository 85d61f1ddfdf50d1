/**
 * The worker's Kafka producer against the real broker, read back with an independent client
 * (kafkajs) and compared with Kafka's own Java producer.
 */
import { expect } from 'chai';
import type { KafkaSettings } from '../../src/config/types';
import { RecordPublisher } from '../../src/kafka/producer';
import { RecordBuilder } from '../../src/kafka/records';
import { ensureTopic } from '../../src/kafka/topics';
import { KafkaError } from '../../src/kafka/errors';
import { checkpointRecord, readLastCheckpoint } from '../../src/kafka/offsets';
import type { Checkpoint } from '../../src/progress/store';
import { Producer } from '@platformatic/kafka';
import { javaProduce } from '../helpers/kafka-tools';
import { readTopic, uniqueTopic } from '../helpers/kafka';
import { KAFKA_BROKERS } from '../helpers/services';

const settings: KafkaSettings = { brokers: KAFKA_BROKERS, clientId: 'pg-kafka-cdc-test', ssl: false };

describe('the Kafka producer', () => {
  it("puts every key in the partition Kafka's own Java default partitioner picks", async () => {
    const ours = uniqueTopic('partitions-ours');
    const java = uniqueTopic('partitions-java');
    for (const topic of [ours, java]) await ensureTopic(settings, { topic, partitions: 7, replicationFactor: 1, compact: false });
    // Keys of every shape the worker makes: ints (negative too), text with non-ASCII, composite keys.
    const keys = [
      ...Array.from({ length: 300 }, (_, i) => `{"id":${i * 7919 - 1000}}`),
      ...['é', '✓', 'a b', 'Ω'].map((s, i) => `{"name":"${s}${i}"}`),
      ...Array.from({ length: 50 }, (_, i) => `{"tenant":${i % 3},"id":"${i}-x"}`),
    ];
    const builder = new RecordBuilder(ours, 'test', 'run');
    const publisher = new RecordPublisher(settings, ours, { compression: 'lz4' });
    await publisher.connect();
    try {
      await publisher.publish(keys.map((k, i) => builder.snapshot({ k, v: '{}', o: null }, i + 1)));
    } finally {
      await publisher.disconnect();
    }
    javaProduce(
      java,
      keys.map((key) => ({ key, value: '{}' })),
    );
    const partitionOf = async (topic: string) => new Map((await readTopic(topic)).map((r) => [r.key, r.partition]));
    const [byUs, byJava] = await Promise.all([partitionOf(ours), partitionOf(java)]);
    expect(byUs.size).to.equal(keys.length);
    expect(byJava.size).to.equal(keys.length);
    const differ = keys.filter((k) => byUs.get(k) !== byJava.get(k));
    expect(differ, `keys in another partition than Java's: ${differ.slice(0, 5).join(' ')}`).to.deep.equal([]);
    expect(new Set(byUs.values()).size, 'the keys spread over every partition').to.equal(7);
  });

  it('publishes keys, values, tombstones and headers that an independent client reads back byte for byte, with every compression', async () => {
    for (const compression of ['none', 'gzip', 'snappy', 'lz4', 'zstd'] as const) {
      const topic = uniqueTopic(`codec-${compression}`);
      await ensureTopic(settings, { topic, partitions: 1, replicationFactor: 1, compact: true });
      const builder = new RecordBuilder(topic, 'codec-test', 'run');
      const publisher = new RecordPublisher(settings, topic, { compression });
      await publisher.connect();
      try {
        await publisher.publish([builder.snapshot({ k: '{"id":1}', v: '{"id":1,"s":"héllo ✓"}', o: null }, 1), builder.change({ k: '{"id":2}', v: null, o: '42', seqs: ['7'] }).records[0]]);
      } finally {
        await publisher.disconnect();
      }
      const records = await readTopic(topic);
      expect(
        records.map((r) => [r.key, r.value, r.headers]),
        compression,
      ).to.deep.equal([
        ['{"id":1}', '{"id":1,"s":"héllo ✓"}', { op: 'snapshot', connector: 'codec-test', change_id: 'run:s1' }],
        ['{"id":2}', null, { op: 'delete', connector: 'codec-test', change_id: 'run:c7', ordinal: '42' }],
      ]);
    }
  });

  it('fails with a retriable error naming the brokers when none answers', async () => {
    const publisher = new RecordPublisher({ ...settings, brokers: ['127.0.0.1:1'] }, 'nowhere');
    const err = await publisher.connect().then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).to.be.instanceOf(KafkaError);
    expect((err as KafkaError).retriable).to.equal(true);
    expect((err as KafkaError).message).to.include('127.0.0.1:1');
  });

  it('commits records and their checkpoint in one transaction; a new producer of the transactional id fences the old one, whose publish is rejected and never visible', async () => {
    const topic = uniqueTopic('tx');
    const offsetsTopic = uniqueTopic('tx-offsets');
    await ensureTopic(settings, { topic, partitions: 3, replicationFactor: 1, compact: true });
    await ensureTopic(settings, { topic: offsetsTopic, partitions: 1, replicationFactor: 1, compact: true });
    const transactions = { transactionalId: `pgkc-test-${topic}`, offsetsTopic, connector: 'c', checkpointKey: () => 'ab'.repeat(32) };
    const builder = new RecordBuilder(topic, 'c', 'run');
    const row = (n: number) => builder.snapshot({ k: `{"id":${n}}`, v: `{"id":${n}}`, o: null }, n);
    const cp = (commit: number): Checkpoint => ({
      run: 'run',
      commit,
      snapshotState: 'running',
      snapshotKey: [String(commit)],
      snapshotRows: commit,
      watermark: null,
      resnapshot: null,
      trim: null,
      origin: null,
    });
    const key = 'ab'.repeat(32);
    const outcomes: string[] = [];
    const old = new RecordPublisher(settings, topic, { compression: 'zstd', transactions, onTransaction: (e) => outcomes.push(e.outcome) });
    const next = new RecordPublisher(settings, topic, { compression: 'zstd', transactions });
    try {
      await old.connect();
      await old.publish([row(1), row(2)], cp(1));
      expect(outcomes).to.deep.equal(['committed']);
      expect((await readLastCheckpoint(settings, offsetsTopic, 'c', { run: 'run', checkpointKey: key })).checkpoint).to.deep.equal(cp(1));

      await next.connect(); // fences the old producer
      const err = await old.publish([row(3)], cp(2)).then(
        () => null,
        (e: unknown) => e,
      );
      expect(err).to.be.instanceOf(KafkaError);
      expect((err as KafkaError).reason).to.equal('fenced');
      expect((err as KafkaError).retriable, 'the fenced worker goes back to waiting as a standby').to.equal(true);
      expect((err as KafkaError).message).to.contain('standing down');
      await next.publish([row(4)], cp(2));
    } finally {
      await old.disconnect();
      await next.disconnect();
    }
    // Another producer's aborted transaction, with a later checkpoint of the same connector, and a
    // committed record of another connector: the reader skips both.
    const other = new Producer({ clientId: 'pgkc-test-other', bootstrapBrokers: KAFKA_BROKERS, idempotent: true, transactionalId: `pgkc-test-other-${topic}`, producerId: -1n, producerEpoch: -1 });
    try {
      const aborted = await other.beginTransaction();
      await aborted.send({ messages: [checkpointRecord(offsetsTopic, 'c', cp(99), key) as never] });
      await aborted.abort();
      const committed = await other.beginTransaction();
      await committed.send({ messages: [checkpointRecord(offsetsTopic, 'another', cp(7), key) as never] });
      await committed.commit();
    } finally {
      await other.close();
    }
    expect((await readTopic(topic)).map((r) => r.key).sort()).to.deep.equal(['{"id":1}', '{"id":2}', '{"id":4}']);
    expect((await readLastCheckpoint(settings, offsetsTopic, 'c', { run: 'run', checkpointKey: key })).checkpoint).to.deep.equal(cp(2));
    expect((await readLastCheckpoint(settings, offsetsTopic, 'nobody', { run: 'run', checkpointKey: key })).checkpoint).to.equal(null);
  });

  it("trusts only the checkpoints the connector's own run wrote: a record outside a transaction, of another shape or without the run's MAC is skipped, and the last authentic one counts", async () => {
    const offsetsTopic = uniqueTopic('tx-foreign');
    await ensureTopic(settings, { topic: offsetsTopic, partitions: 1, replicationFactor: 1, compact: true });
    const key = 'cd'.repeat(32);
    const cp = (commit: number): Checkpoint => ({
      run: 'run',
      commit,
      snapshotState: 'done',
      snapshotKey: null,
      snapshotRows: 0,
      watermark: null,
      resnapshot: null,
      trim: { logOid: 1, seqs: ['5', '6'], untilUs: '1' },
      origin: null,
    });
    const own = new RecordPublisher(settings, uniqueTopic('tx-foreign-data'), {
      compression: 'none',
      transactions: { transactionalId: `pgkc-test-${offsetsTopic}`, offsetsTopic, connector: 'c', checkpointKey: () => key },
    });
    await ensureTopic(settings, { topic: (own as unknown as { topic: string }).topic, partitions: 1, replicationFactor: 1, compact: true });
    try {
      await own.connect();
      await own.publish([], cp(3));
    } finally {
      await own.disconnect();
    }
    // Then: a plain producer's forgery with the right shape, another transactional producer's record
    // signed with another key, and one that is no checkpoint at all.
    javaProduce(offsetsTopic, [{ key: 'c', value: checkpointRecord(offsetsTopic, 'c', cp(9), key).value?.toString() ?? '' }]);
    const other = new Producer({
      clientId: 'pgkc-test-forger',
      bootstrapBrokers: KAFKA_BROKERS,
      idempotent: true,
      transactionalId: `pgkc-test-forger-${offsetsTopic}`,
      producerId: -1n,
      producerEpoch: -1,
    });
    try {
      const t = await other.beginTransaction();
      await t.send({ messages: [checkpointRecord(offsetsTopic, 'c', cp(8), 'ef'.repeat(32)) as never, { topic: offsetsTopic, key: Buffer.from('c'), value: Buffer.from('{"offset": 42}') } as never] });
      await t.commit();
    } finally {
      await other.close();
    }
    const last = await readLastCheckpoint(settings, offsetsTopic, 'c', { run: 'run', checkpointKey: key });
    expect(last.checkpoint).to.deep.equal(cp(3));
    expect(last.ignored.map((r) => r.why)).to.deep.equal([
      'not a checkpoint of format 1',
      "its MAC is missing or not made with the checkpoint key of the connector's run",
      'written outside a transaction',
    ]);
  });
});
