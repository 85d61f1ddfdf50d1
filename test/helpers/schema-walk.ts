/** Walks a JSON Schema of schemas/ and lists every field it declares, as dotted paths (kafka.ssl.ca_file). */
import * as fs from 'node:fs';
import * as path from 'node:path';

export const SCHEMAS_DIR = path.resolve(__dirname, '..', '..', '..', 'schemas');

export type Schema = Record<string, unknown>;

export interface SchemaField {
  /** Dotted path: source.database.url_env; array items are not fields of their own. */
  path: string;
  schema: Schema;
  /** The schema's default, when it declares one. */
  hasDefault: boolean;
  default?: unknown;
  /** Listed in its parent's "required". */
  required: boolean;
}

export function readSchema(name: 'worker' | 'connector'): Schema {
  return JSON.parse(fs.readFileSync(path.join(SCHEMAS_DIR, `${name}.schema.json`), 'utf8')) as Schema;
}

function resolveRef(root: Schema, s: Schema): Schema {
  const ref = s.$ref;
  if (typeof ref !== 'string') return s;
  if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
  let target: unknown = root;
  for (const part of ref.slice(2).split('/')) target = (target as Schema)[part];
  // The referring schema's own keywords (description, default) win over the target's.
  return { ...(target as Schema), ...Object.fromEntries(Object.entries(s).filter(([k]) => k !== '$ref')) };
}

/** Every property declared anywhere (properties, $ref, oneOf/anyOf/allOf branches), depth first. */
export function schemaFields(root: Schema): SchemaField[] {
  const out = new Map<string, SchemaField>();
  const visit = (s0: Schema, prefix: string) => {
    const s = resolveRef(root, s0);
    const props = (s.properties ?? {}) as Record<string, Schema>;
    const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
    for (const [key, child0] of Object.entries(props)) {
      const child = resolveRef(root, child0);
      const p = prefix ? `${prefix}.${key}` : key;
      if (!out.has(p)) out.set(p, { path: p, schema: child, hasDefault: 'default' in child, default: child.default, required: required.has(key) });
      visit(child, p);
    }
    for (const k of ['oneOf', 'anyOf', 'allOf'] as const) {
      const branches = s[k];
      if (Array.isArray(branches)) for (const b of branches as Schema[]) visit(b, prefix);
    }
  };
  visit(root, '');
  return [...out.values()];
}

/** Whether obj has a value at the dotted path (every step an own key). */
export function hasPath(obj: unknown, dotted: string): boolean {
  let cur: unknown = obj;
  for (const part of dotted.split('.')) {
    if (cur === null || typeof cur !== 'object' || !Object.prototype.hasOwnProperty.call(cur, part)) return false;
    cur = (cur as Record<string, unknown>)[part];
  }
  return true;
}

/** Every dotted path of an object's keys (not into arrays). */
export function objectPaths(obj: unknown, prefix = ''): string[] {
  if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) return [];
  return Object.entries(obj as Record<string, unknown>).flatMap(([k, v]) => {
    const p = prefix ? `${prefix}.${k}` : k;
    return [p, ...objectPaths(v, p)];
  });
}
