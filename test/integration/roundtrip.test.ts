import { expect } from 'chai';
import { createTestDb } from '../helpers/db';
import { readTopic, uniqueTopic } from '../helpers/kafka';
import { kafkaClient } from '../helpers/services';

describe('the real services', () => {
  it('round-trips a row from the real PostgreSQL through the real Kafka broker', async () => {
    const db = await createTestDb('roundtrip services');
    try {
      await db.query(`CREATE TABLE t (id int PRIMARY KEY, name text)`);
      await db.query(`INSERT INTO t VALUES (1, 'héllo ✓')`);
      const [row] = await db.query<{ k: string; v: string }>(`SELECT json_build_object('id', id)::text AS k, row_to_json(t)::text AS v FROM t`);
      const topic = uniqueTopic('roundtrip');
      const kafka = kafkaClient();
      const admin = kafka.admin();
      await admin.connect();
      await admin.createTopics({ topics: [{ topic, numPartitions: 1, replicationFactor: 1 }], waitForLeaders: true });
      await admin.disconnect();
      const producer = kafka.producer();
      await producer.connect();
      await producer.send({ topic, acks: -1, messages: [{ key: row.k, value: row.v }] });
      await producer.disconnect();
      const records = await readTopic(topic);
      expect(records.map((r) => r.value)).to.deep.equal(['{"id":1,"name":"héllo ✓"}']);
    } finally {
      await db.close();
    }
  });
});
