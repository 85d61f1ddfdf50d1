/**
 * Read-only checks of each connector against its database: reachable, the table and columns as
 * the config says, and the rights its database user needs (rights.ts). Runs in a READ ONLY transaction that is rolled back: it never creates anything.
 */
import { DEFAULT_TIMINGS } from '../timings';
import type { Client } from 'pg';
import type { ConnectorConfig } from '../config/types';
import { describeError } from '../util/errors';
import { connect, describeDatabase, inReadOnlyCheck } from '../postgres/connection';
import { introspectTable } from '../postgres/introspect';
import { planTable, type TablePlan } from '../postgres/plan';
import { missingRights } from '../postgres/rights';
import { probeConnection, transactionPoolingProblem } from '../postgres/control';

export interface PreflightResult {
  connector: string;
  /** Definite config problems (exit 2). */
  problems: string[];
  /** The database could not be reached: a problem for `validate`, a retry for `run`. */
  unreachable: string | null;
  plan: TablePlan | null;
}

/**
 * Checks every connector, one connection per database (checked one after the other on it, databases
 * in parallel): a worker with a hundred connectors must not open a hundred sessions to start.
 */
export async function preflightAll(connectors: ConnectorConfig[], connectTimeoutMs = DEFAULT_TIMINGS.PREFLIGHT_CONNECT_TIMEOUT_MS): Promise<PreflightResult[]> {
  const byUrl = new Map<string, ConnectorConfig[]>();
  for (const c of connectors) byUrl.set(c.databaseUrl, [...(byUrl.get(c.databaseUrl) ?? []), c]);
  const results = new Map<string, PreflightResult>();
  await Promise.all(
    [...byUrl].map(async ([url, group]) => {
      let db;
      try {
        db = await connect(url, { applicationName: 'pg-kafka-cdc preflight', connectTimeoutMs, queryTimeoutMs: DEFAULT_TIMINGS.PREFLIGHT_QUERY_TIMEOUT_MS });
      } catch (err) {
        for (const cfg of group) results.set(cfg.name, { ...base(cfg), unreachable: `${cfg.file}: /source/database: cannot connect to ${describeDatabase(url)}: ${describeError(err)}` });
        return;
      }
      try {
        const pooled = await transactionPoolingProblem(db, probeConnection(url, { applicationName: 'pg-kafka-cdc preflight', connectTimeoutMs })).catch(() => null);
        for (const cfg of group) results.set(cfg.name, pooled ? { ...base(cfg), problems: [`${cfg.file}: /source/database: ${pooled}`] } : await preflightOn(db, cfg));
      } finally {
        await db.end().catch(() => undefined);
      }
    }),
  );
  return connectors.map((c) => results.get(c.name) as PreflightResult);
}

function base(cfg: ConnectorConfig): PreflightResult {
  return { connector: cfg.name, problems: [], unreachable: null, plan: null };
}

/** One connector's checks, in a READ ONLY transaction rolled back at the end. */
async function preflightOn(db: Client, cfg: ConnectorConfig): Promise<PreflightResult> {
  const where = `${cfg.file}: `;
  try {
    return await inReadOnlyCheck(db, async () => {
      const info = await introspectTable(db, cfg.table);
      const result = planTable(cfg, info, where);
      // The rights the connector's user needs (capture installed by an administrator, or the right to install it).
      const rights = result.ok ? (await missingRights(db, result.plan, cfg.channel)).map((m) => `${where}${m.path}: ${m.problem}`) : [];
      return result.ok && rights.length === 0 ? { ...base(cfg), plan: result.plan } : { ...base(cfg), problems: result.ok ? rights : result.problems };
    });
  } catch (err) {
    return { ...base(cfg), unreachable: `${where}/source/database: preflight failed on ${describeDatabase(cfg.databaseUrl)}: ${describeError(err)}` };
  }
}

/** The checks of one connector (its own connection). */
export async function preflightConnector(cfg: ConnectorConfig, connectTimeoutMs = DEFAULT_TIMINGS.PREFLIGHT_CONNECT_TIMEOUT_MS): Promise<PreflightResult> {
  return (await preflightAll([cfg], connectTimeoutMs))[0];
}
