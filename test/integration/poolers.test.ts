/**
 * The worker behind a real PgBouncer (Debian's, started by scripts/pgbouncer/up.sh): in session mode
 * it streams and converges; in transaction mode, where session advisory locks and LISTEN do not hold,
 * it refuses to start, with what to do (docs/security.md#poolers).
 */
import { expect } from 'chai';
import * as net from 'node:net';
import { runCli } from '../helpers/cli';
import { assertConverges } from '../helpers/converge';
import { itemsScenario, scenarioPerTest, type Scenario } from '../helpers/scenario';
import { writeConfig } from '../helpers/worker';

const SESSION_PORT = Number(process.env.PGBOUNCER_SESSION_PORT ?? 6432);
const TRANSACTION_PORT = Number(process.env.PGBOUNCER_TRANSACTION_PORT ?? 6433);

function through(s: Scenario, port: number): string {
  const u = new URL(s.db.url);
  u.port = String(port);
  return u.toString();
}

async function answers(port: number): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const sock = net.connect(port, '127.0.0.1', () => {
      sock.end();
      resolve();
    });
    sock.once('error', (err) => reject(new Error(`PgBouncer does not answer on 127.0.0.1:${port} (${err.message}): run \`make services-up\``)));
  });
}

describe('poolers between the worker and PostgreSQL', function () {
  this.timeout(120_000);
  const slot = scenarioPerTest();
  before(async () => {
    await answers(SESSION_PORT);
    await answers(TRANSACTION_PORT);
  });

  it('streams and converges through PgBouncer in session mode', async () => {
    const s = (slot.s = await itemsScenario('pooler session', { rows: 200 }));
    const file = writeConfig({ databaseUrl: through(s, SESSION_PORT), httpPort: s.port, connectors: [{ name: s.name, source: { table_name: 'items', notification: {} }, sink: { topic: s.topic } }] });
    const valid = await runCli(['validate', '--config', file]);
    expect(valid.code, valid.stderr).to.equal(0);
    s.workerFile = file;
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await s.db.query(`UPDATE items SET note = 'through the pooler', updated_at = '2025-01-01 00:00:00+00' WHERE id <= 50`);
    await s.db.query(`DELETE FROM items WHERE id > 190`);
    await assertConverges(s.db, 'items', ['id'], s.topic);
  });

  it('refuses a transaction-mode pooler at validate and at run, naming the fix', async () => {
    const s = (slot.s = await itemsScenario('pooler transaction', { rows: 10 }));
    const file = writeConfig({
      databaseUrl: through(s, TRANSACTION_PORT),
      httpPort: s.port,
      connectors: [{ name: s.name, source: { table_name: 'items', notification: {} }, sink: { topic: s.topic } }],
    });
    for (const command of ['validate', 'run']) {
      const r = await runCli([command, '--config', file]);
      expect(r.code, `${command}: ${r.stderr}`).to.equal(2);
      expect(r.stderr, command).to.contain('/source/database: the database URL leads to a transaction-mode pooler');
      expect(r.stderr, command).to.contain('Use session pooling (pool_mode = session) or connect directly');
    }
    const [t] = await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'items'::regclass`);
    expect(t.n, 'nothing installed').to.equal(0);
  });
});
