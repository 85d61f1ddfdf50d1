// `validate` and `run` against a corpus of invalid configs, through the real CLI as a child process:
// exit 2, every culprit named (file and JSON path, or table/column), no stack trace, no secret, and
// nothing created in the database or in Kafka.
import { expect } from 'chai';
import { cleanupConfigDirs, writeConfigDir } from '../helpers/files';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { createTestDb, type TestDb } from '../helpers/db';
import { KAFKA_BROKERS, kafkaClient } from '../helpers/services';
import { runCli, type CliResult } from '../helpers/cli';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const CHANNEL = 'v_orders_cdc';

function removeTempDirs(): void {
  cleanupConfigDirs();
}

interface Files {
  dir: string;
  worker: string;
  /** A file of the config as the CLI shows it: relative to its working directory, the repo root. */
  shown: (rel: string) => string;
}

/** worker.json and connectors/<name>; a string is written as it is (for syntax errors). */
function writeFiles(worker: unknown, connectors: Record<string, unknown>): Files {
  const c = writeConfigDir(worker, connectors, {}, 'pgkc-v-');
  return { dir: c.dir, worker: c.worker, shown: (rel) => path.relative(ROOT, c.abs(rel)) };
}

const FIXTURE = `
  CREATE TABLE orders (
    id bigint PRIMARY KEY,
    customer text NOT NULL,
    amount numeric(12,2),
    note text,
    version bigint NOT NULL DEFAULT 1,
    updated_at timestamptz NOT NULL DEFAULT now());
  INSERT INTO orders (id, customer, amount, note) VALUES (1, 'ada', 10.50, 'first'), (2, 'bob', 7, NULL);
  CREATE TABLE x (id int PRIMARY KEY);
  INSERT INTO x VALUES (1);
  CREATE TABLE audit_log (at timestamptz NOT NULL DEFAULT now(), msg text);
  CREATE VIEW orders_view AS SELECT * FROM orders;`;

async function freshDb(slug: string): Promise<TestDb> {
  const db = await createTestDb(`v ${slug}`);
  expect(db.name.startsWith('pgkc_v_')).to.equal(true);
  await db.query(FIXTURE);
  return db;
}

/** Everything a connector could have created, and the fixture's state. */
async function inventory(db: TestDb): Promise<Record<string, unknown>> {
  const q = async (sql: string) => (await db.query<{ v: unknown }>(sql)).map((r) => r.v);
  return {
    schemas: await q(`SELECT nspname AS v FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' AND nspname <> 'information_schema' ORDER BY 1`),
    relations: await q(`SELECT n.nspname || '.' || c.relname || ':' || c.relkind::text AS v FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                         WHERE n.nspname NOT LIKE 'pg\\_%' AND n.nspname <> 'information_schema' ORDER BY 1`),
    triggers: await q(`SELECT tgname AS v FROM pg_trigger WHERE NOT tgisinternal ORDER BY 1`),
    functions: await q(`SELECT n.nspname || '.' || p.proname AS v FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
                         WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') ORDER BY 1`),
    orders: await q(`SELECT count(*)::int AS v FROM orders`),
  };
}

async function assertNothingCreated(db: TestDb, before: Record<string, unknown>): Promise<void> {
  const rows = await db.query<{ kafka_cdc: boolean; triggers: number; functions: number; x: string | null }>(
    `SELECT EXISTS (SELECT 1 FROM pg_namespace WHERE nspname = 'kafka_cdc') AS kafka_cdc,
            (SELECT count(*)::int FROM pg_trigger WHERE tgrelid = 'public.orders'::regclass AND NOT tgisinternal) AS triggers,
            (SELECT count(*)::int FROM pg_proc WHERE proname LIKE 'v\\_orders\\_cdc%' OR proname LIKE 'pgkc\\_%') AS functions,
            to_regclass('public.x')::text AS x`,
  );
  expect(rows[0], 'database objects after the run').to.deep.equal({ kafka_cdc: false, triggers: 0, functions: 0, x: 'x' });
  expect(await inventory(db)).to.deep.equal(before);
}

