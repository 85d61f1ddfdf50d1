/**
 * Kafka failures as the worker's own typed errors, decided where they are thrown (never by matching
 * message text later): a KafkaError is retriable unless the broker said something no retry can
 * change (a record too large, a denied authorisation, a wrong password, an untrusted certificate).
 *
 * @platformatic/kafka reports failures as a tree: MultipleErrors (an AggregateError) of
 * ProtocolErrors (apiId such as MESSAGE_TOO_LARGE, canRetry), NetworkErrors whose cause is the
 * socket or TLS error, AuthenticationErrors, TimeoutErrors. kafkaErrorCodes() walks that tree.
 */
import { TimeoutError } from '@platformatic/kafka';
import type { KafkaSettings } from '../config/types';
import { CdcError } from '../util/errors';

/**
 * Broker error codes that no retry can fix: the record, the topic's settings or the credentials must
 * change. (INVALID_REPLICATION_FACTOR is not among them: it is also what a topic creation gets while
 * brokers are down.)
 */
const PERMANENT_BROKER_ERRORS = new Set([
  'MESSAGE_TOO_LARGE',
  'RECORD_LIST_TOO_LARGE',
  'INVALID_RECORD',
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'SASL_AUTHENTICATION_FAILED',
  'INVALID_PARTITIONS',
  'INVALID_TOPIC_EXCEPTION',
  'POLICY_VIOLATION',
  'UNSUPPORTED_SASL_MECHANISM',
  'INVALID_REQUIRED_ACKS',
  'ILLEGAL_SASL_STATE',
]);

/** TLS errors that mean the broker's certificate is not trusted (a wrong CA, a wrong host name). */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE',
  'SELF_SIGNED_CERT_IN_CHAIN',
  'DEPTH_ZERO_SELF_SIGNED_CERT',
  'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED',
  'UNABLE_TO_GET_ISSUER_CERT_LOCALLY',
  'UNABLE_TO_GET_ISSUER_CERT',
  'CERT_UNTRUSTED',
  'CERT_SIGNATURE_FAILURE',
]);

export type KafkaErrorReason = 'broker' | 'authentication' | 'tls' | 'network' | 'timeout' | 'client' | 'fenced';

/** The broker's answers to a producer whose transactional id has a newer epoch elsewhere: another worker took over. */
const FENCED_CODES = ['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH'];

export class KafkaError extends CdcError {
  /** The broker's error codes (e.g. MESSAGE_TOO_LARGE) and socket/TLS codes found in the cause. */
  readonly codes: string[];
  readonly reason: KafkaErrorReason;
  constructor(message: string, opts: { retriable: boolean; reason: KafkaErrorReason; codes: string[]; cause?: unknown }) {
    super(message, { retriable: opts.retriable, cause: opts.cause });
    this.codes = opts.codes;
    this.reason = opts.reason;
  }
  has(code: string): boolean {
    return this.codes.includes(code);
  }
}

interface ErrorNode {
  code?: unknown;
  apiId?: unknown;
  message?: unknown;
  serverErrorMessage?: unknown;
  canRetry?: unknown;
  errors?: unknown;
  cause?: unknown;
}

/** Visits every node of the client's error tree (AggregateError errors and causes), depth first. */
function walkErrors(err: unknown, visit: (n: ErrorNode) => void): void {
  const seen = new Set<unknown>();
  const walk = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || seen.has(e) || depth > 12) return;
    seen.add(e);
    const n = e as ErrorNode;
    visit(n);
    if (Array.isArray(n.errors)) for (const x of n.errors) walk(x, depth + 1);
    walk(n.cause, depth + 1);
  };
  walk(err, 0);
}

/** Every broker error id (apiId) and socket/TLS code in the error tree, in the order found. */
export function kafkaErrorCodes(err: unknown): string[] {
  const found: string[] = [];
  walkErrors(err, (n) => {
    if (typeof n.apiId === 'string') found.push(n.apiId);
    if (typeof n.code === 'string' && !n.code.startsWith('PLT_KFK_')) found.push(n.code);
  });
  return [...new Set(found)];
}

/** The most specific words in the tree: the broker's own error message, else the deepest message. */
function bestDetail(err: unknown): string {
  let server: string | null = null;
  let deepest = typeof (err as ErrorNode)?.message === 'string' ? String((err as ErrorNode).message) : String(err);
  walkErrors(err, (n) => {
    if (server === null && typeof n.serverErrorMessage === 'string' && n.serverErrorMessage.length > 0) server = n.serverErrorMessage;
    if (typeof n.message === 'string' && n.message.length > 0) deepest = n.message;
  });
  return server ?? deepest;
}

/**
 * The client's own refusals that no retry changes. The client marks every UserError canRetry:false,
 * also transient ones ("TLS handshake failed" when a broker closes mid-handshake while restarting,
 * "Unknown topic" while metadata lags), and gives them no code of their own: so only these, known
 * by the start of their message, are permanent.
 */
const PERMANENT_CLIENT_REFUSALS = ['Broker requires TLS', 'Cannot find a suitable SASL mechanism', 'Failed to serialize'];

