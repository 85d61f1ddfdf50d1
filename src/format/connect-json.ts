/**
 * sink.format connect_json: key and value in Kafka Connect's JsonConverter envelope with
 * schemas.enable=true ({"schema": ..., "payload": ...}), the columns in Connect's and Debezium's
 * logical types (connect-types.ts), so Connect sinks that need a schema read the topic as it is.
 * A tombstone is still a null value.
 */
import type { RecordEncoder } from '../kafka/records';
import { connectPayload, connectSchemas } from './connect-types';
import { schemaName, type RecordFormat } from './format';

/** The envelope's constant start, computed once: {"schema":...,"payload": */
export const envelopeStart = (schema: string) => `{"schema":${schema},"payload":`;

export const connectJson: RecordFormat = {
  name: 'connect_json',
  key: (alias, plan) => connectPayload(alias, plan.keyColumns),
  value: (alias, plan) => connectPayload(alias, plan.valueColumns),
  readsInserted: false,
  encoder: ({ plan }): RecordEncoder => {
    const schemas = connectSchemas(schemaName(plan), plan.keyColumns, plan.valueColumns);
    const key = envelopeStart(schemas.key);
    const value = envelopeStart(schemas.value);
    return { key: (k) => `${key}${k}}`, value: (row) => (row.v === null ? null : `${value}${row.v}}`), deleteEvent: false };
  },
};
