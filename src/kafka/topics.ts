/** Creates the connector's topic when it is missing; an existing topic is left as it is. */
import type { Kafka } from 'kafkajs';

export interface TopicSpec {
  topic: string;
  partitions: number;
  replicationFactor: number;
  compact: boolean;
}

/** Returns true when it created the topic. */
export async function ensureTopic(kafka: Kafka, spec: TopicSpec): Promise<boolean> {
  const admin = kafka.admin();
  await admin.connect();
  try {
    const existing = await admin.listTopics();
    if (existing.includes(spec.topic)) return false;
    const configEntries = spec.compact ? [{ name: 'cleanup.policy', value: 'compact' }] : [];
    try {
      return await admin.createTopics({
        waitForLeaders: true,
        topics: [{ topic: spec.topic, numPartitions: spec.partitions, replicationFactor: spec.replicationFactor, configEntries }],
      });
    } catch (err) {
      // Another worker created it between our list and our create: that is fine.
      if (String((err as { type?: string }).type ?? '') === 'TOPIC_ALREADY_EXISTS' || /already exists/i.test(String(err))) return false;
      throw err;
    }
  } finally {
    await admin.disconnect();
  }
}