function clientRefusal(err: unknown): string | null {
  let found: string | null = null;
  walkErrors(err, (n) => {
    if (found !== null || n.code !== 'PLT_KFK_USER' || typeof n.message !== 'string') return;
    const message = n.message;
    if (PERMANENT_CLIENT_REFUSALS.some((p) => message.startsWith(p))) found = message;
  });
  return found;
}

/**
 * The connection was set up but closed by the broker before SASL completed: an AuthenticationError
 * whose cause is the client's NetworkError ("Connection closed"). Client-side SCRAM failures
 * (a wrong server signature, a bad nonce) are AuthenticationErrors too, but permanent.
 */
function closedDuringSasl(err: unknown): boolean {
  let closed = false;
  walkErrors(err, (n) => {
    if (n.code !== 'PLT_KFK_AUTHENTICATION') return;
    walkErrors(n.cause, (c) => {
      if (c.code === 'PLT_KFK_NETWORK') closed = true;
    });
  });
  return closed && !kafkaErrorCodes(err).includes('SASL_AUTHENTICATION_FAILED');
}

/** Any AuthenticationError in the tree (a SASL failure the broker did not name). */
function authenticationFailed(err: unknown): boolean {
  let found = false;
  walkErrors(err, (n) => {
    if (n.code === 'PLT_KFK_AUTHENTICATION') found = true;
  });
  return found;
}

/** A request or connection that timed out (the client's TimeoutError, or the socket's ETIMEDOUT). */
function timedOut(err: unknown): boolean {
  let found = false;
  walkErrors(err, (n) => {
    if (n instanceof TimeoutError || n.code === 'ETIMEDOUT') found = true;
  });
  return found;
}

/**
 * Wraps any failure of a Kafka call in a KafkaError that says what was being done, which brokers,
 * the cause, and whether a retry can help.
 */
export function kafkaFailure(err: unknown, doing: string, settings: Pick<KafkaSettings, 'brokers' | 'ssl'>): KafkaError {
  if (err instanceof KafkaError) return err;
  const { brokers } = settings;
  const tls = settings.ssl !== false;
  const codes = kafkaErrorCodes(err);
  const where = `${doing} (brokers ${brokers.join(',')})`;
  const detail = bestDetail(err);
  if (codes.some((c) => FENCED_CODES.includes(c))) {
    // Retriable: the connector goes back to waiting for ownership, as a standby.
    return new KafkaError(`${where}: fenced: a newer producer of this connector's transactional id took over (another worker owns the connector now); standing down`, {
      retriable: true,
      reason: 'fenced',
      codes,
      cause: err,
    });
  }
  if (codes.some((c) => TLS_VERIFY_CODES.has(c))) {
    return new KafkaError(`${where}: the broker's TLS certificate is not trusted (${detail}); check kafka.ssl.ca_file and the broker host name`, {
      retriable: false,
      reason: 'tls',
      codes,
      cause: err,
    });
  }
  if (codes.includes('SASL_AUTHENTICATION_FAILED') || codes.includes('UNSUPPORTED_SASL_MECHANISM') || codes.includes('ILLEGAL_SASL_STATE')) {
    return new KafkaError(`${where}: SASL authentication failed (${detail}); check kafka.sasl (mechanism, user name, password)`, {
      retriable: false,
      reason: 'authentication',
      codes,
      cause: err,
    });
  }
  const refusal = clientRefusal(err);
  if (refusal !== null) {
    const hint = /TLS/.test(refusal) && !tls ? '; the listener wants TLS: set kafka.ssl' : '';
    return new KafkaError(`${where}: ${refusal}${hint}`, { retriable: false, reason: 'client', codes, cause: err });
  }
  if (closedDuringSasl(err)) {
    // Retried (a broker going down looks the same), but the message says the likely cause.
    const hint = tls ? '' : ' (a plaintext client on a TLS listener? then set kafka.ssl)';
    return new KafkaError(`${where}: the broker closed the connection before SASL authentication completed${hint}`, {
      retriable: true,
      reason: 'network',
      codes,
      cause: err,
    });
  }
  if (authenticationFailed(err)) {
    return new KafkaError(`${where}: SASL authentication failed (${detail}); check kafka.sasl (mechanism, user name, password)`, {
      retriable: false,
      reason: 'authentication',
      codes,
      cause: err,
    });
  }
  const permanent = codes.find((c) => PERMANENT_BROKER_ERRORS.has(c));
  if (permanent) return new KafkaError(`${where}: the broker refused it with ${permanent} (${detail})`, { retriable: false, reason: 'broker', codes, cause: err });
  const timeout = timedOut(err);
  const network = codes.some((c) => /^E[A-Z]+$/.test(c)) || (err as ErrorNode)?.code === 'PLT_KFK_NETWORK';
  const reason: KafkaErrorReason = timeout ? 'timeout' : network ? 'network' : codes.length > 0 ? 'broker' : 'client';
  const tlsHint = tls && /TLS/.test(detail) ? ' (a TLS client on a plaintext listener? then set kafka.ssl to false)' : '';
  return new KafkaError(`${where} failed: ${detail}${codes.length > 0 ? ` [${codes.join(', ')}]` : ''}${tlsHint}`, { retriable: true, reason, codes, cause: err });
}
