/**
 * `pg-kafka-cdc run`: validates everything first (exit 2 before touching any database or Kafka when
 * a file is invalid), then runs the worker until SIGTERM/SIGINT: the first signal stops gracefully
 * (batches in flight finish, progress is committed) within 10 s, a second exits at once.
 */
import { timingsFromEnv, type Timings } from '../timings';
import type { Env } from '../config/load';
import { Worker } from '../connector/worker';
import { createLogger } from '../observe/logger';
import { validateAll } from './validate';
import { problemsFound } from '../util/errors';

export async function runCommand(workerFile: string, env: Env, err: (line: string) => void): Promise<number> {
  let timings: Timings;
  try {
    timings = timingsFromEnv(env);
  } catch (e) {
    err((e as Error).message);
    return 2;
  }
  const v = await validateAll(workerFile, env, false);
  if (v.problems.length > 0 || !v.config) {
    err(`${problemsFound(v.problems.length)}; not starting:`);
    for (const p of v.problems) err(`  ${p}`);
    return 2;
  }
  const logger = createLogger(v.config.logLevel);
  for (const u of v.unreachable) logger.warn(u + ' (the connector will retry until it can connect)');
  const worker = new Worker(v.config, logger, { timings });

  let stopping = false;
  const done = new Promise<number>((resolve) => {
    const onSignal = (signal: NodeJS.Signals) => {
      if (stopping) {
        logger.warn({ signal }, 'second signal: exiting now');
        logger.flush();
        process.exit(130);
      }
      stopping = true;
      logger.info({ signal }, 'stopping: finishing batches in flight');
      const timer = setTimeout(() => {
        logger.error(`graceful stop took longer than ${timings.SHUTDOWN_TIMEOUT_MS} ms: exiting`);
        logger.flush();
        process.exit(1);
      }, timings.SHUTDOWN_TIMEOUT_MS);
      timer.unref();
      worker.stop().then(() => {
        clearTimeout(timer);
        resolve(0);
      });
    };
    process.on('SIGTERM', onSignal);
    process.on('SIGINT', onSignal);
  });
  await worker.start();
  const code = await done;
  logger.flush();
  // Stopped: a connection attempt still under way to an unreachable database (a member session
  // reconnecting) must not keep the process alive for its timeout.
  process.exit(code);
}
