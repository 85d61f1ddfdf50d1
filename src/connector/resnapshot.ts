/**
 * Re-snapshot on demand, while streaming (`pg-kafka-cdc snapshot`). A request (postgres/requests.ts)
 * is served one page at a time, in turns with the change batches of the same session: each page and
 * each change batch is read, published and acknowledged before the next one is read. Every record
 * is the row as PostgreSQL had it when its page or batch was read, and the records reach the topic
 * in the order they were read; so the last record of a key is never older than the row (why this
 * holds in full: docs/resnapshot.md).
 *
 * A page is committed like an initial snapshot page: with its checkpoint (the request, the last
 * key and the rows done) in one Kafka transaction with exactly_once, stored in the connector's
 * progress afterwards; a crash resumes after the last committed page. Requests are served one at a
 * time, oldest first; a cancelled request stops at the next look (at most RESNAPSHOT_CHECK_MS).
 */
import { checkExpression, checkRequester, estimateMatches, ExpressionRefused } from '../postgres/expression';
import { filteredSnapshotStatements, positionOf, snapshotStatements, type FilteredPage, type SnapshotRow } from '../postgres/queries';
import { finishRequest, markRunning, openRequests, type SnapshotRequest } from '../postgres/requests';
import { countOf } from '../kafka/records';
import type { ResnapshotPosition } from '../progress/store';
import type { Queryable } from '../postgres/queries';
import { describeError } from '../util/errors';
import { MAX_REQUEST_ATTEMPTS, RESNAPSHOT_CHECK_MS, RESNAPSHOT_PAGE_TIMEOUT_MS } from '../timings';
import type { SessionContext } from './context';

interface Active {
  request: SnapshotRequest;
  /** The next page: the rows after key (with a predicate: those that match among the next limit rows). */
  page: (db: Queryable, limit: number, after: string[] | null) => Promise<FilteredPage>;
  key: string[] | null;
  rows: number;
  estimated: number;
  /** Rows read per page: snapshot.batch_size, halved each time the server cancels a page as too slow. */
  limit: number;
}

/** Pages of the whole table, in the shape of a filtered page. */
const wholeTable = (page: (db: Queryable, limit: number, after: string[] | null) => Promise<SnapshotRow[]>) => async (db: Queryable, limit: number, after: string[] | null): Promise<FilteredPage> => {
  const rows = await page(db, limit, after);
  return { rows, last: rows.length === 0 ? null : positionOf(rows[rows.length - 1]), read: rows.length };
};

export class Resnapshots {
  private active: Active | null = null;
  private due = 0;

  constructor(private readonly ctx: SessionContext) {}

  /** A re-snapshot is being served: the session should give it turns. */
  get running(): boolean {
    return this.active !== null;
  }

  /**
   * Looks at the connector's requests (at most once per RESNAPSHOT_CHECK_MS, unless now): the one
   * in progress stops when it was cancelled; otherwise the stored one resumes, or the oldest open
   * request starts.
   */
  async check(now = false): Promise<void> {
    if (!now && Date.now() < this.due) return;
    this.due = Date.now() + RESNAPSHOT_CHECK_MS;
    const { data, cfg, progress, log } = this.ctx;
    const open = await openRequests(data, cfg.name);
    if (this.active) {
      const id = this.active.request.id;
      if (!open.some((r) => r.id === id)) await this.end('cancelled');
      return;
    }
    const stored = progress.current().resnapshot;
    if (stored && !open.some((r) => r.id === stored.id)) {
      // Cancelled, or finished just before a crash: nothing to resume.
      log.info({ request: stored.id }, 're-snapshot request is no longer open; not resuming it');
      await progress.advance({ resnapshot: null });
    }
    for (const request of open) {
      const from = stored?.id === request.id ? stored : { id: request.id, key: null, rows: 0 };
      if (await this.begin(request, from)) return;
    }
  }

  /** One page of the re-snapshot: read, published with its checkpoint, stored. Ends the request after its last page. */
  async step(): Promise<void> {
    const a = this.active;
    if (!a) return;
    const { cfg, data, publisher, records, progress, events } = this.ctx;
    let page: FilteredPage;
    try {
      page = await a.page(data, a.limit, a.key);
    } catch (err) {
      if (!isPredicateFailure(err)) throw err;
      if ((err as { code?: unknown }).code === '57014' && a.limit > 1) {
        // The server cancelled the page as too slow: read fewer rows per page from now on.
        a.limit = Math.max(1, Math.floor(a.limit / 2));
        this.ctx.log.warn({ request: a.request.id, rowsPerPage: a.limit, timeoutMs: RESNAPSHOT_PAGE_TIMEOUT_MS }, 're-snapshot page took too long; reading fewer rows per page');
        return;
      }
      await this.end('failed', `its predicate failed on the table: ${describeError(err)}`);
      return;
    }
    const matched = page.rows;
    if (page.last !== null) {
      const started = process.hrtime.bigint();
      const position: ResnapshotPosition = { id: a.request.id, key: page.last, rows: a.rows + matched.length };
      const checkpoint = progress.next({ resnapshot: position });
      const first = a.rows + 1;
      await publisher.publish(() => matched.map((r, i) => records.resnapshot(r, a.request.id, first + i)), checkpoint);
      const produceSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      await progress.save(checkpoint);
      a.key = position.key;
      a.rows = position.rows;
      this.ctx.madeProgress();
      if (matched.length > 0) events.emit('published', { connector: cfg.name, ops: countOf('snapshot', matched.length), records: matched.length, produceSeconds, latenciesSeconds: [], resnapshot: true });
    }
    if (page.read < a.limit) await this.end('done');
    else this.emit('running');
  }

