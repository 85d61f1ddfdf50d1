/**
 * How the worker opens PostgreSQL connections. Every session renders JSON the same way
 * (TimeZone UTC, ISO dates, hex bytea, shortest exact floats), so a value published by the
 * snapshot and by change capture is byte-for-byte the same text.
 */
import { PG_CONNECT_TIMEOUT_MS } from '../timings';
import { Client, type ClientConfig } from 'pg';

export const SESSION_SETTINGS: Record<string, string> = {
  TimeZone: 'UTC',
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  bytea_output: 'hex',
  extra_float_digits: '1',
};

const OPTIONS = Object.entries(SESSION_SETTINGS)
  .map(([k, v]) => `-c ${k}=${v.replace(/ /g, '\\ ')}`)
  .join(' ');

export interface ConnectOptions {
  /** Shown in pg_stat_activity, so DBAs can tell the worker's sessions apart. */
  applicationName: string;
  connectTimeoutMs?: number;
  /** Client-side limit on every query; a query that takes longer fails (and is retried). */
  queryTimeoutMs?: number;
}

export function clientConfig(url: string, opts: ConnectOptions): ClientConfig {
  return {
    connectionString: url,
    application_name: opts.applicationName.slice(0, 63),
    connectionTimeoutMillis: opts.connectTimeoutMs ?? PG_CONNECT_TIMEOUT_MS,
    query_timeout: opts.queryTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    options: OPTIONS,
  };
}

/** Opens a connection; a connection that fails to open is closed, never leaked. */
export async function connect(url: string, opts: ConnectOptions): Promise<Client> {
  const client = new Client(clientConfig(url, opts));
  // An idle client whose socket dies emits 'error'; without a listener that would crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw err;
  }
  return client;
}

/** host:port/dbname of a URL, without credentials, for messages. */
export function describeDatabase(url: string): string {
  try {
    const u = new URL(url);
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || '/'}`;
  } catch {
    return '(unparsable URL)';
  }
}

/** Ends a connection gracefully, or destroys it when the server does not answer within ms. */
export async function endWithin(client: Client, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), ms)));
  const ended = client.end().then(() => 'ended' as const, () => 'ended' as const);
  if ((await Promise.race([ended, timeout])) === 'timeout') destroyClient(client);
  clearTimeout(timer);
}

/** Closes a connection at once, even when its socket is half-open and a query is waiting on it. */
export function destroyClient(client: Client): void {
  const stream = (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream;
  stream?.destroy?.();
  client.end().catch(() => undefined);
}
