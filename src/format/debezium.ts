/**
 * sink.format debezium: Debezium's change event (before, after, source, op r/c/u/d, ts_ms) in the
 * JsonConverter envelope, the key as connect_json's; a delete is the op d event and then the
 * tombstone that lets compaction drop the key. The drain reads whether a key's first change was an
 * INSERT (op c). after is the row as it is now (null for d); before is null for r and c, and holds
 * the key columns only for u and d: the worker re-reads rows and never knows a row's earlier values,
 * but Debezium consumers (Flink's debezium-json) need before on an update or a delete to know which
 * row it retracts.
 */
import type { RecordEncoder } from '../kafka/records';
import { envelopeStart } from './connect-json';
import { connectPayload, debeziumSchemas } from './connect-types';
import { schemaName, type RecordFormat } from './format';

export const debezium: RecordFormat = {
  name: 'debezium',
  key: (alias, plan) => connectPayload(alias, plan.keyColumns),
  value: (alias, plan) => connectPayload(alias, plan.valueColumns),
  readsInserted: true,
  encoder: ({ plan, connector, version, clock = Date.now }): RecordEncoder => {
    const schemas = debeziumSchemas(schemaName(plan), plan.keyColumns, plan.valueColumns);
    const key = envelopeStart(schemas.key);
    const value = envelopeStart(schemas.value);
    const s = JSON.stringify;
    // The constant parts of the source block, up to its ts_ms and after it.
    const sourceStart = `"source":{"version":${s(version)},"connector":"pg-kafka-cdc","name":${s(connector)},"ts_ms":`;
    const sourceNames = `,"db":${s(plan.info.database)},"schema":${s(plan.table.schema)},"table":${s(plan.table.name)},"change_id":`;
    return {
      key: (k) => `${key}${k}}`,
      value: (row, changeId, event) => {
        const now = clock();
        const before = event.op === 'u' || event.op === 'd' ? row.k : 'null';
        const sourceMs = event.sourceMs === undefined ? now : Math.round(Number(event.sourceMs));
        const payload = `{"before":${before},"after":${row.v ?? 'null'},${sourceStart}${sourceMs},"snapshot":"${event.snapshot}"` + `${sourceNames}${s(changeId)}},"op":"${event.op}","ts_ms":${now}}`;
        return `${value}${payload}}`;
      },
      deleteEvent: true,
    };
  },
};
