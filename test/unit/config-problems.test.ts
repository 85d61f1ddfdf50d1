/** Config problems that once crashed or misled (found in review), each with the message users see. */
import { expect } from 'chai';
import * as path from 'node:path';
import { inspectWorkerConfig } from '../../src/config/load';
import { Backoff } from '../../src/util/retry';
import { cleanupConfigDirs, writeConfigDir } from '../helpers/files';

function setup(worker: unknown, connectors: Record<string, unknown>): { file: string; rel: (f: string) => string } {
  const c = writeConfigDir(worker, connectors, {}, 'pgkc-problems-');
  return { file: c.worker, rel: (f) => path.relative(process.cwd(), c.abs(f)) };
}

const base = { kafka: { brokers: ['k:9092'] }, database: { url: 'postgres://u@h/db' } };
const conn = (name: string, table: string, extra: Record<string, unknown> = {}) => ({ name, source: { table_name: table, notification: {} }, ...extra });

describe('config problems found in review', () => {
  after(() => cleanupConfigDirs());
  it('says "set exactly one of" when both or neither of url and url_env are given', () => {
    const both = setup({ ...base, database: { url: 'postgres://u@h/db', url_env: 'X' } }, { 'a.json': conn('a', 't') });
    expect(inspectWorkerConfig(both.file, {}).problems).to.deep.equal([`${both.rel('worker.json')}: /database: set exactly one of "url" or "url_env"`]);
    const neither = setup(base, { 'a.json': { ...conn('a', 't'), source: { table_name: 't', database: {} } } });
    expect(inspectWorkerConfig(neither.file, {}).problems).to.deep.equal([`${neither.rel('connectors/a.json')}: /source/database: set exactly one of "url" or "url_env"`]);
  });

  it('says what kafka.ssl and kafka.sasl accept', () => {
    const c = setup({ ...base, kafka: { brokers: ['k:9092'], ssl: 'yes', sasl: { mechanism: 'plain', username: 'u', username_env: 'U', password_env: 'P' } } }, { 'a.json': conn('a', 't') });
    const problems = inspectWorkerConfig(c.file, { P: 'secret' }).problems;
    expect(problems).to.include(`${c.rel('worker.json')}: /kafka/ssl: must be a boolean or an object`);
    expect(problems).to.include(`${c.rel('worker.json')}: /kafka/sasl: set exactly one of "username" or "username_env"`);
  });

  for (const [text, line, column] of [
    ['{\n  "a": 1,\n  "b": }\n', 3, 8],
    ['[1,]', 1, 4],
    ['{"a": tru}', 1, 7],
    ['{\n  "kafka": {} // comment\n}', 2, 15],
  ] as Array<[string, number, number]>) {
    it(`finds the line and column of the JSON syntax error in ${JSON.stringify(text)}`, () => {
      const c = setup(text, {});
      const [problem] = inspectWorkerConfig(c.file, {}).problems;
      expect(problem).to.match(new RegExp(`: line ${line}, column ${column}: invalid JSON: [A-Za-z ]+$`));
      expect(problem.split('\n')).to.have.length(1);
    });
  }

  it('refuses two connectors that would share a notification channel, given or derived', () => {
    const given = setup(base, {
      'a.json': { ...conn('a', 't1'), source: { table_name: 't1', notification: { channel_name: 'ch' } } },
      'b.json': { ...conn('b', 't2'), source: { table_name: 't2', notification: { channel_name: 'ch' } } },
    });
    expect(inspectWorkerConfig(given.file, {}).problems).to.deep.equal([
      `${given.rel('connectors/b.json')}: /source/notification/channel_name: channel "ch" is already used by the connector in ${given.rel('connectors/a.json')}`,
    ]);
    const derived = setup(base, { 'a.json': conn('Orders', 'orders', { sink: { topic: 'x1' } }), 'b.json': conn('orders', 'orders', { sink: { topic: 'x2' } }) });
    const [problem] = inspectWorkerConfig(derived.file, {}).problems;
    expect(problem).to.contain('channel "pgkc_orders_orders" is already used').and.contain('set channel_name to tell them apart');
  });

  it('keeps the backoff under its ceiling after jitter, and finite after many attempts', () => {
    const b = new Backoff({ initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 }, () => 1);
    let last = 0;
    for (let i = 0; i < 2000; i++) last = b.next();
    expect(last).to.equal(1000);
    const zero = new Backoff({ initialMs: 0, maxMs: 1000, factor: 2, jitter: 0.3 });
    for (let i = 0; i < 2000; i++) expect(Number.isFinite(zero.next())).to.equal(true);
  });
});
