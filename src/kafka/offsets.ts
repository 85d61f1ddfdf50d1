/**
 * The connector's offsets topic (exactly_once): a compacted, one-partition topic that only this
 * connector's transactional producer writes. Each transaction ends with one record, key = connector
 * name, value = the Checkpoint the batch leads to, so the position is committed or aborted together
 * with the records it covers (as Kafka Connect's exactly-once sources do, KIP-618).
 *
 * After a new producer has fenced every earlier one (its InitProducerId completes or aborts whatever
 * they left open), no transaction of this topic is open, so its last stable offset is its end: the
 * last committed record is near the tail. readLastCheckpoint() reads backwards from there, in
 * growing windows, and decides itself which records are committed (see committedRecords), rather
 * than trusting a client-side filter.
 */
import { Consumer, FetchIsolationLevels, ListOffsetTimestamps, type RecordsBatch } from '@platformatic/kafka';
import type { KafkaSettings } from '../config/types';
import type { Checkpoint } from '../progress/store';
import { kafkaClientOptions } from './client';
import { FatalError } from '../util/errors';
import { sleep } from '../util/retry';
import { OFFSETS_STABLE_WAIT_MS } from '../timings';
import { KafkaError, kafkaFailure } from './errors';
import type { KafkaRecord } from './records';

/** Bit 5 of a record batch's attributes: a control batch (transaction markers). */
const IS_CONTROL = 1 << 5;
/** Bit 4: a transactional batch. */
const IS_TRANSACTIONAL = 1 << 4;
const FORMAT = 1;

/** "1-5,7,9-12": sorted sequence numbers as ranges (a drained batch is mostly consecutive). */
export function encodeSeqRanges(seqs: string[]): string {
  const sorted = seqs.map((s) => BigInt(s)).sort((a, b) => (a < b ? -1 : a > b ? 1 : 0));
  const parts: string[] = [];
  for (let i = 0; i < sorted.length; ) {
    let j = i;
    while (j + 1 < sorted.length && sorted[j + 1] === sorted[j] + 1n) j++;
    parts.push(i === j ? `${sorted[i]}` : `${sorted[i]}-${sorted[j]}`);
    i = j + 1;
  }
  return parts.join(',');
}

export function decodeSeqRanges(text: string): string[] {
  if (text === '') return [];
  const out: string[] = [];
  for (const part of text.split(',')) {
    const [a, b] = part.split('-');
    if (!/^\d+$/.test(a) || (b !== undefined && !/^\d+$/.test(b))) throw new Error(`not a sequence range: ${part}`);
    const from = BigInt(a);
    const to = b === undefined ? from : BigInt(b);
    for (let s = from; s <= to; s++) out.push(s.toString());
  }
  return out;
}

/** The offsets record a transaction ends with. */
export function checkpointRecord(topic: string, connector: string, cp: Checkpoint): KafkaRecord {
  const value = {
    format: FORMAT,
    connector,
    run: cp.run,
    commit: cp.commit,
    snapshot: { state: cp.snapshotState, key: cp.snapshotKey, rows: cp.snapshotRows },
    watermark: cp.watermark,
    resnapshot: cp.resnapshot,
    trim: cp.trim ? { log_oid: cp.trim.logOid, seqs: encodeSeqRanges(cp.trim.seqs) } : null,
  };
  return { topic, key: Buffer.from(connector), value: Buffer.from(JSON.stringify(value)), headers: new Map() };
}

/** The checkpoint of an offsets record's value; throws on a value this worker did not write. */
export function parseCheckpoint(value: Buffer): Checkpoint {
  const v = JSON.parse(value.toString()) as {
    format: number; run: string; commit: number;
    snapshot: { state: Checkpoint['snapshotState']; key: string[] | null; rows: number };
    watermark: string[] | null; trim: { log_oid: number; seqs: string } | null;
    resnapshot?: { id: string; key: string[] | null; rows: number } | null;
  };
  if (v.format !== FORMAT || typeof v.run !== 'string' || !Number.isSafeInteger(v.commit)) throw new Error(`not a checkpoint of format ${FORMAT}`);
  return {
    run: v.run,
    commit: v.commit,
    snapshotState: v.snapshot.state,
    snapshotKey: v.snapshot.key,
    snapshotRows: v.snapshot.rows,
    watermark: v.watermark,
    resnapshot: v.resnapshot ?? null, // absent in checkpoints written before re-snapshots existed
    trim: v.trim ? { logOid: v.trim.log_oid, seqs: decodeSeqRanges(v.trim.seqs) } : null,
  };
}

/** What committedRecords() reads of a partition of a fetch response. */
export interface FetchedPartition {
  abortedTransactions: Array<{ producerId: bigint; firstOffset: bigint }> | null;
  records?: RecordsBatch[] | null;
}

export interface CommittedRecord {
  offset: bigint;
  key: Buffer | null;
  value: Buffer | null;
}

/**
 * The data records of a read_committed fetch response that belong to committed transactions (or to
 * none), in offset order, as Kafka's Java consumer decides it: a transactional batch is left out
 * while its producer has an aborted transaction that started at or before it and whose abort marker
 * has not been passed yet. Control batches (the markers) are never records.
 */
