import { expect } from 'chai';
import { explainConnectError } from '../../src/postgres/connection';
import { grantStatements } from '../../src/postgres/rights';
import type { TablePlan } from '../../src/postgres/plan';

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('connection errors explained', () => {
  it('says what to fix for each TLS failure, keeping the code and the original words', () => {
    const cases: Array<[Error, RegExp]> = [
      [
        withCode('self-signed certificate in certificate chain', 'SELF_SIGNED_CERT_IN_CHAIN'),
        /^the server's TLS certificate is not signed by a CA this worker trusts: give the server's CA in the URL's sslrootcert/,
      ],
      [withCode("Hostname/IP does not match certificate's altnames", 'ERR_TLS_CERT_ALTNAME_INVALID'), /does not name the host of the URL/],
      [withCode('certificate has expired', 'CERT_HAS_EXPIRED'), /has expired/],
      [withCode("ENOENT: no such file or directory, open '/x/ca.pem'", 'ENOENT'), /a file named by sslrootcert, sslcert or sslkey in the URL cannot be read \(ENOENT: .*\/x\/ca\.pem'\)/],
      [withCode('pg_hba.conf rejects connection for host "10.0.0.1", user "u", database "d", no encryption', '28000'), /accepts only TLS connections from here: set sslmode=verify-full/],
      [withCode('connection requires a valid client certificate', '28000'), /wants a client certificate: set sslcert and sslkey/],
      [new Error('The server does not support SSL connections'), /does not offer TLS, but the URL asks for it/],
    ];
    for (const [err, message] of cases) {
      const explained = explainConnectError(err) as Error & { code?: string };
      expect(explained.message, err.message).to.match(message);
      expect(explained.message).to.contain(err.message);
      expect(explained.code).to.equal((err as { code?: string }).code);
    }
  });

  it('passes every other error through unchanged', () => {
    const refused = withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED');
    expect(explainConnectError(refused)).to.equal(refused);
    const auth = withCode('password authentication failed for user "x"', '28P01');
    expect(explainConnectError(auth)).to.equal(auth);
  });
});

describe('the grants of a least-privilege worker', () => {
  const plan = { table: { schema: 'sales', name: 'Orders' } } as unknown as TablePlan;
  it('grants exactly what the worker uses, with every name quoted', () => {
    expect(grantStatements('cdc worker', plan, 'orders_cdc')).to.deep.equal([
      'GRANT USAGE ON SCHEMA "kafka_cdc" TO "cdc worker"',
      'GRANT SELECT ON "sales"."Orders" TO "cdc worker"',
      'GRANT SELECT, INSERT, UPDATE ON "kafka_cdc".progress TO "cdc worker"',
      'GRANT SELECT, INSERT, UPDATE ON "kafka_cdc".snapshot_requests TO "cdc worker"',
      'GRANT INSERT ON "kafka_cdc".rejected_changes TO "cdc worker"',
      'GRANT SELECT, DELETE ON "kafka_cdc"."orders_cdc_log" TO "cdc worker"',
    ]);
    expect(
      grantStatements('w', plan, null).some((g) => g.includes('_log')),
      'no change log without capture',
    ).to.equal(false);
  });
});
