/** A transaction around a function, and the lock that serialises DDL on the worker's schema. */
import type { ClientBase } from 'pg';
import type { Queryable } from './queries';

/** Serialises DDL of the worker schema between connectors and workers (an arbitrary constant). */
export const DDL_LOCK = 7_208_811_304;

/** A source of connections (postgres/pool.ts): a transaction needs one connection for all its statements. */
export interface SessionSource extends Queryable {
  withClient<T>(fn: (client: ClientBase) => Promise<T>): Promise<T>;
}

function isSessionSource(db: Queryable): db is SessionSource {
  return typeof (db as Partial<SessionSource>).withClient === 'function';
}

/**
 * A transaction around fn (begin: 'BEGIN READ ONLY' for one that must not write). fn gets the
 * connection the transaction runs on: with a pool, a connection taken for the transaction alone.
 */
export async function inTransaction<T>(db: Queryable, fn: (tx: Queryable) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  if (isSessionSource(db)) return db.withClient((client) => inTransaction(client, fn, begin));
  await db.query(begin);
  try {
    const result = await fn(db);
    await db.query('COMMIT');
    return result;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A transaction that first takes the worker schema's DDL lock (every DDL of the worker runs in one). */
export async function inDdlTransaction<T>(db: ClientBase, fn: () => Promise<T>, opts: { lockTimeout?: string } = {}): Promise<T> {
  return inTransaction(db, async () => { // db is one connection (ClientBase): fn's statements run in the transaction
    if (opts.lockTimeout) await db.query(`SELECT set_config('lock_timeout', $1, true)`, [opts.lockTimeout]);
    await db.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK]);
    return fn();
  });
}
