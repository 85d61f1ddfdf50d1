import { expect } from 'chai';
import { chunkRecords, recordBytes } from '../../src/kafka/producer';
import { RecordBuilder, type KafkaRecord } from '../../src/kafka/records';
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
  const builder = new RecordBuilder('t', 'c');
  const msg = (i: number, size: number): KafkaRecord => builder.build({ k: `{"id":${i}}`, v: 'x'.repeat(size), o: null }, 'snapshot').record;

  it('keeps every record, in order, in chunks under the size and count limits', () => {
    const records = Array.from({ length: 5000 }, (_, i) => msg(i, 230));
    const chunks = chunkRecords(records, 320 * 1024, 2000);
    expect(chunks.flat()).to.deep.equal(records);
    for (const c of chunks) {
      expect(c.length).to.be.at.most(2000);
      expect(c.reduce((n, r) => n + recordBytes(r), 0)).to.be.at.most(320 * 1024);
    }
    expect(chunks.length).to.be.greaterThan(1);
  });

  it('puts a record larger than the limit alone in its chunk rather than dropping it', () => {
    const chunks = chunkRecords([msg(1, 10), msg(2, 500_000), msg(3, 10)], 320 * 1024, 2000);
    expect(chunks.map((c) => c.length)).to.deep.equal([1, 1, 1]);
  });

  it('counts tombstones (no value) without failing', () => {
    const tombstone = builder.build({ k: '{"id":1}', v: null, o: null }, 'change');
    expect(tombstone.op).to.equal('delete');
    expect(tombstone.record.value).to.equal(null);
    expect(chunkRecords([tombstone.record])).to.have.length(1);
  });
});

describe('record building', () => {
  it('encodes key, value and headers as UTF-8 bytes, with the op and ordinal', () => {
    const b = new RecordBuilder('orders', 'orders-cdc');
    const { record, op } = b.build({ k: '{"id":"é"}', v: '{"id":"é","n":1}', o: '17' }, 'change');
    expect(op).to.equal('upsert');
    expect(record.topic).to.equal('orders');
    expect(record.key.toString('utf8')).to.equal('{"id":"é"}');
    expect(record.value?.toString('utf8')).to.equal('{"id":"é","n":1}');
    const headers = Object.fromEntries([...record.headers].map(([k, v]) => [k.toString(), v.toString()]));
    expect(headers).to.deep.equal({ op: 'upsert', connector: 'orders-cdc', ordinal: '17' });
    expect(b.build({ k: '{"id":1}', v: '{"id":1}', o: null }, 'snapshot').op).to.equal('snapshot');
  });
});
