/**
 * Least privilege. The DDL a connector needs (the worker schema, the change log, the trigger
 * function and triggers) can be run once by an administrator (`pg-kafka-cdc install`); the running
 * worker then needs no DDL right and owns nothing, only the grants of grantStatements(). missingRights()
 * says, read-only, which right a worker lacks, for `validate` and for `run` before it starts.
 */
import { captureCurrent } from './capture';
import { INSTALL_HINT } from './ddl';
import { captureNames, WORKER_SCHEMA } from './names';
import type { TablePlan } from './plan';
import { workerSchemaCurrent } from './progress';
import type { Queryable } from './connection';
import { displayTable, quoteIdent, quoteTable } from './sql';

const W = quoteIdent(WORKER_SCHEMA);

/** The privileges a running worker needs on each object (capture: the change log too). */
function neededPrivileges(plan: TablePlan, channel: string | null): Array<{ object: string; shown: string; privilege: string; what: 'table' | 'worker' | 'log' }> {
  const out: Array<{ object: string; shown: string; privilege: string; what: 'table' | 'worker' | 'log' }> = [
    { object: quoteTable(plan.table), shown: displayTable(plan.table), privilege: 'SELECT', what: 'table' },
  ];
  for (const privilege of ['SELECT', 'INSERT', 'UPDATE']) out.push({ object: `${W}.progress`, shown: `${WORKER_SCHEMA}.progress`, privilege, what: 'worker' });
  for (const privilege of ['SELECT', 'INSERT', 'UPDATE']) out.push({ object: `${W}.snapshot_requests`, shown: `${WORKER_SCHEMA}.snapshot_requests`, privilege, what: 'worker' });
  if (channel !== null) {
    // Entries of the change log the drain cannot read are set aside there, with the reason.
    out.push({ object: `${W}.rejected_changes`, shown: `${WORKER_SCHEMA}.rejected_changes`, privilege: 'INSERT', what: 'worker' });
    const log = captureNames(channel).logTable;
    for (const privilege of ['SELECT', 'DELETE']) out.push({ object: `${W}.${quoteIdent(log)}`, shown: `${WORKER_SCHEMA}.${log}`, privilege, what: 'log' });
  }
  return out;
}

/** The GRANTs that let role run the connector once its objects are installed. */
export function grantStatements(role: string, plan: TablePlan, channel: string | null): string[] {
  const r = quoteIdent(role);
  const byObject = new Map<string, string[]>();
  for (const p of neededPrivileges(plan, channel)) byObject.set(p.object, [...(byObject.get(p.object) ?? []), p.privilege]);
  return [`GRANT USAGE ON SCHEMA ${W} TO ${r}`, ...[...byObject].map(([object, privileges]) => `GRANT ${privileges.join(', ')} ON ${object} TO ${r}`)];
}

/**
 * The rights the connecting user lacks to run this connector, each with its fix; [] when none.
 * Read-only. Objects not installed yet are fine when the user may create them (the worker then
 * installs them itself, as before least privilege); otherwise the problem says to run install.
 */
export async function missingRights(db: Queryable, plan: TablePlan, channel: string | null): Promise<Array<{ path: string; problem: string }>> {
  const facts = (
    await db.query<{ usr: string; db_create: boolean; schema_exists: boolean; schema_usage: boolean | null; schema_create: boolean | null; owns_progress: boolean | null }>(
      `SELECT current_user AS usr, has_database_privilege(current_database(), 'CREATE') AS db_create,
              to_regnamespace($1) IS NOT NULL AS schema_exists,
              CASE WHEN to_regnamespace($1) IS NULL THEN NULL ELSE has_schema_privilege($1, 'USAGE') END AS schema_usage,
              CASE WHEN to_regnamespace($1) IS NULL THEN NULL ELSE has_schema_privilege($1, 'CREATE') END AS schema_create,
              (SELECT pg_has_role(c.relowner, 'USAGE') FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = $1 AND c.relname = 'progress') AS owns_progress`,
      [WORKER_SCHEMA],
    )
  ).rows[0];
  const user = facts.usr;
  const problems: Array<{ path: string; problem: string }> = [];
  const schemaCurrent = facts.schema_exists && facts.schema_usage === true && (await workerSchemaCurrent(db));
  if (facts.schema_exists && facts.schema_usage === false) {
    problems.push({
      path: '/source/database',
      problem: `database user "${user}" lacks USAGE on schema ${WORKER_SCHEMA}: GRANT USAGE ON SCHEMA ${WORKER_SCHEMA} TO ${quoteIdent(user)}, or ${INSTALL_HINT}`,
    });
  } else if (!schemaCurrent) {
    const canCreate = facts.schema_exists ? facts.schema_create === true && facts.owns_progress !== false : facts.db_create;
    if (!canCreate)
      problems.push({ path: '/source/database', problem: `the worker schema ${WORKER_SCHEMA} is missing or older than this version, and database user "${user}" may not create it: ${INSTALL_HINT}` });
  }
  const captureReady = channel !== null && schemaCurrent && (await captureCurrent(db, plan, channel));
  if (channel !== null && !captureReady && !plan.info.isOwner) {
    problems.push({
      path: '/source/notification',
      problem: `change capture of ${displayTable(plan.table)} (trigger ${captureNames(channel).triggerName}) is not installed or is older than this version, and database user "${user}" may not create it (it does not own the table): ${INSTALL_HINT}`,
    });
  }
  // SELECT on the table is planTable's check (it runs first); the worker's own objects once they exist.
  const checks = neededPrivileges(plan, channel).filter((p) => (p.what === 'worker' && schemaCurrent) || (p.what === 'log' && captureReady));
  const held = (
    await db.query<{ ok: boolean }>(`SELECT has_table_privilege(o, p) AS ok FROM unnest($1::text[], $2::text[]) WITH ORDINALITY AS x(o, p, i) ORDER BY i`, [
      checks.map((c) => c.object),
      checks.map((c) => c.privilege),
    ])
  ).rows;
  const lacking = new Map<string, { shown: string; object: string; what: string; privileges: string[] }>();
  checks.forEach((c, i) => {
    if (held[i].ok) return;
    const entry = lacking.get(c.object) ?? { shown: c.shown, object: c.object, what: c.what, privileges: [] };
    entry.privileges.push(c.privilege);
    lacking.set(c.object, entry);
  });
  for (const l of lacking.values()) {
    const path = l.what === 'log' ? '/source/notification' : '/source/database';
    problems.push({ path, problem: `database user "${user}" lacks ${l.privileges.join(', ')} on ${l.shown}: GRANT ${l.privileges.join(', ')} ON ${l.object} TO ${quoteIdent(user)}` });
  }
  return problems;
}
