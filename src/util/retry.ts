/** Jittered exponential backoff with a ceiling (after kafkajs src/retry). */
import { DEFAULT_TIMINGS } from '../timings';
export interface BackoffOptions {
  initialMs: number;
  maxMs: number;
  factor: number;
  /** 0..1: how much of each delay is random. */
  jitter: number;
}

export const DEFAULT_BACKOFF: BackoffOptions = DEFAULT_TIMINGS.BACKOFF;

export class Backoff {
  private attempt = 0;
  constructor(
    private readonly opts: BackoffOptions = DEFAULT_BACKOFF,
    private readonly random: () => number = Math.random,
  ) {}

  /** The next delay in ms; grows with each call until reset(). */
  next(): number {
    const base = Math.min(this.opts.maxMs, this.opts.initialMs * this.opts.factor ** Math.min(this.attempt, 60));
    this.attempt += 1;
    const spread = base * this.opts.jitter;
    // The ceiling holds after the jitter too.
    return Math.min(this.opts.maxMs, Math.round(base - spread + this.random() * 2 * spread));
  }

  /** Call once the operation has succeeded again (e.g. after LISTEN is re-established). */
  reset(): void {
    this.attempt = 0;
  }

  get attempts(): number {
    return this.attempt;
  }
}

/** Sleeps ms, waking early when the signal aborts. Never rejects. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const timer = setTimeout(done, ms);
    function done() {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}
