/** The connector's topic: created when missing (an existing topic is left as it is), deleted by teardown. */
import { Admin } from '@platformatic/kafka';
import type { KafkaSettings } from '../config/types';
import { TOPIC_LEADER_WAIT_MS } from '../timings';
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
      await sleep(100);
    }
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
