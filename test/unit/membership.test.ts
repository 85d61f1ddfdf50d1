import { expect } from 'chai';
import { groupOf, Membership, replicaId, shareOf } from '../../src/cluster/membership';
import { controlApplicationName, replicaOfOwner } from '../../src/connector/session';
import { EventBus } from '../../src/observe/events';
import { createLogger } from '../../src/observe/logger';

describe('spreading connectors over replicas', () => {
  it('shares add up to the connectors, the first M mod N replicas owning one more', () => {
    for (const [m, n] of [
      [12, 3],
      [10, 3],
      [1, 3],
      [0, 2],
      [100, 7],
      [5, 1],
    ]) {
      const shares = Array.from({ length: n }, (_, rank) => shareOf(m, n, rank));
      expect(
        shares.reduce((a, b) => a + b, 0),
        `${m} over ${n}`,
      ).to.equal(m);
      expect(Math.max(...shares), `${m} over ${n}`).to.equal(Math.ceil(m / n));
      expect(Math.min(...shares), `${m} over ${n}`).to.equal(Math.floor(m / n));
    }
    expect([0, 1, 2].map((r) => shareOf(10, 3, r))).to.deep.equal([4, 3, 3]);
    expect(shareOf(12, 0, -1), 'alone (not counted): everything').to.equal(12);
  });

  it('the group depends on the connector names only, not their order', () => {
    expect(groupOf(['b', 'a'])).to.equal(groupOf(['a', 'b']));
    expect(groupOf(['a', 'b'])).not.to.equal(groupOf(['a', 'b', 'c']));
    expect(groupOf(['a'])).to.match(/^[0-9a-f]{8}$/);
  });

  it('the replica id: PGKC_REPLICA_ID, else host and pid; no spaces (it is parsed from application_name)', () => {
    expect(replicaId({ PGKC_REPLICA_ID: 'cdc 0' })).to.equal('cdc_0');
    expect(replicaId({ PGKC_REPLICA_ID: 'réplica-1' }), 'ASCII only: PostgreSQL shows other characters as ?').to.equal('r_plica-1');
    expect(replicaId({})).to.match(new RegExp(`-${process.pid}$`));
    // Pod names of one Deployment share a long prefix: cut, they must not collide.
    const a = replicaId({ PGKC_REPLICA_ID: 'pg-kafka-cdc-production-eu-west-1-worker-7d9f8c6b5-abcde' });
    const b = replicaId({ PGKC_REPLICA_ID: 'pg-kafka-cdc-production-eu-west-1-worker-7d9f8c6b5-fghij' });
    expect(a).to.have.length(40);
    expect(b).to.have.length(40);
    expect(a).not.to.equal(b);
    expect(a.startsWith('pg-kafka-cdc-production-eu-west-')).to.equal(true);
  });

  it('names the owner replica from the lock holder description', () => {
    expect(replicaOfOwner(`${controlApplicationName('pod-a-1')} from 10.0.0.7`)).to.equal('pod-a-1');
    expect(replicaOfOwner(controlApplicationName('pod-a-1'))).to.equal('pod-a-1');
    expect(replicaOfOwner('pg-kafka-cdc control orders @pod-b-1'), 'a worker of the previous version').to.equal('pod-b-1');
    expect(replicaOfOwner('pg-kafka-cdc control orders'), 'an older worker without a replica id').to.equal('pg-kafka-cdc control orders');
    expect(replicaOfOwner(null)).to.equal(null);
  });

  it('lets a replica try only while it owns less than its share, counting attempts under way', () => {
    const released: string[][] = [];
    const m = new Membership('r1', 'g', ['a', 'b', 'c'], null, new EventBus(), createLogger('silent'), (n) => released.push(n));
    // Alone (no coordination database): the share is every connector.
    expect(m.share()).to.equal(3);
    expect(m.tryReserve('a')).to.equal(true);
    expect(m.tryReserve('b')).to.equal(true);
    expect(m.tryReserve('c')).to.equal(true);
    expect(m.tryReserve('d'), 'three attempts under way fill a share of three').to.equal(false);
    m.settle('a', true);
    m.settle('b', false);
    m.settle('c', true);
    expect(m.ownedCount()).to.equal(2);
    expect(m.tryReserve('a'), 'an owned connector may always renew').to.equal(true);
    m.settle('a', true);
    m.dropped('a');
    expect(m.view().owned).to.deep.equal(['c']);
    expect(m.holdsShare(), 'not yet, and not yet waited long enough').to.equal(false);
    // At its share (a and b taken again), an orphan is still tried, run, and not counted in the share.
    for (const c of ['a', 'b']) {
      expect(m.tryReserve(c)).to.equal(true);
      m.settle(c, true);
    }
    expect(m.tryReserve('d'), 'at its share').to.equal(false);
    expect(m.tryReserve('d', true), 'an orphaned connector is tried whatever the share').to.equal(true);
    m.settle('d', true, true);
    expect(m.ownedCount(), 'an orphan is run').to.equal(4);
    expect(m.view().owned).to.deep.equal(['a', 'b', 'c', 'd']);
    expect(m.tryReserve('e'), 'and the share is still counted without it: full').to.equal(false);
    m.dropped('d');
    expect(m.ownedCount()).to.equal(3);
  });
});
