/**
 * JSON Schema validation of config files with ajv (draft 2020-12). The schemas in schemas/ are the
 * single source of truth: they declare the defaults too, which ajv applies while validating.
 */
import Ajv2020, { type ErrorObject, type ValidateFunction } from 'ajv/dist/2020';
import * as fs from 'node:fs';
import * as path from 'node:path';

export const SCHEMAS_DIR = path.resolve(__dirname, '..', '..', '..', 'schemas');

export type SchemaName = 'worker' | 'connector';

const ajv = new Ajv2020({ allErrors: true, verbose: true, useDefaults: true, strict: true, strictRequired: false, allowUnionTypes: true });
const validators = new Map<SchemaName, ValidateFunction>();

export function loadSchema(name: SchemaName): Record<string, unknown> {
  return JSON.parse(fs.readFileSync(path.join(SCHEMAS_DIR, `${name}.schema.json`), 'utf8')) as Record<string, unknown>;
}

function validator(name: SchemaName): ValidateFunction {
  let v = validators.get(name);
  if (!v) {
    v = ajv.compile(loadSchema(name));
    validators.set(name, v);
  }
  return v;
}

/**
 * Validates data in place (filling in defaults) and returns one readable line per problem:
 * "<JSON path>: <reason>". Empty when valid.
 */
export function validateAgainst(name: SchemaName, data: unknown): string[] {
  const v = validator(name);
  if (v(data)) return [];
  return formatErrors(v.errors ?? []);
}

function formatErrors(errors: ErrorObject[]): string[] {
  // A failed oneOf of "required" branches (url | url_env) reads best as one line; drop its branches' noise.
  const oneOfPaths = errors.filter((e) => e.keyword === 'oneOf').map((e) => e.schemaPath);
  const lines: string[] = [];
  for (const e of errors) {
    if (oneOfPaths.some((p) => e.schemaPath.startsWith(p + '/'))) continue;
    if (e.keyword === 'if') continue;
    lines.push(`${e.instancePath || '/'}: ${describe(e)}`);
  }
  return [...new Set(lines)];
}

function describe(e: ErrorObject): string {
  const p = e.params as Record<string, unknown>;
  switch (e.keyword) {
    case 'additionalProperties':
      return `unknown key "${String(p.additionalProperty)}"`;
    case 'required':
      return `missing required key "${String(p.missingProperty)}"`;
    case 'type':
      return `must be of type ${String(p.type)}`;
    case 'enum':
      return `must be one of ${(p.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
    case 'pattern':
      return `${JSON.stringify(e.data)} is not allowed here: ${explainPattern(e)}`;
    case 'oneOf': {
      const branches = e.schema as Array<Record<string, unknown>>;
      const keys = branches.map((b) => (Array.isArray(b.required) ? (b.required as string[])[0] : null));
      if (keys.every((k) => k !== null)) return `set exactly one of ${keys.map((k) => `"${k}"`).join(' or ')}`;
      if (branches.every((b) => typeof b.type === 'string')) return `must be ${branches.map((b) => `a${/^[aeiou]/.test(String(b.type)) ? 'n' : ''} ${String(b.type)}`).join(' or ')}`;
      return 'must match exactly one of the allowed forms';
    }
    default:
      return e.message ?? e.keyword;
  }
}

function explainPattern(e: ErrorObject): string {
  const desc = (e.parentSchema as { description?: string } | undefined)?.description;
  return desc ?? String((e.params as { pattern?: string }).pattern);
}
