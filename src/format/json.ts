/**
 * sink.format json: the key columns and the value as PostgreSQL's row_to_json renders them (in the
 * worker's sessions: UTC, ISO dates). Without included_columns the value is the whole row as it is
 * now, rendered from the row itself, so a column added while streaming shows in the next records.
 */
import { PLAIN_JSON } from '../kafka/records';
import { jsonOf } from '../postgres/queries';
import type { RecordFormat } from './format';

export const json: RecordFormat = {
  name: 'json',
  key: (alias, plan) => jsonOf(alias, plan.keyColumns),
  value: (alias, plan) => (plan.wholeRow ? `row_to_json(${alias}.*)::text` : jsonOf(alias, plan.valueColumns)),
  readsInserted: false,
  encoder: () => PLAIN_JSON,
};
