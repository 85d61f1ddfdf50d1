// planTable with hand-made catalog descriptions: every check, no database.
import { expect } from 'chai';
import type { ConnectorConfig } from '../../src/config/types';
import { connectorConfig } from '../helpers/connector-config';
import type { Column, TableInfo } from '../../src/postgres/introspect';
import { planTable, type TablePlan } from '../../src/postgres/plan';

const WHERE = 'connectors/orders.json: ';

const cfg = connectorConfig;

const col = (name: string, type: string, typname: string, keyPosition: number | null = null, category = 'X'): Column => ({ name, type, castType: type, typname, category, keyPosition });

/** orders(tenant int4, note text, id int8, amount numeric, version int8, updated_at timestamptz, label text), key (id, tenant). */
function table(over: Partial<TableInfo> = {}): TableInfo {
  const columns = [
    col('tenant', 'integer', 'int4', 2),
    col('note', 'text', 'text'),
    col('id', 'bigint', 'int8', 1),
    col('amount', 'numeric', 'numeric'),
    col('version', 'bigint', 'int8'),
    col('updated_at', 'timestamp with time zone', 'timestamptz'),
    col('label', 'text', 'text'),
  ];
  return {
    oid: 16384,
    database: 'app',
    schema: 'public',
    name: 'orders',
    kind: 'table',
    estimatedRows: 10,
    canSelect: true,
    isOwner: true,
    columns,
    keyColumns: [columns[2], columns[0]],
    ...over,
  };
}

function problems(c: ConnectorConfig, info: TableInfo | null): string[] {
  const r = planTable(c, info, WHERE);
  if (r.ok) throw new Error('expected problems, got a plan');
  return r.problems;
}

function plan(c: ConnectorConfig, info: TableInfo): TablePlan {
  const r = planTable(c, info, WHERE);
  if (!r.ok) throw new Error(`expected a plan, got ${r.problems.join('; ')}`);
  return r.plan;
}

