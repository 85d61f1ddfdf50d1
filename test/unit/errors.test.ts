// Error classes, retry classification and redaction of secrets.
import { expect } from 'chai';
import { AuthenticationError, MultipleErrors, NetworkError, ProtocolError, TimeoutError, UserError } from '@platformatic/kafka';
import { KafkaError, kafkaErrorCodes, kafkaFailure } from '../../src/kafka/errors';
import { CdcError, ConfigError, describeError, FatalError, redact, RetriableError } from '../../src/util/errors';
import { isRetriable } from '../../src/postgres/sqlstate';

describe('errors', () => {
  describe('redact', () => {
    it('hides the password of a postgres:// URL in free text', () => {
      const text = 'cannot connect to postgres://app:s3cr3t@db.internal:5432/sales?sslmode=require: timeout';
      const r = redact(text);
      expect(r).to.equal('cannot connect to postgres://app:***@db.internal:5432/sales?sslmode=require: timeout');
      expect(r).not.to.contain('s3cr3t');
    });

    it('hides every password of several URLs and schemes', () => {
      const r = redact('a postgresql://u1:pw-one@h1/db and POSTGRES://u2:pw_two@h2 and kafka+sasl://u3:pw.three@h3:9092');
      for (const pw of ['pw-one', 'pw_two', 'pw.three']) expect(r).not.to.contain(pw);
      expect(r).to.contain('postgresql://u1:***@h1/db');
      expect(r).to.contain('POSTGRES://u2:***@h2');
    });

    it('hides a password when the user name is empty', () => {
      expect(redact('postgres://:topsecret@h/db')).to.equal('postgres://:***@h/db');
    });

    it('leaves URLs without a password and other text alone', () => {
      for (const t of ['postgres://app@db:5432/sales', 'postgres://db:5432/sales', 'plain text: with colons @ and at signs', 'host:5432']) {
        expect(redact(t)).to.equal(t);
      }
    });

    it('is used by describeError', () => {
      const e = Object.assign(new Error('bad url postgres://u:hunter2@h/db'), { code: 'ECONNREFUSED' });
      expect(describeError(e)).to.equal('bad url postgres://u:***@h/db (ECONNREFUSED)');
      expect(describeError('postgres://u:hunter2@h/db')).to.equal('postgres://u:***@h/db');
    });
  });

  describe('isRetriable', () => {
    const pgError = (code: string) => Object.assign(new Error(`sqlstate ${code}`), { code });

    it('retries connection failures, shutdowns and serialization failures', () => {
      for (const code of ['08006', '08001', '57P01', '57P03', '40001', '40P01', '53300']) expect(isRetriable(pgError(code)), code).to.equal(true);
    });

    it('does not retry a missing table or a missing privilege', () => {
      for (const code of ['42P01', '42501', '42703', '23505', '22P02']) expect(isRetriable(pgError(code)), code).to.equal(false);
    });

    it('retries socket errors', () => {
      for (const code of ['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'ENOTFOUND']) expect(isRetriable(pgError(code)), code).to.equal(true);
    });

    it("follows the error's own decision for the worker's errors", () => {
      expect(isRetriable(new RetriableError('broker down'))).to.equal(true);
      expect(isRetriable(new FatalError('table dropped'))).to.equal(false);
      expect(isRetriable(new ConfigError(['x']))).to.equal(false);
      expect(isRetriable(new CdcError('x', { retriable: true }))).to.equal(true);
    });

    it('retries unknown errors', () => {
      expect(isRetriable(new Error('something'))).to.equal(true);
      expect(isRetriable(undefined)).to.equal(true);
    });
  });

  describe('ConfigError', () => {
    it('carries its problems, one a line in its message, and is never retriable', () => {
      const e = new ConfigError(['a.json: /name: bad', 'b.json: /source: missing']);
      expect(e.problems).to.deep.equal(['a.json: /name: bad', 'b.json: /source: missing']);
      expect(e.message).to.equal('a.json: /name: bad\nb.json: /source: missing');
      expect(e.retriable).to.equal(false);
      expect(e.name).to.equal('ConfigError');
      expect(e).to.be.instanceOf(CdcError);
      expect(e).to.be.instanceOf(Error);
    });

    it('keeps the cause of retriable and fatal errors', () => {
      const cause = new Error('root');
      expect(new RetriableError('x', cause).cause).to.equal(cause);
      expect(new FatalError('y', cause).cause).to.equal(cause);
      expect(new FatalError('y').name).to.equal('FatalError');
    });
  });
});

describe('Kafka errors, typed where they are thrown', () => {
  // The client's own error classes, as it builds them from a broker's answer or a socket.
  const brokers = { brokers: ['127.0.0.1:9092'], ssl: false as const };

  it("a record too large is permanent, even inside the client's aggregate of several failures", () => {
    const tooLarge = new ProtocolError('MESSAGE_TOO_LARGE');
    const aggregate = new MultipleErrors('Producing messages failed.', [new NetworkError('Connection closed'), tooLarge]);
    const e = kafkaFailure(aggregate, 'publishing to topic t', brokers);
    expect(e).to.be.instanceOf(KafkaError);
    expect(e.retriable).to.equal(false);
    expect(isRetriable(e)).to.equal(false);
    expect(e.has('MESSAGE_TOO_LARGE')).to.equal(true);
    expect(e.message).to.include('publishing to topic t').and.include('127.0.0.1:9092').and.include('MESSAGE_TOO_LARGE');
  });

  it('a broker that cannot be reached is retriable and named', () => {
    const refused = new NetworkError('Connection to 127.0.0.1:9092 failed.', { cause: Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:9092'), { code: 'ECONNREFUSED' }) });
    const e = kafkaFailure(refused, 'connecting a producer for topic t', brokers);
    expect(e.retriable).to.equal(true);
    expect(e.reason).to.equal('network');
    expect(e.message).to.include('ECONNREFUSED');
  });

  it('a wrong password and an untrusted certificate are permanent, and say what to check', () => {
    const auth = kafkaFailure(
      new AuthenticationError('SASL authentication failed.', { cause: new ProtocolError('SASL_AUTHENTICATION_FAILED', 'Authentication failed: Invalid username or password') }),
      'x',
      brokers,
    );
    expect(auth.retriable).to.equal(false);
    expect(auth.reason).to.equal('authentication');
    expect(auth.message).to.include('kafka.sasl');
    const tls = kafkaFailure(
      new NetworkError('Connection to 127.0.0.1:9094 failed.', { cause: Object.assign(new Error('self-signed certificate in certificate chain'), { code: 'SELF_SIGNED_CERT_IN_CHAIN' }) }),
      'x',
      brokers,
    );
    expect(tls.retriable).to.equal(false);
    expect(tls.reason).to.equal('tls');
    expect(tls.message).to.include('kafka.ssl.ca_file');
  });

  it("quotes the broker's own words, and tells a plaintext client on a TLS listener what to set", () => {
    const refused = new ProtocolError('SASL_AUTHENTICATION_FAILED', 'Authentication failed: Invalid username or password');
    expect(kafkaFailure(new NetworkError('n', { cause: new AuthenticationError('SASL authentication failed.', { cause: refused }) }), 'x', brokers).message).to.include('Invalid username or password');
    const closed = new AuthenticationError('Cannot find a suitable SASL mechanism.', { cause: new NetworkError('Connection closed') });
    const e = kafkaFailure(closed, 'x', brokers);
    expect(e.reason).to.equal('network');
    expect(e.message).to.include('set kafka.ssl');
    const requiresTls = kafkaFailure(new UserError('Broker requires TLS.', { canRetry: false }), 'x', brokers);
    expect(requiresTls.retriable).to.equal(false);
    expect(requiresTls.message).to.include('Broker requires TLS').and.include('set kafka.ssl');
  });

  it("keeps retrying the client's refusals that pass: a handshake cut by a restarting broker, a topic the metadata does not know yet", () => {
    const tls = { brokers: ['127.0.0.1:9094'], ssl: true as const };
    const cut = kafkaFailure(new NetworkError('Connection to 127.0.0.1:9094 failed.', { cause: new UserError('TLS handshake failed. Please verify the broker supports TLS.') }), 'x', tls);
    expect(cut.retriable).to.equal(true);
    expect(cut.message).to.include('a TLS client on a plaintext listener?');
    expect(kafkaFailure(new UserError('Unknown topic t.'), 'x', brokers).retriable).to.equal(true);
  });

  it('treats a SCRAM failure found by the client (a wrong server signature) as permanent, and a timeout as retriable', () => {
    const scram = kafkaFailure(new AuthenticationError('SASL authentication failed.', { cause: new AuthenticationError('Invalid server signature.') }), 'x', brokers);
    expect(scram.retriable).to.equal(false);
    expect(scram.reason).to.equal('authentication');
    const timeout = kafkaFailure(new TimeoutError('Request timed out', { canRetry: true }), 'x', brokers);
    expect(timeout.retriable).to.equal(true);
    expect(timeout.reason).to.equal('timeout');
  });

  it('a broker error that can pass (no leader yet) is retriable', () => {
    expect(kafkaFailure(new ProtocolError('LEADER_NOT_AVAILABLE'), 'x', brokers).retriable).to.equal(true);
    expect(isRetriable(Object.assign(new Error('read-only'), { code: '25006' }))).to.equal(true);
  });

  it('finds every broker and socket code in the tree', () => {
    const tree = new MultipleErrors('m', [new ProtocolError('NOT_LEADER_OR_FOLLOWER'), new NetworkError('n', { cause: Object.assign(new Error('reset'), { code: 'ECONNRESET' }) })]);
    expect(kafkaErrorCodes(tree)).to.deep.equal(['NOT_LEADER_OR_FOLLOWER', 'ECONNRESET']);
  });
});
