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
import { groupOf, Membership, replicaId } from '../cluster/membership';
import { describeDatabase } from '../postgres/connection';
import { DataPool } from '../postgres/pool';
import { Connector, type DatabaseLink } from './connector';
import { ControlHub } from './session';
import { displayTable } from '../postgres/sql';
import { DEFAULT_TIMINGS, type Timings } from '../timings';

export interface WorkerOptions {
  /** Overrides the configured HTTP port (tests use 0). */
  httpPort?: number;
  /** The durations the worker waits (src/timings.ts): the defaults unless given; tests shorten them (withTimings checks the relations). */
  timings?: Timings;
  /** This replica's id (default: replicaId(), from PGKC_REPLICA_ID or host and pid); in-process tests run several workers in one process. */
  replica?: string;
}

export class Worker {
  readonly events: EventBus;
  readonly status: StatusBoard;
  private readonly connectors: Connector[];
  /** Spreads the connectors over the replicas of the deployment (cluster/membership.ts). */
  readonly membership: Membership;
  /** The shared connections of each database (by URL): one control connection and a bounded data pool. */
  readonly databases = new Map<string, DatabaseLink>();
  private http: HttpServer | null = null;
  private started: Promise<void> | null = null;
  private stopped: Promise<void> | null = null;

  constructor(
    private readonly config: WorkerConfig,
    private readonly logger: Logger,
    private readonly opts: WorkerOptions = {},
  ) {
    this.events = new EventBus((event, err) => logger.warn({ event, err: describeError(err) }, 'an observer of connector events failed'));
    this.status = new StatusBoard(
      this.events,
      config.connectors.map((c) => ({ name: c.name, topic: c.topic, table: displayTable(c.table) })),
    );
    const names = config.connectors.map((c) => c.name);
    // The coordination database: the first connector's by name, the same on every replica.
    const coordinator = [...config.connectors].sort((a, b) => (a.name < b.name ? -1 : 1))[0]?.databaseUrl ?? null;
    const replica = opts.replica ?? replicaId();
    const timings = opts.timings ?? DEFAULT_TIMINGS;
    this.membership = new Membership(replica, groupOf(names), names, coordinator, this.events, logger.child({ replica }), (names) => this.releaseSome(names), timings);
    for (const c of config.connectors) {
      if (this.databases.has(c.databaseUrl)) continue;
      const heartbeatMs = Math.min(...config.connectors.filter((x) => x.databaseUrl === c.databaseUrl).map((x) => x.heartbeatIntervalMs));
      const data = new DataPool(c.databaseUrl, config.dataPoolSize, logger, timings);
      this.databases.set(c.databaseUrl, { control: new ControlHub(c.databaseUrl, heartbeatMs, replica, (fn) => data.withClient(fn), timings), data });
    }
    this.connectors = config.connectors.map(
      (c) => new Connector(c, config.kafka, this.events, logger.child({ connector: c.name }), this.databases.get(c.databaseUrl) as DatabaseLink, this.membership, timings),
    );
    this.status.holdsShare = () => this.membership.holdsShare();
  }

  /** Over its share: hands those connectors over (cluster/membership.ts picks them). */
  private releaseSome(names: string[]): void {
    for (const c of this.connectors) if (names.includes(c.cfg.name)) c.release();
  }

  /** Starts the HTTP server and every connector. Idempotent. Resolves once the server listens. */
  start(): Promise<void> {
    this.started ??= (async () => {
      const registry = createMetrics(
        this.events,
        this.config.connectors.map((c) => c.name),
        () => [...this.databases].map(([url, d]) => ({ database: describeDatabase(url), ...d.data.stats() })),
      );
      logEvents(this.events, (name) => this.logger.child({ connector: name }), this.status, this.opts.timings?.PROGRESS_LOG_MS);
      this.http = await startHttpServer(this.config.http.host, this.opts.httpPort ?? this.config.http.port, registry, this.status);
      // Counted before any connector tries its lock, so that a replica joining a running deployment takes only its share.
      await this.membership.start();
      this.logger.info(
        {
          host: this.config.http.host,
          port: this.http.port,
          connectors: this.connectors.length,
          replica: this.membership.replica,
          replicas: this.membership.view().members.length,
          share: this.membership.share(),
        },
        'worker started',
      );
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
      // Leave the count first: the other replicas' shares grow at once, and they take each connector
      // over as soon as its batch in flight is done and its lock is released.
      await this.membership.stop();
      await Promise.all(this.connectors.map((c) => c.stop()));
      await Promise.all([...this.databases.values()].map((d) => d.data.end()));
      if (this.http) await this.http.close();
      this.logger.info('worker stopped');
    })();
    return this.stopped;
  }
}
