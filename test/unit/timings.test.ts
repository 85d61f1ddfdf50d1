import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as t from '../../src/timings';

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

  it('are the only fixed durations in src/: no other file defines a *_MS constant', () => {
    const offenders: string[] = [];
    const walk = (dir: string) => {
      for (const f of fs.readdirSync(dir, { withFileTypes: true })) {
        const p = path.join(dir, f.name);
        if (f.isDirectory()) walk(p);
        else if (p.endsWith('.ts') && !p.endsWith('timings.ts') && /^(export )?const [A-Z_]+_MS\s*=/m.test(fs.readFileSync(p, 'utf8'))) offenders.push(path.relative(ROOT, p));
      }
    };
    walk(path.join(ROOT, 'src'));
    expect(offenders).to.deep.equal([]);
  });
});
