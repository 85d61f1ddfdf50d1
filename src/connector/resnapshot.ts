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
import { positionOf, snapshotStatements, type SnapshotStatements } from '../postgres/queries';
import { predicateTextProblem } from '../postgres/predicate';
import { checkPredicate, finishRequest, markRunning, openRequests, type SnapshotRequest } from '../postgres/requests';
import { quoteTable } from '../postgres/sql';
import { countOf } from '../kafka/records';
import type { ResnapshotPosition } from '../progress/store';
import { describeError } from '../util/errors';
import { RESNAPSHOT_CHECK_MS } from '../timings';
import type { SessionContext } from './context';

interface Active {
  request: SnapshotRequest;
  statements: SnapshotStatements;
  key: string[] | null;
  rows: number;
  estimated: number;
}

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
    const batch = cfg.snapshotBatchSize;
    let page;
    try {
      page = await a.statements.page(data, batch, a.key);
    } catch (err) {
      if (!isPredicateFailure(err)) throw err;
      await this.end('failed', `its predicate failed on the table: ${describeError(err)}`);
      return;
    }
    if (page.length > 0) {
      const started = process.hrtime.bigint();
      const position: ResnapshotPosition = { id: a.request.id, key: positionOf(page[page.length - 1]), rows: a.rows + page.length };
      const checkpoint = progress.next({ resnapshot: position });
      const first = a.rows + 1;
      await publisher.publish(() => page.map((r, i) => records.resnapshot(r, a.request.id, first + i)), checkpoint);
      const produceSeconds = Number(process.hrtime.bigint() - started) / 1e9;
      await progress.save(checkpoint);
      a.key = position.key;
      a.rows = position.rows;
      this.ctx.madeProgress();
      events.emit('published', { connector: cfg.name, ops: countOf('snapshot', page.length), records: page.length, produceSeconds, latenciesSeconds: [], resnapshot: true });
    }
    if (page.length < batch) await this.end('done');
    else this.emit('running');
  }

  /** Starts (or resumes) a request; false when it cannot run (a bad predicate: it is marked failed) or was cancelled meanwhile. */
  private async begin(request: SnapshotRequest, from: ResnapshotPosition): Promise<boolean> {
    const { data, plan, progress, log } = this.ctx;
    let estimated = plan.info.estimatedRows;
    if (request.predicate !== null) {
      // Checked again here: the request row may have been written by hand, and the table may have changed since.
      const problem = predicateTextProblem(request.predicate);
      try {
        if (problem) throw new Error(`the predicate ${problem}`);
        estimated = (await checkPredicate(data, quoteTable(plan.table), request.predicate)).estimatedRows;
      } catch (err) {
        if (!problem && !isPredicateFailure(err)) throw err;
        this.active = { request, statements: snapshotStatements(plan, null), key: null, rows: 0, estimated: 0 };
        await this.end('failed', `its predicate is not valid for the table: ${describeError(err)}`);
        return false;
      }
    }
    if (!(await markRunning(data, request.id, estimated))) return false;
    if (progress.current().resnapshot?.id !== request.id) await progress.advance({ resnapshot: from });
    this.active = { request, statements: snapshotStatements(plan, request.predicate), key: from.key, rows: from.rows, estimated };
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
 * An error a predicate causes (PostgreSQL refused or could not evaluate it: syntax, names, types,
 * data, a write in the READ ONLY transaction, a statement timeout), as opposed to a lost connection
 * or a server going down, which end the session and are retried.
 */
export function isPredicateFailure(err: unknown): boolean {
  const code = (err as { code?: unknown })?.code;
  if (typeof code !== 'string' || !/^[0-9A-Z]{5}$/.test(code)) return false;
  if (code === '57014' || code === '25006') return true; // statement timeout; a write in a read-only transaction
  return !['08', '53', '57', '58', '40', 'XX'].includes(code.slice(0, 2)) && code !== '55P03';
}
