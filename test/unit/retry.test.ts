// Jittered exponential backoff, with the random source injected.
import { expect } from 'chai';
import { Backoff, DEFAULT_BACKOFF, sleep } from '../../src/util/retry';

const opts = { initialMs: 100, maxMs: 1000, factor: 2, jitter: 0.5 };
const fixed = (v: number) => () => v;

describe('Backoff', () => {
  it('grows by the factor from the initial delay, without jitter at the middle of the random range', () => {
    const b = new Backoff(opts, fixed(0.5));
    expect([b.next(), b.next(), b.next(), b.next()]).to.deep.equal([100, 200, 400, 800]);
    expect(b.attempts).to.equal(4);
  });

  it('caps the base delay at maxMs', () => {
    const b = new Backoff(opts, fixed(0.5));
    const delays = Array.from({ length: 12 }, () => b.next());
    expect(delays.slice(4)).to.deep.equal(Array(8).fill(1000));
    expect(Math.max(...delays)).to.equal(1000);
  });

  it('stays capped after very many attempts', () => {
    const b = new Backoff(opts, fixed(0.5));
    let last = 0;
    for (let i = 0; i < 2000; i++) last = b.next();
    expect(last).to.equal(1000);
  });

  it('keeps the jitter within base ± jitter × base', () => {
    const low = new Backoff(opts, fixed(0));
    const high = new Backoff(opts, fixed(0.999999));
    expect([low.next(), low.next(), low.next()]).to.deep.equal([50, 100, 200]);
    expect([high.next(), high.next(), high.next()]).to.deep.equal([150, 300, 600]);
    let seed = 42;
    const rnd = () => (seed = (seed * 16807) % 2147483647) / 2147483647;
    const b = new Backoff(opts, rnd);
    for (let i = 0; i < 50; i++) {
      const base = Math.min(opts.maxMs, opts.initialMs * opts.factor ** i);
      const d = b.next();
      expect(d, `attempt ${i}`).to.be.within(base * (1 - opts.jitter), base * (1 + opts.jitter));
    }
  });

  it('never goes beyond maxMs plus its jitter', () => {
    const b = new Backoff(opts, fixed(0.999999));
    for (let i = 0; i < 20; i++) expect(b.next()).to.be.at.most(opts.maxMs * (1 + opts.jitter));
  });

  it('starts over after reset', () => {
    const b = new Backoff(opts, fixed(0.5));
    b.next();
    b.next();
    b.next();
    b.reset();
    expect(b.attempts).to.equal(0);
    expect(b.next()).to.equal(100);
    expect(b.next()).to.equal(200);
  });

  it('defaults to 500 ms doubling up to 30 s with 30 % jitter', () => {
    expect(DEFAULT_BACKOFF).to.deep.equal({ initialMs: 500, maxMs: 30_000, factor: 2, jitter: 0.3 });
    const b = new Backoff(undefined, fixed(0.5));
    expect(b.next()).to.equal(500);
    const d = new Backoff().next();
    expect(d).to.be.within(350, 650);
  });
});

describe('sleep', () => {
  it('waits about the given time', async () => {
    const t0 = Date.now();
    await sleep(30);
    expect(Date.now() - t0).to.be.at.least(25);
  });

  it('wakes early when its signal aborts, and at once when already aborted', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 10);
    await sleep(5000, ac.signal);
    expect(Date.now() - t0).to.be.below(1000);
    const t1 = Date.now();
    await sleep(5000, ac.signal);
    expect(Date.now() - t1).to.be.below(100);
  });
});
