#!/usr/bin/env -S node --max-semi-space-size=16
/**
 * The command line: a thin shell over the library. The only place that reads the environment and
 * decides exit codes: 0 done, 1 runtime failure, 2 invalid config or usage. Never a stack trace.
 */
import './require-node'; // first: a clear message on an old Node.js, before anything else loads
import { VERSION } from '../version';
import { Command, CommanderError, InvalidArgumentError } from 'commander';
import { loadWorkerConfig } from '../config/load';
import { ConfigError, describeError, problemsFound } from '../util/errors';
import { installCommand } from './install';
import { runCommand } from './run';
import { snapshotCommand } from './snapshot';
import { tailCommand } from './tail';
import { teardownCommand } from './teardown';
import { validateCommand } from './validate';

const out = (l: string) => process.stdout.write(l + '\n');
const err = (l: string) => process.stderr.write(l + '\n');

function positiveInt(v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
}

export function buildProgram(setExit: (code: number) => void): Command {
  const program = new Command()
    .name('pg-kafka-cdc')
    .description('Mirror PostgreSQL tables into Kafka topics: a snapshot in primary-key order, then every change.')
    .version(VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) });

  program
    .command('validate')
    .description('check the worker file and every connector file, then each table (read-only); exit 2 when invalid')
    .requiredOption('-c, --config <worker.json>', 'the worker file')
    .action(async (o: { config: string }) => setExit(await validateCommand(o.config, process.env, out, err)));

  program
    .command('run')
    .description('validate, then run every connector until SIGTERM/SIGINT')
    .requiredOption('-c, --config <worker.json>', 'the worker file')
    .action(async (o: { config: string }) => setExit(await runCommand(o.config, process.env, err)));

  program
    .command('teardown')
    .description("drop a connector's trigger, function, change log and stored progress (the topic is kept)")
    .requiredOption('-c, --config <worker.json>', 'the worker file')
    .requiredOption('--connector <name>', 'the connector to tear down')
    .option('--delete-topic', 'also delete its Kafka topic', false)
    .option('--database-url-env <name>', "connect with the URL in this environment variable (an administrator's: the one that ran install) instead of the connector's")
    .action(async (o: { config: string; connector: string; deleteTopic: boolean; databaseUrlEnv?: string }) =>
      setExit(await teardownCommand(o.config, o.connector, { deleteTopic: o.deleteTopic, databaseUrlEnv: o.databaseUrlEnv ?? null }, process.env, out, err)),
    );

  program
    .command('install')
    .description("create what the connectors need in their databases and grant the worker's user its rights (run once by an administrator)")
    .requiredOption('-c, --config <worker.json>', 'the worker file')
    .option('--connector <name>', 'only this connector (default: every connector)')
    .option('--print-sql', 'print the SQL instead of running it', false)
    .option('--grant-to <role>', "the role the worker runs as (default: the user of each connector's database URL)")
    .option('--database-url-env <name>', "connect with the URL in this environment variable (an administrator's) instead of the connector's")
    .action(async (o: { config: string; connector?: string; printSql: boolean; grantTo?: string; databaseUrlEnv?: string }) =>
      setExit(await installCommand(o.config, { connector: o.connector ?? null, printSql: o.printSql, grantTo: o.grantTo ?? null, databaseUrlEnv: o.databaseUrlEnv ?? null }, process.env, out, err)),
    );

  program
    .command('snapshot')
    .description("ask the connector's owner for a new snapshot of its table (or of the rows --where matches) while it goes on streaming")
    .requiredOption('-c, --config <worker.json>', 'the worker file')
    .requiredOption('--connector <name>', 'the connector to re-snapshot')
    .option('--where <predicate>', "only the rows this SQL boolean expression over the table's columns matches")
    .option('--repair', 'also tombstone the keys the topic holds and the table does not (mends any drift without a new topic)', false)
    .option('--cancel', 'cancel the open re-snapshot requests of the connector', false)
    .action(async (o: { config: string; connector: string; where?: string; cancel: boolean; repair: boolean }) =>
      setExit(await snapshotCommand(o.config, o.connector, { where: o.where ?? null, cancel: o.cancel, repair: o.repair }, process.env, out, err)),
    );

  program
    .command('tail')
    .description('print the records of a topic from the beginning: partition:offset, op, key, value')
    .requiredOption('-t, --topic <topic>', 'the topic')
    .option('-c, --config <worker.json>', 'take the Kafka settings from this worker file')
    .option('-b, --brokers <list>', 'comma-separated brokers (instead of --config)', '127.0.0.1:9092')
    .option('-n, --max-messages <n>', 'stop after n records', positiveInt)
    .option('--idle-exit-ms <ms>', 'stop when no record came for this long', positiveInt)
    .action(async (o: { topic: string; config?: string; brokers: string; maxMessages?: number; idleExitMs?: number }) => {
      const kafka = o.config ? loadWorkerConfig(o.config, process.env).kafka : { brokers: o.brokers.split(','), clientId: 'pg-kafka-cdc', ssl: false as const };
      setExit(await tailCommand({ topic: o.topic, kafka, maxMessages: o.maxMessages ?? null, idleExitMs: o.idleExitMs ?? null }, out));
    });
  return program;
}

export async function main(argv: string[]): Promise<number> {
  let code = 0;
  const program = buildProgram((c) => (code = c));
  try {
    await program.parseAsync(argv);
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof ConfigError) {
      err(`${problemsFound(e.problems.length)}:`);
      for (const p of e.problems) err(`  ${p}`);
      return 2;
    }
    err(`pg-kafka-cdc: ${describeError(e)}`);
    return 1;
  }
}

if (require.main === module) {
  main(process.argv).then((code) => {
    process.exitCode = code;
  });
}
