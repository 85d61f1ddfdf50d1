// The one place where identifiers reach SQL.
import { expect } from 'chai';
import { identBytes, MAX_IDENT_BYTES, parseTableName, quoteIdent, quoteLiteral, quoteTable } from '../../src/postgres/sql';

describe('sql', () => {
  describe('quoteIdent', () => {
    it('wraps a name in double quotes, keeping its case', () => {
      expect(quoteIdent('orders')).to.equal('"orders"');
      expect(quoteIdent('Orders')).to.equal('"Orders"');
      expect(quoteIdent('order items')).to.equal('"order items"');
    });

    it('doubles every inner double quote, so the name cannot end the identifier', () => {
      expect(quoteIdent('a"b')).to.equal('"a""b"');
      expect(quoteIdent('"')).to.equal('""""');
      expect(quoteIdent('orders"; DROP TABLE x; --')).to.equal('"orders""; DROP TABLE x; --"');
    });

    it('rejects an empty name', () => {
      expect(() => quoteIdent('')).to.throw('empty SQL identifier');
    });

    it('rejects a name with a NUL byte', () => {
      expect(() => quoteIdent('a\u0000b')).to.throw('NUL');
    });
  });

  describe('quoteLiteral', () => {
    it('doubles single quotes and rejects NUL', () => {
      expect(quoteLiteral("it's")).to.equal("'it''s'");
      expect(quoteLiteral('')).to.equal("''");
      expect(() => quoteLiteral('a\u0000')).to.throw('NUL');
    });
  });

  describe('quoteTable', () => {
    it('quotes the name alone when the schema is resolved by search_path', () => {
      expect(quoteTable({ schema: null, name: 'orders' })).to.equal('"orders"');
    });

    it('quotes schema and name separately', () => {
      expect(quoteTable({ schema: 'Sales', name: 'or"ders' })).to.equal('"Sales"."or""ders"');
    });

    it('rejects an empty schema or name', () => {
      expect(() => quoteTable({ schema: '', name: 'orders' })).to.throw('empty SQL identifier');
      expect(() => quoteTable({ schema: null, name: '' })).to.throw('empty SQL identifier');
    });
  });

  describe('parseTableName', () => {
    it('reads an unqualified name as a table resolved by search_path', () => {
      expect(parseTableName('orders')).to.deep.equal({ schema: null, name: 'orders' });
    });

    it('splits a schema-qualified name at the dot', () => {
      expect(parseTableName('sales.orders')).to.deep.equal({ schema: 'sales', name: 'orders' });
      expect(parseTableName('Sales.Order_Items$1')).to.deep.equal({ schema: 'Sales', name: 'Order_Items$1' });
    });

    it('round-trips through quoteTable', () => {
      expect(quoteTable(parseTableName('sales.orders'))).to.equal('"sales"."orders"');
      expect(quoteTable(parseTableName('orders'))).to.equal('"orders"');
    });
  });

  describe('identBytes', () => {
    it('counts ASCII characters one byte each', () => {
      expect(identBytes('orders')).to.equal(6);
      expect(identBytes('')).to.equal(0);
    });

    it('counts UTF-8 bytes, not characters', () => {
      expect(identBytes('é')).to.equal(2);
      expect(identBytes('commandé')).to.equal(9);
      expect(identBytes('注文')).to.equal(6);
      expect(identBytes('😀')).to.equal(4);
    });

    it("sets the limit at PostgreSQL's 63 bytes", () => {
      expect(MAX_IDENT_BYTES).to.equal(63);
      expect(identBytes('é'.repeat(32))).to.be.greaterThan(MAX_IDENT_BYTES);
    });
  });
});
