/**
 * Record formats (sink.format) as plug-ins: each is one file holding its SQL side (how PostgreSQL
 * renders a row's key and value: postgres/queries.ts Rendering) and its encoder (how the worker wraps
 * that text into a record's bytes: kafka/records.ts RecordEncoder). A new format is one file here
 * and one name in FormatName and index.ts (and in schemas/connector.schema.json's sink.format enum).
 */
import type { RecordEncoder } from '../kafka/records';
import type { TablePlan } from '../postgres/plan';
import type { Rendering } from '../postgres/queries';

/** What a format's encoder is made from, once per session: the table as planned, and where the records come from. */
export interface EncoderContext {
  plan: TablePlan;
  connector: string;
  /** This worker's version (the debezium format's source block names it). */
  version: string;
  /** The clock of the event timestamps (a test pins it). */
  clock?: () => number;
}

export interface RecordFormat extends Rendering {
  readonly name: FormatName;
  encoder(ctx: EncoderContext): RecordEncoder;
}

/** The names of sink.format (schemas/connector.schema.json's enum; index.ts holds one format per name). */
export type FormatName = 'json' | 'connect_json' | 'debezium';

/** The Connect schemas' names for the table: pg_kafka_cdc.{schema}.{table}. */
export function schemaName(plan: TablePlan): string {
  return `pg_kafka_cdc.${plan.table.schema}.${plan.table.name}`;
}
