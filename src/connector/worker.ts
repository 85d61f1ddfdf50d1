/**
 * The worker: runs every connector of a config, each isolated (one failing connector retries on
 * its own while the others go on), serves the HTTP endpoints, and stops in a fixed order.
 */
import type { WorkerConfig } from '../config/types';
import { EventBus } from '../observe/events';
import { describeError } from '../util/errors';
import { startHttpServer, type HttpServer } from '../observe/http';
import { logEvents } from '../observe/log-events';
import type { Logger } from '../observe/logger';
import { createMetrics } from '../observe/metrics';
import { StatusBoard } from '../observe/status';
import { Connector } from './connector';
import { displayTable } from '../postgres/sql';

export interface WorkerOptions {
  /** Overrides the configured HTTP port (tests use 0). */
  httpPort?: number;
}

export class Worker {
  readonly events: EventBus;
  readonly status: StatusBoard;
  private readonly connectors: Connector[];
  private http: HttpServer | null = null;
  private started: Promise<void> | null = null;
  private stopped: Promise<void> | null = null;

  constructor(private readonly config: WorkerConfig, private readonly logger: Logger, private readonly opts: WorkerOptions = {}) {
    this.events = new EventBus((event, err) => logger.warn({ event, err: describeError(err) }, 'an observer of connector events failed'));
    this.status = new StatusBoard(
      this.events,
      config.connectors.map((c) => ({ name: c.name, topic: c.topic, table: displayTable(c.table) })),
    );
    this.connectors = config.connectors.map((c) => new Connector(c, config.kafka, this.events, logger.child({ connector: c.name })));
  }

  /** Starts the HTTP server and every connector. Idempotent. Resolves once the server listens. */
  start(): Promise<void> {
    this.started ??= (async () => {
      const registry = createMetrics(this.events, this.config.connectors.map((c) => c.name));
      logEvents(this.events, (name) => this.logger.child({ connector: name }), this.status);
      this.http = await startHttpServer(this.config.http.host, this.opts.httpPort ?? this.config.http.port, registry, this.status);
      this.logger.info({ host: this.config.http.host, port: this.http.port, connectors: this.connectors.length }, 'worker started');
      for (const c of this.connectors) c.start();
    })();
    return this.started;
  }

  get httpPort(): number | null {
    return this.http?.port ?? null;
  }

  /** Stops every connector (each finishes its batch in flight and commits progress), then the server. Idempotent. */
  stop(): Promise<void> {
    this.stopped ??= (async () => {
      await this.started?.catch(() => undefined);
      await Promise.all(this.connectors.map((c) => c.stop()));
      if (this.http) await this.http.close();
      this.logger.info('worker stopped');
    })();
    return this.stopped;
  }
}
