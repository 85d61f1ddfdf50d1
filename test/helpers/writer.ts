/**
 * A background writer: random inserts, updates, deletes and primary-key moves on a table
 * items(id bigint primary key, v int, note text), plus transactions it rolls back (their note is
 * 'ROLLED BACK', which must never reach Kafka). Survives connection loss and server restarts.
 */
import { Client } from 'pg';
import { eventually } from './wait';

export interface Writer {
  /** Transactions committed so far. */
  committed(): number;
  /** Resolves once the writer has committed n more transactions than now (a condition, not a sleep). */
  commitsMore(n: number, timeoutMs?: number): Promise<void>;
  stop(): Promise<{ committed: number; failed: number }>;
}

export function startWriter(url: string, opts: { table?: string; idSpace?: number; pauseMs?: number } = {}): Writer {
  const table = opts.table ?? 'items';
  const idSpace = opts.idSpace ?? 5000;
  let running = true;
  let committed = 0;
  let failed = 0;
  const loop = (async () => {
    let c: Client | null = null;
    while (running) {
      try {
        if (!c) {
          c = new Client({ connectionString: url, connectionTimeoutMillis: 2000 });
          c.on('error', () => undefined);
          await c.connect();
        }
        const id = 1 + Math.floor(Math.random() * idSpace);
        const r = Math.random();
        if (r < 0.35)
          await c.query(`INSERT INTO ${table} (id, v, note) VALUES ($1, $2, 'ins') ON CONFLICT (id) DO UPDATE SET v = EXCLUDED.v, note = 'upd-conflict'`, [id, Math.floor(Math.random() * 1e6)]);
        else if (r < 0.65) await c.query(`UPDATE ${table} SET v = v + 1, note = 'upd' WHERE id = $1`, [id]);
        else if (r < 0.8) await c.query(`DELETE FROM ${table} WHERE id = $1`, [id]);
        else if (r < 0.9) await c.query(`UPDATE ${table} SET id = $2, note = 'moved' WHERE id = $1 AND NOT EXISTS (SELECT 1 FROM ${table} WHERE id = $2)`, [id, idSpace + id]);
        else {
          await c.query('BEGIN');
          await c.query(`UPDATE ${table} SET note = 'ROLLED BACK', v = -1 WHERE id = $1`, [id]);
          await c.query(`INSERT INTO ${table} (id, v, note) VALUES ($1, -1, 'ROLLED BACK') ON CONFLICT DO NOTHING`, [3 * idSpace + id]);
          await c.query('ROLLBACK');
        }
        committed += 1;
        if (opts.pauseMs) await new Promise((res) => setTimeout(res, opts.pauseMs));
      } catch {
        failed += 1;
        const old = c;
        c = null;
        if (old) await old.end().catch(() => undefined);
        await new Promise((res) => setTimeout(res, 200));
      }
    }
    if (c) await c.end().catch(() => undefined);
  })();
  return {
    committed: () => committed,
    async commitsMore(n, timeoutMs = 30_000) {
      const target = committed + n;
      await eventually(async () => committed >= target, timeoutMs, `the writer to commit ${n} more transactions`, 20);
    },
    async stop() {
      running = false;
      await loop;
      return { committed, failed };
    },
  };
}