export function committedRecords(partition: FetchedPartition): CommittedRecord[] {
  const aborted = [...(partition.abortedTransactions ?? [])].sort((a, b) => (a.firstOffset < b.firstOffset ? -1 : a.firstOffset > b.firstOffset ? 1 : 0));
  const abortedProducers = new Set<bigint>();
  const out: CommittedRecord[] = [];
  let next = 0;
  for (const batch of partition.records ?? []) {
    const lastOffset = batch.firstOffset + BigInt(batch.lastOffsetDelta);
    while (next < aborted.length && aborted[next].firstOffset <= lastOffset) abortedProducers.add(aborted[next++].producerId);
    if (batch.attributes & IS_CONTROL) {
      // A control record's key: version (int16), type (int16): 0 = abort, 1 = commit.
      const key = batch.records[0]?.key;
      if (key && key.length >= 4 && key.readInt16BE(2) === 0) abortedProducers.delete(batch.producerId);
      continue;
    }
    if (batch.attributes & IS_TRANSACTIONAL && abortedProducers.has(batch.producerId)) continue;
    for (const r of batch.records) out.push({ offset: batch.firstOffset + BigInt(r.offsetDelta), key: r.key, value: r.value });
  }
  return out;
}

/** parseCheckpoint, failing for good with what to do: no retry makes a foreign record a checkpoint. */
function checkpointOf(value: Buffer, topic: string, connector: string): Checkpoint {
  try {
    return parseCheckpoint(value);
  } catch (err) {
    throw new FatalError(
      `topic ${topic} holds a record for connector ${connector} that is not a checkpoint this worker wrote (${(err as Error).message}); ` +
        'is sink.offsets_topic shared with something else? Point it at a topic of its own (or delete this one: the connector then goes on from the progress stored in the database)',
    );
  }
}

/**
 * The end of the topic once no transaction is open on it. Fencing completes the transaction an
 * earlier producer left, but its commit markers may still be on their way for a moment: until they
 * are written, the last stable offset stays before the last checkpoint.
 */
async function stableEnd(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>, topic: string): Promise<bigint> {
  const deadline = Date.now() + OFFSETS_STABLE_WAIT_MS;
  for (;;) {
    const [committed, all] = await Promise.all([
      consumer.listOffsets({ topics: [topic], isolationLevel: FetchIsolationLevels.READ_COMMITTED }),
      consumer.listOffsets({ topics: [topic], isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED }),
    ]);
    const stable = (committed.get(topic) ?? [0n])[0];
    if (stable === (all.get(topic) ?? [0n])[0]) return stable;
    if (Date.now() > deadline) {
      throw new KafkaError(`topic ${topic} still has an open transaction after ${OFFSETS_STABLE_WAIT_MS / 1000} s; does another producer write it?`, { retriable: true, reason: 'broker', codes: [] });
    }
    await sleep(20);
  }
}

/** The first window read back from the end, in offsets; it grows eightfold while nothing is found. */
const FIRST_WINDOW = 64n;
const FETCH_MAX_BYTES = 4 * 1024 * 1024;

/**
 * The last checkpoint committed for the connector, or null (none yet, the topic is missing, or the
 * last record is a tombstone: teardown). Call it only after the connector's producer has fenced
 * earlier ones, so that no transaction of the topic is still open.
 */
export async function readLastCheckpoint(settings: KafkaSettings, topic: string, connector: string): Promise<Checkpoint | null> {
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    ...kafkaClientOptions(settings, '-offsets'),
    groupId: `${settings.clientId}-offsets-reader`, // never joined: fetches only
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  });
  try {
    const md = await consumer.metadata({ topics: [topic], forceUpdate: true });
    const t = md.topics.get(topic);
    if (!t) return null;
    const leader = t.partitions[0].leader;
    const end = await stableEnd(consumer, topic);
    const start = ((await consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.EARLIEST })).get(topic) ?? [0n])[0];
    const key = Buffer.from(connector);
    let window = FIRST_WINDOW;
    for (let hi = end; hi > start; window *= 8n) {
      const lo = hi - window > start ? hi - window : start;
      let found: CommittedRecord | null = null;
      for (let offset = lo; offset < hi; ) {
        const response = await consumer.fetch({
          node: leader,
          isolationLevel: FetchIsolationLevels.READ_COMMITTED,
          maxWaitTime: 0,
          minBytes: 1,
          maxBytes: FETCH_MAX_BYTES,
          topics: [{ topicId: t.id, partitions: [{ partition: 0, fetchOffset: offset, currentLeaderEpoch: -1, lastFetchedEpoch: -1, partitionMaxBytes: FETCH_MAX_BYTES }] }],
        });
        const partition = response.responses[0]?.partitions[0];
        if (!partition?.records || partition.records.length === 0) break; // nothing more below the stable end
        for (const r of committedRecords(partition)) if (r.offset >= lo && r.offset < hi && r.key?.equals(key)) found = r;
        const last = partition.records[partition.records.length - 1];
        offset = last.firstOffset + BigInt(last.lastOffsetDelta) + 1n;
      }
      if (found) return found.value === null ? null : checkpointOf(found.value, topic, connector);
      hi = lo;
    }
    return null;
  } catch (err) {
    if (err instanceof FatalError) throw err;
    throw kafkaFailure(err, `reading the committed position of connector ${connector} from topic ${topic}`, settings);
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
}