  /** Starts (or resumes) a request; false when it cannot run (a bad predicate: it is marked failed) or was cancelled meanwhile. */
  private async begin(request: SnapshotRequest, from: ResnapshotPosition): Promise<boolean> {
    const { data, plan, progress, log, cfg } = this.ctx;
    let estimated = plan.info.estimatedRows;
    let page = wholeTable(snapshotStatements(plan).page);
    const refuse = async (why: string) => {
      this.active = { request, page, key: null, rows: 0, estimated: 0, limit: cfg.snapshotBatchSize };
      await this.end('failed', why);
      return false;
    };
    if (request.attempts >= MAX_REQUEST_ATTEMPTS) return refuse(`sessions started serving it ${request.attempts} times and none finished it`);
    // Checked here whoever wrote the row (the command checks it too, but a row can be written by
    // hand, and the table may have changed since): as one expression PostgreSQL accepts, with no more
    // rights than the role that inserted the request.
    try {
      if (request.predicate === null) await checkRequester(data, plan.table, request.requestedBy);
      else {
        const checked = await checkExpression(data, plan.table, request.predicate, { requester: request.requestedBy, allowStableDateTime: true });
        estimated = await estimateMatches(data, plan.table, checked);
        page = filteredSnapshotStatements(plan, checked, RESNAPSHOT_PAGE_TIMEOUT_MS).page;
      }
    } catch (err) {
      if (err instanceof ExpressionRefused) return refuse(`its predicate ${err.message}`);
      if (!isPredicateFailure(err)) throw err;
      return refuse(`its predicate is not valid for the table: ${describeError(err)}`);
    }
    if (!(await markRunning(data, request.id, estimated))) return false;
    if (progress.current().resnapshot?.id !== request.id) await progress.advance({ resnapshot: from });
    this.active = { request, page, key: from.key, rows: from.rows, estimated, limit: cfg.snapshotBatchSize };
    log.info({ request: request.id, where: request.predicate, resumeAfter: from.key, rowsDone: from.rows, estimated }, from.key ? 'resuming re-snapshot' : 'starting re-snapshot');
    this.emit('running');
    return true;
  }

  /** Ends the request in progress: its row says how, and the stored position forgets it. */
  private async end(state: 'done' | 'cancelled' | 'failed', error?: string): Promise<void> {
    const a = this.active;
    if (!a) return;
    const { data, progress, log } = this.ctx;
    // The request first: a crash between the two leaves a closed request in the position, which the
    // next check drops; the other order would leave an open request to serve again from the start.
    if (state === 'done') await finishRequest(data, a.request.id, { state, rows: a.rows });
    if (state === 'failed') await finishRequest(data, a.request.id, { state, rows: a.rows, error: error ?? 'failed' });
    if (progress.current().resnapshot !== null) await progress.advance({ resnapshot: null });
    if (state === 'failed') log.error({ request: a.request.id, where: a.request.predicate, err: error }, 're-snapshot request failed; the connector goes on streaming');
    else log.info({ request: a.request.id, where: a.request.predicate, rows: a.rows }, state === 'done' ? 're-snapshot complete' : 're-snapshot cancelled');
    this.emit(state, error);
    this.active = null;
  }

  private emit(state: 'running' | 'done' | 'cancelled' | 'failed', error?: string): void {
    const a = this.active;
    if (!a) return;
    this.ctx.events.emit('resnapshot', {
      connector: this.ctx.cfg.name,
      id: a.request.id,
      where: a.request.predicate,
      rows: a.rows,
      estimated: state === 'done' ? a.rows : Math.max(a.estimated, a.rows),
      state,
      ...(error ? { error } : {}),
    });
  }
}

/**
 * An error a request causes (PostgreSQL refused or could not evaluate its predicate: syntax, names,
 * types, data, memory, a statement timeout), as opposed to a lost connection or a server going down,
 * which end the session and are retried. Any answer of PostgreSQL with a SQLSTATE is the request's,
 * but for those few: a request must end failed, never send the session round a retry loop.
 */
export function isPredicateFailure(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return false;
  if (['08', '58'].includes(code.slice(0, 2))) return false; // connection exceptions, system errors (I/O)
  return !['57P01', '57P02', '57P03', '53300', '40001', '40P01', '55P03'].includes(code); // shutdown, too many connections, serialization, deadlock, lock
}
