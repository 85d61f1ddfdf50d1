/**
 * Kafka Connect's types, shared by the formats connect_json and debezium: PostgreSQL renders each
 * column in the form its Connect type wants (connectPayload, the SQL side), and the encoders wrap
 * that payload in the JsonConverter envelope with a schema computed once from the column types
 * (connectSchemas, debeziumSchemas). The type mapping, in docs/consuming.md:
 *
 *   int2/int4/int8 -> int16/int32/int64; float4/float8 -> float/double (NaN, +-Infinity: null)
 *   numeric(p,s) -> Connect Decimal (scale s), sent as the exact JSON number
 *   numeric without a scale -> string (a Connect Decimal needs one scale per column)
 *   bool -> boolean; text, varchar, char, and types without a mapping -> string
 *   uuid -> string io.debezium.data.Uuid; json, jsonb -> string io.debezium.data.Json
 *   timestamptz -> string io.debezium.time.ZonedTimestamp, UTC with Z, microseconds
 *   timestamp -> int64 io.debezium.time.MicroTimestamp; time -> int64 io.debezium.time.MicroTime
 *   date -> int32 org.apache.kafka.connect.data.Date (days since 1970-01-01)
 *   bytea -> bytes (base64); arrays of the scalars above -> array; other arrays -> array of string
 *   infinite timestamps and dates -> null
 */
import type { Column } from '../postgres/introspect';
import { quoteIdent } from '../postgres/sql';

type ConnectType = 'int16' | 'int32' | 'int64' | 'float' | 'double' | 'boolean' | 'string' | 'bytes' | 'array' | 'struct';

interface FieldSchema {
  type: ConnectType;
  optional: boolean;
  field?: string;
  name?: string;
  version?: number;
  parameters?: Record<string, string>;
  items?: FieldSchema;
}

interface Mapping {
  schema: Omit<FieldSchema, 'optional' | 'field'>;
  /** The payload value of the column (SQL; x stands for the column reference). */
  expr: (x: string) => string;
}

const plain = (type: ConnectType): Mapping => ({ schema: { type }, expr: (x) => x });
const FLOATS = (x: string) => `CASE WHEN ${x} IN ('NaN', 'Infinity', '-Infinity') THEN NULL ELSE ${x} END`;

/** The Connect mapping of a scalar type by its typname (element types of arrays included). */
function scalar(typname: string, type: string): Mapping | null {
  switch (typname) {
    case 'int2':
      return plain('int16');
    case 'int4':
      return plain('int32');
    case 'int8':
      return plain('int64');
    case 'float4':
      return { schema: { type: 'float' }, expr: FLOATS };
    case 'float8':
      return { schema: { type: 'double' }, expr: FLOATS };
    case 'bool':
      return plain('boolean');
    case 'numeric': {
      const m = /^numeric\((\d+),(\d+)\)$/.exec(type.replace(/\s/g, ''));
      if (!m) return { schema: { type: 'string' }, expr: (x) => `${x}::text` };
      return {
        schema: { type: 'bytes', name: 'org.apache.kafka.connect.data.Decimal', version: 1, parameters: { scale: m[2], 'connect.decimal.precision': m[1] } },
        expr: (x) => `CASE WHEN ${x} IN ('NaN', 'Infinity', '-Infinity') THEN NULL ELSE ${x} END`,
      };
    }
    case 'uuid':
      return { schema: { type: 'string', name: 'io.debezium.data.Uuid', version: 1 }, expr: (x) => `${x}::text` };
    case 'json':
    case 'jsonb':
      return { schema: { type: 'string', name: 'io.debezium.data.Json', version: 1 }, expr: (x) => `${x}::text` };
    case 'timestamptz':
      return {
        schema: { type: 'string', name: 'io.debezium.time.ZonedTimestamp', version: 1 },
        expr: (x) => `CASE WHEN isfinite(${x}) THEN to_char(${x} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"') END`,
      };
    case 'timestamp':
      return { schema: { type: 'int64', name: 'io.debezium.time.MicroTimestamp', version: 1 }, expr: (x) => `CASE WHEN isfinite(${x}) THEN (extract(epoch FROM ${x}) * 1000000)::int8 END` };
    case 'time':
      return { schema: { type: 'int64', name: 'io.debezium.time.MicroTime', version: 1 }, expr: (x) => `(extract(epoch FROM ${x}) * 1000000)::int8` };
    case 'date':
      return { schema: { type: 'int32', name: 'org.apache.kafka.connect.data.Date', version: 1 }, expr: (x) => `CASE WHEN isfinite(${x}) THEN ${x} - DATE '1970-01-01' END` };
    case 'bytea':
      return { schema: { type: 'bytes' }, expr: (x) => `translate(encode(${x}, 'base64'), E'\\n', '')` };
    case 'text':
    case 'varchar':
    case 'bpchar':
    case 'name':
      return plain('string');
    default:
      return null;
  }
}

