/** Reads a JSON file; a syntax error becomes a problem line with the file, line and column. */
import * as fs from 'node:fs';

export type JsonResult = { ok: true; value: unknown } | { ok: false; problem: string };

export function readJsonFile(file: string, shownAs: string): JsonResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { ok: false, problem: `${shownAs}: cannot read the file (${code === 'ENOENT' ? 'it does not exist' : code ?? String(err)})` };
  }
  try {
    return { ok: true, value: JSON.parse(text) };
  } catch (err) {
    return { ok: false, problem: `${shownAs}: ${syntaxErrorAt(text, (err as Error).message)}` };
  }
}

function syntaxErrorAt(text: string, message: string): string {
  const reason = message.replace(/ in JSON at position \d+.*$/s, '').replace(/^JSON\.parse: /, '');
  const m = /position (\d+)/.exec(message);
  let line: number;
  let column: number;
  if (m) {
    const pos = Number(m[1]);
    const before = text.slice(0, pos);
    line = before.split('\n').length;
    column = pos - before.lastIndexOf('\n');
  } else {
    // "Unexpected end of JSON input": the end of the text.
    const lines = text.split('\n');
    line = lines.length;
    column = lines[lines.length - 1].length + 1;
  }
  return `line ${line}, column ${column}: invalid JSON: ${reason}`;
}
