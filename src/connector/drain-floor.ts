/**
 * The drain floor: a change-log sequence number below which no entry is pending now or can ever
 * commit, so that the drain, the idle check and the backlog measure can start their index scans
 * there. Without it, while a long transaction holds back the xmin horizon, every scan walks all the
 * entries deleted since it began (vacuum cannot remove them, and an index scan cannot mark them
 * dead), and a batch costs more with each batch before it.
 *
 * Why a floor is safe. The log's seq comes from an identity sequence with CACHE 1 (checked: with a
 * larger cache, sessions hand out numbers out of order and the floor stays at 0), and a writer's
 * transaction has its xid before it takes a seq (the trigger runs after the row's own write; the
 * TRUNCATE trigger takes an xid first). Take a batch read at snapshot S whose greatest seq is m: every
 * entry with a smaller seq was numbered before m's transaction committed, so before S, by a
 * transaction with an xid below xmax(S). Once a later drain's snapshot has xmin >= xmax(S), all those
 * transactions have ended: each entry at or below m is visible to that drain or never will be. That
 * drain reads, in seq order from the floor, every visible entry up to its own greatest seq (or all of
 * them when its batch is not full). So, once its batch is stored, no entry at or below
 * min(m, its greatest seq) is pending: the floor may move past it. It never moves past an entry of a
 * batch that is read but not yet stored (a session that dies with one leaves it in the log, and the
 * next session reads it from the floor). Pure: unit-tested.
 */

interface Read {
  /** The greatest seq the batch read. */
  max: bigint;
  /** pg_snapshot_xmax of the snapshot it was read in. */
  xmax: bigint;
}

export class DrainFloor {
  private value = 0n;
  /** The change log these seqs belong to: a log created again starts from 0. */
  private logOid = 0;
  /** Batches read whose snapshot has not settled yet, oldest first. */
  private unsettled: Read[] = [];
  /** The smallest seq of each batch read and not yet stored. */
  private readonly unstored = new Map<object, bigint>();
  /** How far the floor may go once nothing is in flight below it. */
  private candidate = 0n;
  /** A sequence with CACHE > 1: no floor at all. */
  private disabled = false;

  /** The floor, as the scans take it (text, for a parameter). */
  get seq(): string {
    return this.disabled ? '0' : this.value.toString();
  }

  /** The change log the session drains, and whether its sequence hands out numbers in order. */
  reset(logOid: number, inOrder: boolean): void {
    if (logOid !== this.logOid) {
      this.value = 0n;
      this.candidate = 0n;
      this.logOid = logOid;
    }
    this.disabled = !inOrder;
    // A session that ended may have left batches read and never stored: the floor stayed below them,
    // and goes no further on what that session saw.
    this.candidate = this.value;
    this.unsettled = [];
    this.unstored.clear();
  }

  /**
   * A batch was read in a snapshot (xmin, xmax): its seqs, and whether it was full (as many entries
   * as asked for). Returns a token to pass to stored() once the batch's position is stored.
   */
  read(seqs: string[], snapshot: { xmin: string; xmax: string } | null, full: boolean): object {
    const token = {};
    if (seqs.length === 0 || snapshot === null) return token;
    let min = BigInt(seqs[0]);
    let max = min;
    for (const s of seqs) {
      const n = BigInt(s);
      if (n < min) min = n;
      if (n > max) max = n;
    }
    this.unstored.set(token, min);
    const xmin = BigInt(snapshot.xmin);
    let settled: bigint | null = null;
    while (this.unsettled.length > 0 && this.unsettled[0].xmax <= xmin) {
      const r = this.unsettled.shift() as Read;
      if (settled === null || r.max > settled) settled = r.max;
    }
    if (settled !== null) {
      const bound = full && max < settled ? max : settled;
      if (bound + 1n > this.candidate) this.candidate = bound + 1n;
    }
    this.unsettled.push({ max, xmax: BigInt(snapshot.xmax) });
    this.advance();
    return token;
  }

  /** The batch read with this token is stored (its entries trimmed). */
  stored(token: object): void {
    if (this.unstored.delete(token)) this.advance();
  }

  private advance(): void {
    let next = this.candidate;
    for (const min of this.unstored.values()) if (min < next) next = min;
    if (next > this.value) this.value = next;
  }
}