/** Element mappings that keep an array as it is (to_json renders them as Connect wants). */
const ARRAY_AS_IS = new Set(['int2', 'int4', 'int8', 'bool', 'text', 'varchar', 'bpchar', 'float8', 'float4']);

function mapping(c: Column): Mapping {
  if (c.category === 'A') {
    const element = c.typname.replace(/^_/, '');
    const el = scalar(element, element);
    if (el && ARRAY_AS_IS.has(element)) return { schema: { type: 'array', items: { ...el.schema, optional: true } as FieldSchema }, expr: (x) => `to_json(${x})` };
    return { schema: { type: 'array', items: { type: 'string', optional: true } }, expr: (x) => `to_json(${x}::text[])` };
  }
  return scalar(c.typname, c.type) ?? { schema: { type: 'string' }, expr: (x) => `${x}::text` };
}

/** A struct schema of some columns. */
function struct(name: string, cols: Column[], optional: (c: Column) => boolean, structOptional = false): Record<string, unknown> {
  return { type: 'struct', fields: cols.map((c) => ({ ...mapping(c).schema, optional: optional(c), field: c.name })), optional: structOptional, name };
}

/** The JsonConverter schemas of the key and the value, as JSON text (computed once per connector). */
export function connectSchemas(name: string, keyColumns: Column[], valueColumns: Column[]): { key: string; value: string } {
  const keys = new Set(keyColumns.map((c) => c.name));
  return {
    key: JSON.stringify(struct(`${name}.Key`, keyColumns, () => false)),
    value: JSON.stringify(struct(`${name}.Value`, valueColumns, (c) => !keys.has(c.name))),
  };
}

/**
 * sink.format debezium: the key's schema (as connect_json's) and the schema of Debezium's change-event
 * envelope around the value, as Debezium's PostgreSQL connector writes it with the JsonConverter
 * (schemas.enable=true): before and after (the row's struct), source, op and ts_ms. The envelope's
 * name ends in .Envelope, which is how Debezium's sinks tell a change event from a plain row.
 */
export function debeziumSchemas(name: string, keyColumns: Column[], valueColumns: Column[]): { key: string; value: string } {
  const keys = new Set(keyColumns.map((c) => c.name));
  const row = (field: string) => ({ ...struct(`${name}.Value`, valueColumns, (c) => !keys.has(c.name), true), field });
  const str = (field: string, optional = false) => ({ type: 'string', optional, field });
  const source = {
    type: 'struct',
    fields: [
      str('version'),
      str('connector'),
      str('name'),
      { type: 'int64', optional: false, field: 'ts_ms' },
      { type: 'string', optional: true, name: 'io.debezium.data.Enum', version: 1, parameters: { allowed: 'true,false,incremental' }, default: 'false', field: 'snapshot' },
      str('db'),
      str('schema'),
      str('table'),
      str('change_id'),
    ],
    optional: false,
    name: 'pg_kafka_cdc.Source',
    field: 'source',
  };
  const envelope = {
    type: 'struct',
    fields: [row('before'), row('after'), source, str('op'), { type: 'int64', optional: true, field: 'ts_ms' }],
    optional: false,
    name: `${name}.Envelope`,
    version: 1,
  };
  return { key: JSON.stringify(struct(`${name}.Key`, keyColumns, () => false)), value: JSON.stringify(envelope) };
}

/** The connect_json payload of some columns of alias, as JSON object text (json_build_object keeps the column order). */
export function connectPayload(alias: string, cols: Column[]): string {
  const pairs = cols.map((c) => `${quoteLiteralName(c.name)}, ${mapping(c).expr(`${alias}.${quoteIdent(c.name)}`)}`);
  // json_build_object takes at most 100 arguments: chain objects of 50 columns with ||.
  const chunks: string[] = [];
  for (let i = 0; i < pairs.length; i += 50) chunks.push(`jsonb_build_object(${pairs.slice(i, i + 50).join(', ')})`);
  if (chunks.length === 1) return `json_build_object(${pairs.join(', ')})::text`;
  return `(${chunks.join(' || ')})::text`;
}

function quoteLiteralName(name: string): string {
  return `'${name.replace(/'/g, "''")}'`;
}
