/** Temporary config folders for tests: worker.json plus connectors/<file>, removed by cleanupConfigDirs(). */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';

const made: string[] = [];

export interface ConfigDir {
  dir: string;
  /** Absolute path of worker.json. */
  worker: string;
  /** Absolute path of a file in the folder. */
  abs(rel: string): string;
}

/** Values are JSON-encoded unless they are strings (written as they are, e.g. for syntax errors). */
export function writeConfigDir(worker: unknown, connectors: Record<string, unknown>, extra: Record<string, string> = {}, prefix = 'pgkc-config-'): ConfigDir {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix));
  made.push(dir);
  const write = (rel: string, v: unknown) => {
    const f = path.join(dir, rel);
    fs.mkdirSync(path.dirname(f), { recursive: true });
    fs.writeFileSync(f, typeof v === 'string' ? v : JSON.stringify(v, null, 2) + '\n');
  };
  write('worker.json', worker);
  for (const [name, c] of Object.entries(connectors)) write(path.join('connectors', name), c);
  for (const [name, text] of Object.entries(extra)) write(name, text);
  return { dir, worker: path.join(dir, 'worker.json'), abs: (rel) => path.join(dir, rel) };
}

export function cleanupConfigDirs(): void {
  for (const d of made.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}
