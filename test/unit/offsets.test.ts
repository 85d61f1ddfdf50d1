/** The offsets topic's record format and the read_committed filter, without a broker (the broker side is in test/integration/exactly-once). */
import { expect } from 'chai';
import { createHmac } from 'node:crypto';
import type { RecordsBatch } from '@platformatic/kafka';
import { checkpointRecord, committedRecords, decodeSeqRanges, encodeSeqRanges, parseCheckpoint } from '../../src/kafka/offsets';
import { transactionProblem } from '../../src/kafka/topics';
import type { Checkpoint } from '../../src/progress/store';

const CONTROL = 1 << 5;
const TRANSACTIONAL = 1 << 4;

/** A record batch as the client parses it: data records with keys, or one control marker. */
function batch(firstOffset: number, producerId: number, kind: { data: string[] } | { marker: 'commit' | 'abort' }, transactional = true): RecordsBatch {
  const records =
    'data' in kind
      ? kind.data.map((k, i) => ({ length: 0, attributes: 0, timestampDelta: 0n, offsetDelta: i, key: Buffer.from(k), value: Buffer.from(`v${k}`), headers: [] }))
      : [{ length: 0, attributes: 0, timestampDelta: 0n, offsetDelta: 0, key: Buffer.from([0, 0, 0, kind.marker === 'commit' ? 1 : 0]), value: Buffer.alloc(6), headers: [] }];
  return {
    firstOffset: BigInt(firstOffset),
    length: 0,
    partitionLeaderEpoch: 0,
    magic: 2,
    crc: 0,
    attributes: (transactional ? TRANSACTIONAL : 0) | ('marker' in kind ? CONTROL : 0),
    lastOffsetDelta: records.length - 1,
    firstTimestamp: 0n,
    maxTimestamp: 0n,
    producerId: BigInt(producerId),
    producerEpoch: 0,
    firstSequence: 0,
    records,
  } as RecordsBatch;
}

const keysOf = (p: Parameters<typeof committedRecords>[0]) => committedRecords(p).map((r) => `${r.offset}:${r.key?.toString()}`);

