// loadWorkerConfig against real files in temporary folders: defaults, *_env, and every problem at once.
import { expect } from 'chai';
import { cleanupConfigDirs, writeConfigDir } from '../helpers/files';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { loadWorkerConfig, type Env } from '../../src/config/load';
import { validateAgainst } from '../../src/config/schema';
import type { RawConnectorConfig, RawWorkerConfig, WorkerConfig } from '../../src/config/types';
import { defaultChannel } from '../../src/postgres/names';
import { ConfigError } from '../../src/util/errors';
import { hasPath, objectPaths, readSchema, schemaFields } from '../helpers/schema-walk';

const tempDirs: string[] = [];

/** A temporary folder with worker.json and connectors/<file>; file() gives a path as messages show it. */
function writeConfig(worker: unknown, connectors: Record<string, unknown>, extra: Record<string, string> = {}): { dir: string; worker: string; file: (name: string) => string } {
  const c = writeConfigDir(worker, connectors, extra);
  return { ...c, file: (name) => path.relative(process.cwd(), c.abs(name)) };
}

function problemsOf(workerFile: string, env: Env = {}): string[] {
  try {
    loadWorkerConfig(workerFile, env);
  } catch (err) {
    expect(err).to.be.instanceOf(ConfigError);
    return (err as ConfigError).problems;
  }
  throw new Error('expected a ConfigError, but the config loaded');
}

const DB = { url: 'postgres://postgres@127.0.0.1:5432/app' };
const minimalWorker = () => ({ kafka: { brokers: ['127.0.0.1:9092'] }, database: { ...DB } });
const minimalConnector = (name = 'orders', table = 'orders') => ({ name, source: { table_name: table } });

// Fully specified objects, typed as the raw types: the compiler checks every key exists in the type,
// the schema (additionalProperties: false everywhere) checks every key exists in the schema.
const fullWorkerInline: RawWorkerConfig = {
  kafka: {
    brokers: ['kafka-0.kafka:9092', '[::1]:9093'],
    client_id: 'cdc-prod',
    ssl: { ca_file: 'ca.pem', reject_unauthorized: false },
    sasl: { mechanism: 'scram-sha-512', username: 'svc', password: 'inline-pw' },
  },
  database: { url: 'postgres://app@db:5432/app' },
  postgres: { data_pool_size: 8 },
  http: { host: '127.0.0.1', port: 9100 },
  connectors_dir: 'conns',
  log: { level: 'warn' },
};
const fullWorkerEnv: RawWorkerConfig = {
  kafka: {
    brokers: ['127.0.0.1:9092'],
    client_id: 'cdc-env',
    ssl: true,
    sasl: { mechanism: 'plain', username_env: 'KAFKA_USER', password_env: 'KAFKA_PASSWORD' },
  },
  database: { url_env: 'APP_DB_URL' },
  postgres: { data_pool_size: 1 },
  http: { host: '0.0.0.0', port: 0 },
  connectors_dir: 'connectors',
  log: { level: 'debug' },
};
const fullConnectorInline: RawConnectorConfig = {
  name: 'orders-v2',
  source: {
    table_name: 'sales.orders',
    database: { url: 'postgres://sales@db:5432/sales' },
    included_columns: ['customer', 'amount'],
    ordinal_column: 'updated_at',
    notification: { channel_name: 'orders_cdc' },
  },
  sink: {
    topic: 'sales.orders',
    partitions: 6,
    replication_factor: 3,
    compact: false,
    compression: 'lz4',
    format: 'connect_json',
    delivery: 'at_least_once',
    transactional_id: 'sales.orders-cdc',
    offsets_topic: 'sales.orders.offsets',
  },
  snapshot: { mode: 'never', batch_size: 100 },
  capture: { batch_size: 50, drain_pause_ms: 0, poll_interval_ms: 250, heartbeat_interval_ms: 2000 },
};
const fullConnectorEnv: RawConnectorConfig = {
  name: 'customers',
  source: { table_name: 'customers', database: { url_env: 'CUSTOMERS_DB_URL' }, notification: {} },
  sink: { partitions: 1, replication_factor: 1, compact: true, compression: 'zstd', format: 'json', delivery: 'exactly_once' },
  snapshot: { mode: 'initial', batch_size: 2000 },
  capture: { batch_size: 2000, drain_pause_ms: 5, poll_interval_ms: 1000, heartbeat_interval_ms: 10000 },
};

