// Names of the database objects a connector owns.
import { expect } from 'chai';
import { captureNames, defaultChannel, MAX_CHANNEL_BYTES, ownershipLockKey, SUFFIXES, WORKER_SCHEMA } from '../../src/postgres/names';
import { identBytes, MAX_IDENT_BYTES } from '../../src/postgres/sql';

const LOWER_IDENT = /^[a-z_][a-z0-9_]*$/;

describe('names', () => {
  describe('defaultChannel', () => {
    it('is pgkc_{connector}_{table} for a short unqualified table', () => {
      expect(defaultChannel('orders', { schema: null, name: 'orders' })).to.equal('pgkc_orders_orders');
    });

    it('includes the schema and folds case and other characters into a valid lower-case identifier', () => {
      const ch = defaultChannel('Orders-V2', { schema: 'Sales', name: 'Order$Items' });
      expect(ch).to.equal('pgkc_orders_v2_sales_order_items');
      expect(ch).to.match(LOWER_IDENT);
    });

    it('always fits 63 bytes with its longest suffix', () => {
      const cases = [
        defaultChannel('c'.repeat(100), { schema: 's'.repeat(63), name: 't'.repeat(63) }),
        defaultChannel('orders', { schema: null, name: 'x'.repeat(63) }),
        defaultChannel('a'.repeat(53), { schema: null, name: 'b' }),
      ];
      for (const ch of cases) {
        expect(ch).to.match(LOWER_IDENT);
        expect(identBytes(ch)).to.be.at.most(MAX_CHANNEL_BYTES);
        expect(identBytes(ch + '_log')).to.be.at.most(63);
        for (const suffix of Object.values(SUFFIXES)) expect(identBytes(ch + suffix)).to.be.at.most(MAX_IDENT_BYTES);
      }
    });

    it('keeps a name that fits exactly, and hashes one byte more', () => {
      // pgkc_ (5) + connector + _ (1) + table (1) = 59 bytes when the connector has 52.
      const fits = defaultChannel('a'.repeat(52), { schema: null, name: 'b' });
      expect(fits).to.equal(`pgkc_${'a'.repeat(52)}_b`);
      expect(identBytes(fits)).to.equal(MAX_CHANNEL_BYTES);
      const over = defaultChannel('a'.repeat(53), { schema: null, name: 'b' });
      expect(over).to.match(/^pgkc_a+_[0-9a-f]{8}$/);
      expect(identBytes(over)).to.equal(MAX_CHANNEL_BYTES);
    });

    it('keeps two long names distinct when they differ only after the cut', () => {
      const long = 'x'.repeat(80);
      const a = defaultChannel(long, { schema: 'sales', name: 'orders' });
      const b = defaultChannel(long, { schema: 'sales', name: 'refunds' });
      const c = defaultChannel(long + 'y', { schema: 'sales', name: 'orders' });
      expect(new Set([a, b, c]).size).to.equal(3);
      expect(a.slice(0, 40)).to.equal(b.slice(0, 40));
    });

    it('is deterministic', () => {
      const t = { schema: 'sales', name: 'o'.repeat(70) };
      expect(defaultChannel('orders', t)).to.equal(defaultChannel('orders', { ...t }));
      expect(defaultChannel('orders', { schema: null, name: 'orders' })).to.equal(defaultChannel('orders', { schema: null, name: 'orders' }));
    });
  });

  describe('captureNames', () => {
    it('derives the function, trigger and change log names with their suffixes', () => {
      expect(captureNames('orders_cdc')).to.deep.equal({
        channel: 'orders_cdc',
        functionName: 'orders_cdc_n',
        triggerName: 'orders_cdc_t',
        updateTriggerName: 'orders_cdc_tu',
        deleteTriggerName: 'orders_cdc_td',
        keyTriggerName: 'orders_cdc_tk',
        truncateTriggerName: 'orders_cdc_tt',
        logTable: 'orders_cdc_log',
      });
    });

    it('uses the suffixes _n, _t, _tu, _td, _tk, _tt and _log, the longest leaving 59 bytes for the channel', () => {
      expect(SUFFIXES).to.deep.equal({ function: '_n', trigger: '_t', updateTrigger: '_tu', deleteTrigger: '_td', keyTrigger: '_tk', truncateTrigger: '_tt', log: '_log' });
      expect(MAX_CHANNEL_BYTES).to.equal(59);
      expect(WORKER_SCHEMA).to.equal('kafka_cdc');
    });
  });

  describe('ownershipLockKey', () => {
    it('is a stable 64-bit key per connector, different between connectors', () => {
      const k = ownershipLockKey('orders');
      expect(typeof k).to.equal('bigint');
      expect(ownershipLockKey('orders')).to.equal(k);
      expect(ownershipLockKey('orders2')).not.to.equal(k);
      expect(k >= -(2n ** 63n) && k < 2n ** 63n).to.equal(true);
    });
  });
});
