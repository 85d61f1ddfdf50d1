/**
 * The source or the topic changes under a streaming worker in ways no trigger sees: capture turned
 * off, writers in replica mode, partitions attached, detached or dropped, the topic's partitions
 * grown, the topic deleted and created again, the format changed, the table dropped and created
 * again. Each is found (within a schema check or a heartbeat while streaming, or at the next start)
 * and mended so that the topic folds to the table again (docs/security.md).
 */
import { expect } from 'chai';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { compatibilityPartitioner } from '@platformatic/kafka';
import { assertConverges, tableState } from '../helpers/converge';
import { readTopic, type TopicRecord } from '../helpers/kafka';
import { itemsScenario, scenarioPerTest } from '../helpers/scenario';
import { kafkaClient } from '../helpers/services';
import { eventually } from '../helpers/wait';

const FAST = { capture: { heartbeat_interval_ms: 1000 } };

/** The last record of every (partition, key): what a compacted topic keeps. */
function livePerPartition(records: TopicRecord[]): Map<string, number[]> {
  const last = new Map<string, TopicRecord>();
  for (const r of records) if (r.key !== null) last.set(`${r.partition}\u0000${r.key}`, r);
  const live = new Map<string, number[]>();
  for (const r of last.values()) if (r.value !== null) live.set(r.key as string, [...(live.get(r.key as string) ?? []), r.partition]);
  return live;
}

async function repairDone(w: { connector(n: string): Promise<{ resnapshot: { state: string } | null }> }, name: string): Promise<void> {
  await eventually(async () => (await w.connector(name)).resnapshot?.state === 'done', 60_000, 'a repairing re-snapshot to finish');
}

