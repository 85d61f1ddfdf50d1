/** A transaction around a function, and the lock that serialises DDL on the worker's schema. */
import type { ClientBase } from 'pg';

/** Serialises DDL of the worker schema between connectors and workers (an arbitrary constant). */
export const DDL_LOCK = 7_208_811_304;

export async function inTransaction<T>(db: ClientBase, fn: () => Promise<T>): Promise<T> {
  await db.query('BEGIN');
  try {
    const result = await fn();
    await db.query('COMMIT');
    return result;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A transaction that first takes the worker schema's DDL lock (every DDL of the worker runs in one). */
export async function inDdlTransaction<T>(db: ClientBase, fn: () => Promise<T>, opts: { lockTimeout?: string } = {}): Promise<T> {
  return inTransaction(db, async () => {
    if (opts.lockTimeout) await db.query(`SELECT set_config('lock_timeout', $1, true)`, [opts.lockTimeout]);
    await db.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK]);
    return fn();
  });
}
