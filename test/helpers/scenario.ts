/** A ready-made scenario: a database with table items, a connector config, and workers (in process, or processes where the test needs one). */
import type { TestDb } from './db';
import { createTestDb } from './db';
import { uniqueTopic } from './kafka';
import { InProcessWorker } from './in-process';
import { freePort, printLogsIfFailed, WorkerProcess, writeConfig, type WorkerHandle } from './worker';

export interface Scenario {
  db: TestDb;
  topic: string;
  name: string;
  workerFile: string;
  port: number;
  workers: WorkerHandle[];
  /** A worker process (for kill -9, signals, exit codes, failpoints). */
  startWorker(env?: Record<string, string>): WorkerProcess;
  /** A worker in the test's process (real PostgreSQL and Kafka, test timings). */
  runWorker(env?: Record<string, string>): Promise<InProcessWorker>;
  cleanup(): Promise<void>;
}

export async function itemsScenario(
  title: string,
  opts: { rows?: number; connector?: Record<string, unknown>; source?: Record<string, unknown>; worker?: Record<string, unknown>; urlParams?: string } = {},
): Promise<Scenario> {
  const db = await createTestDb(title);
  await db.query(`CREATE TABLE items (id bigint PRIMARY KEY, v int, note text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp())`);
  if (opts.rows) await db.query(`INSERT INTO items (id, v, note) SELECT g, g, 'seed' FROM generate_series(1, $1::int) AS g`, [opts.rows]);
  await db.query('ANALYZE items');
  const topic = uniqueTopic('items');
  const name = 'items';
  const port = await freePort();
  const workerFile = writeConfig({
    databaseUrl: opts.urlParams ? `${db.url}?${opts.urlParams}` : db.url,
    httpPort: port,
    connectors: [{ name, source: { table_name: 'items', notification: {}, ...opts.source }, ...opts.connector, sink: { topic, ...(opts.connector?.sink as object | undefined) } }],
    worker: opts.worker,
  });
  const workers: WorkerHandle[] = [];
  const scenario: Scenario = {
    db,
    topic,
    name,
    workerFile,
    port,
    workers,
    startWorker(env = {}) {
      const w = WorkerProcess.start(scenario.workerFile, port, env);
      workers.push(w);
      return w;
    },
    async runWorker(env = {}) {
      const w = await InProcessWorker.start(scenario.workerFile, env);
      workers.push(w);
      return w;
    },
    async cleanup() {
      await Promise.all(workers.map((w) => w.stop()));
      await db.close();
    },
  };
  return scenario;
}

/**
 * In a describe: holds the scenario of the running test, prints its workers' logs when the test
 * failed and cleans it up after each test. Tests set `slot.s = await itemsScenario(...)`.
 */
export function scenarioPerTest(): { s: Scenario | null } {
  const slot: { s: Scenario | null } = { s: null };
  afterEach(async function () {
    printLogsIfFailed(this, slot.s?.workers ?? []);
    if (slot.s) await slot.s.cleanup();
    slot.s = null;
  });
  return slot;
}
