/**
 * Helpers of the benchmark: processes, /proc sampling, the worker as a child process, metrics
 * scraping, histogram quantiles, CPU profiles. Everything targets 127.0.0.1 only.
 */
import { WORKER_NODE_FLAGS } from '../src/cli/node-flags';
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Client } from 'pg';
import { Kafka, logLevel } from 'kafkajs';
import { KAFKA_HOME } from '../test/helpers/kafka-tools';
import { freePort } from '../test/helpers/worker';
export { freePort };

export const REPO_ROOT = path.resolve(__dirname, '..', '..');
export const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');
export const PG_HOST = '127.0.0.1';
export const PG_PORT = 5432;
export const PG_USER = 'postgres';
export const BROKER = '127.0.0.1:9092';
export const KAFKA_LIBS = path.join(KAFKA_HOME, 'libs');

/** Bytes of a topic's log segments in the local broker's data directory (all partitions), or null. */
export function topicBytesOnBroker(topic: string): number | null {
  const data = path.join(KAFKA_HOME, 'data');
  let total = 0;
  let found = false;
  for (const dir of fs.readdirSync(data)) {
    if (!dir.startsWith(topic + '-') || !/^\d+$/.test(dir.slice(topic.length + 1))) continue;
    found = true;
    for (const f of fs.readdirSync(path.join(data, dir))) if (f.endsWith('.log')) total += fs.statSync(path.join(data, dir, f)).size;
  }
  return found ? total : null;
}

