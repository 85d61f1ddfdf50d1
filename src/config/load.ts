/**
 * Loads a worker file and its connectors folder: parses, validates against the schemas (with
 * defaults), checks what a schema cannot (unique names and topics, *_env variables set), and
 * resolves everything into a WorkerConfig. Every problem in every file is collected and reported
 * at once in a ConfigError; nothing here touches a database or Kafka, nor reads process.env itself.
 */
import * as fs from 'node:fs';
import * as path from 'node:path';
import { ConfigError } from '../util/errors';
import { parseTableName } from '../postgres/sql';
import { defaultChannel } from '../postgres/names';
import { readJsonFile } from './json';
import { validateAgainst } from './schema';
import type { ConnectorConfig, DatabaseRef, KafkaSettings, RawConnectorConfig, RawWorkerConfig, WorkerConfig } from './types';

export type Env = Record<string, string | undefined>;

export function loadWorkerConfig(workerFile: string, env: Env): WorkerConfig {
  const { config, problems } = inspectWorkerConfig(workerFile, env);
  if (problems.length > 0 || config === null) throw new ConfigError(problems);
  return config;
}

/**
 * Like loadWorkerConfig, but never throws for config problems: returns them with a config that holds
 * the connectors that are valid (null when the worker file itself is invalid), so that `validate` can
 * go on to check those connectors' tables and report everything in one run.
 */
export function inspectWorkerConfig(workerFile: string, env: Env): { config: WorkerConfig | null; problems: string[] } {
  const problems: string[] = [];
  const shown = (f: string) => path.relative(process.cwd(), f) || f;
  const workerPath = path.resolve(workerFile);

  const parsed = readJsonFile(workerPath, shown(workerPath));
  if (!parsed.ok) return { config: null, problems: [parsed.problem] };
  const schemaProblems = validateAgainst('worker', parsed.value);
  if (schemaProblems.length > 0) {
    // Without a valid worker file we cannot know where the connectors are: report what we have.
    return { config: null, problems: schemaProblems.map((p) => `${shown(workerPath)}: ${p}`) };
  }
  const raw = parsed.value as RawWorkerConfig;
  const at = (p: string) => `${shown(workerPath)}: ${p}`;

  const kafka = resolveKafka(raw, path.dirname(workerPath), env, at, problems);
  const workerDb = raw.database ? resolveDatabase(raw.database, env, at, '/database', problems) : null;

  const connectorsDir = path.resolve(path.dirname(workerPath), raw.connectors_dir);
  const connectors: ConnectorConfig[] = [];
  let files: string[] = [];
  try {
    files = fs
      .readdirSync(connectorsDir)
      .filter((f) => f.endsWith('.json'))
      .sort();
  } catch {
    problems.push(at(`/connectors_dir: folder ${shown(connectorsDir)} does not exist`));
  }
  if (files.length === 0 && fs.existsSync(connectorsDir)) problems.push(at(`/connectors_dir: no *.json connector file in ${shown(connectorsDir)}`));

  const names = new Map<string, string>();
  const topics = new Map<string, string>();
  const channels = new Map<string, string>();
  const transactionalIds = new Map<string, string>();
  for (const f of files) {
    const file = path.join(connectorsDir, f);
    const where = (p: string) => `${shown(file)}: ${p}`;
    const json = readJsonFile(file, shown(file));
    if (!json.ok) {
      problems.push(json.problem);
      continue;
    }
    const errs = validateAgainst('connector', json.value);
    if (errs.length > 0) {
      problems.push(...errs.map(where));
      continue;
    }
    const c = json.value as RawConnectorConfig;
    const before = problems.length;
    const other = names.get(c.name);
    if (other) problems.push(where(`/name: "${c.name}" is already the name of the connector in ${other}`));
    else names.set(c.name, shown(file));
    const topic = c.sink.topic ?? c.name;
    const otherTopic = topics.get(topic);
    if (otherTopic) problems.push(where(`/sink/topic: topic "${topic}" is already written by the connector in ${otherTopic}`));
    else topics.set(topic, shown(file));
    // The offsets topic and the transactional id belong to one connector: shared, they would mix
    // positions and fence each other. (Derived from a duplicate name, they are that problem already.)
    const offsetsTopic = c.sink.offsets_topic ?? `pg-kafka-cdc.offsets.${c.name}`;
    const transactionalId = c.sink.transactional_id ?? `pg-kafka-cdc.${c.name}`;
    if (!other) {
      const otherOffsets = topics.get(offsetsTopic);
      if (otherOffsets) problems.push(where(`/sink/offsets_topic: topic "${offsetsTopic}" is already written by the connector in ${otherOffsets}`));
      else topics.set(offsetsTopic, shown(file));
      const otherTx = transactionalIds.get(transactionalId);
      if (otherTx) problems.push(where(`/sink/transactional_id: "${transactionalId}" is already the transactional id of the connector in ${otherTx}`));
      else transactionalIds.set(transactionalId, shown(file));
    }

    let databaseUrl: string | null = null;
    if (c.source.database) databaseUrl = resolveDatabase(c.source.database, env, where, '/source/database', problems);
    else if (workerDb !== null) databaseUrl = workerDb;
    else if (!raw.database) problems.push(where('/source/database: no database given here nor in the worker file'));

    if (problems.length > before || databaseUrl === null) continue;
    const table = parseTableName(c.source.table_name);
    const channel = c.source.notification ? (c.source.notification.channel_name ?? defaultChannel(c.name, table)) : null;
    if (channel !== null) {
      // One channel names one trigger, function and change log: two connectors must never share it.
      const otherChannel = channels.get(channel);
      if (otherChannel) {
        problems.push(
          where(
            `/source/notification/channel_name: channel "${channel}" is already used by the connector in ${otherChannel}${c.source.notification?.channel_name ? '' : ' (derived from the names; set channel_name to tell them apart)'}`,
          ),
        );
        continue;
      }
      channels.set(channel, shown(file));
    }
    connectors.push({
      name: c.name,
      file: shown(file),
      table,
      databaseUrl,
      includedColumns: c.source.included_columns ?? null,
      ordinalColumn: c.source.ordinal_column ?? null,
      channel,
      topic,
      partitions: c.sink.partitions,
      replicationFactor: c.sink.replication_factor,
      compact: c.sink.compact,
      compression: c.sink.compression,
      format: c.sink.format,
      delivery: c.sink.delivery,
      transactionalId,
      offsetsTopic,
      snapshotMode: c.snapshot.mode,
      snapshotBatchSize: c.snapshot.batch_size,
      captureBatchSize: c.capture.batch_size,
      drainPauseMs: c.capture.drain_pause_ms,
      pollIntervalMs: c.capture.poll_interval_ms,
      heartbeatIntervalMs: c.capture.heartbeat_interval_ms,
    });
  }

  const level = env.LOG_LEVEL;
  return {
    problems,
    config: {
      file: workerPath,
      kafka,
      dataPoolSize: raw.postgres.data_pool_size,
      http: raw.http,
      logLevel: isLogLevel(level) ? level : raw.log.level,
      connectorsDir,
      connectors,
    },
  };
}

