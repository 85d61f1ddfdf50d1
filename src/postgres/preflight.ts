/**
 * Read-only checks of each connector against its database: reachable, the table and columns as
 * the config says, and the rights its database user needs (rights.ts). Runs in a READ ONLY transaction that is rolled back: it never creates anything.
 */
import type { ConnectorConfig } from '../config/types';
import { describeError } from '../util/errors';
import { connect, describeDatabase } from './connect';
import { introspectTable } from './introspect';
import { planTable, type TablePlan } from './plan';
import { missingRights } from './rights';

export interface PreflightResult {
  connector: string;
  /** Definite config problems (exit 2). */
  problems: string[];
  /** The database could not be reached: a problem for `validate`, a retry for `run`. */
  unreachable: string | null;
  plan: TablePlan | null;
}

export async function preflightConnector(cfg: ConnectorConfig, connectTimeoutMs = 5000): Promise<PreflightResult> {
  const where = `${cfg.file}: `;
  const base: PreflightResult = { connector: cfg.name, problems: [], unreachable: null, plan: null };
  let db;
  try {
    db = await connect(cfg.databaseUrl, { applicationName: `pg-kafka-cdc preflight ${cfg.name}`, connectTimeoutMs, queryTimeoutMs: 30_000 });
  } catch (err) {
    return { ...base, unreachable: `${where}/source/database: cannot connect to ${describeDatabase(cfg.databaseUrl)}: ${describeError(err)}` };
  }
  try {
    await db.query('BEGIN READ ONLY');
    const info = await introspectTable(db, cfg.table);
    const result = planTable(cfg, info, where);
    // The rights the connector's user needs (capture installed by an administrator, or the right to install it).
    const rights = result.ok ? (await missingRights(db, result.plan, cfg.channel)).map((m) => `${where}${m.path}: ${m.problem}`) : [];
    await db.query('ROLLBACK');
    return result.ok && rights.length === 0 ? { ...base, plan: result.plan } : { ...base, problems: result.ok ? rights : result.problems };
  } catch (err) {
    return { ...base, unreachable: `${where}/source/database: preflight failed on ${describeDatabase(cfg.databaseUrl)}: ${describeError(err)}` };
  } finally {
    await db.end().catch(() => undefined);
  }
}

export async function preflightAll(connectors: ConnectorConfig[]): Promise<PreflightResult[]> {
  return Promise.all(connectors.map((c) => preflightConnector(c)));
}
