/**
 * A real Worker in the test's own process: the same code `run` starts (validation first, then the
 * worker with its HTTP server), against the real PostgreSQL and Kafka, with the test timings and a
 * port the system picks. No process start per worker, and nothing to wait for that a test does not
 * ask for. Tests that need a process (kill -9, signals, exit codes, failpoints) use WorkerProcess.
 */
import { randomBytes } from 'node:crypto';
import { Writable } from 'node:stream';
import { validateAll } from '../../src/cli/validate';
import { Worker } from '../../src/connector/worker';
import { createLogger } from '../../src/observe/logger';
import { TEST_TIMINGS } from './timings';
import { WorkerHandle } from './worker';

export class InProcessWorker extends WorkerHandle {
  private constructor(
    private readonly worker: Worker,
    private readonly output: string[],
  ) {
    super();
  }

  get port(): number {
    const port = this.worker.httpPort;
    if (port === null) throw new Error('the in-process worker has no HTTP server (stopped?)');
    return port;
  }

  /** Validates the worker file as `run` does (a problem fails the test), then starts the worker. */
  static async start(workerFile: string, env: Record<string, string | undefined> = {}): Promise<InProcessWorker> {
    const allEnv = { ...process.env, ...env };
    const v = await validateAll(workerFile, allEnv, false);
    if (v.problems.length > 0 || !v.config) throw new Error(`the worker file does not validate:\n  ${v.problems.join('\n  ')}`);
    const output: string[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        output.push(chunk.toString());
        done();
      },
    });
    const logger = createLogger(v.config.logLevel, sink);
    const worker = new Worker(v.config, logger, { httpPort: 0, timings: TEST_TIMINGS, replica: `test-${randomBytes(4).toString('hex')}` });
    await worker.start();
    return new InProcessWorker(worker, output);
  }

  logs(): string {
    return this.output.join('');
  }

  async stop(): Promise<void> {
    await this.worker.stop();
  }
}
