// Waits until a Kafka broker answers a metadata request. Usage: node wait.js host:port seconds
// Exit 0 when it answers, 1 when it does not within the time. Uses the worker's own Kafka client.
'use strict';
const { Admin } = require('@platformatic/kafka');
const [broker = '127.0.0.1:9092', seconds = '60'] = process.argv.slice(2);
const deadline = Date.now() + Number(seconds) * 1000;
async function main() {
  for (;;) {
    const admin = new Admin({ clientId: 'pg-kafka-cdc-wait', bootstrapBrokers: [broker], connectTimeout: 1000, requestTimeout: 3000, retries: 0 });
    try {
      const md = await admin.metadata({ topics: [] });
      await admin.close();
      if (md.brokers.size > 0) return 0;
    } catch {
      await admin.close().catch(() => undefined);
    }
    if (Date.now() > deadline) return 1;
    await new Promise((r) => setTimeout(r, 500));
  }
}
main().then((code) => process.exit(code));
