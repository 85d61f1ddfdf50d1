/**
 * Connections that do not grow with the number of connectors: one worker with 1, 10 and 100
 * connectors on one database opens at most postgres.data_pool_size + 2 sessions (one control session
 * that holds every lock and LISTEN, one membership session, the bounded data pool), sampled through
 * start-up and streaming, while an application writes through connections of its own on a server with
 * PostgreSQL's default max_connections (100 here).
 */
import { expect } from 'chai';
import { assertConverges } from '../helpers/converge';
import { createTestDb, openTestDb, type TestDb } from '../helpers/db';
import { uniqueTopic } from '../helpers/kafka';
import { eventually } from '../helpers/wait';
import { freePort, type WorkerHandle, writeConfig } from '../helpers/worker';
import { InProcessWorker } from '../helpers/in-process';

const POOL = 3;
const name = (i: number) => `t${String(i).padStart(3, '0')}`;

describe('connections per replica', function () {
  this.timeout(600_000);
  let db: TestDb;
  let worker: WorkerHandle | null = null;
  const topics = new Map<string, string>();

  before(async () => {
    db = await createTestDb('connections');
    for (let i = 1; i <= 100; i++) {
      await db.query(`CREATE TABLE ${name(i)} (id bigint PRIMARY KEY, v int)`);
      await db.query(`INSERT INTO ${name(i)} SELECT g, g FROM generate_series(1, 20) AS g`);
      topics.set(name(i), uniqueTopic(`conn-${name(i)}`));
    }
  });
  afterEach(function () {
    if (this.currentTest?.state === 'failed' && worker) console.log(`--- worker logs ---\n${worker.logs().slice(-4000)}`);
  });
  after(async () => {
    await worker?.stop();
    await db?.close();
  });

  for (const n of [1, 10, 100]) {
    it(`${n} connector${n === 1 ? '' : 's'}: at most data_pool_size + 2 sessions, while an application writes`, async () => {
      const tables = Array.from({ length: n }, (_, i) => name(i + 1));
      const port = await freePort();
      const file = writeConfig({
        databaseUrl: db.url,
        httpPort: port,
        worker: { postgres: { data_pool_size: POOL } },
        connectors: tables.map((t) => ({ name: t, source: { table_name: t, notification: {} }, sink: { topic: topics.get(t), delivery: 'at_least_once' } })),
      });
      const sessions = async () =>
        (
          await db.query<{ n: number }>(
            `SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = current_database() AND (application_name LIKE 'pg-kafka-cdc%' OR application_name LIKE 'pgkc member%')`,
          )
        )[0].n;
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, await sessions());
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const started = Date.now();
      worker = await InProcessWorker.start(file);
      try {
        await eventually(async () => (await worker!.connectors()).every((c) => c.state === 'streaming'), 300_000, `all ${n} connectors streaming`);
        const startSeconds = (Date.now() - started) / 1000;
        // The application: its own connections, writing to every mirrored table.
        const app = await Promise.all(Array.from({ length: 10 }, () => openTestDb(db.name)));
        await Promise.all(
          app.map((c, k) =>
            (async () => {
              for (let i = k; i < tables.length; i += app.length) await c.query(`UPDATE ${tables[i]} SET v = v + 1 WHERE id <= 5`);
            })(),
          ),
        );
        for (const c of app) await c.close();
        for (const t of tables.slice(0, 5)) await assertConverges(db, t, ['id'], topics.get(t) as string);
        await eventually(async () => (await worker!.connectors()).every((c) => c.pending_changes === 0), 120_000, 'every change published');
        console.log(`      ${n} connectors: peak ${peak} sessions (data_pool_size ${POOL}), all streaming after ${startSeconds.toFixed(1)} s`);
        expect(peak, 'sessions of the worker at any time').to.be.at.most(POOL + 2);
      } finally {
        sampling = false;
        await sampler;
        await worker.stop();
      }
    });
  }
});
