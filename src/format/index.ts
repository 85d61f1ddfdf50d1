/** Every record format by its sink.format name (format.ts says what a format is). */
import { connectJson } from './connect-json';
import { debezium } from './debezium';
import type { FormatName, RecordFormat } from './format';
import { json } from './json';

export const FORMATS: Record<FormatName, RecordFormat> = { json, connect_json: connectJson, debezium };

export function formatOf(name: FormatName): RecordFormat {
  return FORMATS[name];
}
