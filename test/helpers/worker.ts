/** Runs the real worker CLI as a child process, as users and Kubernetes do, so tests can kill -9 it. */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { WORKER_NODE_FLAGS } from '../../src/cli/node-flags';
import { KAFKA_BROKERS } from './services';
import { testTimingsEnv } from './timings';
import { eventually } from './wait';

export const REPO_ROOT = path.resolve(__dirname, '..', '..', '..');
export const CLI = path.join(REPO_ROOT, 'dist', 'src', 'cli', 'main.js');

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = net.createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(port));
    });
  });
}

/** Writes a worker file and its connectors folder into a fresh temp dir; returns the worker file. */
export function writeConfig(opts: { databaseUrl?: string; httpPort: number; connectors: Array<Record<string, unknown>>; worker?: Record<string, unknown> }): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgkc-'));
  fs.mkdirSync(path.join(dir, 'connectors'));
  const worker = {
    kafka: { brokers: KAFKA_BROKERS, client_id: 'pgkc-test' },
    ...(opts.databaseUrl ? { database: { url: opts.databaseUrl } } : {}),
    http: { host: '127.0.0.1', port: opts.httpPort },
    log: { level: 'info' },
    ...opts.worker,
  };
  fs.writeFileSync(path.join(dir, 'worker.json'), JSON.stringify(worker, null, 2));
  for (const c of opts.connectors) fs.writeFileSync(path.join(dir, 'connectors', `${String(c.name)}.json`), JSON.stringify(c, null, 2));
  return path.join(dir, 'worker.json');
}

export interface ConnectorStatusView {
  name: string;
  state: string;
  snapshot: { rows_done: number; completed: boolean };
  resnapshot: { request: string; where: string | null; state: string; rows_done: number; rows_estimated: number; percent: number; eta_seconds: number | null; error: string | null } | null;
  lag_seconds: number;
  pending_changes: number;
  last_error: { message: string } | null;
}

/**
 * What a test sees of a running worker, whether a process (WorkerProcess) or in the test's own
 * process (InProcessWorker, in-process.ts): its HTTP endpoints, its logs, a graceful stop.
 */
export abstract class WorkerHandle {
  abstract readonly port: number;
  abstract logs(): string;
  abstract stop(): Promise<void>;

  async get<T>(p: string): Promise<{ status: number; body: T }> {
    const res = await fetch(`http://127.0.0.1:${this.port}${p}`);
    const text = await res.text();
    return { status: res.status, body: (p === '/metrics' ? text : JSON.parse(text)) as T };
  }

  async connectors(): Promise<ConnectorStatusView[]> {
    return (await this.get<{ connectors: ConnectorStatusView[] }>('/connectors')).body.connectors;
  }

  async connector(name: string): Promise<ConnectorStatusView> {
    const c = (await this.connectors()).find((x) => x.name === name);
    if (!c) throw new Error(`no connector ${name}`);
    return c;
  }

  /** Waits until the connector reports one of the states. */
  async waitForState(name: string, states: string[], timeoutMs = 60_000): Promise<ConnectorStatusView> {
    return eventually(
      async () => {
        const c = await this.connector(name);
        return states.includes(c.state) ? c : null;
      },
      timeoutMs,
      `connector ${name} to be ${states.join(' or ')}`,
    );
  }

  /** A metric's value from /metrics (sum over series matching all the given labels). */
  async metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const text = (await this.get<string>('/metrics')).body;
    let sum = 0;
    let found = false;
    for (const line of text.split('\n')) {
      if (!line.startsWith(name + '{') && !line.startsWith(name + ' ')) continue;
      if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
      sum += Number(line.slice(line.lastIndexOf(' ') + 1));
      found = true;
    }
    if (!found) throw new Error(`metric ${name} ${JSON.stringify(labels)} not found`);
    return sum;
  }
}

/** The worker CLI as a child process: for what needs a process (kill -9, signals, exit codes, failpoints). */
export class WorkerProcess extends WorkerHandle {
  readonly output: string[] = [];
  private exit: Promise<number | null>;

  constructor(
    readonly proc: ChildProcess,
    readonly port: number,
  ) {
    super();
    proc.stdout?.on('data', (d: Buffer) => this.output.push(d.toString()));
    proc.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()));
    this.exit = new Promise((resolve) => proc.once('exit', (code) => resolve(code)));
  }

  static start(workerFile: string, port: number, env: Record<string, string> = {}): WorkerProcess {
    const proc = spawn(process.execPath, [...WORKER_NODE_FLAGS, CLI, 'run', '--config', workerFile], {
      cwd: REPO_ROOT,
      env: { ...process.env, ...testTimingsEnv(), ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new WorkerProcess(proc, port);
  }

  kill(signal: NodeJS.Signals = 'SIGKILL'): void {
    if (this.proc.exitCode === null && this.proc.signalCode === null) this.proc.kill(signal);
  }

  /** Resolves with the exit code (null when killed by a signal). */
  async waitForExit(timeoutMs = 15_000): Promise<number | null> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`worker did not exit within ${timeoutMs} ms`)), timeoutMs);
    });
    try {
      return await Promise.race([this.exit, timeout]);
    } finally {
      clearTimeout(timer);
    }
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    this.kill('SIGTERM');
    try {
      await this.waitForExit(15_000);
    } catch {
      this.kill('SIGKILL');
      await this.exit;
    }
  }

  logs(): string {
    return this.output.join('');
  }
}

/** In an afterEach: when the test failed, print the tail of each worker's logs (they explain most failures). */
export function printLogsIfFailed(ctx: Mocha.Context, workers: WorkerHandle[], chars = 8000): void {
  if (ctx.currentTest?.state !== 'failed') return;
  for (const w of workers) console.log(`--- worker logs ---\n${w.logs().slice(-chars)}`);
}
