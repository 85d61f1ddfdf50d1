/** Kafka's own Java tools from the jars scripts/kafka/fetch.sh put in the service cache (an oracle independent of any Node client). */
import { spawnSync } from 'node:child_process';
import * as os from 'node:os';
import * as path from 'node:path';
import { KAFKA_BROKERS } from './services';

/** Where the service scripts keep what they fetch (scripts/lib.sh). */
export const CACHE_DIR = process.env.PG_KAFKA_CDC_CACHE ?? path.join(os.homedir(), '.cache', 'pg-kafka-cdc');
export const KAFKA_HOME = path.join(CACHE_DIR, `kafka-${process.env.KAFKA_VERSION ?? '4.1.1'}`);

/** Runs a Kafka tool class (e.g. org.apache.kafka.tools.ConsoleProducer) with the broker's classpath; throws with its output when it fails. */
export function runKafkaTool(mainClass: string, args: string[], input = ''): string {
  const r = spawnSync('java', ['-Xmx256m', '-cp', path.join(KAFKA_HOME, 'libs', '*'), mainClass, ...args], { input, encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`${mainClass} exited ${r.status}: ${r.stderr || r.stdout || r.error?.message}`);
  return r.stdout;
}

/** Produces keyed records with Kafka's own console producer (the Java client and its default partitioner). */
export function javaProduce(topic: string, records: Array<{ key: string; value: string }>): void {
  const input = records.map((r) => `${r.key}\t${r.value}`).join('\n') + '\n';
  runKafkaTool(
    'org.apache.kafka.tools.ConsoleProducer',
    ['--bootstrap-server', KAFKA_BROKERS.join(','), '--topic', topic, '--property', 'parse.key=true', '--property', 'key.separator=\t', '--producer-property', 'acks=all'],
    input,
  );
}

/** The broker's SASL_SSL listener (scripts/kafka/up.sh): port, the CA that signed it, an unrelated CA, the test user. */
export const SECURE_KAFKA = {
  broker: `127.0.0.1:${process.env.KAFKA_SASL_PORT ?? '9094'}`,
  caFile: path.join(KAFKA_HOME, 'tls', 'ca.pem'),
  wrongCaFile: path.join(KAFKA_HOME, 'tls', 'wrong-ca.pem'),
  username: 'cdc',
  password: 'cdc-secret',
};
