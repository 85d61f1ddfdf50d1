/** What the commands about one connector share: its config from the worker file, and a connection to its database. */
import { DEFAULT_TIMINGS } from '../timings';
import type { Client } from 'pg';
import { loadWorkerConfig, type Env } from '../config/load';
import type { ConnectorConfig, WorkerConfig } from '../config/types';
import { connect, describeDatabase } from '../postgres/connection';
import { ConfigError, describeError, problemsFound } from '../util/errors';

/**
 * Loads the worker file, finds the connector and connects to its database, then runs fn; the
 * connection is closed afterwards. Exit codes: 2 for a bad config or an unknown connector, 1 when
 * the database cannot be reached.
 */
export async function withConnectorDb(
  workerFile: string,
  connectorName: string,
  command: string,
  env: Env,
  err: (l: string) => void,
  fn: (cfg: ConnectorConfig, db: Client, config: WorkerConfig) => Promise<number>,
  /** An environment variable holding another database URL to connect with (an administrator's). */
  databaseUrlEnv: string | null = null,
): Promise<number> {
  const config = loadOrReport(workerFile, env, err);
  if (config === null) return 2;
  const override = databaseUrlFromEnv(databaseUrlEnv, env, err);
  if (override === false) return 2;
  const cfg = config.connectors.find((c) => c.name === connectorName);
  if (!cfg) {
    err(unknownConnector(connectorName, config));
    return 2;
  }
  return withDatabase(cfg, override ?? cfg.databaseUrl, command, err, (db) => fn(cfg, db, config));
}

/**
 * Connects to a connector's database (or the given URL), runs fn and closes the connection. Exit
 * code 1 when the database cannot be reached, or fn throws (said with the command and connector).
 */
export async function withDatabase(cfg: ConnectorConfig, url: string, command: string, err: (l: string) => void, fn: (db: Client) => Promise<number>): Promise<number> {
  let db;
  try {
    db = await connect(url, { applicationName: `pg-kafka-cdc ${command} ${cfg.name}`, connectTimeoutMs: DEFAULT_TIMINGS.PG_CONNECT_TIMEOUT_MS });
  } catch (e) {
    err(`${cfg.file}: /source/database: cannot connect to ${describeDatabase(url)}: ${describeError(e)}`);
    return 1;
  }
  try {
    return await fn(db);
  } catch (e) {
    err(`${command} of ${cfg.name} failed: ${describeError(e)}`);
    return 1;
  } finally {
    await db.end().catch(() => undefined);
  }
}

/** "no connector named X in DIR (known: ...)". */
export function unknownConnector(name: string, config: WorkerConfig): string {
  return `no connector named "${name}" in ${config.connectorsDir} (known: ${config.connectors.map((c) => c.name).join(', ') || 'none'})`;
}

/** The worker config, or null after printing its problems (the caller exits 2). */
export function loadOrReport(workerFile: string, env: Env, err: (l: string) => void): WorkerConfig | null {
  try {
    return loadWorkerConfig(workerFile, env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    err(`${problemsFound(e.problems.length)}:`);
    for (const p of e.problems) err(`  ${p}`);
    return null;
  }
}

/** The URL in the named environment variable (null when no name is given); false after saying it is not set. */
export function databaseUrlFromEnv(name: string | null, env: Env, err: (l: string) => void): string | null | false {
  if (name === null) return null;
  const value = env[name];
  if (!value) {
    err(`--database-url-env: the environment variable ${name} is not set`);
    return false;
  }
  return value;
}