describe('planTable', () => {
  it('reports a table that does not exist, naming table_name and the table', () => {
    expect(problems(cfg({ table: { schema: 'sales', name: 'orderz' } }), null)).to.deep.equal([
      'connectors/orders.json: /source/table_name: table "sales.orderz" does not exist (or is not visible to this user)',
    ]);
  });

  it('reports a table without a primary key', () => {
    const info = table({ keyColumns: [], columns: table().columns.map((c) => ({ ...c, keyPosition: null })) });
    expect(problems(cfg(), info)).to.deep.equal(['connectors/orders.json: /source/table_name: table "orders" has no primary key; only tables with a primary key are supported']);
  });

  it('reports a view (kind other) as not a table', () => {
    const info = table({ kind: 'other', keyColumns: [], columns: table().columns.map((c) => ({ ...c, keyPosition: null })) });
    const p = problems(cfg(), info);
    expect(p).to.include('connectors/orders.json: /source/table_name: "orders" is not a table (views and other relations are not supported)');
  });

  it('accepts a partitioned table', () => {
    expect(plan(cfg(), table({ kind: 'partitioned table' })).keyColumns.map((c) => c.name)).to.deep.equal(['id', 'tenant']);
  });

  it('reports a table the user may not SELECT from', () => {
    expect(problems(cfg(), table({ canSelect: false }))).to.deep.equal(['connectors/orders.json: /source/table_name: this database user may not SELECT from "orders"']);
  });

  it('reports an included column that does not exist, with its index', () => {
    expect(problems(cfg({ includedColumns: ['note', 'colour'] }), table())).to.deep.equal(['connectors/orders.json: /source/included_columns/1: column "colour" does not exist in "orders"']);
  });

  it('reports an included column that is a key column', () => {
    expect(problems(cfg({ includedColumns: ['tenant', 'note'] }), table())).to.deep.equal([
      'connectors/orders.json: /source/included_columns/0: column "tenant" is a primary-key column; key columns are always included, list only non-key columns',
    ]);
  });

  it('matches included columns exactly, case included', () => {
    expect(problems(cfg({ includedColumns: ['Note'] }), table())[0]).to.contain('column "Note" does not exist');
  });

  it('reports an ordinal column that does not exist', () => {
    expect(problems(cfg({ ordinalColumn: 'modified' }), table())).to.deep.equal(['connectors/orders.json: /source/ordinal_column: column "modified" does not exist in "orders"']);
  });

  it('reports an ordinal column that is part of the primary key', () => {
    expect(problems(cfg({ ordinalColumn: 'id' }), table())).to.deep.equal([
      'connectors/orders.json: /source/ordinal_column: column "id" is part of the primary key; the ordinal column must not be a key column',
    ]);
  });

  it('reports an ordinal column of an unsupported type, naming the type', () => {
    expect(problems(cfg({ ordinalColumn: 'label' }), table())).to.deep.equal([
      'connectors/orders.json: /source/ordinal_column: column "label" is of type text; supported types are smallint, integer, bigint, timestamp and timestamptz',
    ]);
    expect(problems(cfg({ ordinalColumn: 'amount' }), table())[0]).to.contain('is of type numeric');
  });

  it('accepts integer and timestamp ordinal columns', () => {
    expect(plan(cfg({ ordinalColumn: 'version' }), table()).ordinal?.name).to.equal('version');
    expect(plan(cfg({ ordinalColumn: 'updated_at' }), table()).ordinal?.typname).to.equal('timestamptz');
  });

  it('reports derived names longer than 63 bytes', () => {
    // 60 bytes of channel: channel_log is 64 bytes; _n, _t, _tu, _td, _tk and _tt make 62 and 63 and fit.
    const channel = 'c'.repeat(60);
    expect(problems(cfg({ channel }), table())).to.deep.equal([
      `connectors/orders.json: /source/notification/channel_name: derived name "${channel}_log" is longer than PostgreSQL's 63-byte identifier limit`,
    ]);
    const longer = 'd'.repeat(62);
    expect(problems(cfg({ channel: longer }), table()), '_n, _t, _tu, _td, _tk, _tt and _log').to.have.length(7);
  });

  it('leaves ownership to the rights check: an administrator may have installed the capture (rights.ts)', () => {
    expect(planTable(cfg({ channel: 'orders_cdc' }), table({ isOwner: false }), WHERE).ok).to.equal(true);
  });

  it('does not need ownership without notification', () => {
    expect(planTable(cfg({ ordinalColumn: 'version' }), table({ isOwner: false }), WHERE).ok).to.equal(true);
  });

  it("refuses tables of the worker's own schema", () => {
    expect(problems(cfg({ table: { schema: 'kafka_cdc', name: 'progress' } }), table({ schema: 'kafka_cdc', name: 'progress' }))[0]).to.contain('kafka_cdc cannot be mirrored');
  });

  it('reports every problem of a connector at once', () => {
    const p = problems(cfg({ includedColumns: ['id', 'nope'], ordinalColumn: 'label', channel: 'e'.repeat(61) }), table({ isOwner: false, canSelect: false }));
    expect(p.map((x) => x.split(':')[1].trim())).to.deep.equal([
      '/source/table_name',
      '/source/included_columns/0',
      '/source/included_columns/1',
      '/source/ordinal_column',
      ...Array(5).fill('/source/notification/channel_name'), // _tu, _td, _tk, _tt, _log
    ]);
  });

  describe('a valid plan', () => {
    it('takes the real schema of the table and the key in key order', () => {
      const p = plan(cfg(), table());
      expect(p.table).to.deep.equal({ schema: 'public', name: 'orders' });
      expect(p.keyColumns.map((c) => c.name)).to.deep.equal(['id', 'tenant']);
      expect(p.ordinal).to.equal(null);
      expect(p.info).to.deep.equal(table());
    });

    it('publishes every column, in table order, when included_columns is absent', () => {
      expect(plan(cfg(), table()).valueColumns.map((c) => c.name)).to.deep.equal(['tenant', 'note', 'id', 'amount', 'version', 'updated_at', 'label']);
    });

    it('publishes the key and the included columns in table order, whatever the order of included_columns', () => {
      const p = plan(cfg({ includedColumns: ['label', 'note'] }), table());
      expect(p.valueColumns.map((c) => c.name)).to.deep.equal(['tenant', 'note', 'id', 'label']);
    });

    it('publishes only the key when included_columns is empty', () => {
      expect(plan(cfg({ includedColumns: [] }), table()).valueColumns.map((c) => c.name)).to.deep.equal(['tenant', 'id']);
    });

    it('accepts a 59-byte channel, whose longest derived name is 63 bytes', () => {
      expect(planTable(cfg({ channel: 'c'.repeat(59) }), table(), WHERE).ok).to.equal(true);
    });
  });
  it('refuses primary keys that cannot be rendered the same way on every path: floats, arrays, composites', () => {
    for (const [type, typname, category, why] of [
      ['double precision', 'float8', 'N', 'floating-point keys are inexact'],
      ['real', 'float4', 'N', 'floating-point keys are inexact'],
      ['integer[]', '_int4', 'A', 'array keys are not supported'],
      ['point3', 'point3', 'C', 'composite-type keys are not supported'],
    ]) {
      const info = table({ columns: [col('k', type, typname, 1, category), col('v', 'text', 'text')] });
      info.keyColumns = info.columns.filter((c) => c.keyPosition !== null);
      const r = planTable(cfg(), info, 'c.json: ');
      expect(r.ok).to.equal(false);
      if (!r.ok) expect(r.problems).to.deep.equal([`c.json: /source/table_name: primary-key column "k" of "orders" is of type ${type}: ${why}`]);
    }
  });
});
