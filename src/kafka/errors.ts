/**
 * Kafka failures as the worker's own typed errors, decided where they are thrown (never by matching
 * message text later): a KafkaError is retriable unless the broker said something no retry can
 * change (a record too large, a denied authorisation, a wrong password, an untrusted certificate).
 *
 * @platformatic/kafka reports failures as a tree: MultipleErrors (an AggregateError) of
 * ProtocolErrors (apiId such as MESSAGE_TOO_LARGE, canRetry), NetworkErrors whose cause is the
 * socket or TLS error, AuthenticationErrors, TimeoutErrors. kafkaErrorCodes() walks that tree.
 */
import { CdcError } from '../util/errors';

/** Broker error codes that no retry can fix: the record, the topic's settings or the credentials must change. */
const PERMANENT_BROKER_ERRORS = new Set([
  'MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE', 'INVALID_RECORD', 'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED', 'TRANSACTIONAL_ID_AUTHORIZATION_FAILED', 'SASL_AUTHENTICATION_FAILED',
  'INVALID_REPLICATION_FACTOR', 'INVALID_PARTITIONS', 'INVALID_TOPIC_EXCEPTION', 'POLICY_VIOLATION',
  'UNSUPPORTED_SASL_MECHANISM', 'INVALID_REQUIRED_ACKS', 'ILLEGAL_SASL_STATE',
]);

/** TLS errors that mean the broker's certificate is not trusted (a wrong CA, a wrong host name). */
const TLS_VERIFY_CODES = new Set([
  'UNABLE_TO_VERIFY_LEAF_SIGNATURE', 'SELF_SIGNED_CERT_IN_CHAIN', 'DEPTH_ZERO_SELF_SIGNED_CERT', 'ERR_TLS_CERT_ALTNAME_INVALID',
  'CERT_HAS_EXPIRED', 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY', 'UNABLE_TO_GET_ISSUER_CERT', 'CERT_UNTRUSTED', 'CERT_SIGNATURE_FAILURE',
]);

export type KafkaErrorReason = 'broker' | 'authentication' | 'tls' | 'network' | 'timeout' | 'client';

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
  errors?: unknown;
  cause?: unknown;
}

/** Every broker error id (apiId) and socket/TLS code in the error tree, in the order found. */
export function kafkaErrorCodes(err: unknown): string[] {
  const found: string[] = [];
  const seen = new Set<unknown>();
  const walk = (e: unknown, depth: number) => {
    if (!e || typeof e !== 'object' || seen.has(e) || depth > 10) return;
    seen.add(e);
    const n = e as ErrorNode;
    if (typeof n.apiId === 'string') found.push(n.apiId);
    if (typeof n.code === 'string' && !n.code.startsWith('PLT_KFK_')) found.push(n.code);
    else if (n.code === 'PLT_KFK_AUTHENTICATION') found.push('SASL_AUTHENTICATION_FAILED');
    if (Array.isArray(n.errors)) for (const x of n.errors) walk(x, depth + 1);
    walk(n.cause, depth + 1);
  };
  walk(err, 0);
  return [...new Set(found)];
}

/** The deepest, most specific message in the error tree (the client wraps it in generic ones). */
function innermostMessage(err: unknown): string {
  let e = err as ErrorNode | undefined;
  let msg = typeof e?.message === 'string' ? e.message : String(err);
  for (let depth = 0; e && depth < 10; depth++) {
    const next = (Array.isArray(e.errors) && e.errors.length > 0 ? e.errors[0] : e.cause) as ErrorNode | undefined;
    if (!next || typeof next !== 'object') break;
    if (typeof next.message === 'string' && next.message.length > 0) msg = next.message;
    e = next;
  }
  return msg;
}

/**
 * Wraps any failure of a Kafka call in a KafkaError that says what was being done, which brokers,
 * the cause, and whether a retry can help.
 */
export function kafkaFailure(err: unknown, doing: string, brokers: string[]): KafkaError {
  if (err instanceof KafkaError) return err;
  const codes = kafkaErrorCodes(err);
  const where = `${doing} (brokers ${brokers.join(',')})`;
  const detail = innermostMessage(err);
  if (codes.some((c) => TLS_VERIFY_CODES.has(c))) {
    return new KafkaError(`${where}: the broker's TLS certificate is not trusted (${detail}); check kafka.ssl.ca_file and the broker host name`, {
      retriable: false, reason: 'tls', codes, cause: err,
    });
  }
  if (codes.includes('SASL_AUTHENTICATION_FAILED') || codes.includes('UNSUPPORTED_SASL_MECHANISM') || codes.includes('ILLEGAL_SASL_STATE')) {
    return new KafkaError(`${where}: SASL authentication failed (${detail}); check kafka.sasl (mechanism, user name, password)`, {
      retriable: false, reason: 'authentication', codes, cause: err,
    });
  }
  const permanent = codes.find((c) => PERMANENT_BROKER_ERRORS.has(c));
  if (permanent) return new KafkaError(`${where}: the broker refused it with ${permanent} (${detail})`, { retriable: false, reason: 'broker', codes, cause: err });
  const timeout = (err as ErrorNode)?.code === 'PLT_KFK_TIMEOUT' || codes.includes('ETIMEDOUT');
  const network = codes.some((c) => /^E[A-Z]+$/.test(c)) || (err as ErrorNode)?.code === 'PLT_KFK_NETWORK';
  const reason: KafkaErrorReason = timeout ? 'timeout' : network ? 'network' : codes.length > 0 ? 'broker' : 'client';
  return new KafkaError(`${where} failed: ${detail}${codes.length > 0 ? ` [${codes.join(', ')}]` : ''}`, { retriable: true, reason, codes, cause: err });
}
