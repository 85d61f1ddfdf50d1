/**
 * Names of the database objects a connector owns, derived in one place.
 * - `{channel}_n`: the trigger function (the seed's name), in the table's schema;
 * - `{channel}_t`: the trigger on the table (the seed's name): AFTER INSERT per statement on a plain
 *   table, AFTER INSERT OR UPDATE OR DELETE per row on a partitioned one;
 * - `{channel}_tu`, `{channel}_td`: AFTER UPDATE and AFTER DELETE per statement (plain tables);
 * - `{channel}_tk`: per row, only for an UPDATE that changes a key (plain tables);
 * - `{channel}_tt`: the statement trigger that logs every key before a TRUNCATE;
 * - `kafka_cdc.{channel}_log`: the change log the function writes, drained by the worker;
 * - the channel's idle lock: an advisory lock (two int4 keys) the idle worker holds.
 * The worker's own schema `kafka_cdc` also holds `progress` and `snapshot_requests`, shared by connectors.
 */
import { createHash } from 'node:crypto';
import type { TableName } from './sql';
import { identBytes, MAX_IDENT_BYTES } from './sql';

export const WORKER_SCHEMA = 'kafka_cdc';
export const SUFFIXES = { function: '_n', trigger: '_t', updateTrigger: '_tu', deleteTrigger: '_td', keyTrigger: '_tk', truncateTrigger: '_tt', log: '_log' } as const;
const LONGEST_SUFFIX = Math.max(...Object.values(SUFFIXES).map((s) => s.length));
export const MAX_CHANNEL_BYTES = MAX_IDENT_BYTES - LONGEST_SUFFIX;

export interface CaptureNames {
  channel: string;
  functionName: string;
  triggerName: string;
  updateTriggerName: string;
  deleteTriggerName: string;
  keyTriggerName: string;
  truncateTriggerName: string;
  logTable: string;
}

export function captureNames(channel: string): CaptureNames {
  return {
    channel,
    functionName: channel + SUFFIXES.function,
    triggerName: channel + SUFFIXES.trigger,
    updateTriggerName: channel + SUFFIXES.updateTrigger,
    deleteTriggerName: channel + SUFFIXES.deleteTrigger,
    keyTriggerName: channel + SUFFIXES.keyTrigger,
    truncateTriggerName: channel + SUFFIXES.truncateTrigger,
    logTable: channel + SUFFIXES.log,
  };
}

/**
 * The default channel: pgkc_{connector}_{table}, lower-cased, every other character folded to "_",
 * and, when too long, cut and completed with a hash of the whole so that two long names stay distinct.
 * Always a valid unquoted identifier that fits 63 bytes with its longest suffix.
 */
export function defaultChannel(connector: string, table: TableName): string {
  const raw = `pgkc_${connector}_${table.schema ? table.schema + '_' : ''}${table.name}`;
  const clean = raw.toLowerCase().replace(/[^a-z0-9_]/g, '_');
  if (identBytes(clean) <= MAX_CHANNEL_BYTES) return clean;
  const hash = createHash('sha256').update(raw).digest('hex').slice(0, 8);
  return `${clean.slice(0, MAX_CHANNEL_BYTES - hash.length - 1)}_${hash}`;
}

/** The key of the advisory lock that makes one worker at a time own a connector. */
export function ownershipLockKey(connector: string): bigint {
  const digest = createHash('sha256').update(`pg-kafka-cdc:${connector}`).digest();
  return digest.readBigInt64BE(0);
}

/** The first key of every idle lock: "pgkc" as an int4, so they stand apart from an application's advisory locks. */
export const IDLE_LOCK_SPACE = 0x70676b63;

/** The channel's idle lock, as the two int4 keys of pg_advisory_lock(int4, int4) (ownership locks use the bigint form, another key space). */
export function idleLockKey(channel: string): [number, number] {
  return [IDLE_LOCK_SPACE, createHash('sha256').update(`pg-kafka-cdc:idle:${channel}`).digest().readInt32BE(0)];
}
