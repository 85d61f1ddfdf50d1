/**
 * Connections and transactions: how the worker opens PostgreSQL connections, what its statements
 * need of one (Queryable), and a transaction around a function. Every session renders JSON the same way
 * (TimeZone UTC, ISO dates, hex bytea, shortest exact floats), so a value published by the
 * snapshot and by change capture is byte-for-byte the same text.
 */
import { DEFAULT_TIMINGS } from '../timings';
import { Client, type ClientBase, type ClientConfig, type QueryResult, type QueryResultRow } from 'pg';

/**
 * The settings the worker's record contract and its own statements depend on. They are applied with
 * set_config once the connection is open (applySessionSettings), never taken from the URL: a URL's
 * `?options=-c TimeZone=...` or `?application_name=...` (node-postgres lets the URL override the
 * config) must not change how values are rendered or how a replica names its sessions, and poolers
 * such as PgBouncer refuse an `options` startup parameter.
 */
export const SESSION_SETTINGS: Record<string, string> = {
  TimeZone: 'UTC',
  DateStyle: 'ISO, MDY',
  IntervalStyle: 'postgres',
  bytea_output: 'hex',
  extra_float_digits: '1',
  client_encoding: 'UTF8',
  // The worker writes its progress and reads in READ COMMITTED; a URL must not make it read-only or serializable.
  default_transaction_read_only: 'off',
  default_transaction_isolation: 'read committed',
  lock_timeout: '0',
};

export interface ConnectOptions {
  /** Shown in pg_stat_activity, so DBAs can tell the worker's sessions apart (and replicas name a lock's holder). */
  applicationName: string;
  connectTimeoutMs?: number;
  /** Client-side limit on every query; a query that takes longer fails (and is retried). */
  queryTimeoutMs?: number;
  /** The server-side limit on a statement (statement_timeout), 0 for none: the server cancels a statement the worker gave up on. */
  statementTimeoutMs?: number;
  /** A failure to connect names the database ("cannot connect to host:port/db: ..."), for callers that do not say it themselves. */
  nameDatabase?: boolean;
}

export function clientConfig(url: string, opts: ConnectOptions): ClientConfig {
  return {
    connectionString: url,
    application_name: opts.applicationName.slice(0, 63),
    connectionTimeoutMillis: opts.connectTimeoutMs ?? DEFAULT_TIMINGS.PG_CONNECT_TIMEOUT_MS,
    query_timeout: opts.queryTimeoutMs,
    keepAlive: true,
    keepAliveInitialDelayMillis: DEFAULT_TIMINGS.PG_KEEPALIVE_DELAY_MS,
  };
}

/** The settings of a session: the contract's, its name, and its statement timeout. */
export function sessionSettings(opts: Pick<ConnectOptions, 'applicationName' | 'statementTimeoutMs'>): Record<string, string> {
  return { ...SESSION_SETTINGS, application_name: opts.applicationName.slice(0, 63), statement_timeout: `${Math.max(0, Math.round(opts.statementTimeoutMs ?? 0))}` };
}

/** Applies the session's settings in one round trip (values as parameters), whatever the URL asked for. */
export async function applySessionSettings(db: Queryable, settings: Record<string, string>): Promise<void> {
  const names = Object.keys(settings);
  await db.query(
    `SELECT ${names.map((_, i) => `set_config($${2 * i + 1}, $${2 * i + 2}, false)`).join(', ')}`,
    names.flatMap((n) => [n, settings[n]]),
  );
}

/** A failure to connect, explained (explainConnectError) and naming the database: "cannot connect to host:port/db: ...". */
export function namedConnectError(url: string, err: unknown): unknown {
  const explained = explainConnectError(err);
  if (!(explained instanceof Error)) return explained;
  const named = new Error(`cannot connect to ${describeDatabase(url)}: ${explained.message}`, { cause: err });
  (named as { code?: unknown }).code = (explained as { code?: unknown }).code;
  return named;
}

/**
 * Opens a connection; a connection that fails to open is closed, never leaked. A failure of TLS
 * (or of its files) is explained in words that say what to fix; the caller names the database.
 */
