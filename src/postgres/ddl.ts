/**
 * DDL of the worker: every statement that creates or changes the worker schema or a table's capture
 * runs in one transaction that first takes the worker schema's DDL lock, and a user who lacks the
 * right for it fails for good with what to do (install), with nothing half-installed.
 */
import type { ClientBase } from 'pg';
import { FatalError } from '../util/errors';
import { inTransaction } from './connection';
import { isInsufficientPrivilege } from './sqlstate';
import { quoteLiteral } from './sql';

/** Serialises DDL of the worker schema between connectors and workers (an arbitrary constant). */
export const DDL_LOCK = 7_208_811_304;

/** Where an administrator is told to look. */
export const INSTALL_HINT = "run `pg-kafka-cdc install --config <worker file>` once as the table's owner or an administrator (`--print-sql` shows what it runs), or see docs/least-privilege.md";

/** A transaction that first takes the worker schema's DDL lock (every DDL of the worker runs in one). */
export async function inDdlTransaction<T>(db: ClientBase, fn: () => Promise<T>, opts: { lockTimeout?: string } = {}): Promise<T> {
  return inTransaction(db, async () => {
    // db is one connection (ClientBase): fn's statements run in the transaction
    if (opts.lockTimeout) await db.query(`SELECT set_config('lock_timeout', $1, true)`, [opts.lockTimeout]);
    await db.query('SELECT pg_advisory_xact_lock($1)', [DDL_LOCK]);
    return fn();
  });
}

/**
 * The whole transaction `install` runs, as text, statement by statement: `install --print-sql`
 * prints exactly this list, and `install` runs exactly this list (runDdlScript).
 */
export function ddlScript(statements: string[], opts: { lockTimeout: string }): string[] {
  return [
    'BEGIN',
    `SELECT set_config('lock_timeout', ${quoteLiteral(opts.lockTimeout)}, true)`,
    `SELECT pg_advisory_xact_lock(${DDL_LOCK})`, // serialises with the workers' own DDL
    ...statements,
    'COMMIT',
  ];
}

/** Runs a ddlScript on one connection; any failure rolls the whole of it back. */
export async function runDdlScript(db: ClientBase, script: string[]): Promise<void> {
  try {
    for (const s of script) await db.query(s);
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Runs an install step (DDL in one transaction). When the user lacks the right for it, fails for
 * good with what to do, and nothing is half-installed: the transaction rolled back.
 */
export async function asInstallStep(db: ClientBase, what: string, fn: () => Promise<unknown>): Promise<void> {
  try {
    await fn();
  } catch (err) {
    if (!isInsufficientPrivilege(err)) throw err;
    const user = (await db.query<{ u: string }>('SELECT current_user AS u').catch(() => null))?.rows[0]?.u ?? '?';
    throw new FatalError(`${what}, and database user "${user}" may not create it (${(err as Error).message}): ${INSTALL_HINT}`, err);
  }
}
