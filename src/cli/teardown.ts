/** `pg-kafka-cdc teardown`: drops a connector's trigger, function, change log, stored progress and offsets topic. */
import { loadWorkerConfig, type Env } from '../config/load';
import { dropConnectorObjects } from '../postgres/capture';
import { connect, describeDatabase } from '../postgres/connect';
import { schemaOfTable } from '../postgres/introspect';
import { ConfigError, describeError, problemsFound } from '../util/errors';
import { deleteTopic } from '../kafka/topics';

export async function teardownCommand(
  workerFile: string,
  connectorName: string,
  opts: { deleteTopic: boolean },
  env: Env,
  out: (l: string) => void,
  err: (l: string) => void,
): Promise<number> {
  let config;
  try {
    config = loadWorkerConfig(workerFile, env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(`${problemsFound(e.problems.length)}:`);
    for (const p of e.problems) err(`  ${p}`);
    return 2;
  }
  const cfg = config.connectors.find((c) => c.name === connectorName);
  if (!cfg) {
    err(`no connector named "${connectorName}" in ${config.connectorsDir} (known: ${config.connectors.map((c) => c.name).join(', ') || 'none'})`);
    return 2;
  }
  let db;
  try {
    db = await connect(cfg.databaseUrl, { applicationName: `pg-kafka-cdc teardown ${cfg.name}`, connectTimeoutMs: 10_000 });
  } catch (e) {
    err(`${cfg.file}: /source/database: cannot connect to ${describeDatabase(cfg.databaseUrl)}: ${describeError(e)}`);
    return 1;
  }
  try {
    const schema = await schemaOfTable(db, cfg.table);
    const dropped = await dropConnectorObjects(db, cfg.name, cfg.channel, { schema, name: cfg.table.name });
    out(`teardown of ${cfg.name}: dropped ${dropped.length > 0 ? dropped.join(', ') : 'nothing (nothing was there)'}`);
    // The committed position (exactly_once) goes with the stored progress: a new start must not resume from it.
    out(`offsets topic ${cfg.offsetsTopic}: ${(await deleteTopic(config.kafka, cfg.offsetsTopic)) ? 'deleted' : 'did not exist'}`);
    if (opts.deleteTopic) {
      out(`topic ${cfg.topic}: ${(await deleteTopic(config.kafka, cfg.topic)) ? 'deleted' : 'did not exist'}`);
    } else {
      out(`the topic ${cfg.topic} is left as it is (--delete-topic deletes it)`);
    }
    return 0;
  } catch (e) {
    err(`teardown of ${cfg.name} failed: ${describeError(e)}`);
    return 1;
  } finally {
    await db.end().catch(() => undefined);
  }
}
