/** A transaction around a function, and the lock that serialises DDL on the worker's schema. */
import type { ClientBase } from 'pg';
import type { Queryable } from './queries';

/** Serialises DDL of the worker schema between connectors and workers (an arbitrary constant). */
export const DDL_LOCK = 7_208_811_304;

/** A transaction around fn (begin: 'BEGIN READ ONLY' for one that must not write). */
export async function inTransaction<T>(db: Queryable, fn: () => Promise<T>, begin = 'BEGIN'): Promise<T> {
  await db.query(begin);
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