export const pgUrl = (db: string) => `postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/${db}`;
export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export const log = (s: string) => process.stderr.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${s}\n`);

/** A connection rendering values as the worker does. */
export async function pg(db: string): Promise<Client> {
  const c = new Client({ connectionString: pgUrl(db), options: '-c TimeZone=UTC' });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

/** Drops (after ending its sessions) and creates a benchmark database; only pgkc_bench_* names. */
export async function freshDatabase(name: string): Promise<void> {
  if (!/^pgkc_bench_[a-z0-9_]+$/.test(name)) throw new Error(`refusing to touch database ${name}`);
  const admin = await pg('postgres');
  try {
    await admin.query('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid()', [name]);
    await admin.query(`DROP DATABASE IF EXISTS ${name}`);
    await admin.query(`CREATE DATABASE ${name}`);
  } finally {
    await admin.end();
  }
}

export function kafka(): Kafka {
  return new Kafka({ clientId: 'pgkc-bench', brokers: [BROKER], logLevel: logLevel.NOTHING, retry: { retries: 8, initialRetryTime: 200 } });
}

export async function createTopic(topic: string, configEntries: Array<{ name: string; value: string }> = []): Promise<void> {
  const admin = kafka().admin();
  await admin.connect();
  try {
    await admin.createTopics({ waitForLeaders: true, topics: [{ topic, numPartitions: 1, replicationFactor: 1, configEntries }] });
  } finally {
    await admin.disconnect();
  }
}

export async function deleteTopics(topics: string[]): Promise<void> {
  if (topics.length === 0) return;
  const admin = kafka().admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const mine = topics.filter((t) => existing.has(t) && t.startsWith('pgkc-bench-'));
    if (mine.length > 0) await admin.deleteTopics({ topics: mine, timeout: 30_000 });
  } catch {
    // best effort: disk space only
  } finally {
    await admin.disconnect();
  }
}

/** Every record's broker timestamp and value of a (single-partition) topic, up to its end now. */
export async function readTopic(topic: string, timeoutMs = 180_000): Promise<Array<{ ts: number; value: string | null }>> {
  const k = kafka();
  const admin = k.admin();
  await admin.connect();
  const ends = await admin.fetchTopicOffsets(topic);
  await admin.disconnect();
  const end = BigInt(ends[0].offset);
  const out: Array<{ ts: number; value: string | null }> = [];
  if (end === BigInt(ends[0].low)) return out;
  const consumer = k.consumer({ groupId: `pgkc-bench-reader-${process.pid}-${Date.now()}`, maxWaitTimeInMs: 200, maxBytes: 50 << 20, maxBytesPerPartition: 20 << 20 });
  await consumer.connect();
  try {
    await consumer.subscribe({ topic, fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`timed out reading ${topic}`)), timeoutMs);
      // A transactional topic (exactly_once) ends with a commit marker, never handed out as a
      // message: the end of each batch, markers included, says how far the reader got.
      consumer.on(consumer.events.END_BATCH_PROCESS, ({ payload }) => {
        if (BigInt(payload.lastOffset) + 1n >= end) {
          clearTimeout(timer);
          resolve();
        }
      });
      consumer
        .run({
          autoCommit: false,
          eachBatch: async ({ batch }) => {
            for (const m of batch.messages) out.push({ ts: Number(m.timestamp), value: m.value === null ? null : m.value.toString() });
          },
        })
        .catch(reject);
    });
  } finally {
    await consumer.disconnect();
  }
  return out;
}

/** Runs a command to completion; returns stdout, stderr, exit code and wall time. */
export function run(
  cmd: string,
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; stdoutTo?: string } = {},
): Promise<{ code: number | null; out: string; err: string; seconds: number }> {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const outFd = opts.stdoutTo ? fs.openSync(opts.stdoutTo, 'w') : null;
    const p = spawn(cmd, args, { env: { ...process.env, ...opts.env }, stdio: ['ignore', outFd ?? 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout?.on('data', (d: Buffer) => (out += d.toString()));
    p.stderr?.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => p.kill('SIGKILL'), opts.timeoutMs ?? 600_000);
    p.once('error', reject);
    p.once('exit', (code) => {
      clearTimeout(timer);
      if (outFd !== null) fs.closeSync(outFd);
      resolve({ code, out, err, seconds: Number(process.hrtime.bigint() - started) / 1e9 });
    });
  });
}

export function psqlArgs(db: string, sql: string): string[] {
  return ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-h', PG_HOST, '-p', String(PG_PORT), '-U', PG_USER, '-d', db, '-c', sql];
}

/** pgbench from PATH, installed with apt-get when missing (Debian: postgresql-client ships it). */
export function ensurePgbench(): string {
  const found = spawnSync('sh', ['-c', 'command -v pgbench'], { encoding: 'utf8' }).stdout.trim();
  if (found) return found;
  log('pgbench is missing: installing postgresql-client with apt-get');
  const r = spawnSync('sh', ['-c', 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql-client'], { stdio: 'inherit' });
  const again = spawnSync('sh', ['-c', 'command -v pgbench'], { encoding: 'utf8' }).stdout.trim();
  if (r.status !== 0 || !again) throw new Error('pgbench is not installed and apt-get could not install it (postgresql-client)');
  return again;
}

// ---------------------------------------------------------------- /proc

const TICKS = 100; // USER_HZ on Linux

/** utime+stime of a process in seconds, or null when it is gone. */
export function procCpuSeconds(pid: number): { cpu: number; comm: string } | null {
  try {
    const s = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    const close = s.lastIndexOf(')');
    const comm = s.slice(s.indexOf('(') + 1, close);
    const f = s.slice(close + 2).split(' ');
    return { cpu: (Number(f[11]) + Number(f[12])) / TICKS, comm };
  } catch {
    return null;
  }
}

export function procStatusKb(pid: number, field: 'VmHWM' | 'VmRSS'): number | null {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : null;
  } catch {
    return null;
  }
}

function machineTicks(): { busy: number; total: number } {
  const f = fs.readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
  const idle = f[3] + (f[4] ?? 0);
  const total = f.reduce((a, b) => a + b, 0);
  return { busy: total - idle, total };
}

/**
 * CPU seconds used during a phase, by group: the worker (its pid), postgres (every backend, also
 * those that exit meanwhile: sampled every 250 ms), java (the broker and the producer tool),
 * pgbench, psql, and the whole machine's busy share.
 */
export class CpuSampler {
  private last = new Map<number, { cpu: number; group: string }>();
  private readonly used = new Map<string, number>();
  private timer: NodeJS.Timeout | null = null;
  private m0 = machineTicks();
  private t0 = Date.now();
  private result: CpuReport | null = null;

  constructor(private readonly workerPid: () => number | null) {}

  start(): this {
    this.m0 = machineTicks();
    this.t0 = Date.now();
    this.sample(true);
    this.timer = setInterval(() => this.sample(false), 250);
    return this;
  }

  private groupOf(pid: number, comm: string): string | null {
    if (pid === this.workerPid()) return 'worker';
    if (comm === 'postgres') return 'postgres';
    if (comm === 'java') return 'java';
    if (comm === 'pgbench') return 'pgbench';
    if (comm === 'psql') return 'psql';
    return null;
  }

  private sample(first: boolean): void {
    const seen = new Map<number, { cpu: number; group: string }>();
    for (const name of fs.readdirSync('/proc')) {
      if (!/^\d+$/.test(name)) continue;
      const pid = Number(name);
      const p = procCpuSeconds(pid);
      if (!p) continue;
      const group = this.groupOf(pid, p.comm);
      if (!group) continue;
      const prev = this.last.get(pid);
      // A process born during the phase counts from 0; one seen before counts from its last sample.
      const base = prev ? prev.cpu : first ? p.cpu : 0;
      this.used.set(group, (this.used.get(group) ?? 0) + Math.max(0, p.cpu - base));
      seen.set(pid, { cpu: p.cpu, group });
    }
    this.last = seen;
  }

  stop(): CpuReport {
    if (this.result) return this.result;
    if (this.timer) clearInterval(this.timer);
    this.sample(false);
    const m1 = machineTicks();
    const seconds = (Date.now() - this.t0) / 1000;
    const groups: Record<string, number> = {};
    for (const [g, s] of this.used) groups[g] = round(s / seconds, 2);
    this.result = { seconds: round(seconds, 1), coresBusy: round(((m1.busy - this.m0.busy) / Math.max(1, m1.total - this.m0.total)) * os.cpus().length, 2), coresByGroup: groups };
    return this.result;
  }
}

export interface CpuReport {
  seconds: number;
  /** Average cores busy on the whole machine (of os.cpus().length). */
  coresBusy: number;
  /** Average cores used by each group. */
  coresByGroup: Record<string, number>;
}

// ---------------------------------------------------------------- the worker

export class BenchWorker {
  readonly lines: string[] = [];
  private buffer = '';
  private peakRssKb = 0;
  private sampler: NodeJS.Timeout | null = null;
  readonly exit: Promise<number | null>;

  private constructor(
    readonly proc: ChildProcess,
    readonly port: number,
    readonly profileDir: string | null,
  ) {
    const onData = (d: Buffer) => {
      this.buffer += d.toString();
      const parts = this.buffer.split('\n');
      this.buffer = parts.pop() ?? '';
      for (const l of parts) this.lines.push(l);
    };
    proc.stdout?.on('data', onData);
    proc.stderr?.on('data', onData);
    this.exit = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
    // VmHWM is the kernel's own peak; VmRSS sampled as well in case HWM is unavailable.
    this.sampler = setInterval(() => {
      const kb = procStatusKb(this.pid, 'VmRSS');
      if (kb !== null && kb > this.peakRssKb) this.peakRssKb = kb;
    }, 50);
  }

  get pid(): number {
    return this.proc.pid as number;
  }

  static async start(opts: { dbUrl: string; connectors: Array<Record<string, unknown>>; profileDir?: string | null; tag: string }): Promise<BenchWorker> {
    const port = await freePort();
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `pgkc-bench-${opts.tag}-`));
    fs.mkdirSync(path.join(dir, 'connectors'));
    const worker = {
      kafka: { brokers: [BROKER], client_id: 'pgkc-bench' },
      database: { url: opts.dbUrl },
      http: { host: '127.0.0.1', port },
      log: { level: 'info' },
    };
    fs.writeFileSync(path.join(dir, 'worker.json'), JSON.stringify(worker, null, 2));
    for (const c of opts.connectors) fs.writeFileSync(path.join(dir, 'connectors', `${String(c.name)}.json`), JSON.stringify(c, null, 2));
    const nodeArgs: string[] = [...WORKER_NODE_FLAGS]; // as the CLI and the image run it
    const profileDir = opts.profileDir ?? null;
    if (profileDir) {
      fs.mkdirSync(profileDir, { recursive: true });
      nodeArgs.push('--cpu-prof', `--cpu-prof-dir=${profileDir}`);
    }
    const proc = spawn(process.execPath, [...nodeArgs, CLI, 'run', '--config', path.join(dir, 'worker.json')], { cwd: REPO_ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
    const w = new BenchWorker(proc, port, profileDir);
    await w.waitFor(async () => (await w.tryGet('/healthz')) !== null, 30_000, 'worker HTTP server');
    return w;
  }

  async tryGet(p: string): Promise<string | null> {
    try {
      const res = await fetch(`http://127.0.0.1:${this.port}${p}`);
      return await res.text();
    } catch {
      return null;
    }
  }

  async connector(name: string): Promise<{ state: string; snapshot: { rows_done: number; completed: boolean }; lag_seconds: number; pending_changes: number } | null> {
    const t = await this.tryGet('/connectors');
    if (t === null) return null;
    return (JSON.parse(t) as { connectors: Array<{ name: string } & Record<string, unknown>> }).connectors.find((c) => c.name === name) as never;
  }

  async metrics(): Promise<string> {
    const t = await this.tryGet('/metrics');
    if (t === null) throw new Error('worker /metrics did not answer');
    return t;
  }

  async waitFor(check: () => Promise<boolean>, timeoutMs: number, what: string, everyMs = 100): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (this.proc.exitCode !== null) throw new Error(`worker exited (${this.proc.exitCode}) while waiting for ${what}:\n${this.lines.slice(-20).join('\n')}`);
      if (await check()) return;
      await sleep(everyMs);
    }
    throw new Error(`timed out waiting for ${what}:\n${this.lines.slice(-20).join('\n')}`);
  }

  /** The time field (ms) of the first log line with this msg. */
  logTime(msg: string): number | null {
    for (const l of this.lines) {
      if (!l.includes(msg)) continue;
      try {
        const o = JSON.parse(l) as { msg?: string; time?: string };
        if (o.msg === msg && o.time) return Date.parse(o.time);
      } catch {
        // not JSON
      }
    }
    return null;
  }

  /** Peak resident set size in MB: the kernel's high-water mark, or the highest sampled RSS. */
  peakRssMb(): number {
    const hwm = procStatusKb(this.pid, 'VmHWM');
    return round(Math.max(hwm ?? 0, this.peakRssKb) / 1024, 1);
  }

  /** SIGTERM and wait (the CPU profile is written at exit); SIGKILL after 20 s. */
  async stop(): Promise<void> {
    if (this.sampler) clearInterval(this.sampler);
    if (this.proc.exitCode === null && this.proc.signalCode === null) {
      this.proc.kill('SIGTERM');
      const t = setTimeout(() => this.proc.kill('SIGKILL'), 20_000);
      await this.exit;
      clearTimeout(t);
    }
  }
}