export async function connect(url: string, opts: ConnectOptions): Promise<Client> {
  let client: Client;
  const fail = (err: unknown) => (opts.nameDatabase ? namedConnectError(url, err) : explainConnectError(err));
  try {
    client = new Client(clientConfig(url, opts)); // reads the files sslrootcert, sslcert and sslkey name
  } catch (err) {
    throw fail(err);
  }
  // An idle client whose socket dies emits 'error'; without a listener that would crash the process.
  client.on('error', () => undefined);
  try {
    await client.connect();
  } catch (err) {
    await client.end().catch(() => undefined);
    throw fail(err);
  }
  try {
    await applySessionSettings(client, sessionSettings(opts));
  } catch (err) {
    destroyClient(client);
    throw fail(err);
  }
  return client;
}

/** Node's codes for a server certificate that no trusted CA signed. */
const UNTRUSTED_CERT = new Set(['SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT']);

/**
 * The error of a failed connection, with what to fix when the cause is TLS (node-postgres reads
 * sslmode its own way: require, verify-ca and verify-full all verify the certificate and the host
 * name, unless uselibpqcompat=true). Other errors pass unchanged. The code stays, so retrying
 * decisions and messages keep it.
 */
export function explainConnectError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const code = (err as { code?: unknown }).code;
  const why = (() => {
    if (typeof code === 'string' && UNTRUSTED_CERT.has(code))
      return "the server's TLS certificate is not signed by a CA this worker trusts: give the server's CA in the URL's sslrootcert (a mounted file)";
    if (code === 'CERT_HAS_EXPIRED') return "the server's TLS certificate has expired";
    if (code === 'ERR_TLS_CERT_ALTNAME_INVALID') return "the server's TLS certificate does not name the host of the URL (sslmode verify-full checks it): connect by a name the certificate lists";
    if (code === 'ENOENT' || code === 'EACCES') return 'a file named by sslrootcert, sslcert or sslkey in the URL cannot be read';
    if (code === '28000' && /no encryption/.test(err.message)) return 'the server accepts only TLS connections from here: set sslmode=verify-full and sslrootcert in the URL';
    if (code === '28000' && /client certificate/.test(err.message)) return 'the server wants a client certificate: set sslcert and sslkey in the URL (mounted files)';
    if (/does not support SSL/.test(err.message)) return 'the server does not offer TLS, but the URL asks for it (sslmode)';
    return null;
  })();
  if (why === null) return err;
  const explained = new Error(`${why} (${err.message})`, { cause: err });
  (explained as { code?: unknown }).code = code;
  return explained;
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
  const ended = client.end().then(
    () => 'ended' as const,
    () => 'ended' as const,
  );
  if ((await Promise.race([ended, timeout])) === 'timeout') destroyClient(client);
  clearTimeout(timer);
}

/** Closes a connection at once, even when its socket is half-open and a query is waiting on it. */
export function destroyClient(client: Client): void {
  const stream = (client as unknown as { connection?: { stream?: { destroy?: () => void } } }).connection?.stream;
  stream?.destroy?.();
  client.end().catch(() => undefined);
}

/** What the statements need of a connection (a pg Client, a PoolClient, the data pool). */
export interface Queryable {
  query<R extends QueryResultRow>(text: string, values?: unknown[]): Promise<QueryResult<R>>;
}

/** A source of connections (postgres/pool.ts): a transaction needs one connection for all its statements. */
export interface SessionSource extends Queryable {
  withClient<T>(fn: (client: ClientBase) => Promise<T>): Promise<T>;
}

function isSessionSource(db: Queryable): db is SessionSource {
  return typeof (db as Partial<SessionSource>).withClient === 'function';
}

/**
 * A transaction around fn (begin: 'BEGIN READ ONLY' for one that must not write). fn gets the
 * connection the transaction runs on: with a pool, a connection taken for the transaction alone.
 */
export async function inTransaction<T>(db: Queryable, fn: (tx: Queryable) => Promise<T>, begin = 'BEGIN'): Promise<T> {
  if (isSessionSource(db)) return db.withClient((client) => inTransaction(client, fn, begin));
  await db.query(begin);
  try {
    const result = await fn(db);
    await db.query('COMMIT');
    return result;
  } catch (err) {
    await db.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/** A READ ONLY transaction around fn that is always rolled back: checks that must never change anything. */
export async function inReadOnlyCheck<T>(db: ClientBase, fn: () => Promise<T>): Promise<T> {
  await db.query('BEGIN READ ONLY');
  try {
    return await fn();
  } finally {
    await db.query('ROLLBACK').catch(() => undefined);
  }
}
