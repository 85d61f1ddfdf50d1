/**
 * TLS to PostgreSQL, for real: a private cluster that accepts only TLS (scripts/postgres/tls-up.sh,
 * certificates made there with openssl), and the real Kafka broker. verify-full with the right CA
 * connects and the whole pipeline runs over it; a wrong CA, a wrong host name, plaintext, a missing
 * file and a missing client certificate each fail with the cause named; client certificates work;
 * no password or key appears in logs, /connectors or /metrics.
 */
import { expect } from 'chai';
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { connect } from '../../src/postgres/connection';
import { runCli } from '../helpers/cli';
import { assertConverges } from '../helpers/converge';
import type { TestDb } from '../helpers/db';
import { uniqueTopic } from '../helpers/kafka';
import { freePort, printLogsIfFailed, REPO_ROOT, WorkerProcess, writeConfig } from '../helpers/worker';

const CACHE = process.env.PG_KAFKA_CDC_CACHE ?? path.join(os.homedir(), '.cache', 'pg-kafka-cdc');
const TLS = path.join(CACHE, 'pg-tls');
const PORT = Number(process.env.PG_TLS_PORT ?? 5433);
const DB = 'pgkc_tls';
const PASSWORD = 'pw-s3cret-tls';
const url = (opts: { host?: string; user?: string; query: string; password?: boolean }) =>
  `postgres://${opts.user ?? 'postgres'}${opts.password ? `:${PASSWORD}` : ''}@${opts.host ?? 'localhost'}:${PORT}/${DB}?${opts.query}`;
const verifyFull = `sslmode=verify-full&sslrootcert=${path.join(TLS, 'ca.pem')}`;

async function tlsDb(): Promise<TestDb> {
  const admin = new Client({ connectionString: `postgres://postgres@localhost:${PORT}/postgres?${verifyFull}` });
  await admin.connect();
  await admin.query(`DROP DATABASE IF EXISTS ${DB} WITH (FORCE)`);
  await admin.query(`CREATE DATABASE ${DB}`);
  await admin.end();
  const client = new Client({ connectionString: url({ query: verifyFull }), options: '-c TimeZone=UTC' });
  client.on('error', () => undefined);
  await client.connect();
  return {
    name: DB,
    url: url({ query: verifyFull }),
    client,
    query: async <T extends object>(sql: string, params?: unknown[]) => (await client.query<T>(sql, params)).rows,
    close: () => client.end().catch(() => undefined),
  };
}