// ---------------------------------------------------------------- metrics

/** Sum of a metric's series that match every label. */
export function metricSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split('\n')) {
    if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(' ') + 1));
  }
  return sum;
}

/** Cumulative bucket counts of a histogram: [[le, count]] sorted by le (+Inf last). */
export function histogram(text: string, name: string): Array<[number, number]> {
  const out: Array<[number, number]> = [];
  for (const line of text.split('\n')) {
    if (!line.startsWith(`${name}_bucket{`)) continue;
    const m = /le="([^"]+)"/.exec(line);
    if (!m) continue;
    out.push([m[1] === '+Inf' ? Infinity : Number(m[1]), Number(line.slice(line.lastIndexOf(' ') + 1))]);
  }
  return out.sort((a, b) => a[0] - b[0]);
}

/** A quantile from the difference of two histogram scrapes, interpolating linearly in the bucket (as histogram_quantile does). */
export function histogramQuantile(before: Array<[number, number]>, after: Array<[number, number]>, q: number): number | null {
  const b = new Map(before);
  const buckets = after.map(([le, c]) => [le, c - (b.get(le) ?? 0)] as [number, number]);
  const total = buckets.length ? buckets[buckets.length - 1][1] : 0;
  if (total === 0) return null;
  const rank = q * total;
  let prevLe = 0;
  let prevCount = 0;
  for (const [le, count] of buckets) {
    if (count >= rank) {
      if (le === Infinity) return prevLe;
      return prevLe + ((le - prevLe) * (rank - prevCount)) / Math.max(1, count - prevCount);
    }
    prevLe = le;
    prevCount = count;
  }
  return prevLe;
}

