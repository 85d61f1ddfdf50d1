/** The connector's topic: created when missing (an existing topic is left as it is), deleted by teardown. */
import { Admin, ConfigResourceTypes } from '@platformatic/kafka';
import type { KafkaSettings } from '../config/types';
import { DEFAULT_TIMINGS } from '../timings';

const { TOPIC_LEADER_WAIT_MS, TOPIC_LEADER_POLL_MS } = DEFAULT_TIMINGS;
import { sleep } from '../util/retry';
import { kafkaClientOptions } from './client';
import { kafkaErrorCodes, kafkaFailure } from './errors';

export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor: number;
  compact: boolean;
}

async function withAdmin<T>(settings: KafkaSettings, doing: string, fn: (admin: Admin) => Promise<T>): Promise<T> {
  const admin = new Admin(kafkaClientOptions(settings, '-admin'));
  try {
    return await fn(admin);
  } catch (err) {
    throw kafkaFailure(err, doing, settings);
  } finally {
    await admin.close().catch(() => undefined);
  }
}

/** Returns true when it created the topic; waits until every partition has a leader. */
export async function ensureTopic(settings: KafkaSettings, spec: TopicSpec): Promise<boolean> {
  return withAdmin(settings, `creating topic ${spec.topic}`, async (admin) => {
    const existing = await admin.listTopics();
    if (existing.includes(spec.topic)) return false;
    let created = true;
    try {
      await admin.createTopics({
        topics: [spec.topic],
        partitions: spec.partitions,
        replicas: spec.replicationFactor,
        configs: spec.compact ? [{ name: 'cleanup.policy', value: 'compact' }] : [],
      });
    } catch (err) {
      // Another worker created it between our list and our create: that is fine.
      if (!kafkaErrorCodes(err).includes('TOPIC_ALREADY_EXISTS')) throw err;
      created = false;
    }
    const deadline = Date.now() + TOPIC_LEADER_WAIT_MS;
    for (;;) {
      const md = await admin.metadata({ topics: [spec.topic], forceUpdate: true }).catch(() => null);
      const t = md?.topics.get(spec.topic);
      if (t && t.partitions.length === t.partitionsCount && t.partitions.every((p) => p && p.leader >= 0)) return created;
      if (Date.now() > deadline) throw new Error(`topic ${spec.topic} has partitions without a leader after ${TOPIC_LEADER_WAIT_MS / 1000} s`);
      await sleep(TOPIC_LEADER_POLL_MS);
    }
  });
}

/** What the topic is now: its id (Kafka's topic UUID) and partition count; null when it does not exist. */
export async function topicFacts(settings: KafkaSettings, topic: string): Promise<{ id: string; partitions: number } | null> {
  return withAdmin(settings, `reading the metadata of topic ${topic}`, async (admin) => {
    const md = await admin.metadata({ topics: [topic], forceUpdate: true }).catch(() => null);
    const t = md?.topics.get(topic);
    return t ? { id: String(t.id), partitions: t.partitionsCount } : null;
  });
}

/** Deletes the topic; returns false when it did not exist. */
export async function deleteTopic(settings: KafkaSettings, topic: string): Promise<boolean> {
  return withAdmin(settings, `deleting topic ${topic}`, async (admin) => {
    if (!(await admin.listTopics()).includes(topic)) return false;
    await admin.deleteTopics({ topics: [topic] });
    return true;
  });
}

/** What the cluster says about its transaction state log: enough to know whether transactions can run. */
export interface TransactionLogFacts {
  brokers: number;
  /** __transaction_state exists (created by the first transactional producer of the cluster). */
  logExists: boolean;
  replicationFactor: number | null;
  minIsr: number | null;
}

/** Why the cluster cannot run transactions, in words, or null when it can. */
export function transactionProblem(f: TransactionLogFacts): string | null {
  if (f.logExists) return null; // created already: the coordinator has its log
  if (f.replicationFactor !== null && f.replicationFactor > f.brokers) {
    return `transaction.state.log.replication.factor is ${f.replicationFactor} but the cluster has ${f.brokers} broker(s), so the transaction log (__transaction_state) cannot be created`;
  }
  if (f.minIsr !== null && f.minIsr > Math.min(f.brokers, f.replicationFactor ?? f.brokers)) {
    return `transaction.state.log.min.isr is ${f.minIsr} but the transaction log can have only ${Math.min(f.brokers, f.replicationFactor ?? f.brokers)} in-sync replica(s)`;
  }
  return null;
}

/** Asks the cluster for the facts transactionProblem() needs (metadata and one broker's configs). */
export async function transactionLogFacts(settings: KafkaSettings): Promise<TransactionLogFacts> {
  return withAdmin(settings, 'checking that the Kafka cluster can run transactions', async (admin) => {
    const md = await admin.metadata({ topics: [] });
    const logExists = (await admin.listTopics({ includeInternals: true })).includes('__transaction_state');
    const brokerId = [...md.brokers.keys()][0];
    const [described] = await admin.describeConfigs({
      resources: [{ resourceType: ConfigResourceTypes.BROKER, resourceName: String(brokerId), configurationKeys: ['transaction.state.log.replication.factor', 'transaction.state.log.min.isr'] }],
    });
    const value = (name: string) => {
      const v = described?.configs.find((c) => c.name === name)?.value;
      return v === undefined || v === null ? null : Number(v);
    };
    return { brokers: md.brokers.size, logExists, replicationFactor: value('transaction.state.log.replication.factor'), minIsr: value('transaction.state.log.min.isr') };
  });
}
