/**
 * `pg-kafka-cdc snapshot`: asks the owner of a connector, wherever it runs, for a new snapshot of
 * its table (or of the rows a predicate matches), through the database: a request row, then a
 * NOTIFY. `--cancel` cancels the connector's open requests. The predicate is checked first, by
 * PostgreSQL, as one expression over the table (postgres/expression.ts), with the rights of the
 * command's own database user; nothing is written when it is refused.
 */
import type { Client } from 'pg';
import type { Env } from '../config/load';
import type { ConnectorConfig } from '../config/types';
import { ownerOf } from '../postgres/control';
import { ensureWorkerSchema } from '../postgres/progress';
import { introspectTable } from '../postgres/introspect';
import { ownershipLockKey } from '../postgres/names';
import { planTable } from '../postgres/plan';
import { checkExpression, checkRequester, estimateMatches, ExpressionRefused } from '../postgres/expression';
import { cancelRequests, insertRequest, notifyChannel, openRequests } from '../postgres/requests';
import { withConnectorDb } from './connector-db';

export async function snapshotCommand(
  workerFile: string,
  connectorName: string,
  opts: { where: string | null; cancel: boolean; repair?: boolean },
  env: Env,
  out: (l: string) => void,
  err: (l: string) => void,
): Promise<number> {
  if (opts.cancel && (opts.where !== null || opts.repair)) {
    err('snapshot: --cancel cancels the open requests of the connector and takes no --where or --repair');
    return 2;
  }
  if (opts.repair && opts.where !== null) {
    err('snapshot: --repair re-reads the whole table (a key the table lacks cannot match a predicate) and takes no --where');
    return 2;
  }
  return withConnectorDb(workerFile, connectorName, 'snapshot', env, err, async (cfg, db) => {
    if (opts.cancel) return cancel(cfg, db, out);
    // The command's user is not the worker: whether it may read the table (or the columns of its
    // predicate) is the request's check below, not the plan's.
    const info = await introspectTable(db, cfg.table);
    const planned = planTable(cfg, info && { ...info, canSelect: true }, `${cfg.file}: `);
    if (!planned.ok) {
      for (const p of planned.problems) err(p);
      return 2;
    }
    const table = planned.plan.table;
    let estimated = planned.plan.info.estimatedRows;
    try {
      if (opts.where === null) await checkRequester(db, table, null);
      else estimated = await estimateMatches(db, table, await checkExpression(db, table, opts.where, { requester: null, allowStableDateTime: true }));
    } catch (e) {
      if (!(e instanceof ExpressionRefused)) throw e;
      err(opts.where === null ? `the request ${e.message}` : `--where: the predicate ${e.message}`);
      if (opts.where !== null) err('  give one boolean expression over the table\'s columns, for example --where "id > 1000" or --where "region = \'eu\'"');
      return 2;
    }
    await ensureWorkerSchema(db);
    const request = await insertRequest(db, cfg.name, opts.where, estimated, { repair: opts.repair ?? false });
    if (cfg.channel) await notifyChannel(db, cfg.channel); // wakes an idle owner; a busy one looks within a second
    const queued = (await openRequests(db, cfg.name)).filter((r) => r.id !== request.id).length;
    const what = opts.repair ? 'the whole table, and tombstones for the keys the topic holds and the table does not' : opts.where === null ? 'the whole table' : `rows where ${opts.where}`;
    out(`${opts.repair ? 'repairing ' : ''}re-snapshot request ${request.id} for ${cfg.name}: ${what} (about ${estimated} rows)`);
    if (queued > 0) out(`  ${queued} earlier request${queued === 1 ? ' is' : 's are'} still open: requests are served one at a time, oldest first`);
    const owner = await ownerOf(db, ownershipLockKey(cfg.name));
    out(
      owner === null
        ? '  no worker owns the connector now: the request is served when one starts'
        : `  the owner (${owner}) starts it within a second; follow it at /connectors or in pg_kafka_cdc_resnapshot_rows`,
    );
    return 0;
  });
}

async function cancel(cfg: ConnectorConfig, db: Client, out: (l: string) => void): Promise<number> {
  await ensureWorkerSchema(db);
  const cancelled = await cancelRequests(db, cfg.name);
  if (cfg.channel) await notifyChannel(db, cfg.channel);
  if (cancelled.length === 0) out(`no open re-snapshot request for ${cfg.name}: nothing to cancel`);
  else
    out(
      `cancelled re-snapshot request${cancelled.length === 1 ? '' : 's'} ${cancelled.map((r) => r.id).join(', ')} of ${cfg.name}; the owner stops within a second (pages already published stay in the topic)`,
    );
  return 0;
}
