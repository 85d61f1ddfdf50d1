import { expect } from 'chai';
import { chunkRecords, recordBytes } from '../../src/kafka/producer';
import { RecordBuilder, type KafkaRecord } from '../../src/kafka/records';
import { identityChanges, identityDrift, type Identity } from '../../src/progress/store';

describe('stored progress identity', () => {
  const base: Identity = { topic: 'orders', tableOid: 42, tableName: 'public.orders', channel: 'ch', key: 'id bigint', format: null, partitions: null, topicId: null, leaves: null };

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

describe('stored progress identity: what a repair must mend', () => {
  const base: Identity = { topic: 'orders', tableOid: 42, tableName: 'public.orders', channel: 'ch', key: 'id bigint', format: 'json', partitions: 1, topicId: 'a', leaves: '' };

  it('starts over for a topic deleted and created again (another id), not for an id not known before', () => {
    expect(identityChanges(base, { ...base, topicId: 'b' })).to.deep.equal(['topic orders was deleted and created again (id a -> b)']);
    expect(identityChanges({ ...base, topicId: null }, base)).to.deep.equal([]);
  });

  it('names a changed format, partition count or set of partitions of the table, and nothing not known before', () => {
    expect(identityDrift(base, { ...base, format: 'debezium', partitions: 3, leaves: '1,2' })).to.have.length(3);
    expect(identityDrift({ ...base, format: null, partitions: null, leaves: null }, base)).to.deep.equal([]);
    expect(identityDrift(null, base)).to.deep.equal([]);
    expect(identityDrift(base, { ...base, tableOid: 43, leaves: '9' }), 'another table: a reset, not drift of its partitions').to.deep.equal([]);
  });
});

describe('produce request chunks', () => {
  const builder = new RecordBuilder('t', 'c', 'run1');
  const msg = (i: number, size: number): KafkaRecord => builder.snapshot({ k: `{"id":${i}}`, v: 'x'.repeat(size), o: null }, i);

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
    const tombstone = builder.change({ k: '{"id":1}', v: null, o: null, seqs: ['5'] });
    expect(tombstone.op).to.equal('delete');
    expect(tombstone.records[0].value).to.equal(null);
    expect(chunkRecords([tombstone.records[0]])).to.have.length(1);
  });
});

describe('record building', () => {
  const headersOf = (r: KafkaRecord) => Object.fromEntries([...r.headers].map(([k, v]) => [k.toString(), v.toString()]));

  it('encodes key, value and headers as UTF-8 bytes, with the op, the change id and the ordinal', () => {
    const b = new RecordBuilder('orders', 'orders-cdc', '00ff00ff00ff00ff');
    const {
      records: [record],
      op,
    } = b.change({ k: '{"id":"é"}', v: '{"id":"é","n":1}', o: '17', seqs: ['41', '44'] });
    expect(op).to.equal('upsert');
    expect(record.topic).to.equal('orders');
    expect(record.key.toString('utf8')).to.equal('{"id":"é"}');
    expect(record.value?.toString('utf8')).to.equal('{"id":"é","n":1}');
    expect(headersOf(record)).to.deep.equal({ op: 'upsert', connector: 'orders-cdc', change_id: '00ff00ff00ff00ff:c41,44', ordinal: '17' });
  });

  it('names each snapshot row by its number in the run, and each polled row by its position', () => {
    const b = new RecordBuilder('orders', 'orders-cdc', 'r');
    expect(headersOf(b.snapshot({ k: '{"id":1}', v: '{"id":1}', o: null }, 2001))).to.deep.equal({ op: 'snapshot', connector: 'orders-cdc', change_id: 'r:s2001' });
    expect(headersOf(b.polled({ k: '{"id":1}', v: '{"id":1}', o: '9', p: '{9,1}' }))).to.deep.equal({ op: 'upsert', connector: 'orders-cdc', change_id: 'r:o{9,1}', ordinal: '9' });
    expect(b.change({ k: '{"id":1}', v: null, o: null, seqs: ['3'] }).op).to.equal('delete');
  });
});
