/**
 * PostgreSQL's answers by SQLSTATE, named once (https://www.postgresql.org/docs/current/errcodes-appendix.html).
 * Every decision the worker takes on a database error asks one of these, never the message text.
 */
import { CdcError } from '../util/errors';

/** The SQLSTATE of an error PostgreSQL sent, or null (a failure of the connection or of the client: no answer). */
export function sqlstateOf(err: unknown): string | null {
  const code = (err as { code?: unknown })?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code) ? code : null;
}

const is =
  (...codes: string[]) =>
  (err: unknown) =>
    codes.includes(sqlstateOf(err) ?? '');
const inClass =
  (...classes: string[]) =>
  (err: unknown) =>
    classes.includes((sqlstateOf(err) ?? '').slice(0, 2));

/** No answer of PostgreSQL at all: the connection failed, or the client gave up (a timeout, a reset). */
export const isConnectionFailure = (err: unknown): boolean => sqlstateOf(err) === null || inClass('08')(err);
/** 42501 insufficient_privilege. */
export const isInsufficientPrivilege = is('42501');
/** 42703 undefined_column, 42P01 undefined_table: the table or a column is gone. */
export const isUndefinedObject = is('42703', '42P01');
/** 42704 undefined_object (a role that does not exist). */
export const isUndefinedRole = is('42704');
/** 55P03 lock_not_available (lock_timeout). */
export const isLockNotAvailable = is('55P03');
/** 57014 query_canceled (statement_timeout). */
export const isStatementTimeout = is('57014');
/** Class 22 data exceptions, 42804 datatype_mismatch, 42846 cannot_coerce: a value that is not of the type it is cast to. */
export const isCastFailure = (err: unknown): boolean => inClass('22')(err) || is('42804', '42846')(err);
/** 42P13 invalid_function_definition. */
export const isInvalidFunctionDefinition = is('42P13');

/**
 * Worth a retry (after graphile/worker's RETRYABLE_ERROR_CODES): connection exceptions, insufficient
 * resources, operator intervention (shutdown, a terminated backend), system errors, serialization
 * failures and deadlocks, a lock not granted in time, an object in use, a read-only transaction (a
 * standby not yet promoted).
 */
export const isRetriableSqlstate = (err: unknown): boolean => inClass('08', '53', '57', '58')(err) || is('40001', '40P01', '55P03', '55006', '25006')(err);

/**
 * The server or the connection failed rather than the statement: a request or an expression that
 * gets one of these is tried again; any other answer is the statement's own fault.
 */
export const isInfrastructureFailure = (err: unknown): boolean => sqlstateOf(err) === null || inClass('08', '58')(err) || is('57P01', '57P02', '57P03', '53300', '40001', '40P01', '55P03')(err);

/** Socket failures (node's codes): the network, not the statement. */
const RETRIABLE_SOCKET_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'ECONNABORTED']);

/** Whether an error from pg or our own code is worth a retry. Unknown errors are retried. */
export function isRetriable(err: unknown): boolean {
  if (err instanceof CdcError) return err.retriable;
  const e = err as { code?: unknown };
  if (typeof e?.code === 'string') {
    if (RETRIABLE_SOCKET_CODES.has(e.code)) return true;
    if (sqlstateOf(err) !== null) return isRetriableSqlstate(err);
  }
  return true;
}
