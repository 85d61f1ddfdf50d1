/**
 * Reads a JSON file; a syntax error becomes one problem line with the file, line and column.
 * jsonc-parser (Microsoft's, used by VS Code) finds the exact offset of every syntax error, which
 * Node's JSON.parse does not report for many errors; comments and trailing commas stay errors.
 */
import * as fs from 'node:fs';
import { parse, printParseErrorCode, type ParseError } from 'jsonc-parser';

export type JsonResult = { ok: true; value: unknown } | { ok: false; problem: string };

export function readJsonFile(file: string, shownAs: string): JsonResult {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    const code = (err as { code?: string }).code;
    return { ok: false, problem: `${shownAs}: cannot read the file (${code === 'ENOENT' ? 'it does not exist' : (code ?? String(err))})` };
  }
  const errors: ParseError[] = [];
  parse(text, errors, { disallowComments: true, allowTrailingComma: false, allowEmptyContent: false });
  if (errors.length > 0) {
    const e = errors[0];
    const before = text.slice(0, e.offset);
    const line = before.split('\n').length;
    const column = e.offset - before.lastIndexOf('\n');
    return { ok: false, problem: `${shownAs}: line ${line}, column ${column}: invalid JSON: ${describe(printParseErrorCode(e.error))}` };
  }
  // jsonc-parser accepted it; JSON.parse gives the exact same value with the standard semantics.
  return { ok: true, value: JSON.parse(text) };
}

function describe(code: string): string {
  if (code === 'InvalidCommentToken') return 'comments are not allowed in JSON';
  // "CommaExpected" -> "comma expected"
  return code.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
}
