import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { EventBus } from '../../src/observe/events';
import { createMetrics } from '../../src/observe/metrics';
import { StatusBoard } from '../../src/observe/status';

const ROOT = path.resolve(__dirname, '..', '..', '..');

describe('metrics and status', () => {
  it('defines every pg_kafka_cdc metric that the Grafana dashboard and the README alerts use', async () => {
    const registry = createMetrics(new EventBus(), ['c']);
    const defined = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
    const used = new Set<string>();
    for (const file of ['docs/grafana-dashboard.json', 'README.md']) {
      const text = fs.readFileSync(path.join(ROOT, file), 'utf8');
      for (const m of text.matchAll(/pg_kafka_cdc_[a-z_]+/g)) used.add(m[0].replace(/_(bucket|sum|count)$/, ''));
    }
    expect(used.size).to.be.greaterThan(8);
    for (const name of used) expect(defined.has(name), `${name} is used but not defined`).to.equal(true);
  });

  it('documents every pg_kafka_cdc metric it defines in the README (a new metric without a row fails)', async () => {
    const registry = createMetrics(new EventBus(), ['c']);
    const readme = fs.readFileSync(path.join(ROOT, 'README.md'), 'utf8');
    const undocumented = (await registry.getMetricsAsJSON()).map((m) => m.name).filter((n) => n.startsWith('pg_kafka_cdc_') && !readme.includes(`\`${n}`));
    expect(undocumented, 'metrics missing from the README metric table').to.deep.equal([]);
  });

  it('counts records per op and tracks lag from events', async () => {
    const events = new EventBus();
    const registry = createMetrics(events, ['c']);
    events.emit('published', { connector: 'c', ops: { snapshot: 0, upsert: 2, delete: 1 }, records: 3, produceSeconds: 0.01, latenciesSeconds: [0.1, 0.2, 0.3] });
    events.emit('backlog', { connector: 'c', pending: 7, lagSeconds: 4.5 });
    const text = await registry.metrics();
    expect(text).to.contain('pg_kafka_cdc_records_published_total{connector="c",op="upsert"} 2');
    expect(text).to.contain('pg_kafka_cdc_records_published_total{connector="c",op="delete"} 1');
    expect(text).to.contain('pg_kafka_cdc_lag_seconds{connector="c"} 4.5');
    expect(text).to.contain('pg_kafka_cdc_pending_changes{connector="c"} 7');
    expect(text).to.contain('pg_kafka_cdc_end_to_end_latency_seconds_count{connector="c"} 3');
  });

  it('counts transactions by outcome, times commits, and counts fencing, from zero', async () => {
    const events = new EventBus();
    const registry = createMetrics(events, ['c']);
    expect(await registry.metrics()).to.contain('pg_kafka_cdc_fenced_total{connector="c"} 0');
    events.emit('transaction', { connector: 'c', outcome: 'committed', seconds: 0.004 });
    events.emit('transaction', { connector: 'c', outcome: 'committed', seconds: 0.02 });
    events.emit('transaction', { connector: 'c', outcome: 'aborted', seconds: 0.001 });
    events.emit('fenced', { connector: 'c' });
    const text = await registry.metrics();
    expect(text).to.contain('pg_kafka_cdc_transactions_total{connector="c",outcome="committed"} 2');
    expect(text).to.contain('pg_kafka_cdc_transactions_total{connector="c",outcome="aborted"} 1');
    expect(text).to.contain('pg_kafka_cdc_transaction_commit_seconds_count{connector="c"} 2');
    expect(text).to.contain('pg_kafka_cdc_transaction_commit_seconds_bucket{le="0.005",connector="c"} 1');
    expect(text).to.contain('pg_kafka_cdc_fenced_total{connector="c"} 1');
  });

  it('is ready only while every connector works, naming the ones that do not', () => {
    const events = new EventBus();
    const board = new StatusBoard(events, [
      { name: 'a', topic: 'a', table: 't' },
      { name: 'b', topic: 'b', table: 't' },
    ]);
    expect(board.readiness().ready).to.equal(false);
    events.emit('state', { connector: 'a', state: 'streaming' });
    events.emit('state', { connector: 'b', state: 'snapshotting' });
    expect(board.readiness().ready).to.equal(true);
    events.emit('state', { connector: 'b', state: 'retrying', error: 'connection refused' });
    const r = board.readiness();
    expect(r.ready).to.equal(false);
    expect(r.notReady).to.deep.equal([{ name: 'b', state: 'retrying', last_error: 'connection refused' }]);
  });

  it('reports snapshot percent, rate and ETA', () => {
    let now = 0;
    const events = new EventBus();
    const board = new StatusBoard(events, [{ name: 'a', topic: 'a', table: 't' }], () => now);
    events.emit('snapshot', { connector: 'a', rows: 0, estimated: 10_000, done: false });
    now = 2000;
    events.emit('snapshot', { connector: 'a', rows: 4000, estimated: 10_000, done: false });
    expect(board.get('a')?.snapshot).to.deep.include({ rows_done: 4000, percent: 40, rows_per_second: 2000, eta_seconds: 3, completed: false });
    events.emit('snapshot', { connector: 'a', rows: 10_000, estimated: 10_000, done: true });
    expect(board.get('a')?.snapshot).to.deep.include({ percent: 100, completed: true });
  });

  it('tells about a listener that throws, and still reaches the listeners after it', () => {
    const told: Array<[string, string]> = [];
    const events = new EventBus((event, err) => told.push([event, (err as Error).message]));
    const seen: number[] = [];
    events.on('published', () => {
      throw new Error('observer bug');
    });
    events.on('published', (e) => seen.push(e.records));
    events.emit('published', { connector: 'a', ops: { snapshot: 1, upsert: 0, delete: 0 }, records: 1, produceSeconds: 0, latenciesSeconds: [] });
    expect(told).to.deep.equal([['published', 'observer bug']]);
    expect(seen).to.deep.equal([1]);
  });

  it('shows a re-snapshot in status and metrics, and its rows apart from the initial snapshot', async () => {
    const events = new EventBus();
    let t = 0;
    const board = new StatusBoard(events, [{ name: 'c', topic: 't', table: 'public.x' }], () => t);
    const registry = createMetrics(events, ['c']);
    expect(board.get('c')?.resnapshot).to.equal(null);
    events.emit('resnapshot', { connector: 'c', id: '4', where: 'id > 5', rows: 0, estimated: 1000, state: 'running' });
    events.emit('published', { connector: 'c', ops: { snapshot: 500, upsert: 0, delete: 0 }, records: 500, produceSeconds: 0, latenciesSeconds: [], resnapshot: true });
    t = 1000;
    events.emit('resnapshot', { connector: 'c', id: '4', where: 'id > 5', rows: 500, estimated: 1000, state: 'running' });
    expect(board.get('c')?.resnapshot).to.include({ request: '4', where: 'id > 5', state: 'running', rows_done: 500, percent: 50, rows_per_second: 500, eta_seconds: 1 });
    let text = await registry.metrics();
    expect(text).to.contain('pg_kafka_cdc_resnapshot_running{connector="c"} 1');
    expect(text).to.contain('pg_kafka_cdc_resnapshot_rows{connector="c"} 500');
    expect(text).to.contain('pg_kafka_cdc_snapshot_rows_total{connector="c"} 0'); // not the initial snapshot's
    expect(text).to.contain('pg_kafka_cdc_records_published_total{connector="c",op="snapshot"} 500');
    events.emit('resnapshot', { connector: 'c', id: '4', where: 'id > 5', rows: 700, estimated: 1000, state: 'cancelled' });
    expect(board.get('c')?.resnapshot).to.include({ state: 'cancelled', rows_done: 700, eta_seconds: null });
    text = await registry.metrics();
    expect(text).to.contain('pg_kafka_cdc_resnapshot_running{connector="c"} 0');
    expect(text).to.contain('pg_kafka_cdc_resnapshots_total{connector="c",outcome="cancelled"} 1');
    expect(text).to.contain('pg_kafka_cdc_resnapshot_eta_seconds{connector="c"} 0');
  });
});
