/**
 * Kafka Connect standalone, from the broker's own jars (scripts/kafka/fetch.sh), with the plugins
 * scripts/connect/fetch.sh put in the service cache: a real downstream consumer for the interop tests.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CACHE_DIR, KAFKA_HOME } from './kafka-tools';
import { KAFKA_BROKERS } from './services';
import { eventually } from './wait';

export const CONNECT_PLUGINS = path.join(CACHE_DIR, 'connect-plugins');

const props = (o: Record<string, string | number | boolean>) =>
  Object.entries(o)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n') + '\n';

export class ConnectStandalone {
  private readonly output: string[] = [];
  private constructor(
    private readonly proc: ChildProcess,
    readonly restPort: number,
    readonly dir: string,
  ) {
    proc.stdout?.on('data', (d: Buffer) => this.output.push(d.toString()));
    proc.stderr?.on('data', (d: Buffer) => this.output.push(d.toString()));
  }

  /** Starts a worker running one connector; JsonConverter with schemas for keys and values. */
  static start(restPort: number, connector: Record<string, string | number | boolean>): ConnectStandalone {
    if (!fs.existsSync(path.join(CONNECT_PLUGINS, 'debezium-jdbc', '.fetched'))) {
      throw new Error(`no Kafka Connect plugins in ${CONNECT_PLUGINS}: run scripts/connect/fetch.sh (make services-up does)`);
    }
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pgkc-connect-'));
    fs.writeFileSync(
      path.join(dir, 'worker.properties'),
      props({
        'bootstrap.servers': KAFKA_BROKERS.join(','),
        'key.converter': 'org.apache.kafka.connect.json.JsonConverter',
        'value.converter': 'org.apache.kafka.connect.json.JsonConverter',
        'key.converter.schemas.enable': true,
        'value.converter.schemas.enable': true,
        'offset.storage.file.filename': path.join(dir, 'offsets'),
        'plugin.path': CONNECT_PLUGINS,
        listeners: `http://127.0.0.1:${restPort}`,
        'connector.client.config.override.policy': 'All',
      }),
    );
    fs.writeFileSync(path.join(dir, 'connector.properties'), props(connector));
    fs.writeFileSync(
      path.join(dir, 'log4j.properties'),
      props({
        'log4j.rootLogger': 'WARN, stdout',
        'log4j.appender.stdout': 'org.apache.log4j.ConsoleAppender',
        'log4j.appender.stdout.layout': 'org.apache.log4j.PatternLayout',
        'log4j.appender.stdout.layout.ConversionPattern': '[%d] %p %m (%c)%n',
        'log4j.logger.org.apache.kafka.connect.runtime.isolation': 'ERROR',
      }),
    );
    const proc = spawn(
      'java',
      [
        '-Xmx512m',
        `-Dlog4j.configuration=file:${path.join(dir, 'log4j.properties')}`,
        '-cp',
        path.join(KAFKA_HOME, 'libs', '*'),
        'org.apache.kafka.connect.cli.ConnectStandalone',
        path.join(dir, 'worker.properties'),
        path.join(dir, 'connector.properties'),
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    return new ConnectStandalone(proc, restPort, dir);
  }

  /** Waits until the connector and its task run; fails with Connect's own trace when a task failed. */
  async waitRunning(name: string, timeoutMs = 120_000): Promise<void> {
    await eventually(
      async () => {
        const res = await fetch(`http://127.0.0.1:${this.restPort}/connectors/${name}/status`).catch(() => null);
        if (!res || !res.ok) return null;
        const s = (await res.json()) as { connector: { state: string }; tasks: Array<{ state: string; trace?: string }> };
        const failed = s.tasks.find((t) => t.state === 'FAILED');
        if (failed) throw new Error(`Kafka Connect task failed: ${failed.trace?.slice(0, 2000)}`);
        return s.connector.state === 'RUNNING' && s.tasks.length > 0 && s.tasks.every((t) => t.state === 'RUNNING') ? true : null;
      },
      timeoutMs,
      `Kafka Connect connector ${name} running`,
      500,
    );
  }

  /** The state of the connector's task (to fail fast on a task that died). */
  async taskTrace(name: string): Promise<string | null> {
    const res = await fetch(`http://127.0.0.1:${this.restPort}/connectors/${name}/status`).catch(() => null);
    if (!res || !res.ok) return null;
    const s = (await res.json()) as { tasks: Array<{ state: string; trace?: string }> };
    return s.tasks.find((t) => t.state === 'FAILED')?.trace ?? null;
  }

  logs(): string {
    return this.output.join('');
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || this.proc.signalCode !== null) return;
    const exited = new Promise((resolve) => this.proc.once('exit', resolve));
    this.proc.kill('SIGTERM');
    const timer = setTimeout(() => this.proc.kill('SIGKILL'), 15_000);
    await exited;
    clearTimeout(timer);
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}
