import { expect } from 'chai';
import type { ConnectorState } from '../../src/observe/events';
import { mayTransition, TRANSITIONS } from '../../src/connector/states';

const ALL = Object.keys(TRANSITIONS) as ConnectorState[];

describe('the life cycle of a connector (src/connector/states.ts)', () => {
  it('lets every state stop, and every failure be retried or fail for good', () => {
    for (const s of ALL) expect(mayTransition(s, 'stopped'), `${s} -> stopped`).to.equal(true);
    for (const s of ['starting', 'standby', 'snapshotting', 'streaming'] as ConnectorState[]) {
      expect(mayTransition(s, 'retrying'), `${s} -> retrying`).to.equal(true);
      expect(mayTransition(s, 'failed'), `${s} -> failed`).to.equal(true);
    }
  });

  it('reaches every state from stopped', () => {
    const seen = new Set<ConnectorState>(['stopped']);
    for (let grew = true; grew;) {
      grew = false;
      for (const s of [...seen]) for (const t of TRANSITIONS[s]) if (!seen.has(t)) grew = seen.add(t) !== null;
    }
    expect([...seen].sort()).to.deep.equal([...ALL].sort());
  });

  it('refuses what cannot happen: streaming without starting, a standby snapshotting before it owns the lock', () => {
    expect(mayTransition('stopped', 'streaming')).to.equal(false);
    expect(mayTransition('stopped', 'failed')).to.equal(false);
    expect(mayTransition('standby', 'snapshotting')).to.equal(false);
    expect(mayTransition('standby', 'streaming')).to.equal(false);
  });
});
