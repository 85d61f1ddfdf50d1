/** Where the real services are, and checks that fail loudly when they are not there. */
import { Client } from 'pg';
import * as zlib from 'node:zlib';
import { CompressionCodecs, CompressionTypes, Kafka, logLevel } from 'kafkajs';

/*
 * The tests read topics with kafkajs, a client independent of the worker's (@platformatic/kafka),
 * so a bug in the worker's client cannot hide itself. kafkajs reads only gzip by itself; the other
 * codecs the worker may write are registered here from independent implementations: lz4js (pure
 * JS LZ4 frames), kafkajs-snappy (snappyjs, xerial framing) and Node's own zstd.
 */
const lz4js = require('lz4js') as { decompress(b: Uint8Array): Uint8Array | number[] };
CompressionCodecs[CompressionTypes.LZ4] = () => ({
  compress: () => Promise.reject(new Error('the test reader does not write lz4')),
  decompress: (buffer: Buffer) => Promise.resolve(Buffer.from(lz4js.decompress(buffer))),
});
CompressionCodecs[CompressionTypes.Snappy] = require('kafkajs-snappy');
CompressionCodecs[CompressionTypes.ZSTD] = () => ({
  compress: () => Promise.reject(new Error('the test reader does not write zstd')),
  decompress: (buffer: Buffer) => Promise.resolve(zlib.zstdDecompressSync(buffer)),
});

export const PG_ADMIN_URL = process.env.TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const KAFKA_BROKERS = (process.env.TEST_KAFKA_BROKERS ?? '127.0.0.1:9092').split(',');

export function pgUrl(database: string): string {
  const u = new URL(PG_ADMIN_URL);
  u.pathname = '/' + database;
  return u.toString();
}

export function kafkaClient(clientId = 'pg-kafka-cdc-test', retries = 8): Kafka {
  return new Kafka({ clientId, brokers: KAFKA_BROKERS, logLevel: logLevel.NOTHING, connectionTimeout: 3000, retry: { retries, initialRetryTime: 200 } });
}

export async function assertPostgres(): Promise<void> {
  const c = new Client({ connectionString: PG_ADMIN_URL, connectionTimeoutMillis: 5000 });
  try {
    await c.connect();
    await c.query('SELECT 1');
  } catch (err) {
    throw new Error(`PostgreSQL is not reachable at ${PG_ADMIN_URL}: ${(err as Error).message}. Run \`make services-up\`.`);
  } finally {
    await c.end().catch(() => undefined);
  }
}

export async function assertKafka(): Promise<void> {
  const admin = kafkaClient('pg-kafka-cdc-test-check', 2).admin(); // few retries: a missing broker must fail fast and say so
  try {
    await admin.connect();
    await admin.describeCluster();
  } catch (err) {
    throw new Error(`Kafka is not reachable at ${KAFKA_BROKERS.join(',')}: ${(err as Error).message}. Run \`make services-up\`.`);
  } finally {
    await admin.disconnect().catch(() => undefined);
  }
}