describe('loadWorkerConfig', () => {
  after(() => {
    cleanupConfigDirs();
    for (const d of tempDirs) fs.rmSync(d, { recursive: true, force: true });
  });

  describe('defaults', () => {
    it('applies every default of both schemas to a minimal worker and connector', () => {
      const c = writeConfig(minimalWorker(), { 'orders.json': minimalConnector() });
      const cfg = loadWorkerConfig(c.worker, {});
      expect(cfg.kafka).to.deep.equal({ brokers: ['127.0.0.1:9092'], clientId: 'pg-kafka-cdc', ssl: false, sasl: undefined });
      expect(cfg.http).to.deep.equal({ host: '127.0.0.1', port: 8080 });
      expect(cfg.logLevel).to.equal('info');
      expect(cfg.connectorsDir).to.equal(path.join(c.dir, 'connectors'));
      expect(cfg.file).to.equal(c.worker);
      expect(cfg.connectors).to.have.length(1);
      const k = cfg.connectors[0];
      expect(k).to.deep.include({
        name: 'orders',
        file: c.file('connectors/orders.json'),
        table: { schema: null, name: 'orders' },
        databaseUrl: DB.url,
        includedColumns: null,
        ordinalColumn: null,
        channel: null,
        topic: 'orders',
        partitions: 1,
        replicationFactor: 1,
        compact: true,
        compression: 'zstd',
        format: 'json',
        delivery: 'exactly_once',
        transactionalId: 'pg-kafka-cdc.orders',
        offsetsTopic: 'pg-kafka-cdc.offsets.orders',
        snapshotMode: 'initial',
        snapshotBatchSize: 2000,
        captureBatchSize: 2000,
        drainPauseMs: 5,
        pollIntervalMs: 1000,
        heartbeatIntervalMs: 10000,
      });
    });

    it('makes the topic the connector name when sink.topic is absent', () => {
      const c = writeConfig(minimalWorker(), { 'a.json': { ...minimalConnector('billing-events', 'events'), sink: { partitions: 3 } } });
      const k = loadWorkerConfig(c.worker, {}).connectors[0];
      expect(k.topic).to.equal('billing-events');
      expect(k.partitions).to.equal(3);
    });

    it('derives the channel from the connector and table names when notification has no channel_name', () => {
      const c = writeConfig(minimalWorker(), { 'a.json': { name: 'orders', source: { table_name: 'sales.orders', notification: {} } } });
      const k = loadWorkerConfig(c.worker, {}).connectors[0];
      expect(k.table).to.deep.equal({ schema: 'sales', name: 'orders' });
      expect(k.channel).to.equal(defaultChannel('orders', { schema: 'sales', name: 'orders' }));
      expect(k.channel).to.equal('pgkc_orders_sales_orders');
    });

    it('fills every schema field that has a default into the raw objects, with the default value', () => {
      for (const [name, data] of [
        ['worker', minimalWorker()],
        ['connector', minimalConnector()],
      ] as const) {
        const raw: unknown = JSON.parse(JSON.stringify(data));
        expect(validateAgainst(name, raw)).to.deep.equal([]);
        for (const f of schemaFields(readSchema(name))) {
          if (!f.hasDefault) continue;
          // A default inside an optional object without its own default (kafka.ssl is under the required kafka) applies when the parent exists.
          const parent = f.path.split('.').slice(0, -1).join('.');
          if (parent && !hasPath(raw, parent)) continue;
          expect(hasPath(raw, f.path), `${name}: ${f.path} after defaults`).to.equal(true);
          const value = f.path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown>)[k], raw);
          if (typeof f.default !== 'object') expect(value, `${name}: ${f.path}`).to.deep.equal(f.default);
        }
      }
    });
  });

  describe('the raw types and the schemas', () => {
    const pairs = [
      ['worker', [fullWorkerInline, fullWorkerEnv]],
      ['connector', [fullConnectorInline, fullConnectorEnv]],
    ] as const;

    it('accepts the fully specified raw objects as valid, unchanged by defaults', () => {
      for (const [name, objects] of pairs) {
        for (const o of objects) {
          const copy: unknown = JSON.parse(JSON.stringify(o));
          expect(validateAgainst(name, copy), `${name} ${JSON.stringify(o)}`).to.deep.equal([]);
          expect(copy).to.deep.equal(o);
        }
      }
    });

    it('has a field in the raw types for every property of the schemas, and none that the schemas lack', () => {
      for (const [name, objects] of pairs) {
        const schemaPaths = schemaFields(readSchema(name))
          .map((f) => f.path)
          .sort();
        const typedPaths = [...new Set(objects.flatMap((o) => objectPaths(o)))].sort();
        expect(typedPaths, name).to.deep.equal(schemaPaths);
      }
    });

    it('loads the fully specified files and resolves every field, inline and through *_env', () => {
      const inline = writeConfig(fullWorkerInline, {}, { 'ca.pem': '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', 'conns/orders.json': JSON.stringify(fullConnectorInline) });
      const a = loadWorkerConfig(inline.worker, {});
      expect(a.kafka).to.deep.equal({
        brokers: ['kafka-0.kafka:9092', '[::1]:9093'],
        clientId: 'cdc-prod',
        ssl: { ca: '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n', rejectUnauthorized: false },
        sasl: { mechanism: 'scram-sha-512', username: 'svc', password: 'inline-pw' },
      });
      expect(a.http).to.deep.equal({ host: '127.0.0.1', port: 9100 });
      expect(a.logLevel).to.equal('warn');
      expect(a.connectorsDir).to.equal(path.join(inline.dir, 'conns'));
      expect(a.connectors[0]).to.deep.equal({
        name: 'orders-v2',
        file: inline.file('conns/orders.json'),
        table: { schema: 'sales', name: 'orders' },
        databaseUrl: 'postgres://sales@db:5432/sales',
        includedColumns: ['customer', 'amount'],
        ordinalColumn: 'updated_at',
        channel: 'orders_cdc',
        topic: 'sales.orders',
        partitions: 6,
        replicationFactor: 3,
        compact: false,
        compression: 'lz4',
        format: 'connect_json',
        delivery: 'at_least_once',
        transactionalId: 'sales.orders-cdc',
        offsetsTopic: 'sales.orders.offsets',
        snapshotMode: 'never',
        snapshotBatchSize: 100,
        captureBatchSize: 50,
        drainPauseMs: 0,
        pollIntervalMs: 250,
        heartbeatIntervalMs: 2000,
      });

      const viaEnv = writeConfig(fullWorkerEnv, { 'customers.json': fullConnectorEnv, 'orders.json': { name: 'orders', source: { table_name: 'orders' } } });
      const env = { KAFKA_USER: 'env-user', KAFKA_PASSWORD: 'env-pw', APP_DB_URL: 'postgres://app@db/app', CUSTOMERS_DB_URL: 'postgresql://c@db/customers' };
      const b = loadWorkerConfig(viaEnv.worker, env);
      expect(b.kafka).to.deep.equal({ brokers: ['127.0.0.1:9092'], clientId: 'cdc-env', ssl: true, sasl: { mechanism: 'plain', username: 'env-user', password: 'env-pw' } });
      expect(b.http).to.deep.equal({ host: '0.0.0.0', port: 0 });
      expect(b.logLevel).to.equal('debug');
      const byName = new Map(b.connectors.map((k) => [k.name, k]));
      expect(byName.get('customers')?.databaseUrl).to.equal('postgresql://c@db/customers');
      expect(byName.get('customers')?.channel).to.equal('pgkc_customers_customers');
      expect(byName.get('orders')?.databaseUrl, 'the worker database, from APP_DB_URL').to.equal('postgres://app@db/app');
    });
  });

  describe('environment', () => {
    it('reports an unset url_env variable with the file and JSON path', () => {
      const c = writeConfig(minimalWorker(), { 'a.json': { name: 'a', source: { table_name: 't', database: { url_env: 'ORDERS_DB_URL' } } } });
      expect(problemsOf(c.worker, { OTHER: 'x' })).to.deep.equal([`${c.file('connectors/a.json')}: /source/database/url_env: environment variable ORDERS_DB_URL is not set`]);
    });

    it('treats an empty variable as unset, and reports unset SASL variables of the worker file', () => {
      const w = { kafka: { brokers: ['k:9092'], sasl: { mechanism: 'plain', username_env: 'KU', password_env: 'KP' } }, database: { url_env: 'DBU' } };
      const c = writeConfig(w, { 'a.json': minimalConnector() });
      expect(problemsOf(c.worker, { KU: 'user', KP: '' })).to.have.members([
        `${c.file('worker.json')}: /kafka/sasl/password_env: environment variable KP is not set`,
        `${c.file('worker.json')}: /database/url_env: environment variable DBU is not set`,
      ]);
    });

    it('reports a url_env variable that does not hold a postgres:// URL, without its value', () => {
      const c = writeConfig(minimalWorker(), { 'a.json': { name: 'a', source: { table_name: 't', database: { url_env: 'U' } } } });
      const problems = problemsOf(c.worker, { U: 'mysql://root:hunter2@db/x' });
      expect(problems).to.deep.equal([`${c.file('connectors/a.json')}: /source/database/url_env: environment variable U does not hold a postgres:// URL`]);
      expect(problems.join('\n')).not.to.contain('hunter2');
    });

    it('lets LOG_LEVEL override log.level, and ignores a LOG_LEVEL that is not a level', () => {
      const c = writeConfig({ ...minimalWorker(), log: { level: 'warn' } }, { 'a.json': minimalConnector() });
      expect(loadWorkerConfig(c.worker, { LOG_LEVEL: 'debug' }).logLevel).to.equal('debug');
      expect(loadWorkerConfig(c.worker, { LOG_LEVEL: 'loud' }).logLevel).to.equal('warn');
      expect(loadWorkerConfig(c.worker, {}).logLevel).to.equal('warn');
    });

    it('never reads process.env itself', () => {
      const c = writeConfig(minimalWorker(), { 'a.json': { name: 'a', source: { table_name: 't', database: { url_env: 'PGKC_UNIT_ONLY_IN_PROCESS_ENV' } } } });
      process.env.PGKC_UNIT_ONLY_IN_PROCESS_ENV = 'postgres://x@y/z';
      try {
        expect(problemsOf(c.worker, {})[0]).to.contain('PGKC_UNIT_ONLY_IN_PROCESS_ENV is not set');
      } finally {
        delete process.env.PGKC_UNIT_ONLY_IN_PROCESS_ENV;
      }
    });
  });

  describe('problems', () => {
    it('reports a JSON syntax error with the file, line and column', () => {
      const text = '{\n  "name": "a",\n  "source": { "table_name": "t" }\n  "sink": {}\n}\n';
      const c = writeConfig(minimalWorker(), { 'a.json': text });
      const problems = problemsOf(c.worker);
      expect(problems).to.have.length(1);
      expect(problems[0]).to.match(new RegExp(`^${escape(c.file('connectors/a.json'))}: line 4, column 3: invalid JSON: `));
    });

    it('reports a syntax error of the worker file with its line and column', () => {
      const c = writeConfig('{\n  "kafka": { "brokers": ["k:9092"], }\n}\n', { 'a.json': minimalConnector() });
      expect(problemsOf(c.worker)).to.deep.equal([`${c.file('worker.json')}: line 2, column 37: invalid JSON: property name expected`]);
    });

    it('reports a missing worker file as a problem, not an exception', () => {
      const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgkc-config-'));
      tempDirs.push(dir);
      const missing = path.join(dir, 'nope.json');
      expect(problemsOf(missing)).to.deep.equal([`${path.relative(process.cwd(), missing)}: cannot read the file (it does not exist)`]);
    });

    it('reports unknown keys, wrong types and bad names with the file and JSON path', () => {
      const c = writeConfig(minimalWorker(), {
        'a.json': { name: 'orders v2', source: { table_name: 'orders', colour: 'blue' }, snapshot: { batch_size: '10', mode: 'full' }, extra: true },
      });
      const f = c.file('connectors/a.json');
      const problems = problemsOf(c.worker);
      expect(problems).to.include(`${f}: /: unknown key "extra"`);
      expect(problems).to.include(`${f}: /source: unknown key "colour"`);
      expect(problems).to.include(`${f}: /snapshot/batch_size: must be of type integer`);
      expect(problems).to.include(`${f}: /snapshot/mode: must be one of "initial", "never"`);
      expect(problems.some((p) => p.startsWith(`${f}: /name: "orders v2" is not allowed here: Connector name`))).to.equal(true);
      expect(problems).to.have.length(5);
    });

    it('reports problems of the worker file with their JSON paths', () => {
      const c = writeConfig({ kafka: { brokers: ['localhost'], client_id: 7 }, http: { port: 70000 }, colour: 'blue' }, { 'a.json': minimalConnector() });
      const w = c.file('worker.json');
      const problems = problemsOf(c.worker);
      expect(problems).to.include(`${w}: /: unknown key "colour"`);
      expect(problems).to.include(`${w}: /kafka/client_id: must be of type string`);
      expect(problems.some((p) => p.startsWith(`${w}: /kafka/brokers/0: "localhost" is not allowed here: One bootstrap broker as host:port`))).to.equal(true);
      expect(problems.some((p) => p.startsWith(`${w}: /http/port: `))).to.equal(true);
    });

    it('reports a missing or empty kafka.brokers', () => {
      const a = writeConfig({ kafka: {} }, { 'a.json': minimalConnector() });
      expect(problemsOf(a.worker)).to.deep.equal([`${a.file('worker.json')}: /kafka: missing required key "brokers"`]);
      const b = writeConfig({ kafka: { brokers: [] } }, { 'a.json': minimalConnector() });
      expect(problemsOf(b.worker)).to.have.length(1);
      expect(problemsOf(b.worker)[0]).to.match(new RegExp(`^${escape(b.file('worker.json'))}: /kafka/brokers: `));
    });

    it('reports a connector without any database', () => {
      const c = writeConfig({ kafka: { brokers: ['k:9092'] } }, { 'a.json': minimalConnector() });
      expect(problemsOf(c.worker)).to.deep.equal([`${c.file('connectors/a.json')}: /source/database: no database given here nor in the worker file`]);
    });

    it('reports a missing or empty connectors folder', () => {
      const a = writeConfig({ ...minimalWorker(), connectors_dir: 'nowhere' }, {});
      expect(problemsOf(a.worker)).to.deep.equal([`${a.file('worker.json')}: /connectors_dir: folder ${a.file('nowhere')} does not exist`]);
      const b = writeConfig(minimalWorker(), {}, { 'connectors/README.txt': 'not a connector' });
      expect(problemsOf(b.worker)).to.deep.equal([`${b.file('worker.json')}: /connectors_dir: no *.json connector file in ${b.file('connectors')}`]);
    });

    it('reports duplicate connector names, naming both files', () => {
      const c = writeConfig(minimalWorker(), {
        'a.json': { ...minimalConnector('orders', 'orders'), sink: { topic: 't1' } },
        'b.json': { ...minimalConnector('orders', 'orders_archive'), sink: { topic: 't2' } },
      });
      expect(problemsOf(c.worker)).to.deep.equal([`${c.file('connectors/b.json')}: /name: "orders" is already the name of the connector in ${c.file('connectors/a.json')}`]);
    });

    it('reports two connectors writing the same topic, whether named or defaulted', () => {
      const c = writeConfig(minimalWorker(), {
        'a.json': minimalConnector('orders', 'orders'),
        'b.json': { ...minimalConnector('orders-copy', 'orders2'), sink: { topic: 'orders' } },
      });
      expect(problemsOf(c.worker)).to.deep.equal([`${c.file('connectors/b.json')}: /sink/topic: topic "orders" is already written by the connector in ${c.file('connectors/a.json')}`]);
    });

    it('reports two connectors sharing an offsets topic or a transactional id, which would mix positions and fence each other', () => {
      const c = writeConfig(minimalWorker(), {
        'a.json': minimalConnector('orders', 'orders'),
        'b.json': { ...minimalConnector('orders-copy', 'orders2'), sink: { offsets_topic: 'pg-kafka-cdc.offsets.orders', transactional_id: 'pg-kafka-cdc.orders' } },
        'c.json': { ...minimalConnector('items', 'items'), sink: { offsets_topic: 'items' } },
      });
      expect(problemsOf(c.worker)).to.deep.equal([
        `${c.file('connectors/b.json')}: /sink/offsets_topic: topic "pg-kafka-cdc.offsets.orders" is already written by the connector in ${c.file('connectors/a.json')}`,
        `${c.file('connectors/b.json')}: /sink/transactional_id: "pg-kafka-cdc.orders" is already the transactional id of the connector in ${c.file('connectors/a.json')}`,
        `${c.file('connectors/c.json')}: /sink/offsets_topic: topic "items" is already written by the connector in ${c.file('connectors/c.json')}`,
      ]);
    });

    it('reports every problem of every file at once', () => {
      const c = writeConfig(minimalWorker(), {
        '1-syntax.json': '{ "name": "a",\n  "source": { "table_name": "t" },, }\n',
        '2-unknown.json': { name: 'b', source: { table_name: 't', bogus: 1 } },
        '3-type.json': { name: 'c', source: { table_name: 't' }, capture: { poll_interval_ms: 'fast' } },
        '4-env.json': { name: 'd', source: { table_name: 't', database: { url_env: 'D_URL' } } },
        '5-ok.json': minimalConnector('e', 't'),
        '6-dup.json': { ...minimalConnector('e', 'u'), sink: { topic: 'e2' } },
        '7-name.json': minimalConnector('bad name', 't'),
      });
      const problems = problemsOf(c.worker);
      const files = ['1-syntax', '2-unknown', '3-type', '4-env', '6-dup', '7-name'].map((n) => c.file(`connectors/${n}.json`));
      for (const f of files)
        expect(
          problems.filter((p) => p.startsWith(`${f}: `)),
          f,
        ).to.have.length(1);
      expect(problems).to.have.length(6);
      expect(problems.some((p) => p.startsWith(`${c.file('connectors/5-ok.json')}: `))).to.equal(false);
      expect(problems).to.include(`${c.file('connectors/6-dup.json')}: /name: "e" is already the name of the connector in ${c.file('connectors/5-ok.json')}`);
      expect(problems).to.include(`${c.file('connectors/1-syntax.json')}: line 2, column 35: invalid JSON: property name expected`);
      expect(problems).to.include(`${c.file('connectors/3-type.json')}: /capture/poll_interval_ms: must be of type integer`);
      expect(problems).to.include(`${c.file('connectors/4-env.json')}: /source/database/url_env: environment variable D_URL is not set`);
    });

    it('throws a ConfigError whose message lists the problems one a line', () => {
      const c = writeConfig(minimalWorker(), { 'a.json': { name: 'a' }, 'b.json': { name: 'b', source: {} } });
      try {
        loadWorkerConfig(c.worker, {});
        expect.fail('expected a ConfigError');
      } catch (err) {
        expect(err).to.be.instanceOf(ConfigError);
        const e = err as ConfigError;
        expect(e.problems).to.deep.equal([`${c.file('connectors/a.json')}: /: missing required key "source"`, `${c.file('connectors/b.json')}: /source: missing required key "table_name"`]);
        expect(e.message).to.equal(e.problems.join('\n'));
        expect(e.retriable).to.equal(false);
      }
    });
  });

  it('returns a WorkerConfig that loads the same way twice (the files are not modified)', () => {
    const c = writeConfig(minimalWorker(), { 'a.json': minimalConnector() });
    const before = fs.readFileSync(path.join(c.dir, 'connectors', 'a.json'), 'utf8');
    const one: WorkerConfig = loadWorkerConfig(c.worker, {});
    const two: WorkerConfig = loadWorkerConfig(c.worker, {});
    expect(two).to.deep.equal(one);
    expect(fs.readFileSync(path.join(c.dir, 'connectors', 'a.json'), 'utf8')).to.equal(before);
  });
});

function escape(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}
