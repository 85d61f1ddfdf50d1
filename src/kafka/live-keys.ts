/**
 * The keys a topic holds live: for each partition, the keys whose last committed record (as a
 * read_committed consumer folds the partition) has a value. A repairing re-snapshot tombstones those
 * the table no longer has (connector/resnapshot.ts). Read from the earliest offset to the end each
 * partition had when the read began, with the same low-level fetches and the same decision about
 * committed records as the offsets topic (offsets.ts): records of aborted transactions never count.
 *
 * Memory: one entry per live key (the key's bytes as a string and its partitions), about 60 bytes
 * plus the key for short keys; 1M live keys of 10 bytes take about 70 MB while a repair runs.
 */
import { Consumer, FetchIsolationLevels, ListOffsetTimestamps } from '@platformatic/kafka';
import type { KafkaSettings } from '../config/types';
import { kafkaClientOptions } from './client';
import { kafkaFailure } from './errors';
import { committedRecords } from './offsets';

const FETCH_MAX_BYTES = 8 * 1024 * 1024;

/** Live keys (their bytes as latin1 strings) and the partitions each is live in. */
export interface LiveKeys {
  partitions: number;
  keys: Map<string, number[]>;
}

export async function readLiveKeys(settings: KafkaSettings, topic: string): Promise<LiveKeys> {
  // A consumer per partition: the client keeps a fetch session per broker, in which a later fetch
  // answers for the partitions of earlier ones too (and leaves out those with nothing new).
  const consumer = () =>
    new Consumer<Buffer, Buffer, Buffer, Buffer>({
      ...kafkaClientOptions(settings, '-repair'),
      groupId: `${settings.clientId}-repair-reader`, // never joined: fetches only
      isolationLevel: FetchIsolationLevels.READ_COMMITTED,
    });
  const meta = consumer();
  try {
    const md = await meta.metadata({ topics: [topic], forceUpdate: true });
    const t = md.topics.get(topic);
    if (!t) return { partitions: 0, keys: new Map() };
    const [ends, starts] = await Promise.all([
      meta.listOffsets({ topics: [topic], isolationLevel: FetchIsolationLevels.READ_COMMITTED }),
      meta.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.EARLIEST }),
    ]);
    const keys = new Map<string, number[]>();
    for (let partition = 0; partition < t.partitionsCount; partition++) {
      const end = ends.get(topic)?.[partition] ?? 0n;
      const last = new Map<string, boolean>();
      const reader = consumer();
      try {
        for (let offset = starts.get(topic)?.[partition] ?? 0n; offset < end;) {
          const response = await reader.fetch({
            node: t.partitions[partition].leader,
            isolationLevel: FetchIsolationLevels.READ_COMMITTED,
            maxWaitTime: 0,
            minBytes: 1,
            maxBytes: FETCH_MAX_BYTES,
            topics: [{ topicId: t.id, partitions: [{ partition, fetchOffset: offset, currentLeaderEpoch: -1, lastFetchedEpoch: -1, partitionMaxBytes: FETCH_MAX_BYTES }] }],
          });
          const fetched = response.responses.flatMap((r) => r.partitions).find((p) => p.partitionIndex === partition);
          if (!fetched?.records || fetched.records.length === 0) break;
          for (const r of committedRecords(fetched)) {
            if (r.offset >= end || r.key === null) continue;
            last.set(r.key.toString('latin1'), r.value !== null);
          }
          const lastBatch = fetched.records[fetched.records.length - 1];
          offset = lastBatch.firstOffset + BigInt(lastBatch.lastOffsetDelta) + 1n;
        }
      } finally {
        await reader.close(true).catch(() => undefined);
      }
      for (const [key, live] of last) {
        if (!live) continue;
        const where = keys.get(key);
        if (where) where.push(partition);
        else keys.set(key, [partition]);
      }
    }
    return { partitions: t.partitionsCount, keys };
  } catch (err) {
    throw kafkaFailure(err, `reading the live keys of topic ${topic} (a repairing re-snapshot)`, settings);
  } finally {
    await meta.close(true).catch(() => undefined);
  }
}