export function quantile(sorted: number[], q: number): number | null {
  if (sorted.length === 0) return null;
  return sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))];
}

export function round(n: number, digits = 0): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}

// ---------------------------------------------------------------- CPU profiles

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}

export interface ProfileEntry {
  fn: string;
  where: string;
  selfPercent: number;
}

/** Top self-time functions of the newest .cpuprofile in dir (the V8 format: nodes, samples, timeDeltas). */
export function summariseProfile(dir: string, top = 15): { file: string; totalMs: number; top: ProfileEntry[]; byModule: Array<{ module: string; selfPercent: number }> } | null {
  if (!fs.existsSync(dir)) return null;
  const files = fs
    .readdirSync(dir)
    .filter((f) => f.endsWith('.cpuprofile'))
    .map((f) => path.join(dir, f));
  if (files.length === 0) return null;
  const file = files.sort((a, b) => fs.statSync(b).mtimeMs - fs.statSync(a).mtimeMs)[0];
  const prof = JSON.parse(fs.readFileSync(file, 'utf8')) as { nodes: ProfileNode[]; samples: number[]; timeDeltas: number[] };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  prof.samples.forEach((id, i) => self.set(id, (self.get(id) ?? 0) + (prof.timeDeltas[i] ?? 0)));
  const total = [...self.values()].reduce((a, b) => a + b, 0);
  const agg = new Map<string, { fn: string; where: string; us: number }>();
  const mod = new Map<string, number>();
  for (const [id, us] of self) {
    const n = byId.get(id);
    if (!n) continue;
    const url = n.callFrame.url.replace(/^file:\/\//, '');
    const rel = url.startsWith(REPO_ROOT) ? path.relative(REPO_ROOT, url) : url;
    const where = rel ? `${rel}:${n.callFrame.lineNumber + 1}` : '';
    const fn = n.callFrame.functionName || '(anonymous)';
    const key = `${fn} ${where}`;
    const e = agg.get(key) ?? { fn, where, us: 0 };
    e.us += us;
    agg.set(key, e);
    const m = moduleOf(rel, fn);
    mod.set(m, (mod.get(m) ?? 0) + us);
  }
  const pct = (us: number) => round((100 * us) / Math.max(1, total), 1);
  return {
    file: path.relative(REPO_ROOT, file),
    totalMs: round(total / 1000),
    top: [...agg.values()]
      .sort((a, b) => b.us - a.us)
      .slice(0, top)
      .map((e) => ({ fn: e.fn, where: e.where, selfPercent: pct(e.us) })),
    byModule: [...mod.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, 10)
      .map(([module, us]) => ({ module, selfPercent: pct(us) })),
  };
}

function moduleOf(rel: string, fn: string): string {
  const m = /node_modules\/((?:@[^/]+\/)?[^/]+)/.exec(rel);
  if (m) return m[1];
  if (rel.startsWith('dist/')) return 'pg-kafka-cdc';
  if (rel.startsWith('node:')) return 'node core';
  if (!rel) return fn.startsWith('(') ? fn : 'native/builtin';
  return rel;
}
