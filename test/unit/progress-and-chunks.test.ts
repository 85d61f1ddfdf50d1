import { expect } from 'chai';
import type { Message } from 'kafkajs';
import { chunkMessages } from '../../src/kafka/producer';
import { identityChanges, type Identity } from '../../src/progress/store';

describe('stored progress identity', () => {
  const base: Identity = { topic: 'orders', tableOid: 42, tableName: 'public.orders', channel: 'ch' };

  it('sees no change on the first run or when nothing changed', () => {
    expect(identityChanges(null, base)).to.deep.equal([]);
    expect(identityChanges({ ...base }, base)).to.deep.equal([]);
  });

  it('names every change of topic, table and capture mode', () => {
    expect(identityChanges(base, { ...base, topic: 'orders2', tableOid: 43, channel: null })).to.deep.equal([
      'topic orders -> orders2',
      'table public.orders (oid 42) -> public.orders (oid 43)',
      'change capture ch -> off',
    ]);
  });
});

describe('produce request chunks', () => {
  const msg = (i: number, size: number): Message => ({ key: `{"id":${i}}`, value: 'x'.repeat(size), headers: { op: 'snapshot', connector: 'c' } });

  it('keeps every record, in order, in chunks under the size and count limits', () => {
    const messages = Array.from({ length: 5000 }, (_, i) => msg(i, 230));
    const chunks = chunkMessages(messages, 320 * 1024, 2000);
    expect(chunks.flat()).to.deep.equal(messages);
    for (const c of chunks) {
      expect(c.length).to.be.at.most(2000);
      const chars = c.reduce((n, m) => n + String(m.key).length + String(m.value).length, 0);
      expect(chars).to.be.below(320 * 1024);
    }
    expect(chunks.length).to.be.greaterThan(1);
  });

  it('puts a record larger than the limit alone in its chunk rather than dropping it', () => {
    const chunks = chunkMessages([msg(1, 10), msg(2, 500_000), msg(3, 10)], 320 * 1024, 2000);
    expect(chunks.map((c) => c.length)).to.deep.equal([1, 1, 1]);
  });

  it('counts tombstones (null values) without failing', () => {
    expect(chunkMessages([{ key: '{"id":1}', value: null }])).to.have.length(1);
  });
});