function assertCleanFailure(r: CliResult, header: RegExp): void {
  expect(r.signal, 'the CLI was killed: it did not exit by itself').to.equal(null);
  expect(r.code, `exit code; stderr:\n${r.stderr}`).to.equal(2);
  const lines = r.stderr.split('\n').filter((l) => l.length > 0);
  expect(lines[0]).to.match(header);
  // Every further line is one indented problem; nothing else (no stack, no Node error banner).
  for (const l of lines.slice(1)) expect(l, 'a problem line').to.match(/^ {2}\S/);
  expect(r.stderr).not.to.match(/^\s+at /m);
  expect(r.stderr).not.to.match(/^\s*(Uncaught )?\w*Error\b/m);
  expect(r.stderr).not.to.contain('node:internal');
  expect(r.stdout).not.to.contain('config is valid');
}

interface Ctx {
  db: TestDb;
  files: Files;
  conn: string;
}

interface Case {
  /** Database slug (pgkc_v_<slug>) and part of the title. */
  slug: string;
  title: string;
  worker?: (db: TestDb) => unknown;
  connectors: (db: TestDb) => Record<string, unknown>;
  env?: Record<string, string>;
  /** Substrings stderr must contain: the file, the JSON path, the table or column. */
  culprits: (c: Ctx) => string[];
  /** Exact number of problems, when known. */
  count?: number;
  secret?: string;
}

const worker = (db: TestDb, extra: Record<string, unknown> = {}) => ({ kafka: { brokers: KAFKA_BROKERS }, database: { url: db.url }, ...extra });
/** A connector that would install change capture, so that a faulty validate would leave traces. */
const orders = (source: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  name: 'orders',
  source: { table_name: 'orders', notification: { channel_name: CHANNEL }, ...source },
  ...extra,
});
const C = 'connectors/orders.json';

