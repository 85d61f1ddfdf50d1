/** `pg-kafka-cdc teardown`: drops a connector's trigger, function, change log, stored progress and offsets topic. */
import type { Env } from '../config/load';
import { dropConnectorObjects } from '../postgres/capture';
import { schemaOfTable } from '../postgres/introspect';
import { deleteTopic } from '../kafka/topics';
import { withConnectorDb } from './connector-db';

export async function teardownCommand(
  workerFile: string,
  connectorName: string,
  opts: { deleteTopic: boolean; databaseUrlEnv?: string | null },
  env: Env,
  out: (l: string) => void,
  err: (l: string) => void,
): Promise<number> {
  return withConnectorDb(
    workerFile,
    connectorName,
    'teardown',
    env,
    err,
    async (cfg, db, config) => {
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
    },
    opts.databaseUrlEnv ?? null,
  );
}
