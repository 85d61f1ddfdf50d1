/** Reads whole topics from the real broker and folds them by key, as a compacted topic would. */
import type { IHeaders } from 'kafkajs';
import { kafkaClient } from './services';

export interface TopicRecord {
  partition: number;
  offset: string;
  key: string | null;
  value: string | null;
  headers: Record<string, string>;
}

function headersOf(h: IHeaders | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(h ?? {})) if (v !== undefined) out[k] = Array.isArray(v) ? String(v[0]) : String(v);
  return out;
}

/**
 * Every record of the topic, up to its end offsets at the time of the call, in partition order. As a
 * read_committed consumer sees it (records of aborted transactions left out), unless readUncommitted.
 */
export async function readTopic(topic: string, timeoutMs = 30_000, opts: { readUncommitted?: boolean } = {}): Promise<TopicRecord[]> {
  const kafka = kafkaClient('pg-kafka-cdc-test-reader');
  const admin = kafka.admin();
  await admin.connect();
  let ends: Array<{ partition: number; offset: string; low: string }>;
  try {
    ends = await admin.fetchTopicOffsets(topic);
  } finally {
    await admin.disconnect();
  }
  const remaining = new Map(ends.filter((e) => BigInt(e.offset) > BigInt(e.low)).map((e) => [e.partition, BigInt(e.offset)]));
  const records: TopicRecord[] = [];
  if (remaining.size === 0) return records;
  const consumer = kafka.consumer({ groupId: `reader-${process.pid}-${Date.now()}-${Math.random()}`, maxWaitTimeInMs: 200, readUncommitted: opts.readUncommitted ?? false });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out reading topic ${topic}`)), timeoutMs);
      // A transactional topic ends with a commit marker, never handed out as a message: the end of
      // every batch (also one of markers or aborted records only) says how far the reader got.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        const end = remaining.get(payload.partition);
        if (end !== undefined && BigInt(payload.lastOffset) + 1n >= end) remaining.delete(payload.partition);
        if (remaining.size === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
      consumer
        .run({
          autoCommit: false,
          eachMessage: async ({ partition, message }) => {
            const end = remaining.get(partition);
            if (end === undefined) return;
            if (BigInt(message.offset) < end) {
              records.push({
                partition,
                offset: message.offset,
                key: message.key?.toString() ?? null,
                value: message.value === null ? null : message.value.toString(),
                headers: headersOf(message.headers),
              });
            }
            if (BigInt(message.offset) + 1n >= end) remaining.delete(partition);
            if (remaining.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  records.sort((a, b) => a.partition - b.partition || Number(BigInt(a.offset) - BigInt(b.offset)));
  return records;
}

/** Last value per key (a null value removes the key), as a compacted topic converges to. */
export function fold(records: TopicRecord[]): Map<string, string> {
  const state = new Map<string, string>();
  for (const r of records) {
    if (r.key === null) continue;
    if (r.value === null) state.delete(r.key);
    else state.set(r.key, r.value);
  }
  return state;
}

export function uniqueTopic(prefix: string): string {
  return `${prefix}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 7)}`;
}

/**
 * Duplicates by the change_id header: a snapshot row number or key seen twice in one run, a
 * change-log entry named by two change records. What exactly_once must keep at zero for a
 * read_committed reader.
 */
export function duplicateChanges(records: TopicRecord[]): { snapshotRows: string[]; snapshotKeys: string[]; changeSeqs: string[]; missingIds: number } {
  const seen = new Set<string>();
  const dup = { snapshotRows: [] as string[], snapshotKeys: [] as string[], changeSeqs: [] as string[], missingIds: 0 };
  const once = (id: string, into: string[]) => {
    if (seen.has(id)) into.push(id);
    seen.add(id);
  };
  for (const r of records) {
    const id = r.headers.change_id;
    if (!id) {
      dup.missingIds += 1;
      continue;
    }
    const [run, what] = [id.slice(0, id.indexOf(':')), id.slice(id.indexOf(':') + 1)];
    if (what.startsWith('s')) {
      once(`row ${id}`, dup.snapshotRows);
      once(`key ${run} ${r.key}`, dup.snapshotKeys);
    } else if (what.startsWith('r')) {
      // A re-snapshot: {run}:r{request}.{n}, each row and each key once per request.
      once(`row ${id}`, dup.snapshotRows);
      once(`key ${run} ${what.split('.')[0]} ${r.key}`, dup.snapshotKeys);
    } else if (what.startsWith('c')) {
      for (const seq of what.slice(1).split(',')) once(`seq ${run}:${seq}`, dup.changeSeqs);
    }
  }
  return dup;
}

/** Whether the topic exists on the broker (asked with the independent client). */
export async function topicExists(topic: string): Promise<boolean> {
  const admin = kafkaClient('pg-kafka-cdc-test-admin').admin();
  await admin.connect();
  try {
    return (await admin.listTopics()).includes(topic);
  } finally {
    await admin.disconnect();
  }
}
