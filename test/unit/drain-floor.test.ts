import { expect } from 'chai';
import { DrainFloor } from '../../src/connector/drain-floor';

const snap = (xmin: number, xmax: number) => ({ xmin: String(xmin), xmax: String(xmax) });
const seqs = (from: number, to: number) => Array.from({ length: to - from + 1 }, (_, i) => String(from + i));

describe('the drain floor', () => {
  it('moves past a batch only once a later snapshot shows every transaction of its snapshot ended, and the batch is stored', () => {
    const f = new DrainFloor();
    f.reset(1, true);
    const a = f.read(seqs(1, 100), snap(500, 510), true);
    expect(f.seq, 'nothing settled yet').to.equal('0');
    f.stored(a);
    expect(f.seq).to.equal('0');
    // xmin 505 < 510: a transaction of the first snapshot may still commit an entry below 100.
    const b = f.read(seqs(101, 200), snap(505, 520), true);
    f.stored(b);
    expect(f.seq).to.equal('0');
    // xmin 510 >= 510: the first batch's snapshot has settled; this drain read everything up to 300.
    const c = f.read(seqs(201, 300), snap(510, 530), true);
    expect(f.seq, 'past the settled batch, below the one in flight').to.equal('101');
    f.stored(c);
    expect(f.seq).to.equal('101');
    // The second batch settles at the next read (xmin 520 >= 520).
    f.stored(f.read(seqs(301, 310), snap(520, 540), false));
    expect(f.seq).to.equal('201');
  });

  it('never moves past a batch read and not stored, nor, after a session ends, past what that session left in the log', () => {
    const f = new DrainFloor();
    f.reset(1, true);
    f.stored(f.read(seqs(1, 10), snap(1, 2), false));
    const lost = f.read(seqs(11, 20), snap(2, 3), false); // in flight when the session dies
    f.read(seqs(21, 30), snap(3, 4), false);
    expect(f.seq).to.equal('11');
    void lost;
    f.reset(1, true); // a new session: 11..20 are still in the log
    f.stored(f.read(seqs(11, 30), snap(4, 5), false));
    expect(BigInt(f.seq) <= 11n, 'the new session must have settled its own reads first').to.equal(true);
    f.stored(f.read(seqs(31, 31), snap(5, 6), false));
    expect(f.seq).to.equal('31');
  });

  it('a full batch bounds the floor by its own greatest seq; a partial one read everything visible', () => {
    const f = new DrainFloor();
    f.reset(1, true);
    f.stored(f.read(seqs(1, 1000), snap(10, 20), true));
    f.stored(f.read(seqs(1001, 1010), snap(20, 21), true)); // full: read everything visible up to 1010
    expect(f.seq).to.equal('1001');
  });

  it('stays at 0 for a sequence that hands out numbers out of order (CACHE > 1), and starts again for a new log', () => {
    const f = new DrainFloor();
    f.reset(1, false);
    f.stored(f.read(seqs(1, 10), snap(1, 2), false));
    f.stored(f.read(seqs(11, 20), snap(2, 3), false));
    expect(f.seq).to.equal('0');
    f.reset(1, true);
    f.stored(f.read(seqs(21, 30), snap(3, 4), false));
    f.stored(f.read(seqs(31, 40), snap(4, 5), false));
    expect(f.seq).to.equal('31');
    f.reset(2, true);
    expect(f.seq).to.equal('0');
  });
});