function isLogLevel(v: string | undefined): v is WorkerConfig['logLevel'] {
  return v !== undefined && ['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent'].includes(v);
}

function fromEnv(name: string, env: Env, at: (p: string) => string, jsonPath: string, problems: string[]): string | null {
  const v = env[name];
  if (v === undefined || v === '') {
    problems.push(at(`${jsonPath}: environment variable ${name} is not set`));
    return null;
  }
  return v;
}

function resolveDatabase(ref: DatabaseRef, env: Env, at: (p: string) => string, jsonPath: string, problems: string[]): string | null {
  if (ref.url !== undefined) return ref.url;
  const url = fromEnv(ref.url_env as string, env, at, `${jsonPath}/url_env`, problems);
  if (url !== null && !/^postgres(ql)?:\/\//.test(url)) {
    problems.push(at(`${jsonPath}/url_env: environment variable ${ref.url_env} does not hold a postgres:// URL`));
    return null;
  }
  return url;
}

function resolveKafka(raw: RawWorkerConfig, baseDir: string, env: Env, at: (p: string) => string, problems: string[]): KafkaSettings {
  const k = raw.kafka;
  let ssl: KafkaSettings['ssl'] = false;
  if (typeof k.ssl === 'object') {
    let ca: string | undefined;
    if (k.ssl.ca_file) {
      try {
        ca = fs.readFileSync(path.resolve(baseDir, k.ssl.ca_file), 'utf8');
      } catch {
        problems.push(at(`/kafka/ssl/ca_file: cannot read ${k.ssl.ca_file}`));
      }
    }
    ssl = { ca, rejectUnauthorized: k.ssl.reject_unauthorized ?? true };
  } else ssl = k.ssl;
  let sasl: KafkaSettings['sasl'];
  if (k.sasl) {
    const username = k.sasl.username ?? fromEnv(k.sasl.username_env as string, env, at, '/kafka/sasl/username_env', problems);
    const password = k.sasl.password ?? fromEnv(k.sasl.password_env as string, env, at, '/kafka/sasl/password_env', problems);
    if (username !== null && password !== null) sasl = { mechanism: k.sasl.mechanism, username, password };
  }
  return { brokers: k.brokers, clientId: k.client_id, ssl, sasl };
}
