/** The convergence check: the topic folded by key equals the table, every column, no extra key. */
import { expect } from 'chai';
import type { TestDb } from './db';
import { fold, readTopic } from './kafka';
import { eventually } from './wait';

/** The table as {key JSON -> row JSON}, rendered by PostgreSQL independently of the worker's queries. */
export async function tableState(db: TestDb, table: string, keyColumns: string[]): Promise<Map<string, string>> {
  const key = keyColumns.map((c) => `t.${c}`).join(', ');
  const rows = await db.query<{ k: string; v: string }>(`SELECT (SELECT row_to_json(_k) FROM (SELECT ${key}) AS _k)::text AS k, row_to_json(t.*)::text AS v FROM ${table} AS t`);
  return new Map(rows.map((r) => [r.k, r.v]));
}

export function diff(expected: Map<string, string>, actual: Map<string, string>): string[] {
  const out: string[] = [];
  for (const [k, v] of expected) {
    if (!actual.has(k)) out.push(`missing ${k}`);
    else if (actual.get(k) !== v) out.push(`differs ${k}: topic ${actual.get(k)} table ${v}`);
  }
  for (const k of actual.keys()) if (!expected.has(k)) out.push(`extra ${k} (deleted in the table, no tombstone)`);
  return out;
}

/** Waits until the folded topic equals the table. */
export async function assertConverges(db: TestDb, table: string, keyColumns: string[], topic: string, timeoutMs = 90_000): Promise<void> {
  let lastDiff: string[] = [];
  try {
    await eventually(
      async () => {
        const [expected, records] = await Promise.all([tableState(db, table, keyColumns), readTopic(topic)]);
        lastDiff = diff(expected, fold(records));
        return lastDiff.length === 0;
      },
      timeoutMs,
      `topic ${topic} to converge to ${table}`,
      1000,
    );
  } catch (err) {
    expect.fail(`${(err as Error).message}\n${lastDiff.length} differences, first ones:\n  ${lastDiff.slice(0, 10).join('\n  ')}`);
  }
}