describe('TLS to PostgreSQL', function () {
  this.timeout(180_000);
  let db: TestDb;
  const workers: WorkerProcess[] = [];

  before(async () => {
    // The project's own script makes the certificates and starts the TLS-only cluster; it fails loudly.
    execFileSync('bash', [path.join(REPO_ROOT, 'scripts', 'postgres', 'tls-up.sh')], { stdio: ['ignore', 'ignore', 'inherit'] });
    db = await tlsDb();
  });
  afterEach(function () {
    printLogsIfFailed(this, workers);
  });
  after(async () => {
    for (const w of workers) await w.stop();
    await db?.close();
  });

  it('connects with sslmode=verify-full and the right CA, over TLS', async () => {
    const c = await connect(url({ query: verifyFull }), { applicationName: 'tls test' });
    try {
      const r = await c.query<{ ssl: boolean }>('SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()');
      expect(r.rows[0].ssl).to.equal(true);
    } finally {
      await c.end();
    }
  });

  it('names the database and the cause: a wrong CA, a wrong host name, plaintext, an unreadable file, no client certificate', async () => {
    const cases: Array<[string, string, string]> = [
      [
        'wrong-ca',
        url({ query: `sslmode=verify-full&sslrootcert=${path.join(TLS, 'wrong-ca.pem')}` }),
        `cannot connect to localhost:${PORT}/${DB}: the server's TLS certificate is not signed by a CA this worker trusts`,
      ],
      ['wrong-host', url({ host: '127.0.0.1', query: verifyFull }), `cannot connect to 127.0.0.1:${PORT}/${DB}: the server's TLS certificate does not name the host of the URL`],
      ['plaintext', url({ query: 'sslmode=disable' }), `cannot connect to localhost:${PORT}/${DB}: the server accepts only TLS connections from here: set sslmode=verify-full`],
      [
        'no-file',
        url({ query: 'sslmode=verify-full&sslrootcert=/nonexistent/ca.pem' }),
        `cannot connect to localhost:${PORT}/${DB}: a file named by sslrootcert, sslcert or sslkey in the URL cannot be read`,
      ],
      ['no-client-cert', url({ user: 'pgkc_cert', query: verifyFull }), `cannot connect to localhost:${PORT}/${DB}: the server wants a client certificate: set sslcert and sslkey`],
    ];
    const file = writeConfig({
      httpPort: await freePort(),
      connectors: cases.map(([name, u]) => ({ name, source: { table_name: 'items', database: { url: u } }, sink: { topic: uniqueTopic(name) } })),
    });
    const r = await runCli(['validate', '--config', file]);
    expect(r.code).to.equal(2);
    for (const [name, , message] of cases) expect(r.stderr, name).to.contain(message);
    expect(r.stderr).not.to.match(/\n\s+at /);
  });

  it('authenticates with a client certificate', async () => {
    const c = await connect(url({ user: 'pgkc_cert', query: `${verifyFull}&sslcert=${path.join(TLS, 'client.pem')}&sslkey=${path.join(TLS, 'client.key')}` }), { applicationName: 'tls test' });
    try {
      expect((await c.query<{ u: string }>('SELECT current_user AS u')).rows[0].u).to.equal('pgkc_cert');
    } finally {
      await c.end();
    }
  });

  it('runs the pipeline over verify-full with the URL from the environment; no password or key shows in logs, /connectors or /metrics', async () => {
    await db.query(`CREATE TABLE items (id bigint PRIMARY KEY, v int, note text)`);
    await db.query(`INSERT INTO items SELECT g, g, 'seed' FROM generate_series(1, 300) AS g`);
    const topic = uniqueTopic('tls-items');
    const port = await freePort();
    const file = writeConfig({
      httpPort: port,
      worker: { database: { url_env: 'TLS_DB_URL' } },
      connectors: [
        { name: 'items', source: { table_name: 'items', notification: {} }, sink: { topic } },
        // The same database through a URL whose CA is wrong, with a password and a client key: it retries, and says why.
        { name: 'broken', source: { table_name: 'items', database: { url_env: 'BAD_DB_URL' } }, sink: { topic: uniqueTopic('tls-broken') } },
      ],
    });
    const w = WorkerProcess.start(file, port, {
      TLS_DB_URL: url({ query: verifyFull, password: true }),
      BAD_DB_URL: url({ query: `sslmode=verify-full&sslrootcert=${path.join(TLS, 'wrong-ca.pem')}&sslcert=${path.join(TLS, 'client.pem')}&sslkey=${path.join(TLS, 'client.key')}`, password: true }),
    });
    workers.push(w);
    await w.waitForState('items', ['streaming'], 60_000);
    await db.query(`UPDATE items SET v = v + 1 WHERE id <= 50`);
    await db.query(`DELETE FROM items WHERE id > 280`);
    await assertConverges(db, 'items', ['id'], topic);
    const broken = await w.waitForState('broken', ['retrying', 'failed'], 60_000);
    expect(broken.last_error?.message).to.contain(`localhost:${PORT}/${DB}: the server's TLS certificate is not signed by a CA this worker trusts`);
    const key = fs.readFileSync(path.join(TLS, 'client.key'), 'utf8').split('\n')[1]; // a line of the key's base64
    const everything = w.logs() + JSON.stringify((await w.get('/connectors')).body) + (await w.get<string>('/metrics')).body;
    expect(everything).to.not.contain(PASSWORD);
    expect(everything).to.not.contain('PRIVATE KEY');
    expect(everything).to.not.contain(key);
    expect(JSON.stringify((await w.get('/connectors')).body)).to.not.match(/postgres(ql)?:\/\//);
  });
});
