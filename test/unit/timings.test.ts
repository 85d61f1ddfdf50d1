import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { DEFAULT_TIMINGS as t, timingProblems, timingsFromEnv, withTimings } from '../../src/timings';

const ROOT = path.resolve(__dirname, '..', '..', '..');

describe('the timings (src/timings.ts)', () => {
  it('let a graceful stop finish its batch and close both sessions before the process gives up', () => {
    expect(t.STOP_GRACE_MS + t.DATA_CLOSE_MS + t.CONTROL_CLOSE_MS).to.be.below(t.SHUTDOWN_TIMEOUT_MS);
  });

  it("fit the stop within Kubernetes' default grace period and the chart's", () => {
    const values = fs.readFileSync(path.join(ROOT, 'helm', 'pg-kafka-cdc', 'values.yaml'), 'utf8');
    const grace = Number(/terminationGracePeriodSeconds:\s*(\d+)/.exec(values)?.[1] ?? 30);
    expect(t.SHUTDOWN_TIMEOUT_MS).to.be.below(grace * 1000);
  });

  it('let a standby take over within the documented takeover time', () => {
    // The server notices a vanished owner through TCP keepalives (about 30 s at worst, see
    // ControlSession) or at once for a clean exit; the standby then needs at most one poll.
    expect(t.OWNERSHIP_POLL_MS).to.be.below(t.DOCUMENTED_TAKEOVER_MS / 2);
  });

  it('let a frozen replica leave the count of replicas no later than its connectors are free, and count often enough', () => {
    expect(t.MEMBER_SESSION_IDLE_MS).to.be.at.most(t.FROZEN_OWNER_MIN_MS);
    expect(t.MEMBERSHIP_REFRESH_MS * 2).to.be.below(t.MEMBER_SESSION_IDLE_MS);
    expect(t.MEMBERSHIP_REFRESH_MS + t.OWNERSHIP_POLL_MS).to.be.below(t.DOCUMENTED_TAKEOVER_MS / 2);
  });

  it('let a hand-over finish (two counts over the share, then a poll) before any replica takes an unowned connector regardless of shares', () => {
    expect(t.ORPHAN_TAKEOVER_MS).to.be.above(2 * t.MEMBERSHIP_REFRESH_MS + 2 * t.OWNERSHIP_POLL_MS);
  });

  it('let the server cancel a statement before the client gives up on it, and a slow re-snapshot page before either', () => {
    expect(t.RESNAPSHOT_PAGE_TIMEOUT_MS).to.be.below(t.DATA_STATEMENT_TIMEOUT_MS);
    expect(t.DATA_STATEMENT_TIMEOUT_MS).to.be.below(t.DATA_QUERY_TIMEOUT_MS);
  });

  it('keep the idle handshake shorter than the drain it precedes would wait anyway', () => {
    expect(t.IDLE_LOCK_WAIT_MS).to.be.below(1000);
  });

  it("give the Kafka client more than one try (0 or 1 would make the client's idempotent producer retry for ever)", () => {
    expect(t.KAFKA_CLIENT_RETRIES).to.be.greaterThan(1);
    expect(t.KAFKA_CONNECT_TIMEOUT_MS).to.be.below(t.KAFKA_REQUEST_TIMEOUT_MS);
  });

  it('keep a failed connector looking again less often than the backoff ceiling of a retriable one', () => {
    expect(t.FAILED_RETRY_MS).to.be.at.least(t.BACKOFF.maxMs);
  });

  it('let a replica that keeps failing a connector leave it unheld long enough to be taken as an orphan (found when the tests shortened the backoff below the takeover)', () => {
    expect(t.BACKOFF.maxMs).to.be.above(t.ORPHAN_TAKEOVER_MS);
  });

  it('are the only fixed durations in src/: no other file defines a *_MS constant or waits a literal number of ms', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const f of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, f.name);
        if (f.isDirectory()) walk(p);
        else if (p.endsWith('.ts') && !p.endsWith('timings.ts')) {
          const text = fs.readFileSync(p, 'utf8');
          if (/^(export )?const [A-Z_]+_MS\s*=\s*\d/m.test(text)) offenders.push(`${path.relative(ROOT, p)}: a *_MS constant`);
          for (const m of text.matchAll(/\b(sleep|setTimeout|setInterval|endWithin|end)\([^()]*?,?\s*\b\d[\d_]{2,}\b\s*\)|\b[a-z][A-Za-z]*(Ms|Millis|Timeout|Time)\s*[:=]\s*\d[\d_]{2,}\b/g))
            offenders.push(`${path.relative(ROOT, p)}: ${m[0]}`);
        }
      }
    };
    walk(path.join(ROOT, 'src'));
    expect(offenders).to.deep.equal([]);
  });

  it('hold every relation above (timingProblems agrees with the checks of this file)', () => {
    expect(timingProblems(t)).to.deep.equal([]);
  });
});

describe('shortened timings (withTimings, PG_KAFKA_CDC_TIMINGS)', () => {
  it('replace only what is given, and keep the defaults frozen', () => {
    const short = withTimings({ OWNERSHIP_POLL_MS: 200, BACKOFF: { initialMs: 50, maxMs: 20_000 } });
    expect(short.OWNERSHIP_POLL_MS).to.equal(200);
    expect(short.BACKOFF).to.deep.equal({ initialMs: 50, maxMs: 20_000, factor: 2, jitter: 0.3 });
    expect(short.ORPHAN_TAKEOVER_MS).to.equal(t.ORPHAN_TAKEOVER_MS);
    expect(Object.isFrozen(t)).to.equal(true);
  });

  it('refuse a set that breaks a relation, an unknown name or a value that is not a duration, naming each', () => {
    expect(() => withTimings({ ORPHAN_TAKEOVER_MS: 100 })).to.throw(/ORPHAN_TAKEOVER_MS must be above 2 \* MEMBERSHIP_REFRESH_MS/);
    expect(() => withTimings({ STOP_GRACE_MS: 20_000 })).to.throw(/below SHUTDOWN_TIMEOUT_MS/);
    expect(() => withTimings({ OWNERSHIP_POLL: 5 } as never)).to.throw(/OWNERSHIP_POLL is not a timing/);
    expect(() => withTimings({ OWNERSHIP_POLL_MS: -1 })).to.throw(/OWNERSHIP_POLL_MS must be a non-negative number/);
    expect(() => withTimings({ BACKOFF: { initialMs: 'soon' } })).to.throw(/BACKOFF must be an object of non-negative numbers/);
  });

  it('come from PG_KAFKA_CDC_TIMINGS for a worker process, with what is wrong said', () => {
    expect(timingsFromEnv({})).to.equal(t);
    expect(timingsFromEnv({ PG_KAFKA_CDC_TIMINGS: '{"FAILED_RETRY_MS": 30000}' }).FAILED_RETRY_MS).to.equal(30_000);
    expect(() => timingsFromEnv({ PG_KAFKA_CDC_TIMINGS: '{oops' })).to.throw(/PG_KAFKA_CDC_TIMINGS is not JSON/);
    expect(() => timingsFromEnv({ PG_KAFKA_CDC_TIMINGS: '[1]' })).to.throw(/must be a JSON object/);
  });
});
