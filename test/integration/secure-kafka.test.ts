/**
 * Secured brokers, as production Kafka (MSK, Confluent Cloud, Aiven, Strimzi) runs them: SASL over
 * TLS with a verified CA, against the local broker's real SASL_SSL listener (scripts/kafka/up.sh).
 * The password reaches the worker only through an environment variable and must never show.
 */
import { expect } from 'chai';
import { assertConverges } from '../helpers/converge';
import { SECURE_KAFKA } from '../helpers/kafka-tools';
import { itemsScenario, type Scenario } from '../helpers/scenario';
import { printLogsIfFailed } from '../helpers/worker';

const PASSWORD_ENV = 'PGKC_TEST_KAFKA_PASSWORD';

function secureWorker(mechanism: string, caFile: string, opts: { ssl?: boolean } = {}): Record<string, unknown> {
  return {
    kafka: {
      brokers: [SECURE_KAFKA.broker],
      client_id: 'pgkc-secure-test',
      ssl: opts.ssl === false ? false : { ca_file: caFile },
      sasl: { mechanism, username: SECURE_KAFKA.username, password_env: PASSWORD_ENV },
    },
  };
}

describe('secured brokers: SASL_SSL with a verified CA', function () {
  this.timeout(120_000);
  let s: Scenario | null = null;
  afterEach(async function () {
    printLogsIfFailed(this, s?.workers ?? []);
    if (s) await s.cleanup();
    s = null;
  });

  for (const mechanism of ['plain', 'scram-sha-256', 'scram-sha-512']) {
    it(`mirrors a table over SASL_SSL with ${mechanism}`, async () => {
      s = await itemsScenario(`secure ${mechanism}`, { rows: 300, worker: secureWorker(mechanism, SECURE_KAFKA.caFile) });
      const w = await s.runWorker({ [PASSWORD_ENV]: SECURE_KAFKA.password });
      await w.waitForState(s.name, ['streaming']);
      await s.db.query(`UPDATE items SET note = 'over tls' WHERE id <= 10`);
      await s.db.query(`DELETE FROM items WHERE id > 290`);
      await assertConverges(s.db, 'items', ['id'], s.topic);
    });
  }

  /** Runs a worker that cannot get in and checks what an operator sees: state, error, and no secret anywhere. */
  async function refused(title: string, worker: Record<string, unknown>, password: string, state: string, words: string[]): Promise<void> {
    s = await itemsScenario(title, { rows: 5, worker });
    const w = await s.runWorker({ [PASSWORD_ENV]: password });
    const status = await w.waitForState(s.name, [state], 60_000);
    const message = status.last_error?.message ?? '';
    expect(message).to.include(SECURE_KAFKA.broker);
    for (const word of words) expect(message).to.include(word);
    const everything = [w.logs(), JSON.stringify(await w.connectors()), (await w.get<string>('/metrics')).body].join('\n');
    expect(everything).not.to.include(password);
    expect(everything, 'a stack trace in the output').not.to.match(/\n\s+at .+\(.*:\d+:\d+\)/);
  }

  it('a wrong password: the connector is failed, the error names the broker and the cause, the password shows nowhere', async () => {
    await refused('secure wrong password', secureWorker('scram-sha-512', SECURE_KAFKA.caFile), 'not-the-Secret-42', 'failed', ['SASL authentication failed', 'invalid credentials', 'kafka.sasl']);
  });

  it("an unknown CA: the connector is failed, and the error says the broker's certificate is not trusted", async () => {
    await refused('secure unknown ca', secureWorker('plain', SECURE_KAFKA.wrongCaFile), SECURE_KAFKA.password, 'failed', ['not trusted', 'kafka.ssl.ca_file']);
  });

  it('a plaintext client on the TLS port: the error says to set kafka.ssl, and the connector keeps looking, visibly', async () => {
    await refused('secure plaintext client', secureWorker('plain', SECURE_KAFKA.caFile, { ssl: false }), SECURE_KAFKA.password, 'retrying', ['set kafka.ssl']);
  });
});
