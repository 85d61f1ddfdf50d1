/**
 * `pg-kafka-cdc install`: creates what the connectors need in their databases (the worker schema,
 * and for change capture the change log, the trigger function and the triggers), and grants the
 * worker's database user the rights to run them, so that the worker itself needs no DDL right and
 * owns nothing. Run once by an administrator (again after an upgrade); `--print-sql` prints the
 * statements instead, for review. Each connector's statements run in one transaction.
 */
import type { Env } from '../config/load';
import type { ConnectorConfig } from '../config/types';
import { captureStatements } from '../postgres/capture';
import { introspectTable } from '../postgres/introspect';
import { planTable } from '../postgres/plan';
import { workerSchemaStatements } from '../postgres/progress';
import { grantStatements } from '../postgres/rights';
import { displayTable } from '../postgres/sql';
import { ddlScript, runDdlScript } from '../postgres/ddl';
import { describeError } from '../util/errors';
import { databaseUrlFromEnv, loadOrReport, unknownConnector, withDatabase } from './connector-db';
import { isInsufficientPrivilege } from '../postgres/sqlstate';

export interface InstallOptions {
  connector: string | null;
  printSql: boolean;
  /** The role to grant the rights to; by default the user of each connector's database URL. */
  grantTo: string | null;
  /** An environment variable holding the administrator's database URL (instead of the connector's). */
  databaseUrlEnv: string | null;
}

export async function installCommand(workerFile: string, opts: InstallOptions, env: Env, out: (l: string) => void, err: (l: string) => void): Promise<number> {
  const config = loadOrReport(workerFile, env, err);
  if (config === null) return 2;
  const chosen = opts.connector === null ? config.connectors : config.connectors.filter((c) => c.name === opts.connector);
  if (chosen.length === 0) {
    err(opts.connector === null ? `no connectors in ${config.connectorsDir}` : unknownConnector(opts.connector, config));
    return 2;
  }
  const adminUrl = databaseUrlFromEnv(opts.databaseUrlEnv, env, err);
  if (adminUrl === false) return 2;
  for (const cfg of chosen) {
    const code = await installOne(cfg, adminUrl ?? cfg.databaseUrl, opts, out, err);
    if (code !== 0) return code;
  }
  return 0;
}

async function installOne(cfg: ConnectorConfig, url: string, opts: InstallOptions, out: (l: string) => void, err: (l: string) => void): Promise<number> {
  return withDatabase(cfg, url, 'install', err, async (db) => {
    const planned = planTable(cfg, await introspectTable(db, cfg.table), `${cfg.file}: `);
    if (!planned.ok) {
      for (const p of planned.problems) err(p);
      return 2;
    }
    const plan = planned.plan;
    const role = opts.grantTo ?? userOf(cfg.databaseUrl);
    const statements = [...workerSchemaStatements(), ...(cfg.channel !== null ? captureStatements(plan, cfg.channel) : []), ...(role !== null ? grantStatements(role, plan, cfg.channel) : [])];
    const what = `connector ${cfg.name}: ${displayTable(plan.table)}${cfg.channel ? `, change capture on channel ${cfg.channel}` : ''}${role ? `, rights for role ${role}` : ''}`;
    const script = ddlScript(statements, { lockTimeout: '10s' });
    if (opts.printSql) {
      out(`-- pg-kafka-cdc install, ${what}`);
      for (const s of script) out(`${s};`);
      out('');
      return 0;
    }
    try {
      await runDdlScript(db, script);
    } catch (e) {
      err(`install of ${cfg.name} failed, nothing was changed: ${describeError(e)}`);
      if (isInsufficientPrivilege(e))
        err("  run install as the owner of the table (to create its triggers) with the right to create the schema kafka_cdc, or give --database-url-env with such a user's URL");
      return 1;
    }
    out(`installed ${what}${role === null ? ' (no role to grant to: the database URL names no user; give --grant-to)' : ''}`);
    return 0;
  });
}

/** The user a database URL names, or null. */
function userOf(url: string): string | null {
  try {
    const u = decodeURIComponent(new URL(url).username);
    return u === '' ? null : u;
  } catch {
    return null;
  }
}
