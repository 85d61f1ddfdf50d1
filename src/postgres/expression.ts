/**
 * SQL expressions written by people (the `--where` of a re-snapshot, written by an operator who may
 * not be trusted as the worker is): PostgreSQL itself decides what the text is, never a scanner of
 * ours. The text becomes the body of a temporary SQL function, `RETURN <text>` (PostgreSQL 14+),
 * created in a transaction that is rolled back:
 *
 * - the grammar of RETURN takes exactly one expression, and the statement is sent with the extended
 *   protocol, which refuses a second statement: the text can never be a statement or a clause of
 *   a query around it;
 * - PostgreSQL parses and analyses it against the table's columns (they are the function's named
 *   parameters) and stores the analysed tree (pg_proc.prosqlbody). The tree is read back and held to
 *   an allow-list: no subquery, aggregate or anything else but operators, function calls, casts,
 *   CASE and the like; every function and operator a built-in one that is immutable (a predicate may
 *   also call the stable date/time built-ins, such as now()); every type built in or a type of the
 *   table's own columns. So the expression reads nothing but the row, and can change no setting,
 *   take no lock and write nothing, on any connection;
 * - the role that asked for it must be allowed to SELECT every column it reads, so that its errors
 *   (stored where that role reads them) show it nothing it could not read itself;
 * - PostgreSQL's own rendering of the analysed expression (pg_get_function_sqlbody) is what the
 *   worker later pastes, in parentheses, into its queries: never the text as it was written.
 */
import { DEFAULT_TIMINGS } from '../timings';
import type { Queryable } from './connection';
import { inTransaction } from './connection';
import { quoteIdent, quoteTable } from './sql';
import { isInsufficientPrivilege, isInvalidFunctionDefinition, isUndefinedRole, sqlstateOf } from './sqlstate';

/** An expression PostgreSQL accepted under the rules above. */
export interface CheckedExpression {
  /** PostgreSQL's rendering of the analysed expression: safe to paste in parentheses into a query over the table (alias-free column names). */
  canonical: string;
  /** The table's columns it reads. */
  columns: string[];
}

/** The expression is refused: why, in words (PostgreSQL's own where it refused the text). */
export class ExpressionRefused extends Error {
  constructor(
    message: string,
    readonly code: string | null = null,
  ) {
    super(message);
    this.name = 'ExpressionRefused';
  }
}

export interface ExpressionRules {
  /** The role the expression is checked for (its column privileges); null: the connection's current_user. */
  requester: string | null;
  /** Also allow the stable date/time built-ins (now(), date_trunc on timestamptz, timestamptz - interval, ...). */
  allowStableDateTime: boolean;
}

/** The longest expression accepted (a predicate is a line or two, not a program). */
export const MAX_EXPRESSION_CHARS = 10_000;
/** PostgreSQL's limit on a function's parameters (FUNC_MAX_ARGS). */
const MAX_PARAMS = 100;
/** Objects below this oid are PostgreSQL's own (FirstNormalObjectId). */
const FIRST_NORMAL_OID = 16384;
const FN = 'pgkc_expression';

/** The node types an expression may contain (nodeToString names), and how refused ones are named. */
const ALLOWED_NODES = new Set([
  'QUERY',
  'FROMEXPR',
  'TARGETENTRY', // the frame of `RETURN expr`, checked on its own below
  'CONST',
  'PARAM',
  'BOOLEXPR',
  'OPEXPR',
  'DISTINCTEXPR',
  'NULLIFEXPR',
  'SCALARARRAYOPEXPR',
  'FUNCEXPR',
  'NULLTEST',
  'BOOLEANTEST',
  'COALESCEEXPR',
  'CASEEXPR',
  'CASEWHEN',
  'CASETESTEXPR',
  'ARRAYEXPR',
  'RELABELTYPE',
  'COERCEVIAIO',
  'ARRAYCOERCEEXPR',
  'COLLATEEXPR',
  'MINMAXEXPR',
  'SQLVALUEFUNCTION',
  'ROWEXPR',
  'ROWCOMPAREEXPR',
  'COERCETODOMAIN',
  'COERCETODOMAINVALUE',
  'FIELDSELECT',
  'SUBSCRIPTINGREF',
]);
const NODE_WORDS: Record<string, string> = {
  SUBLINK: 'a subquery',
  AGGREF: 'an aggregate',
  WINDOWFUNC: 'a window function',
  GROUPINGFUNC: 'GROUPING',
  RANGETBLENTRY: 'a table reference',
  NEXTVALUEEXPR: 'a sequence',
};

