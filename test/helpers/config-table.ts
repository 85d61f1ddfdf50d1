/**
 * Renders the README's config reference tables from schemas/ (every field: path, type, default,
 * meaning). test/unit/readme.test.ts fails when the README differs; to update it run
 * `node dist/test/helpers/config-table.js --write` after a build.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';

type Schema = {
  type?: string;
  enum?: unknown[];
  oneOf?: Schema[];
  items?: Schema;
  properties?: Record<string, Schema>;
  $ref?: string;
  $defs?: Record<string, Schema>;
  default?: unknown;
  description?: string;
};

const ROOT = path.resolve(__dirname, '..', '..', '..');

function typeOf(v: Schema): string {
  if (v.enum) return v.enum.map((e) => JSON.stringify(e)).join(' \\| ');
  if (v.type === 'array') return `array of ${v.items?.type ?? 'any'}`;
  if (v.type) return v.type;
  if (v.oneOf) return v.oneOf.map((o) => o.type).join(' \\| ');
  return 'object';
}

function walk(schema: Schema, prefix: string, root: Schema, rows: string[]): void {
  for (const [key, raw] of Object.entries(schema.properties ?? {})) {
    const v: Schema = raw.$ref ? { ...root.$defs?.[raw.$ref.split('/').pop() as string], description: raw.description } : raw;
    const p = prefix ? `${prefix}.${key}` : key;
    const def = v.default !== undefined ? '`' + JSON.stringify(v.default) + '`' : '';
    rows.push(`| \`${p}\` | ${typeOf(v)} | ${def} | ${(v.description ?? '').replace(/\|/g, '\\|')} |`);
    if (v.properties) walk(v, p, root, rows);
  }
}

export function renderTable(name: 'worker' | 'connector'): string {
  const schema = JSON.parse(fs.readFileSync(path.join(ROOT, 'schemas', `${name}.schema.json`), 'utf8')) as Schema;
  const rows: string[] = [];
  walk(schema, '', schema, rows);
  return ['| field | type | default | meaning |', '|---|---|---|---|', ...rows].join('\n');
}

export const README = path.join(ROOT, 'README.md');

export function section(text: string, name: string): string | null {
  const m = new RegExp(`<!-- ${name}:start -->\\n([\\s\\S]*?)\\n<!-- ${name}:end -->`).exec(text);
  return m ? m[1] : null;
}

export function writeReadme(): void {
  let text = fs.readFileSync(README, 'utf8');
  for (const name of ['worker', 'connector'] as const) {
    text = text.replace(new RegExp(`(<!-- ${name}-fields:start -->\\n)[\\s\\S]*?(\\n<!-- ${name}-fields:end -->)`), `$1${renderTable(name)}$2`);
  }
  fs.writeFileSync(README, text);
}

if (require.main === module && process.argv.includes('--write')) writeReadme();