const CASES: Case[] = [
  {
    slug: 'no brokers',
    title: 'a worker file without kafka.brokers',
    worker: () => ({ kafka: { client_id: 'x' } }),
    connectors: () => ({ 'orders.json': orders() }),
    culprits: (c) => [`${c.files.shown('worker.json')}: /kafka: missing required key "brokers"`],
    count: 1,
  },
  {
    slug: 'empty brokers',
    title: 'an empty kafka.brokers',
    worker: (db) => ({ ...worker(db), kafka: { brokers: [] } }),
    connectors: () => ({ 'orders.json': orders() }),
    culprits: (c) => [`${c.files.shown('worker.json')}: /kafka/brokers: `],
    count: 1,
  },
  {
    slug: 'broker port',
    title: 'a broker without a port',
    worker: (db) => ({ ...worker(db), kafka: { brokers: ['127.0.0.1:9092', 'kafka-1.kafka'] } }),
    connectors: () => ({ 'orders.json': orders() }),
    culprits: (c) => [`${c.files.shown('worker.json')}: /kafka/brokers/1: "`],
    count: 1,
  },
  {
    slug: 'worker unknown key',
    title: 'an unknown key at the top of the worker file',
    worker: (db) => worker(db, { conectors_dir: 'connectors' }),
    connectors: () => ({ 'orders.json': orders() }),
    culprits: (c) => [`${c.files.shown('worker.json')}: /: unknown key "conectors_dir"`],
    count: 1,
  },
  {
    slug: 'connector unknown key',
    title: 'an unknown key at the top of a connector file',
    connectors: () => ({ 'orders.json': orders({}, { topic: 'orders' }) }),
    culprits: (c) => [`${c.files.shown(C)}: /: unknown key "topic"`],
    count: 1,
  },
  {
    slug: 'source unknown key',
    title: 'an unknown key in source',
    connectors: () => ({ 'orders.json': orders({ colums: ['note'] }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source: unknown key "colums"`],
    count: 1,
  },
  {
    slug: 'batch size type',
    title: 'a snapshot.batch_size given as a string',
    connectors: () => ({ 'orders.json': orders({}, { snapshot: { batch_size: '5000' } }) }),
    culprits: (c) => [`${c.files.shown(C)}: /snapshot/batch_size: must be of type integer`],
    count: 1,
  },
  {
    slug: 'snapshot mode',
    title: 'an unknown snapshot.mode',
    connectors: () => ({ 'orders.json': orders({}, { snapshot: { mode: 'full' } }) }),
    culprits: (c) => [`${c.files.shown(C)}: /snapshot/mode: must be one of "initial", "never"`],
    count: 1,
  },
  {
    slug: 'connector name',
    title: 'a connector name with a space',
    connectors: () => ({ 'orders.json': orders({}, { name: 'orders v2' }) }),
    culprits: (c) => [`${c.files.shown(C)}: /name: "`],
    count: 1,
  },
  {
    slug: 'duplicate names',
    title: 'two connectors with the same name',
    connectors: () => ({
      'a.json': orders({}, { sink: { topic: 'orders-a' } }),
      'b.json': { name: 'orders', source: { table_name: 'x' }, sink: { topic: 'orders-b' } },
    }),
    culprits: (c) => [`${c.files.shown('connectors/b.json')}: /name: "orders" is already the name of the connector in ${c.files.shown('connectors/a.json')}`],
    count: 1,
  },
  {
    slug: 'duplicate topics',
    title: 'two connectors writing the same topic',
    connectors: () => ({ 'a.json': orders(), 'b.json': { name: 'x', source: { table_name: 'x' }, sink: { topic: 'orders' } } }),
    culprits: (c) => [`${c.files.shown('connectors/b.json')}: /sink/topic: topic "orders" is already written by the connector in ${c.files.shown('connectors/a.json')}`],
    count: 1,
  },
  {
    slug: 'json syntax',
    title: 'a JSON syntax error (a missing comma)',
    connectors: () => ({ 'orders.json': '{\n  "name": "orders",\n  "source": { "table_name": "orders" }\n  "sink": { "topic": "orders" }\n}\n' }),
    culprits: (c) => [`${c.files.shown(C)}: line 4, column 3: invalid JSON: `],
    count: 1,
  },
  {
    slug: 'unknown table',
    title: 'a table that does not exist',
    connectors: () => ({ 'orders.json': orders({ table_name: 'orderz' }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source/table_name: table "orderz" does not exist`],
    count: 1,
  },
  {
    slug: 'no primary key',
    title: 'a table without a primary key',
    connectors: () => ({ 'orders.json': orders({ table_name: 'public.audit_log' }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source/table_name: table "public.audit_log" has no primary key`],
    count: 1,
  },
  {
    slug: 'view',
    title: 'a view instead of a table',
    connectors: () => ({ 'orders.json': orders({ table_name: 'orders_view', notification: undefined }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source/table_name: "orders_view" is not a table`],
  },
  {
    slug: 'unknown column',
    title: 'an included column that does not exist',
    connectors: () => ({ 'orders.json': orders({ included_columns: ['customer', 'colour'] }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source/included_columns/1: column "colour" does not exist in "orders"`],
    count: 1,
  },
  {
    slug: 'included key column',
    title: 'an included column that is a key column',
    connectors: () => ({ 'orders.json': orders({ included_columns: ['id', 'customer'] }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source/included_columns/0: column "id" is a primary-key column`],
    count: 1,
  },
  {
    slug: 'ordinal key column',
    title: 'an ordinal column that is a key column',
    connectors: () => ({ 'orders.json': orders({ ordinal_column: 'id' }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source/ordinal_column: column "id" is part of the primary key`],
    count: 1,
  },
  {
    slug: 'ordinal text',
    title: 'an ordinal column of type text',
    connectors: () => ({ 'orders.json': orders({ ordinal_column: 'note' }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source/ordinal_column: column "note" is of type text`],
    count: 1,
  },
  {
    slug: 'ordinal missing',
    title: 'an ordinal column that does not exist',
    connectors: () => ({ 'orders.json': orders({ ordinal_column: 'modified_at' }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source/ordinal_column: column "modified_at" does not exist in "orders"`],
    count: 1,
  },
  {
    slug: 'table injection',
    title: 'an SQL injection attempt as table_name',
    connectors: () => ({ 'orders.json': orders({ table_name: 'orders"; DROP TABLE x; --' }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source/table_name: "`],
    count: 1,
  },
  {
    slug: 'column injection',
    title: 'an SQL injection attempt as included and ordinal columns',
    connectors: () => ({ 'orders.json': orders({ included_columns: ['note"; DROP TABLE x; --'], ordinal_column: "version' OR 1=1; DROP TABLE x; --" }) }),
    culprits: (c) => [
      `${c.files.shown(C)}: /source/included_columns/0: column "note"; DROP TABLE x; --" does not exist`,
      `${c.files.shown(C)}: /source/ordinal_column: column "version' OR 1=1; DROP TABLE x; --" does not exist`,
    ],
    count: 2,
  },
  {
    slug: 'url env unset',
    title: 'a url_env variable that is not set',
    worker: () => ({ kafka: { brokers: KAFKA_BROKERS } }),
    connectors: () => ({ 'orders.json': orders({ database: { url_env: 'PGKC_V_ORDERS_DB_URL' } }) }),
    env: { PGKC_V_OTHER_URL: 'postgres://postgres@127.0.0.1/postgres' },
    culprits: (c) => [`${c.files.shown(C)}: /source/database/url_env: environment variable PGKC_V_ORDERS_DB_URL is not set`],
    count: 1,
  },
  {
    slug: 'no database',
    title: 'a connector without a database when the worker has none',
    worker: () => ({ kafka: { brokers: KAFKA_BROKERS } }),
    connectors: () => ({ 'orders.json': orders() }),
    culprits: (c) => [`${c.files.shown(C)}: /source/database: no database given here nor in the worker file`],
    count: 1,
  },
  {
    slug: 'unreachable',
    title: 'an unreachable database',
    connectors: () => ({ 'orders.json': orders({ database: { url: 'postgres://postgres:pgkc-v-Unreachable-Secret-41@127.0.0.1:1/x' } }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source/database: cannot connect to 127.0.0.1:1/x`],
    count: 1,
    secret: 'pgkc-v-Unreachable-Secret-41',
  },
  {
    slug: 'channel too long',
    title: 'a channel_name longer than 59 characters',
    connectors: () => ({ 'orders.json': orders({ notification: { channel_name: 'c'.repeat(60) } }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source/notification/channel_name: `],
    count: 1,
  },
  {
    slug: 'channel invalid',
    title: 'a channel_name that is not an identifier',
    connectors: () => ({ 'orders.json': orders({ notification: { channel_name: 'orders-cdc; DROP TABLE x' } }) }),
    culprits: (c) => [`${c.files.shown(C)}: /source/notification/channel_name: "`],
    count: 1,
  },
  {
    slug: 'topic invalid',
    title: 'a sink.topic that Kafka would refuse',
    connectors: () => ({ 'orders.json': orders({}, { sink: { topic: 'orders topic' } }) }),
    culprits: (c) => [`${c.files.shown(C)}: /sink/topic: "`],
    count: 1,
  },
  {
    slug: 'partitions zero',
    title: 'zero sink.partitions',
    connectors: () => ({ 'orders.json': orders({}, { sink: { partitions: 0 } }) }),
    culprits: (c) => [`${c.files.shown(C)}: /sink/partitions: `],
    count: 1,
  },
];

describe('validate: a corpus of invalid configs through the CLI', function () {
  this.timeout(120_000);

  after(removeTempDirs);

  it('holds at least 18 invalid configs', () => {
    expect(CASES.length).to.be.at.least(18);
    expect(new Set(CASES.map((c) => c.slug)).size).to.equal(CASES.length);
  });

  for (const k of CASES) {
    it(`exits 2 for ${k.title}, names the culprit and creates nothing`, async () => {
      const db = await freshDb(k.slug);
      try {
        const before = await inventory(db);
        const files = writeFiles(k.worker ? k.worker(db) : worker(db), k.connectors(db));
        const r = await runCli(['validate', '--config', files.worker], k.env ?? {});
        assertCleanFailure(r, /^\d+ problems? found:$/);
        for (const culprit of k.culprits({ db, files, conn: db.url })) expect(r.stderr).to.contain(culprit);
        if (k.count !== undefined) expect(r.stderr.split('\n')[0]).to.equal(`${k.count} problem${k.count === 1 ? '' : 's'} found:`);
        if (k.secret) expect(r.stdout + r.stderr).not.to.contain(k.secret);
        expect(r.stdout + r.stderr).not.to.contain(db.url.replace(/^postgres:\/\//, ''));
        await assertNothingCreated(db, before);
      } finally {
        await db.close();
      }
    });
  }
});

describe('validate', function () {
  this.timeout(120_000);
  after(removeTempDirs);

  it('reports several problems of several files in one run', async () => {
    const db = await freshDb('several files');
    try {
      const before = await inventory(db);
      const files = writeFiles(worker(db, { log: { level: 'loud' } }), {
        'a.json': '{ "name": "a", "source": { "table_name": "orders" },, }\n',
        'b.json': { name: 'b', source: { table_name: 'orders', colour: 'red' }, snapshot: { batch_size: 0 } },
        'c.json': { name: 'c', source: { table_name: 'orders', database: { url_env: 'PGKC_V_C_URL' } } },
        'd.json': { name: 'bad name', source: { table_name: 'orders' }, capture: { poll_interval_ms: 'often' } },
      });
      const r = await runCli(['validate', '--config', files.worker]);
      // An invalid worker file hides where the connectors are: it is reported alone.
      assertCleanFailure(r, /^1 problem found:$/);
      const w = files.shown('worker.json');
      const expected = [
        `${w}: /log/level: must be one of`,
        `${files.shown('connectors/a.json')}: line 1, column 53: invalid JSON`,
        `${files.shown('connectors/b.json')}: /source: unknown key "colour"`,
        `${files.shown('connectors/b.json')}: /snapshot/batch_size: `,
        `${files.shown('connectors/c.json')}: /source/database/url_env: environment variable PGKC_V_C_URL is not set`,
        `${files.shown('connectors/d.json')}: /name: "`,
        `${files.shown('connectors/d.json')}: /capture/poll_interval_ms: must be of type integer`,
      ];
      // The worker file is checked first: with its problem fixed, every connector problem shows at once.
      expect(r.stderr).to.contain(expected[0]);
      fs.writeFileSync(files.worker, JSON.stringify(worker(db)));
      const r2 = await runCli(['validate', '--config', files.worker]);
      assertCleanFailure(r2, /^6 problems found:$/);
      for (const e of expected.slice(1)) expect(r2.stderr).to.contain(e);
      await assertNothingCreated(db, before);
    } finally {
      await db.close();
    }
  });

  it('reports the database problems of every connector in one run', async () => {
    const db = await freshDb('several tables');
    try {
      const before = await inventory(db);
      const files = writeFiles(worker(db), {
        'a.json': orders({ included_columns: ['colour'] }, { name: 'a' }),
        'b.json': { name: 'b', source: { table_name: 'audit_log' } },
        'c.json': { name: 'c', source: { table_name: 'x' } },
      });
      const r = await runCli(['validate', '--config', files.worker]);
      assertCleanFailure(r, /^2 problems found:$/);
      expect(r.stderr).to.contain(`${files.shown('connectors/a.json')}: /source/included_columns/0: column "colour" does not exist`);
      expect(r.stderr).to.contain(`${files.shown('connectors/b.json')}: /source/table_name: table "audit_log" has no primary key`);
      expect(r.stderr).not.to.contain('c.json');
      await assertNothingCreated(db, before);
    } finally {
      await db.close();
    }
  });

  it('checks the tables of the valid connectors even when other files are invalid', async () => {
    const db = await freshDb('tables despite files');
    try {
      const before = await inventory(db);
      const files = writeFiles(worker(db), {
        'a.json': orders({ ordinal_column: 'note' }, { name: 'a' }),
        'b.json': { name: 'b', source: { table_name: 'x' }, snapshot: { mode: 'sometimes' } },
        'c.json': { name: 'c', source: { table_name: 'nope' } },
      });
      const r = await runCli(['validate', '--config', files.worker]);
      assertCleanFailure(r, /^3 problems found:$/);
      expect(r.stderr).to.contain(`${files.shown('connectors/b.json')}: /snapshot/mode: must be one of "initial", "never"`);
      expect(r.stderr).to.contain(`${files.shown('connectors/a.json')}: /source/ordinal_column: column "note" is of type text`);
      expect(r.stderr).to.contain(`${files.shown('connectors/c.json')}: /source/table_name: table "nope" does not exist`);
      await assertNothingCreated(db, before);
    } finally {
      await db.close();
    }
  });

  it('leaves the table of an injection attempt in place', async () => {
    const db = await freshDb('injection table kept');
    try {
      const files = writeFiles(worker(db), {
        'a.json': orders({ table_name: 'orders"; DROP TABLE x; --' }),
        'b.json': { name: 'b', source: { table_name: 'x', included_columns: ['id"; DROP TABLE x; --'] } },
      });
      const r = await runCli(['validate', '--config', files.worker]);
      assertCleanFailure(r, /^\d+ problems? found:$/);
      expect(r.stderr).to.contain(`${files.shown('connectors/a.json')}: /source/table_name`);
      expect(await db.query('SELECT id FROM x')).to.deep.equal([{ id: 1 }]);
      expect(await db.query(`SELECT count(*)::int AS n FROM orders`)).to.deep.equal([{ n: 2 }]);
    } finally {
      await db.close();
    }
  });

  it('accepts a valid config: exits 0, prints "config is valid", and creates nothing', async () => {
    const db = await freshDb('valid config');
    try {
      const before = await inventory(db);
      const files = writeFiles(worker(db), {
        'orders.json': orders({ included_columns: ['customer', 'amount'], ordinal_column: 'version' }, { sink: { topic: 'pgkc-v-valid-orders' } }),
        'x.json': { name: 'x', source: { table_name: 'public.x' }, sink: { topic: 'pgkc-v-valid-x' }, snapshot: { mode: 'never' } },
      });
      const r = await runCli(['validate', '--config', files.worker]);
      expect(r.code, r.stderr).to.equal(0);
      expect(r.stderr).to.equal('');
      expect(r.stdout).to.contain('config is valid: 2 connector(s)');
      // exactly_once by default: validate asked the real broker whether it can run transactions.
      expect(r.stdout).to.contain('ok  Kafka can run transactions (2 exactly_once connector(s))');
      expect(r.stdout).to.contain('ok  orders: public.orders (key id; 3 columns in the value)');
      expect(r.stdout).to.contain('ok  x: public.x (key id; 1 columns in the value)');
      await assertNothingCreated(db, before);
    } finally {
      await db.close();
    }
  });

  it('never prints a secret: passwords of URLs, *_env values and SASL passwords stay out of the output', async () => {
    const db = await freshDb('secrets');
    try {
      const secrets = ['pgkc-v-Worker-Pw-11', 'pgkc-v-Env-Pw-22', 'pgkc-v-Inline-Pw-33', 'pgkc-v-Sasl-Pw-44', 'pgkc-v-Sasl-Env-55'];
      const files = writeFiles(
        {
          kafka: { brokers: KAFKA_BROKERS, sasl: { mechanism: 'scram-sha-256', username: 'svc', password: secrets[3] } },
          database: { url: `postgres://postgres:${secrets[0]}@127.0.0.1:1/x` },
        },
        {
          'a.json': orders({}, { name: 'a' }),
          'b.json': { name: 'b', source: { table_name: 'orders', database: { url_env: 'PGKC_V_B_URL' } } },
          'c.json': { name: 'c', source: { table_name: 'orders', database: { url: `postgresql://postgres:${secrets[2]}@127.0.0.1:2/y?sslmode=disable` } } },
          'd.json': { name: 'd', source: { table_name: 'orders', database: { url_env: 'PGKC_V_D_URL' } } },
        },
      );
      const env = { PGKC_V_B_URL: `postgres://postgres:${secrets[1]}@127.0.0.1:3/z`, PGKC_V_D_URL: `mysql://root:${secrets[4]}@db/x` };
      const r = await runCli(['validate', '--config', files.worker], env);
      // The file problem of d.json, and the databases of the valid connectors a, b and c, checked all the same.
      assertCleanFailure(r, /^4 problems found:$/);
      expect(r.stderr).to.contain(`${files.shown('connectors/d.json')}: /source/database/url_env: environment variable PGKC_V_D_URL does not hold a postgres:// URL`);
      expect(r.stderr).to.contain(`${files.shown('connectors/a.json')}: /source/database: cannot connect to 127.0.0.1:1/x`);
      for (const s of secrets) expect(r.stdout + r.stderr, s).not.to.contain(s);

      fs.rmSync(path.join(files.dir, 'connectors', 'd.json'));
      const r2 = await runCli(['validate', '--config', files.worker], env);
      // ... and Kafka, asked whether it can run transactions (exactly_once), refuses the plaintext SASL client: one problem of the worker file.
      assertCleanFailure(r2, /^4 problems found:$/);
      expect(r2.stderr).to.contain(`${files.shown('worker.json')}: /kafka: cannot check that Kafka can run transactions`);
      expect(r2.stderr).to.contain(`${files.shown('connectors/a.json')}: /source/database: cannot connect to 127.0.0.1:1/x`);
      expect(r2.stderr).to.contain(`${files.shown('connectors/b.json')}: /source/database: cannot connect to 127.0.0.1:3/z`);
      expect(r2.stderr).to.contain(`${files.shown('connectors/c.json')}: /source/database: cannot connect to 127.0.0.1:2/y`);
      for (const s of secrets) expect(r2.stdout + r2.stderr, s).not.to.contain(s);
    } finally {
      await db.close();
    }
  });
});

describe('run with an invalid connector', function () {
  this.timeout(120_000);
  after(removeTempDirs);

  it('exits 2 before starting anything: no database object, no Kafka topic', async () => {
    const db = await freshDb('run invalid');
    const admin = kafkaClient('pgkc-v-run-invalid').admin();
    await admin.connect();
    try {
      const before = await inventory(db);
      const stamp = `${process.pid}-${Date.now()}`;
      const topics = [`pgkc-v-run-good-${stamp}`, `pgkc-v-run-bad-${stamp}`];
      const files = writeFiles(
        { ...worker(db), http: { host: '127.0.0.1', port: 0 } },
        {
          'good.json': orders({}, { name: 'good', sink: { topic: topics[0] } }),
          'bad.json': { name: 'bad', source: { table_name: 'orders', ordinal_column: 'note', notification: {} }, sink: { topic: topics[1] } },
        },
      );
      const r = await runCli(['run', '--config', files.worker], {}, 30_000);
      assertCleanFailure(r, /^1 problem found; not starting:$/);
      expect(r.stderr).to.contain(`${files.shown('connectors/bad.json')}: /source/ordinal_column: column "note" is of type text`);
      await assertNothingCreated(db, before);
      const existing = await admin.listTopics();
      for (const t of topics) expect(existing, t).not.to.include(t);
    } finally {
      await admin.disconnect();
      await db.close();
    }
  });

  it('exits 2 on a config error of a file, as validate does', async () => {
    const db = await freshDb('run bad file');
    try {
      const before = await inventory(db);
      const files = writeFiles(
        { ...worker(db), http: { host: '127.0.0.1', port: 0 } },
        {
          'orders.json': orders({}, { snapshot: { mode: 'full' } }),
          'x.json': { name: 'x', source: { table_name: 'x', notification: {} }, sink: { topic: `pgkc-v-run-x-${process.pid}-${Date.now()}` } },
        },
      );
      const r = await runCli(['run', '--config', files.worker], {}, 30_000);
      assertCleanFailure(r, /^1 problem found; not starting:$/);
      expect(r.stderr).to.contain(`${files.shown(C)}: /snapshot/mode: must be one of "initial", "never"`);
      await assertNothingCreated(db, before);
    } finally {
      await db.close();
    }
  });
});