/** What the analysed tree (pg_proc.prosqlbody, nodeToString text) holds. Pure: unit-tested. */
export interface TreeFacts {
  /** Node types outside the allow-list. */
  refusedNodes: string[];
  functionOids: number[];
  operatorOids: number[];
  typeOids: number[];
  /** 1-based parameter numbers the expression reads. */
  params: number[];
}

export function treeFacts(tree: string): TreeFacts {
  // Constants are printed as byte lists ([ 1 0 0 0 ]) and names as <> here: no text written by the
  // requester can appear in the tree as a node name or a field.
  const nodes = [...tree.matchAll(/\{([A-Z_]+)/g)].map((m) => m[1]);
  const refused = new Set(nodes.filter((n) => !ALLOWED_NODES.has(n)));
  if (nodes.filter((n) => n === 'QUERY').length !== 1) refused.add('SUBLINK');
  if (!/:hasSubLinks false\b/.test(tree) || !/:rtable <>/.test(tree) || !/:isReturn true\b/.test(tree)) refused.add('SUBLINK');
  const numbers = (re: RegExp) => [...new Set([...tree.matchAll(re)].map((m) => Number(m[1])).filter((n) => n > 0))];
  const opnos = [...tree.matchAll(/:opnos \(o([\d ]*)\)/g)].flatMap((m) => m[1].trim().split(/\s+/).filter(Boolean).map(Number));
  return {
    refusedNodes: [...refused],
    functionOids: numbers(/:(?:funcid|opfuncid|hashfuncid|negfuncid) (\d+)/g),
    operatorOids: [...new Set([...numbers(/:opno (\d+)/g), ...opnos])],
    typeOids: numbers(/:\w*type(?:id)? (\d+)/g),
    params: numbers(/\{PARAM :paramkind 0 :paramid (\d+)/g),
  };
}

interface ColumnRow {
  name: string;
  type: string;
  type_oid: number;
  array_oid: number;
  base_oid: number;
}

/**
 * Checks text as one boolean expression over the table's columns, under the rules above; throws
 * ExpressionRefused with the reason, or returns PostgreSQL's rendering of it. Runs in a transaction
 * on one connection that is rolled back (it creates a temporary function: the connecting role needs
 * the TEMPORARY privilege on the database, which PUBLIC has by default).
 */
export async function checkExpression(db: Queryable, table: { schema: string; name: string }, text: string, rules: ExpressionRules): Promise<CheckedExpression> {
  if (text.trim() === '') throw new ExpressionRefused('is empty: give a boolean expression, for example "id > 1000"');
  if (text.length > MAX_EXPRESSION_CHARS) throw new ExpressionRefused(`is longer than ${MAX_EXPRESSION_CHARS} characters`);
  if (text.includes('\u0000')) throw new ExpressionRefused('contains a NUL character');
  const result: { outcome: CheckedExpression | ExpressionRefused | null } = { outcome: null };
  await inTransaction(db, async (tx) => {
    // Names resolve in pg_catalog only (an object of another schema cannot stand in for a built-in);
    // a hostile expression must not hold the check for long.
    await tx.query(`SELECT set_config('search_path', 'pg_catalog, pg_temp', true), set_config('statement_timeout', '10s', true), set_config('lock_timeout', '5s', true)`);
    result.outcome = await checkInTransaction(tx, table, text, rules);
    // Rolled back whatever happened: the function is gone with the transaction.
    throw ROLLBACK;
  }).catch((err) => {
    if (err !== ROLLBACK) throw err;
  });
  const { outcome } = result;
  if (outcome === null) throw new Error('expression check ended without an outcome');
  if (outcome instanceof ExpressionRefused) throw outcome;
  return outcome;
}

const ROLLBACK = Symbol('rollback');

async function checkInTransaction(tx: Queryable, table: { schema: string; name: string }, text: string, rules: ExpressionRules): Promise<CheckedExpression | ExpressionRefused> {
  const qualified = quoteTable(table);
  const columns = (
    await tx.query<ColumnRow>(
      `SELECT a.attname AS name, format_type(a.atttypid, a.atttypmod) AS type, a.atttypid::int8 AS type_oid, t.typarray::int8 AS array_oid, t.typbasetype::int8 AS base_oid
         FROM pg_attribute a JOIN pg_type t ON t.oid = a.atttypid
        WHERE a.attrelid = $1::regclass AND a.attnum > 0 AND NOT a.attisdropped ORDER BY a.attnum`,
      [qualified],
    )
  ).rows;
  // The columns the text may name become the function's parameters (PostgreSQL takes at most 100).
  const lower = text.toLowerCase();
  const params = columns.filter((c) => lower.includes(c.name.toLowerCase()));
  if (params.length > MAX_PARAMS) return new ExpressionRefused(`names more than ${MAX_PARAMS} of the table's columns`);
  const signature = params.map((c) => `${quoteIdent(c.name)} ${c.type}`).join(', ');
  let oid: string;
  try {
    // The extended protocol: one statement only, whatever the text holds. The text is the last thing
    // in the statement, on lines of its own (a trailing -- comment ends with its line).
    await tx.query({ text: `CREATE FUNCTION pg_temp.${FN}(${signature}) RETURNS boolean LANGUAGE sql IMMUTABLE RETURN\n${text}\n`, queryMode: 'extended' } as never);
    oid = (await tx.query<{ oid: string }>(`SELECT p.oid::int8::text AS oid FROM pg_proc p WHERE p.proname = $1 AND p.pronamespace = pg_my_temp_schema()`, [FN])).rows[0].oid;
  } catch (err) {
    return refusedByPostgres(err);
  }
  const fn = (await tx.query<{ tree: string; body: string }>(`SELECT prosqlbody::text AS tree, pg_get_function_sqlbody(oid) AS body FROM pg_proc WHERE oid = $1::oid`, [oid])).rows[0];
  const facts = treeFacts(fn.tree);
  if (facts.refusedNodes.length > 0) {
    return new ExpressionRefused(`uses ${facts.refusedNodes.map((n) => NODE_WORDS[n] ?? n.toLowerCase()).join(', ')}: give one expression over the table's own columns`);
  }
  const calls = (
    await tx.query<{ sig: string; allowed: boolean; volatile: string }>(
      `SELECT p.oid::regprocedure::text AS sig, p.provolatile AS volatile,
              p.oid < ${FIRST_NORMAL_OID} AND (p.provolatile = 'i' OR ($3 AND p.provolatile = 's' AND p.proname NOT LIKE 'pg\\_%'
                AND (SELECT bool_and(x = ANY (ARRAY['timestamptz','timestamp','date','timetz','time','interval','bool','text','int2','int4','int8','float4','float8','numeric']::regtype[]::oid[]))
                       FROM unnest(p.proargtypes::oid[] || p.prorettype) AS x)
                AND EXISTS (SELECT 1 FROM unnest(p.proargtypes::oid[] || p.prorettype) AS x
                             WHERE x = ANY (ARRAY['timestamptz','timestamp','date','timetz','time','interval']::regtype[]::oid[])))) AS allowed
         FROM pg_proc p
        WHERE p.oid = ANY ($1::oid[]) OR p.oid IN (SELECT o.oprcode FROM pg_operator o WHERE o.oid = ANY ($2::oid[]))`,
      [facts.functionOids, facts.operatorOids, rules.allowStableDateTime],
    )
  ).rows;
  const refusedCalls = calls.filter((c) => !c.allowed);
  if (refusedCalls.length > 0) {
    const what = refusedCalls.map((c) => `${c.sig}${c.volatile === 'v' ? ' (volatile)' : c.volatile === 's' ? ' (stable)' : ''}`).join(', ');
    return new ExpressionRefused(
      `calls ${what}: an expression may call only PostgreSQL's built-in immutable functions and operators` +
        (rules.allowStableDateTime ? ' (and its date/time functions such as now() or date_trunc())' : ''),
    );
  }
  const ownTypes = new Set(columns.flatMap((c) => [c.type_oid, c.array_oid, c.base_oid].map(Number)));
  const foreignTypes = facts.typeOids.filter((t) => t >= FIRST_NORMAL_OID && !ownTypes.has(t));
  if (foreignTypes.length > 0) {
    const names = (await tx.query<{ t: string }>(`SELECT t::regtype::text AS t FROM unnest($1::oid[]) AS t`, [foreignTypes])).rows.map((r) => r.t);
    return new ExpressionRefused(`uses the type ${names.join(', ')}, which is neither built in nor the type of one of the table's columns`);
  }
  const used = facts.params.map((n) => params[n - 1]?.name).filter((n): n is string => n !== undefined);
  const refusedColumns = await unreadableColumns(tx, qualified, used, rules.requester);
  if (refusedColumns !== null) return refusedColumns;
  const canonical = fn.body.replace(/^RETURN\s+/, '');
  if (canonical === fn.body || canonical.includes(FN)) return new ExpressionRefused('could not be rendered back by PostgreSQL as one expression');
  return { canonical, columns: used };
}

/**
 * Throws ExpressionRefused unless the requester may SELECT from the table (some column of it): a
 * request for the whole table, with no expression, is held to that too.
 */
export async function checkRequester(db: Queryable, table: { schema: string; name: string }, requester: string | null): Promise<void> {
  const refused = await unreadableColumns(db, quoteTable(table), [], requester);
  if (refused) throw refused;
}

/** Null when the requester may SELECT the table (some column of it) and every column used; else the refusal. */
async function unreadableColumns(tx: Queryable, qualified: string, used: string[], requester: string | null): Promise<ExpressionRefused | null> {
  let r;
  try {
    r = (
      await tx.query<{ role: string; any: boolean; lacking: string[] }>(
        `SELECT coalesce($3::text, current_user::text) AS role,
                has_any_column_privilege(coalesce($3::text, current_user::text), $1::regclass, 'SELECT') AS any,
                array(SELECT c FROM unnest($2::text[]) AS c WHERE NOT has_column_privilege(coalesce($3::text, current_user::text), $1::regclass, c, 'SELECT')) AS lacking`,
        [qualified, used, requester],
      )
    ).rows[0];
  } catch (err) {
    if (isUndefinedRole(err)) return new ExpressionRefused(`was asked for by role "${requester}", which does not exist (any more)`);
    throw err;
  }
  if (!r.any) return new ExpressionRefused(`was asked for by role "${r.role}", which may not SELECT from ${qualified}`);
  if (r.lacking.length > 0) return new ExpressionRefused(`reads ${r.lacking.map((c) => `column ${c}`).join(', ')} of ${qualified}, which role "${r.role}" may not SELECT`);
  return null;
}

/** PostgreSQL refused the function: its words, made about the expression. */
function refusedByPostgres(err: unknown): ExpressionRefused {
  const code = sqlstateOf(err);
  const message = (err as Error).message ?? String(err);
  if (code === null) throw err; // not PostgreSQL's answer (a lost connection): not the expression's fault
  // The function's declared type: a RETURN of another type is this error (its message says which).
  if (isInvalidFunctionDefinition(err) && /return type mismatch/.test(message)) return new ExpressionRefused('is not a boolean expression (argument of WHERE must be type boolean)', code);
  if (isInsufficientPrivilege(err) && /temporary/.test(message)) {
    throw Object.assign(new Error(`checking an expression needs the TEMPORARY privilege on the database (PUBLIC has it by default): ${message}`), { code });
  }
  return new ExpressionRefused(`${message} (${code})`, code);
}

/**
 * The statements around an expression's use must not let anything stand in for a built-in either:
 * the settings a transaction that evaluates one takes first (SET LOCAL: gone with the transaction).
 */
export function expressionSettings(statementTimeoutMs: number): string {
  return `SELECT set_config('search_path', 'pg_catalog, pg_temp', true), set_config('statement_timeout', '${Math.max(1, Math.round(statementTimeoutMs))}ms', true)`;
}

/** The planner's estimate of the rows an accepted expression matches (read-only; nothing is evaluated). */
export async function estimateMatches(db: Queryable, table: { schema: string; name: string }, checked: CheckedExpression): Promise<number> {
  return inTransaction(
    db,
    async (tx) => {
      await tx.query(expressionSettings(DEFAULT_TIMINGS.EXPRESSION_CHECK_TIMEOUT_MS));
      const plan = await tx.query<{ 'QUERY PLAN': Array<{ Plan: { 'Plan Rows': number } }> }>(`EXPLAIN (FORMAT JSON) SELECT 1 FROM ${quoteTable(table)} AS t WHERE (${checked.canonical})`);
      return Math.round(plan.rows[0]['QUERY PLAN'][0].Plan['Plan Rows']);
    },
    'BEGIN READ ONLY',
  );
}
