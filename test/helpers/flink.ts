/**
 * Flink SQL for the interop tests: test/interop/FlinkSql.java run embedded (a local mini-cluster in one
 * JVM) with the jars scripts/flink/fetch.sh brought from Maven Central. The sources must be bounded
 * ('scan.bounded.mode' = 'latest-offset') so that the query ends.
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CACHE_DIR } from './kafka-tools';
import { REPO_ROOT } from './worker';

export const FLINK_LIB = path.join(CACHE_DIR, 'flink-2.2.0');

/** A changelog row a Flink query yielded: its kind (+I, -U, +U, -D) and its fields as strings. */
export interface FlinkRow {
  kind: '+I' | '-U' | '+U' | '-D';
  fields: Array<string | null | unknown[]>;
}

/** Runs statements (the last one a SELECT) and returns the changelog the SELECT yielded. */
export function runFlinkSql(statements: string[], timeoutMs = 180_000): Promise<FlinkRow[]> {
  if (!fs.existsSync(path.join(FLINK_LIB, '.fetched'))) throw new Error(`Flink is not fetched into ${FLINK_LIB}: run make services-up (scripts/flink/fetch.sh)`);
  return new Promise((resolve, reject) => {
    const proc = spawn('java', ['-Xmx768m', '-Dorg.slf4j.simpleLogger.defaultLogLevel=warn', '-cp', path.join(FLINK_LIB, '*'), path.join(REPO_ROOT, 'test', 'interop', 'FlinkSql.java')], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    proc.stdout.on('data', (d: Buffer) => (out += d.toString()));
    proc.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => proc.kill('SIGKILL'), timeoutMs);
    proc.on('error', (e) => reject(e));
    proc.on('exit', (code, signal) => {
      clearTimeout(timer);
      if (code !== 0) return reject(new Error(`Flink SQL failed (${signal ?? `exit ${code}`}):\n${err.slice(-4000)}`));
      const rows = out
        .split('\n')
        .filter((l) => l.includes('\t'))
        .map((l) => {
          const [kind, fields] = l.split('\t');
          return { kind: kind as FlinkRow['kind'], fields: JSON.parse(fields) as FlinkRow['fields'] };
        });
      resolve(rows);
    });
    proc.stdin.end(statements.join('\n;\n'));
  });
}

/**
 * A changelog folded into the rows it ends with, by the key fields (the first keyFields fields): +I and
 * +U set the key's row, -U and -D remove it. Flink's debezium-json and upsert-kafka sources, with a
 * primary key, yield a changelog that folds into the table.
 */
export function foldChangelog(rows: FlinkRow[], keyFields = 1): Map<string, FlinkRow['fields']> {
  const out = new Map<string, FlinkRow['fields']>();
  for (const r of rows) {
    const key = JSON.stringify(r.fields.slice(0, keyFields));
    if (r.kind === '+I' || r.kind === '+U') out.set(key, r.fields);
    else out.delete(key);
  }
  return out;
}