describe('the source changes under the worker', function () {
  this.timeout(180_000);
  const slot = scenarioPerTest();

  it('capture turned off while streaming (DISABLE TRIGGER) is found within seconds, installed again, and a repair mends what it missed', async () => {
    const s = (slot.s = await itemsScenario('source capture disabled', { rows: 300 }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await s.db.query('ALTER TABLE items DISABLE TRIGGER ALL');
    await s.db.query(`UPDATE items SET note = 'unseen' WHERE id <= 50`);
    await s.db.query(`DELETE FROM items WHERE id > 280`);
    await eventually(async () => (await w.metric('pg_kafka_cdc_source_changes_total', { connector: s.name })) >= 1, 30_000, 'the disabled capture found');
    await repairDone(w, s.name);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    const [t] = await s.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM pg_trigger WHERE tgrelid = 'items'::regclass AND tgenabled = 'A'`);
    expect(t.n, 'the triggers installed again, ENABLE ALWAYS').to.equal(5);
    expect(w.logs()).to.contain('are disabled, or fire only in replica sessions: changes made meanwhile were not captured');
    // And writers in replica mode cannot write around the ALWAYS triggers.
    await s.db.query(`BEGIN; SET LOCAL session_replication_role = replica; UPDATE items SET note = 'replica mode' WHERE id <= 5; COMMIT`);
    await assertConverges(s.db, 'items', ['id'], s.topic);
  });

  it('partitions attached, detached and dropped while streaming: the topic folds to the partitioned table again', async () => {
    const s = (slot.s = await itemsScenario('source partitions', { rows: 0, connector: FAST }));
    await s.db.query('DROP TABLE items');
    await s.db.query('CREATE TABLE items (id bigint PRIMARY KEY, v int, note text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp()) PARTITION BY RANGE (id)');
    for (const [n, lo, hi] of [
      [1, 0, 100],
      [2, 100, 200],
      [3, 200, 300],
    ])
      await s.db.query(`CREATE TABLE items_${n} PARTITION OF items FOR VALUES FROM (${lo}) TO (${hi})`);
    await s.db.query(`INSERT INTO items (id, v, note) SELECT g, g, 'seed' FROM generate_series(0, 299) AS g`);
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    await s.db.query('ALTER TABLE items DETACH PARTITION items_2'); // 100 rows leave the table, no trigger fires
    await s.db.query('DROP TABLE items_3');
    await s.db.query(`CREATE TABLE items_4 (LIKE items INCLUDING DEFAULTS)`);
    await s.db.query(`INSERT INTO items_4 (id, v, note) SELECT g, g, 'attached' FROM generate_series(400, 449) AS g`);
    await s.db.query('ALTER TABLE items ATTACH PARTITION items_4 FOR VALUES FROM (400) TO (500)');
    await eventually(async () => (await w.metric('pg_kafka_cdc_source_changes_total', { connector: s.name })) >= 1, 30_000, 'the partition change found');
    await repairDone(w, s.name);
    await s.db.query(`UPDATE items SET note = 'after' WHERE id IN (1, 420)`);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    expect((await tableState(s.db, 'items', ['id'])).size).to.equal(150);
  });

  it("the topic's partitions grown while streaming: records left in a partition their key no longer goes to get their tombstones there", async () => {
    const s = (slot.s = await itemsScenario('source topic partitions', { rows: 400, connector: FAST }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    const admin = kafkaClient('pgkc-test-admin').admin();
    await admin.connect();
    try {
      await admin.createPartitions({ topicPartitions: [{ topic: s.topic, count: 3 }] });
    } finally {
      await admin.disconnect();
    }
    await eventually(async () => (await w.metric('pg_kafka_cdc_source_changes_total', { connector: s.name })) >= 1, 30_000, 'the new partition count found');
    await repairDone(w, s.name);
    await s.db.query(`DELETE FROM items WHERE id <= 100`);
    await s.db.query(`UPDATE items SET note = 'after' WHERE id > 300`);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    const live = livePerPartition(await readTopic(s.topic));
    expect(live.size).to.equal(300);
    for (const [key, partitions] of live) {
      expect(partitions, key).to.deep.equal([compatibilityPartitioner(null as never, Buffer.from(key)) % 3]);
    }
  });

  it('the topic deleted and created again by someone else while streaming: the connector starts over and fills it', async () => {
    const s = (slot.s = await itemsScenario('source topic recreated', { rows: 200, connector: FAST }));
    const w = await s.runWorker();
    await w.waitForState(s.name, ['streaming']);
    const admin = kafkaClient('pgkc-test-admin').admin();
    await admin.connect();
    try {
      await admin.deleteTopics({ topics: [s.topic] });
      await eventually(async () => !(await admin.listTopics()).includes(s.topic), 30_000, 'the topic deleted');
      await eventually(
        async () => admin.createTopics({ topics: [{ topic: s.topic, numPartitions: 1, configEntries: [{ name: 'cleanup.policy', value: 'compact' }] }] }),
        30_000,
        'the topic created again',
      );
    } finally {
      await admin.disconnect();
    }
    await s.db.query(`UPDATE items SET note = 'after' WHERE id <= 10`);
    await assertConverges(s.db, 'items', ['id'], s.topic);
    expect(w.logs()).to.match(/topic .* was deleted|starting over with a new snapshot/);
  });

  it('sink.format changed between runs: keys of the old format are tombstoned, every row is in the new one', async () => {
    const s = (slot.s = await itemsScenario('source format changed', { rows: 100 }));
    const w1 = await s.runWorker();
    await w1.waitForState(s.name, ['streaming']);
    await w1.stop();
    const file = path.join(path.dirname(s.workerFile), 'connectors', `${s.name}.json`);
    const connector = JSON.parse(fs.readFileSync(file, 'utf8'));
    connector.sink.format = 'connect_json';
    fs.writeFileSync(file, JSON.stringify(connector));
    const w2 = await s.runWorker();
    await w2.waitForState(s.name, ['streaming']);
    await repairDone(w2, s.name);
    await eventually(
      async () => {
        const live = livePerPartition(await readTopic(s.topic));
        return live.size === 100 && [...live.keys()].every((k) => k.startsWith('{"schema"'));
      },
      60_000,
      'only connect_json keys live in the topic',
    );
  });

  it('the table dropped and created again between runs: keys of the old table are tombstoned', async () => {
    const s = (slot.s = await itemsScenario('source table recreated', { rows: 100 }));
    const w1 = await s.runWorker();
    await w1.waitForState(s.name, ['streaming']);
    await w1.stop();
    await s.db.query('DROP TABLE items');
    await s.db.query('CREATE TABLE items (id bigint PRIMARY KEY, v int, note text, updated_at timestamptz NOT NULL DEFAULT clock_timestamp())');
    await s.db.query(`INSERT INTO items (id, v, note) SELECT g, g, 'second table' FROM generate_series(51, 150) AS g`);
    const w2 = await s.runWorker();
    await w2.waitForState(s.name, ['streaming']);
    await repairDone(w2, s.name);
    await assertConverges(s.db, 'items', ['id'], s.topic);
  });
});
