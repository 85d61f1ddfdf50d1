// Waits until a Kafka broker answers a metadata request. Usage: node wait.js host:port seconds
// Exit 0 when it answers, 1 when it does not within the time.
'use strict';
const { Kafka, logLevel } = require('kafkajs');
const [broker = '127.0.0.1:9092', seconds = '60'] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;
const kafka = new Kafka({ clientId: 'pg-kafka-cdc-wait', brokers: [broker], logLevel: logLevel.NOTHING,
  connectionTimeout: 1000, requestTimeout: 3000, retry: { retries: 0 } });
async function main() {
  for (;;) {
    const admin = kafka.admin();
    try {
      await admin.connect();
      await admin.fetchTopicMetadata({ topics: [] });
      const cluster = await admin.describeCluster();
      await admin.disconnect();
      if (cluster.brokers.length > 0) return 0;
    } catch {
      await admin.disconnect().catch(() => undefined);
    }
    if (Date.now() > deadline) return 1;
    await new Promise((r) => setTimeout(r, 500));
  }
}
main().then((code) => process.exit(code));
