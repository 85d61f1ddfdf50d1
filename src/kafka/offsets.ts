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
 *
 * The topic is not trusted input: any client with write access to it could produce there, and a
 * checkpoint decides which change-log entries recovery deletes. A record counts only when it was
 * written in a committed transaction and carries the MAC (HMAC-SHA-256) of the run's checkpoint key,
 * a random secret kept in the connector's progress row, which only the worker's role (and the
 * database's administrators) can read. Any other record for the connector is skipped, counted and
 * said; the reader goes on to the last authentic checkpoint before it.
 */
import { createHmac, timingSafeEqual } from 'node:crypto';
import { Consumer, FetchIsolationLevels, ListOffsetTimestamps, type RecordsBatch } from '@platformatic/kafka';
import type { KafkaSettings } from '../config/types';
import type { Checkpoint } from '../progress/position';
import { kafkaClientOptions } from './client';
import { sleep } from '../util/retry';
import { DEFAULT_TIMINGS } from '../timings';
import { kafkaFailure } from './errors';
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
  for (let i = 0; i < sorted.length;) {
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

/** The MAC of a checkpoint's text under the run's checkpoint key (hex). */
function macOf(body: string, key: string): string {
  return createHmac('sha256', Buffer.from(key, 'hex')).update(body).digest('hex');
}

/** The offsets record a transaction ends with: the checkpoint's text, and its MAC under the run's key. */
export function checkpointRecord(topic: string, connector: string, cp: Checkpoint, key: string): KafkaRecord {
  const value = {
    format: FORMAT,
    connector,
    run: cp.run,
    commit: cp.commit,
    origin: cp.origin,
    snapshot: { state: cp.snapshotState, key: cp.snapshotKey, rows: cp.snapshotRows },
    watermark: cp.watermark,
    resnapshot: cp.resnapshot,
    trim: cp.trim ? { log_oid: cp.trim.logOid, seqs: encodeSeqRanges(cp.trim.seqs), until_us: cp.trim.untilUs } : null,
  };
  const body = JSON.stringify(value);
  return { topic, key: Buffer.from(connector), value: Buffer.from(JSON.stringify({ ...value, mac: macOf(body, key) })), headers: new Map() };
}

/** The checkpoint of an offsets record's value; throws on a value this worker did not write (wrong shape, or a MAC that is missing or not of this key). */
export function parseCheckpoint(value: Buffer, key: string): Checkpoint {
  const v = JSON.parse(value.toString()) as {
    format: number;
    run: string;
    commit: number;
    origin?: string | null;
    mac?: unknown;
    snapshot: { state: Checkpoint['snapshotState']; key: string[] | null; rows: number };
    watermark: string[] | null;
    trim: { log_oid: number; seqs: string; until_us?: string | null } | null;
    resnapshot?: { id: string; key: string[] | null; rows: number } | null;
  };
  if (v === null || typeof v !== 'object' || v.format !== FORMAT || typeof v.run !== 'string' || !Number.isSafeInteger(v.commit)) throw new Error(`not a checkpoint of format ${FORMAT}`);
  const { mac, ...rest } = v;
  const expected = Buffer.from(macOf(JSON.stringify(rest), key), 'hex');
  const given = typeof mac === 'string' && /^[0-9a-f]{64}$/.test(mac) ? Buffer.from(mac, 'hex') : null;
  if (given === null || !timingSafeEqual(given, expected)) throw new Error("its MAC is missing or not made with the checkpoint key of the connector's run");
  return {
    run: v.run,
    commit: v.commit,
    origin: v.origin ?? null,
    snapshotState: v.snapshot.state,
    snapshotKey: v.snapshot.key,
    snapshotRows: v.snapshot.rows,
    watermark: v.watermark,
    resnapshot: v.resnapshot ?? null, // absent in checkpoints written before re-snapshots existed
    trim: v.trim ? { logOid: v.trim.log_oid, seqs: decodeSeqRanges(v.trim.seqs), untilUs: v.trim.until_us ?? null } : null,
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
  /** Written in a (committed) transaction, not by a plain producer. */
  transactional: boolean;
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
    const transactional = (batch.attributes & IS_TRANSACTIONAL) !== 0;
    for (const r of batch.records) out.push({ offset: batch.firstOffset + BigInt(r.offsetDelta), key: r.key, value: r.value, transactional });
  }
  return out;
}

/** The run a record's value names, or null when it is not a checkpoint's shape. */
function runOf(value: Buffer): string | null {
  try {
    const v = JSON.parse(value.toString()) as { format?: unknown; run?: unknown };
    return v && typeof v === 'object' && v.format === FORMAT && typeof v.run === 'string' ? v.run : null;
  } catch {
    return null;
  }
}

/** What the reader found: the last authentic checkpoint (null: none), and the records for the connector it skipped as not the worker's. */
export interface LastCheckpoint {
  checkpoint: Checkpoint | null;
  /** Records keyed by the connector that are not the worker's checkpoints: outside a transaction, of another shape, or without the run's MAC. */
  ignored: Array<{ offset: bigint; why: string }>;
  /** A transaction stayed open on the topic after fencing (another producer's): read up to the last stable offset only. */
  openTransaction: boolean;
}

/**
 * The end of the topic once no transaction is open on it. Fencing completes the transaction an
 * earlier producer left, but its commit markers may still be on their way for a moment: until they
 * are written, the last stable offset stays before the last checkpoint. A transaction another
 * producer keeps open (nobody else should write here) would hold the stable offset for as long as
 * the broker lets it: after OFFSETS_STABLE_WAIT_MS the reader goes on from the stable offset, and says so.
 */
async function stableEnd(consumer: Consumer<Buffer, Buffer, Buffer, Buffer>, topic: string): Promise<{ end: bigint; settled: boolean }> {
  const deadline = Date.now() + DEFAULT_TIMINGS.OFFSETS_STABLE_WAIT_MS;
  for (;;) {
    const [committed, all] = await Promise.all([
      consumer.listOffsets({ topics: [topic], isolationLevel: FetchIsolationLevels.READ_COMMITTED }),
      consumer.listOffsets({ topics: [topic], isolationLevel: FetchIsolationLevels.READ_UNCOMMITTED }),
    ]);
    const stable = (committed.get(topic) ?? [0n])[0];
    if (stable === (all.get(topic) ?? [0n])[0]) return { end: stable, settled: true };
    if (Date.now() > deadline) return { end: stable, settled: false };
    await sleep(20);
  }
}

/** The first window read back from the end, in offsets; it grows eightfold while nothing is found. */
const FIRST_WINDOW = 64n;
const FETCH_MAX_BYTES = 4 * 1024 * 1024;

/**
 * The last authentic checkpoint of the connector's run (none yet, the topic is missing, the last
 * authentic record is a tombstone: teardown, or the records before are an earlier run's), and the
 * records it skipped. Call it only after the
 * connector's producer has fenced earlier ones, so that no transaction of the topic is still open.
 */
export async function readLastCheckpoint(settings: KafkaSettings, topic: string, connector: string, own: { run: string; checkpointKey: string }): Promise<LastCheckpoint> {
  const { run, checkpointKey } = own;
  const consumer = new Consumer<Buffer, Buffer, Buffer, Buffer>({
    ...kafkaClientOptions(settings, '-offsets'),
    groupId: `${settings.clientId}-offsets-reader`, // never joined: fetches only
    isolationLevel: FetchIsolationLevels.READ_COMMITTED,
  });
  try {
    const ignored: LastCheckpoint['ignored'] = [];
    const md = await consumer.metadata({ topics: [topic], forceUpdate: true });
    const t = md.topics.get(topic);
    if (!t) return { checkpoint: null, ignored, openTransaction: false };
    const leader = t.partitions[0].leader;
    const { end, settled } = await stableEnd(consumer, topic);
    const openTransaction = !settled;
    const start = ((await consumer.listOffsets({ topics: [topic], timestamp: ListOffsetTimestamps.EARLIEST })).get(topic) ?? [0n])[0];
    const key = Buffer.from(connector);
    let window = FIRST_WINDOW;
    for (let hi = end; hi > start; window *= 8n) {
      const lo = hi - window > start ? hi - window : start;
      const mine: CommittedRecord[] = [];
      for (let offset = lo; offset < hi;) {
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
        for (const r of committedRecords(partition)) if (r.offset >= lo && r.offset < hi && r.key?.equals(key)) mine.push(r);
        const last = partition.records[partition.records.length - 1];
        offset = last.firstOffset + BigInt(last.lastOffsetDelta) + 1n;
      }
      // Newest first: the last authentic one wins; the others after it are skipped, and said.
      for (const r of mine.reverse()) {
        if (!r.transactional) {
          ignored.push({ offset: r.offset, why: 'written outside a transaction' });
          continue;
        }
        if (r.value === null) return { checkpoint: null, ignored, openTransaction }; // teardown's tombstone (a transactional producer's)
        // A checkpoint of an earlier run (before a reset: another key) ends the search: nothing of
        // this run comes before it. It is no checkpoint to adopt, and no forgery to report either.
        if (runOf(r.value) !== run && runOf(r.value) !== null) return { checkpoint: null, ignored, openTransaction };
        try {
          return { checkpoint: parseCheckpoint(r.value, checkpointKey), ignored, openTransaction };
        } catch (err) {
          ignored.push({ offset: r.offset, why: (err as Error).message });
        }
      }
      hi = lo;
    }
    return { checkpoint: null, ignored, openTransaction };
  } catch (err) {
    throw kafkaFailure(err, `reading the committed position of connector ${connector} from topic ${topic}`, settings);
  } finally {
    await consumer.close(true).catch(() => undefined);
  }
}