describe('the offsets topic', () => {
  describe('sequence ranges', () => {
    it('writes sorted runs as ranges and reads them back', () => {
      const seqs = ['9', '3', '4', '5', '12', '10', '11', '1'];
      expect(encodeSeqRanges(seqs)).to.equal('1,3-5,9-12');
      expect(decodeSeqRanges('1,3-5,9-12')).to.deep.equal(['1', '3', '4', '5', '9', '10', '11', '12']);
      expect(decodeSeqRanges(encodeSeqRanges([]))).to.deep.equal([]);
    });

    it('keeps sequence numbers beyond 2^53 exact', () => {
      const big = ['9007199254740993', '9007199254740994'];
      expect(decodeSeqRanges(encodeSeqRanges(big))).to.deep.equal(big);
    });

    it('refuses text that is not ranges', () => {
      expect(() => decodeSeqRanges('1,x-3')).to.throw(/not a sequence range: x-3/);
    });
  });

  it('writes a checkpoint as a record keyed by the connector, and reads back the same checkpoint', () => {
    const cp: Checkpoint = {
      run: 'a1b2c3d4e5f60718',
      commit: 42,
      snapshotState: 'done',
      snapshotKey: ['b', '7'],
      snapshotRows: 1000,
      watermark: null,
      resnapshot: { id: '7', key: ['b', '3'], rows: 250 },
      trim: { logOid: 16384, seqs: ['100', '101', '102', '205'], untilUs: '1733250000123456' },
      origin: '7715144854283311222:2',
    };
    const key = '0f'.repeat(32);
    const record = checkpointRecord('pg-kafka-cdc.offsets.orders', 'orders', cp, key);
    expect(record.topic).to.equal('pg-kafka-cdc.offsets.orders');
    expect(record.key.toString()).to.equal('orders');
    expect(JSON.parse(record.value?.toString() ?? '').trim).to.deep.equal({ log_oid: 16384, seqs: '100-102,205', until_us: '1733250000123456' });
    expect(parseCheckpoint(record.value as Buffer, key)).to.deep.equal(cp);
    expect(() => parseCheckpoint(Buffer.from('{"format":2}'), key)).to.throw(/not a checkpoint of format 1/);
  });

  it('refuses a checkpoint whose MAC is missing, made with another key, or no longer matches its text', () => {
    const cp: Checkpoint = {
      run: 'r',
      commit: 2,
      snapshotState: 'done',
      snapshotKey: null,
      snapshotRows: 0,
      watermark: null,
      resnapshot: null,
      trim: { logOid: 1, seqs: ['7'], untilUs: null },
      origin: null,
    };
    const key = '0f'.repeat(32);
    const value = JSON.parse(checkpointRecord('t', 'orders', cp, key).value?.toString() ?? '');
    const { mac: _mac, ...unsigned } = value;
    expect(() => parseCheckpoint(Buffer.from(JSON.stringify(unsigned)), key)).to.throw(/MAC is missing/);
    expect(() => parseCheckpoint(checkpointRecord('t', 'orders', cp, 'aa'.repeat(32)).value as Buffer, key)).to.throw(/not made with the checkpoint key/);
    const tampered = { ...value, trim: { ...value.trim, seqs: '1-100000' } };
    expect(() => parseCheckpoint(Buffer.from(JSON.stringify(tampered)), key)).to.throw(/not made with the checkpoint key/);
  });

  it('reads a checkpoint written before re-snapshots existed as one without a re-snapshot', () => {
    const key = '0f'.repeat(32);
    const old = { format: 1, connector: 'orders', run: 'r', commit: 3, snapshot: { state: 'done', key: ['9'], rows: 9 }, watermark: null, trim: null };
    const mac = createHmac('sha256', Buffer.from(key, 'hex')).update(JSON.stringify(old)).digest('hex');
    expect(parseCheckpoint(Buffer.from(JSON.stringify({ ...old, mac })), key).resnapshot).to.equal(null);
  });

  describe('committed records of a read_committed fetch', () => {
    it('keeps committed and non-transactional records and never hands out markers', () => {
      const p = {
        abortedTransactions: [],
        records: [batch(0, 1, { data: ['a', 'b'] }), batch(2, 1, { marker: 'commit' }), batch(3, 9, { data: ['plain'] }, false)],
      };
      expect(keysOf(p)).to.deep.equal(['0:a', '1:b', '3:plain']);
    });

    it('leaves out every aborted transaction, also several of one producer in one response, and keeps its committed ones between them', () => {
      // Producer 1: aborted [0,1] abort@2, committed [3] commit@4, aborted [5] abort@6, committed [7] commit@8.
      // Producer 2 commits [9] interleaved with nothing aborted.
      const p = {
        abortedTransactions: [
          { producerId: 1n, firstOffset: 5n },
          { producerId: 1n, firstOffset: 0n },
        ],
        records: [
          batch(0, 1, { data: ['x0', 'x1'] }),
          batch(2, 1, { marker: 'abort' }),
          batch(3, 1, { data: ['c3'] }),
          batch(4, 1, { marker: 'commit' }),
          batch(5, 1, { data: ['x5'] }),
          batch(6, 1, { marker: 'abort' }),
          batch(7, 1, { data: ['c7'] }),
          batch(8, 1, { marker: 'commit' }),
          batch(9, 2, { data: ['c9'] }),
          batch(10, 2, { marker: 'commit' }),
        ],
      };
      expect(keysOf(p)).to.deep.equal(['3:c3', '7:c7', '9:c9']);
    });

    it('leaves out an aborted transaction that began before the fetched range, and another producer interleaved with it keeps its records', () => {
      const p = {
        abortedTransactions: [{ producerId: 1n, firstOffset: 2n }],
        records: [batch(4, 1, { data: ['x4'] }), batch(5, 2, { data: ['c5'] }), batch(6, 1, { marker: 'abort' }), batch(7, 2, { marker: 'commit' })],
      };
      expect(keysOf(p)).to.deep.equal(['5:c5']);
    });

    it('reads an empty or missing record list as nothing', () => {
      expect(committedRecords({ abortedTransactions: null, records: null })).to.deep.equal([]);
      expect(committedRecords({ abortedTransactions: null })).to.deep.equal([]);
    });
  });
});

describe('whether a cluster can run transactions', () => {
  it('can once the transaction log exists, whatever the settings say', () => {
    expect(transactionProblem({ brokers: 1, logExists: true, replicationFactor: 3, minIsr: 2 })).to.equal(null);
  });

  it('cannot create the transaction log with a replication factor above the number of brokers', () => {
    expect(transactionProblem({ brokers: 1, logExists: false, replicationFactor: 3, minIsr: 2 })).to.equal(
      'transaction.state.log.replication.factor is 3 but the cluster has 1 broker(s), so the transaction log (__transaction_state) cannot be created',
    );
  });

  it('cannot commit with a min.isr above the replicas the log can have', () => {
    expect(transactionProblem({ brokers: 3, logExists: false, replicationFactor: 2, minIsr: 3 })).to.match(/min.isr is 3 but the transaction log can have only 2/);
    expect(transactionProblem({ brokers: 3, logExists: false, replicationFactor: 3, minIsr: 2 })).to.equal(null);
  });
});
