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
 *
 * A repairing re-snapshot (`snapshot --repair`, or asked for by the worker itself when the table or
 * the topic changed under it: see docs/security.md) also tombstones the keys the topic holds and the
 * table does not. It reads the topic's live keys first; every record the session publishes from then
 * on (its pages, and the change batches and polls between them) covers its key; once the pages are
 * done, the keys no record covered get their tombstones, in batches that take turns like pages. Why
 * that is right while writers go on: a key no page published was absent when its page read the key's
 * range; a change that brought it back after that is in the change log, and a batch that publishes
 * it either came before the tombstones (and covered the key) or comes after them. Records a topic
 * holds in a partition their key no longer goes to (the topic's partitions grew) get tombstones there.
 * A repair is not resumed after a crash: it starts over (what it covered is known only in memory).
 */
import { checkExpression, checkRequester, estimateMatches, ExpressionRefused } from '../postgres/expression';
import { filteredSnapshotStatements, positionOf, snapshotStatements, type FilteredPage, type SnapshotRow } from '../postgres/queries';
import { finishRequest, markRunning, openRequests, type SnapshotRequest } from '../postgres/requests';
import { countOf, type KafkaRecord } from '../kafka/records';
import { readLiveKeys } from '../kafka/live-keys';
import { partitionFor } from '../kafka/producer';
import type { ResnapshotPosition } from '../progress/store';
import type { Queryable } from '../postgres/connection';
import { describeError } from '../util/errors';
import { commitUnit } from './commit';
import type { SessionContext } from './context';
import { isInfrastructureFailure, isStatementTimeout, sqlstateOf } from '../postgres/sqlstate';

interface Active {
  request: SnapshotRequest;
  /** The next page: the rows after key (with a predicate: those that match among the next limit rows). */
  page: (db: Queryable, limit: number, after: string[] | null) => Promise<FilteredPage>;
  key: string[] | null;
  rows: number;
  estimated: number;
  /** Rows read per page: snapshot.batch_size, halved each time the server cancels a page as too slow. */
  limit: number;
  /** A repairing re-snapshot's keys to tombstone. */
  repair: Repair | null;
}

interface Repair {
  /** Keys live in the topic, in the partition they go to now, that no record published since has covered (latin1 strings of their bytes). */
  candidates: Set<string>;
  /** Records live in a partition their key no longer goes to: tombstoned there. */
  stale: Array<{ key: string; partition: number }>;
  /** The pages are done: tombstones now. */
  tombstoning: boolean;
  tombstones: number;
}

/** Pages of the whole table, in the shape of a filtered page. */
const wholeTable =
  (page: (db: Queryable, limit: number, after: string[] | null) => Promise<SnapshotRow[]>) =>
  async (db: Queryable, limit: number, after: string[] | null): Promise<FilteredPage> => {
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
    this.due = Date.now() + this.ctx.timings.RESNAPSHOT_CHECK_MS;
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
      // A repair starts over after a crash: what it had covered was known in memory only.
      const from = stored?.id === request.id && !request.repair ? stored : { id: request.id, key: null, rows: 0 };
      if (await this.begin(request, from)) return;
    }
  }

  /** One page of the re-snapshot: read, published with its checkpoint, stored. Ends the request after its last page. */
  async step(): Promise<void> {
    const a = this.active;
    if (!a) return;
    if (a.repair?.tombstoning) return this.tombstones(a, a.repair);
    const { data, records, progress } = this.ctx;
    let page: FilteredPage;
    try {
      page = await a.page(data, a.limit, a.key);
    } catch (err) {
      if (!isPredicateFailure(err)) throw err;
      if (isStatementTimeout(err) && a.limit > 1) {
        // The server cancelled the page as too slow: read fewer rows per page from now on.
        a.limit = Math.max(1, Math.floor(a.limit / 2));
        this.ctx.log.warn({ request: a.request.id, rowsPerPage: a.limit, timeoutMs: this.ctx.timings.RESNAPSHOT_PAGE_TIMEOUT_MS }, 're-snapshot page took too long; reading fewer rows per page');
        return;
      }
      await this.end('failed', `its predicate failed on the table: ${describeError(err)}`);
      return;
    }
    const matched = page.rows;
    if (page.last !== null) {
      const position: ResnapshotPosition = { id: a.request.id, key: page.last, rows: a.rows + matched.length };
      const first = a.rows + 1;
      await commitUnit(this.ctx, {
        records: () => this.saw(matched.map((r, i) => records.resnapshot(r, a.request.id, first + i))),
        checkpoint: progress.next({ resnapshot: position }),
        report: () => (matched.length > 0 ? { ops: countOf('snapshot', matched.length), records: matched.length, latenciesSeconds: [], resnapshot: true } : null),
      });
      a.key = position.key;
      a.rows = position.rows;
    }
    if (page.read >= a.limit) this.emit('running');
    else if (a.repair) a.repair.tombstoning = true;
    else await this.end('done');
  }

  /**
   * Records the session published (pages, change batches, polls): their keys are covered, a repair
   * does not tombstone them. Returns the records, to be used inline where they are built.
   */
  saw(built: KafkaRecord[]): KafkaRecord[] {
    const candidates = this.active?.repair?.candidates;
    if (candidates && candidates.size > 0) for (const r of built) candidates.delete(r.key.toString('latin1'));
    return built;
  }

  /** One batch of a repair's tombstones, published with the request's position; ends the request after the last. */
  private async tombstones(a: Active, repair: Repair): Promise<void> {
    const { records, progress } = this.ctx;
    const batch: Array<{ key: string; partition: number | null }> = repair.stale.splice(0, a.limit);
    for (const key of repair.candidates) {
      if (batch.length >= a.limit) break;
      batch.push({ key, partition: null });
      repair.candidates.delete(key);
    }
    if (batch.length === 0) return this.end('done');
    const checkpoint = progress.next({ resnapshot: { id: a.request.id, key: a.key, rows: a.rows } });
    const first = repair.tombstones + 1;
    const built = batch.flatMap((t, i) => records.repairTombstone(Buffer.from(t.key, 'latin1'), t.partition, a.request.id, first + i));
    await commitUnit(this.ctx, { records: built, checkpoint, report: () => ({ ops: countOf('delete', batch.length), records: built.length, latenciesSeconds: [], resnapshot: true }) });
    repair.tombstones += batch.length;
    this.emit('running');
  }

  /** Starts (or resumes) a request; false when it cannot run (a bad predicate: it is marked failed) or was cancelled meanwhile. */
  private async begin(request: SnapshotRequest, from: ResnapshotPosition): Promise<boolean> {
    const { data, plan, progress, log, cfg } = this.ctx;
    let estimated = plan.info.estimatedRows;
    let page = wholeTable(snapshotStatements(plan, this.ctx.format).page);
    const refuse = async (why: string) => {
      this.active = { request, page, key: null, rows: 0, estimated: 0, limit: cfg.snapshotBatchSize, repair: null };
      await this.end('failed', why);
      return false;
    };
    if (request.attempts >= this.ctx.timings.MAX_REQUEST_ATTEMPTS) return refuse(`sessions started serving it ${request.attempts} times and none finished it`);
    // Checked here whoever wrote the row (the command checks it too, but a row can be written by
    // hand, and the table may have changed since): as one expression PostgreSQL accepts, with no more
    // rights than the role that inserted the request.
    try {
      if (request.predicate === null) await checkRequester(data, plan.table, request.requestedBy);
      else {
        const checked = await checkExpression(data, plan.table, request.predicate, { requester: request.requestedBy, allowStableDateTime: true });
        estimated = await estimateMatches(data, plan.table, checked);
        page = filteredSnapshotStatements(plan, this.ctx.format, checked, this.ctx.timings.RESNAPSHOT_PAGE_TIMEOUT_MS).page;
      }
    } catch (err) {
      if (err instanceof ExpressionRefused) return refuse(`its predicate ${err.message}`);
      if (!isPredicateFailure(err)) throw err;
      return refuse(`its predicate is not valid for the table: ${describeError(err)}`);
    }
    if (!(await markRunning(data, request.id, estimated))) return false;
    if (progress.current().resnapshot?.id !== request.id) await progress.advance({ resnapshot: from });
    // A repair reads what the topic holds before its first page: what it publishes from now on covers keys.
    const repair = request.repair ? await this.liveKeys() : null;
    this.active = { request, page, key: from.key, rows: from.rows, estimated, limit: cfg.snapshotBatchSize, repair };
    log.info(
      { request: request.id, where: request.predicate, repair: request.repair, resumeAfter: from.key, rowsDone: from.rows, estimated },
      from.key ? 'resuming re-snapshot' : request.repair ? 'starting a repairing re-snapshot' : 'starting re-snapshot',
    );
    this.emit('running');
    return true;
  }

  /** The topic's live keys, split into those in the partition they go to (candidates) and those left elsewhere (stale). */
  private async liveKeys(): Promise<Repair> {
    const live = await readLiveKeys(this.ctx.kafka, this.ctx.cfg.topic);
    const repair: Repair = { candidates: new Set(), stale: [], tombstoning: false, tombstones: 0 };
    for (const [key, partitions] of live.keys) {
      const own = partitionFor(Buffer.from(key, 'latin1'), live.partitions);
      for (const p of partitions) {
        if (p === own) repair.candidates.add(key);
        else repair.stale.push({ key, partition: p });
      }
    }
    this.ctx.log.info({ liveKeys: live.keys.size, inOtherPartitions: repair.stale.length }, 'repair: read the keys the topic holds');
    return repair;
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
      repair: a.repair !== null,
      tombstones: a.repair?.tombstones ?? 0,
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
  return sqlstateOf(err) !== null && !isInfrastructureFailure(err);
}
