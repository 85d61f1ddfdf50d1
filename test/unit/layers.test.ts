/**
 * The layering of src/ (docs/architecture.md) that dependency-cruiser cannot see: all SQL lives in
 * src/postgres/, so every statement the worker sends can be read, reviewed and quoted in one place.
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';

const ROOT = path.resolve(__dirname, '..', '..', '..');
const STATEMENT =
  /(['"`])\s*(SELECT|INSERT\s+INTO|UPDATE\s+\S+\s+SET|DELETE\s+FROM|CREATE|ALTER|DROP|GRANT|REVOKE|BEGIN|COMMIT|ROLLBACK|LISTEN|UNLISTEN|NOTIFY|SET\s+\w|SHOW|WITH\s+\w+\s+AS|TRUNCATE|LOCK\s+TABLE)\b/;

function sources(dir: string): string[] {
  return fs.readdirSync(dir, { withFileTypes: true }).flatMap((f) => {
    const p = path.join(dir, f.name);
    return f.isDirectory() ? sources(p) : p.endsWith('.ts') ? [p] : [];
  });
}

/** The code of a file without its comments (a comment may quote SQL). */
function code(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, '').replace(/(^|[^:'"`])\/\/.*$/gm, '$1');
}

describe('layers', () => {
  it('no SQL statement outside src/postgres/', () => {
    const offenders: string[] = [];
    for (const file of sources(path.join(ROOT, 'src'))) {
      const rel = path.relative(ROOT, file);
      if (rel.startsWith(path.join('src', 'postgres') + path.sep)) continue;
      code(fs.readFileSync(file, 'utf8'))
        .split('\n')
        .forEach((line, i) => {
          if (STATEMENT.test(line)) offenders.push(`${rel}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(offenders).to.deep.equal([]);
  });

  it('one commit path: only src/connector/commit.ts publishes a unit and saves its position', () => {
    const offenders: string[] = [];
    for (const file of sources(path.join(ROOT, 'src', 'connector'))) {
      if (file.endsWith('commit.ts')) continue;
      code(fs.readFileSync(file, 'utf8'))
        .split('\n')
        .forEach((line, i) => {
          if (/\.publish\(|progress\.save\(/.test(line)) offenders.push(`${path.relative(ROOT, file)}:${i + 1}: ${line.trim()}`);
        });
    }
    expect(offenders).to.deep.equal([]);
  });

  it('the scan sees SQL where it is (it is not a test that cannot fail)', () => {
    const capture = code(fs.readFileSync(path.join(ROOT, 'src', 'postgres', 'control.ts'), 'utf8'));
    expect(capture.split('\n').filter((l) => STATEMENT.test(l)).length).to.be.greaterThan(3);
  });
});
