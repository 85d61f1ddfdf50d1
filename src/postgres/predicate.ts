/**
 * The predicate of a re-snapshot (`snapshot --where`): one SQL boolean expression over the table's
 * columns, pasted into the WHERE clause of the re-snapshot's keyset query. It is checked in two
 * steps before anything runs:
 * 1. here, as text: it must stay inside its own parentheses (no unbalanced parenthesis, no
 *    semicolon, no unterminated string, quoted name or comment), so it can only ever be one
 *    expression, never a second statement or a clause of the query around it;
 * 2. in PostgreSQL (requests.ts): planned against the table and evaluated on a row, in a READ ONLY
 *    transaction, so an unknown column, a non-boolean expression or a function that writes is
 *    refused with PostgreSQL's own words. Its pages run read-only too.
 */

/** What is wrong with the predicate's text, or null when it is one balanced expression. */
export function predicateTextProblem(text: string): string | null {
  if (text.trim() === '') return 'is empty: give a boolean expression, for example "id > 1000"';
  let depth = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text[i];
    const next = text[i + 1];
    if (c === '-' && next === '-') {
      const end = text.indexOf('\n', i);
      i = end === -1 ? n : end + 1;
    } else if (c === '/' && next === '*') {
      // PostgreSQL's block comments nest.
      let nest = 1;
      i += 2;
      while (i < n && nest > 0) {
        const pair = text.slice(i, i + 2);
        if (pair === '/*' || pair === '*/') {
          nest += pair === '/*' ? 1 : -1;
          i += 2;
        } else i += 1;
      }
      if (nest > 0) return 'has a comment that is never closed (/* without */)';
    } else if (c === "'") {
      // E'...' allows backslash escapes; '' is a quote inside any string.
      const escapes = i > 0 && /[eE]/.test(text[i - 1]) && (i < 2 || !/[\w$]/.test(text[i - 2]));
      i += 1;
      let closed = false;
      while (i < n) {
        if (escapes && text[i] === '\\') i += 2;
        else if (text[i] === "'" && text[i + 1] === "'") i += 2;
        else if (text[i] === "'") {
          closed = true;
          i += 1;
          break;
        } else i += 1;
      }
      if (!closed) return 'has a string that is never closed (a \' without its pair)';
    } else if (c === '"') {
      const end = findClose(text, i + 1, '"');
      if (end === -1) return 'has a quoted name that is never closed (a " without its pair)';
      i = end + 1;
    } else if (c === '$' && (i === 0 || !/[\w$]/.test(text[i - 1]))) {
      const tag = /^\$([A-Za-z_][A-Za-z_0-9]*)?\$/.exec(text.slice(i));
      if (tag) {
        const end = text.indexOf(tag[0], i + tag[0].length);
        if (end === -1) return `has a dollar-quoted string that is never closed (${tag[0]})`;
        i = end + tag[0].length;
      } else i += 1;
    } else if (c === ';') {
      return 'contains a semicolon: give one expression, not statements';
    } else if (c === '(') {
      depth += 1;
      i += 1;
    } else if (c === ')') {
      depth -= 1;
      if (depth < 0) return 'closes a parenthesis it never opened: give one expression';
      i += 1;
    } else i += 1;
  }
  if (depth > 0) return 'opens a parenthesis it never closes';
  return null;
}

/** The index of the closing quote (a doubled quote is one inside), or -1. */
function findClose(text: string, from: number, quote: string): number {
  for (let i = from; i < text.length; i++) {
    if (text[i] !== quote) continue;
    if (text[i + 1] === quote) i += 1;
    else return i;
  }
  return -1;
}

/** The predicate as it goes into a WHERE clause: on lines of its own, so a trailing -- comment ends with its line. */
export function wrapPredicate(text: string): string {
  return `(\n${text}\n)`;
}
