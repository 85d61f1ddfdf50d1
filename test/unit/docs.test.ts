// docs/configuration.md against the schemas: every field documented, with the schema's default.
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { readSchema, schemaFields, type SchemaField } from '../helpers/schema-walk';

const DOC_FILE = path.resolve(__dirname, '..', '..', '..', 'docs', 'configuration.md');
const doc = fs.readFileSync(DOC_FILE, 'utf8');

/** The text of a "## heading" section, up to the next "## " heading. */
function section(heading: string): string {
  const start = doc.indexOf(`\n## ${heading}\n`);
  if (start < 0) throw new Error(`docs/configuration.md has no "## ${heading}" section`);
  const next = doc.indexOf('\n## ', start + 1);
  return doc.slice(start, next < 0 ? undefined : next);
}

interface Row {
  path: string;
  type: string;
  default: string;
  meaning: string;
}

/** Rows of the reference table: | `path` | type | default | meaning |. */
function fieldRows(text: string): Row[] {
  const rows: Row[] = [];
  for (const line of text.split('\n')) {
    const m = /^\| `([a-z_.]+)` \| (.+?) \| (.+?) \| (.+) \|$/.exec(line);
    if (m) rows.push({ path: m[1], type: m[2], default: m[3], meaning: m[4] });
  }
  return rows;
}

/** What the Default cell must say for a field. */
function expectedDefault(f: SchemaField): string {
  if (f.hasDefault) return '`' + JSON.stringify(f.default) + '`';
  return f.required ? '*required*' : '—';
}

const SECTIONS = [
  { schema: 'worker', heading: 'Worker file' },
  { schema: 'connector', heading: 'Connector file' },
] as const;

describe('docs/configuration.md', () => {
  for (const { schema, heading } of SECTIONS) {
    describe(`the ${schema} schema`, () => {
      const fields = schemaFields(readSchema(schema));
      const text = section(heading);
      const rows = fieldRows(text);

      it('has fields to check', () => {
        expect(fields.length).to.be.greaterThan(5);
      });

      it(`names every field of the schema as \`path\` in its "${heading}" section`, () => {
        const missing = fields.filter((f) => !text.includes('`' + f.path + '`')).map((f) => f.path);
        expect(missing, 'fields missing from the doc').to.deep.equal([]);
      });

      it('has one reference row per field, in the order of the schema', () => {
        expect(rows.map((r) => r.path)).to.deep.equal(fields.map((f) => f.path));
      });

      it('documents no field the schema lacks', () => {
        const known = new Set(fields.map((f) => f.path));
        expect(rows.map((r) => r.path).filter((p) => !known.has(p))).to.deep.equal([]);
      });

      it("gives every field the schema's default, or says it is required or has none", () => {
        const byPath = new Map(rows.map((r) => [r.path, r]));
        const wrong = fields
          .filter((f) => byPath.has(f.path) && byPath.get(f.path)!.default !== expectedDefault(f))
          .map((f) => `${f.path}: doc says ${byPath.get(f.path)!.default}, schema says ${expectedDefault(f)}`);
        expect(wrong).to.deep.equal([]);
      });

      it('lists every allowed value of an enum field', () => {
        for (const f of fields) {
          if (!Array.isArray(f.schema.enum)) continue;
          const row = rows.find((r) => r.path === f.path);
          for (const v of f.schema.enum as unknown[]) expect(row?.type, f.path).to.contain('`' + JSON.stringify(v) + '`');
        }
      });

      it('states the bounds of every bounded integer field', () => {
        for (const f of fields) {
          if (f.schema.type !== 'integer') continue;
          const row = rows.find((r) => r.path === f.path);
          expect(row?.type, f.path).to.equal(`integer, ${String(f.schema.minimum)} to ${String(f.schema.maximum)}`);
        }
      });

      it('never mentions a default value in a meaning that contradicts the schema', () => {
        // "absent means `x`" / "default `x`" in free text must agree with the Default column.
        for (const r of rows) {
          const f = fields.find((x) => x.path === r.path);
          const m = /(?:defaults? (?:to|is) |absent means )`([^`]+)`/.exec(r.meaning);
          if (!m || !f || !f.hasDefault) continue;
          expect(m[1], r.path).to.equal(JSON.stringify(f.default));
        }
      });
    });
  }

  it('describes the database objects a connector creates', () => {
    const text = section('Database objects a connector creates');
    for (const name of [
      '`{channel}_n`',
      '`{channel}_t`',
      '`{channel}_tu`',
      '`{channel}_td`',
      '`{channel}_tk`',
      '`{channel}_tt`',
      '`kafka_cdc.{channel}_log`',
      '`kafka_cdc.progress`',
      '`kafka_cdc.snapshot_requests`',
    ])
      expect(text).to.contain(name);
  });

  it('documents every *_env field in the secrets section', () => {
    const text = section('Secrets: the `*_env` fields');
    const envFields = [...schemaFields(readSchema('worker')), ...schemaFields(readSchema('connector'))].filter((f) => f.path.endsWith('_env'));
    expect(envFields.length).to.equal(4);
    for (const f of envFields) expect(text, f.path).to.contain('`' + f.path + '`');
  });

  it('shows a sample of validate output with exit code 2 and the ok output', () => {
    const text = section('How errors are reported');
    expect(text).to.match(/\n\d+ problems? found:\n {2}connectors\/\S+\.json: /);
    expect(text).to.contain('config is valid: ');
  });
});
